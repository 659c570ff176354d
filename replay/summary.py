"""Totals of a replay: events, rejected lines, anomalies, decisions and the clients behind them.

`Summary.to_dict` is deterministic for a given input and batch size: lists
are sorted and nothing in it depends on wall time, except the separate
`timing` entry. Decisions are counted once per decision id, in their last
state, because a decision that is extended or upgraded is reported again.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from agents.policy import ACTION_RANK
from replay.targets import Outcome

THREAT_ACTIONS = frozenset({"alert", "rate_limit", "block"})
MAX_REJECTED_LISTED = 50
TOP_CLIENTS = 10


@dataclass(slots=True)
class ClientTally:
    events: int = 0
    anomalies: int = 0
    max_score: float | None = None


def strongest_per_client(decisions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Keep one decision per client of a batch, the strongest (the later one on a tie), as POST /analyze does.

    NOTE: /analyze reports only this one, so the websocket and in-process
    replays reduce their batches the same way to give the same summary. A
    weaker decision made in the same batch for the same client (for example
    an alert before a block, or a range rate limit) is left out of the counts.
    """
    best: dict[str, dict[str, Any]] = {}
    for decision in decisions:
        current = best.get(decision["client"])
        if current is None or ACTION_RANK[decision["action"]] >= ACTION_RANK[current["action"]]:
            best[decision["client"]] = decision
    return list(best.values())


class Summary:
    def __init__(self, source: str, mode: str, batch_size: int) -> None:
        self.source = source
        self.mode = mode
        self.batch_size = batch_size
        self.format: str | None = None
        self.lines = 0
        self.events = 0
        self.rejected = 0
        self.headers = 0
        self.anomalies = 0
        self.warming_up = 0
        self.decision_updates = 0
        self.rejected_lines: list[dict[str, Any]] = []
        self.failed_batches: list[dict[str, Any]] = []
        self.elapsed = 0.0
        self._clients: dict[str, ClientTally] = {}
        self._decisions: dict[str, dict[str, Any]] = {}

    # Accumulating

    def add(self, outcome: Outcome, excerpts: dict[int, str]) -> None:
        """Count one batch; `excerpts` maps line numbers to the excerpt shown for a rejected line."""
        self.events += len(outcome.events)
        self.headers += outcome.headers
        for event in outcome.events:
            self._count_event(event)
        for error in outcome.errors:
            self.rejected += 1
            if len(self.rejected_lines) < MAX_REJECTED_LISTED:
                line = error["line"]
                self.rejected_lines.append({"line": line, "reason": error["reason"], "excerpt": excerpts.get(line, "")})
        for decision in strongest_per_client(outcome.decisions):
            self.decision_updates += 1
            self._decisions[decision["id"]] = decision

    def _count_event(self, event: dict[str, Any]) -> None:
        tally = self._clients.get(event["client"])
        if tally is None:
            tally = self._clients[event["client"]] = ClientTally()
        tally.events += 1
        if event["anomalous"]:
            tally.anomalies += 1
            self.anomalies += 1
        if event["warming_up"]:
            self.warming_up += 1
        score = event["score"]
        if score is not None and (tally.max_score is None or score > tally.max_score):
            tally.max_score = score

    def fail(self, first_line: int, lines: int, error: str) -> None:
        self.failed_batches.append({"first_line": first_line, "lines": lines, "error": error})

    # Reporting

    def decisions(self) -> list[dict[str, Any]]:
        """Return each decision's last state as client, scenario, action, scope, value and times, sorted."""
        rows = [
            {
                "client": d["client"],
                "scenario": d["scenario"],
                "action": d["action"],
                "scope": d["scope"],
                "value": d["value"],
                "triggered_at": d["triggered_at"],
                "until": d["until"],
                "repeat": d.get("repeat", 1),
                "simulated": d.get("simulated", False),
            }
            for d in self._decisions.values()
        ]
        return sorted(rows, key=lambda r: (r["triggered_at"], r["client"], r["scenario"], r["action"], r["value"]))

    def to_dict(self) -> dict[str, Any]:
        decisions = self.decisions()
        actions: dict[str, Counter[str]] = {}
        for row in decisions:
            actions.setdefault(row["scenario"], Counter())[row["action"]] += 1
        threats = [row for row in decisions if row["action"] in THREAT_ACTIONS]
        return {
            "source": self.source,
            "mode": self.mode,
            "batch_size": self.batch_size,
            "format": self.format,
            "lines": self.lines,
            "events": self.events,
            "rejected": self.rejected,
            "headers": self.headers,
            "anomalies": self.anomalies,
            "warming_up_events": self.warming_up,
            "clients": len(self._clients),
            "decisions": len(decisions),
            "decision_updates": self.decision_updates,
            "threats": len(threats),
            "threat_clients": len({row["client"] for row in threats}),
            "actions": {scenario: dict(sorted(counts.items())) for scenario, counts in sorted(actions.items())},
            "top_clients_by_score": self._top_clients(decisions, by_score=True),
            "top_clients_by_decisions": self._top_clients(decisions, by_score=False),
            "decision_list": decisions,
            "rejected_lines": self.rejected_lines,
            "failed_batches": self.failed_batches,
            "timing": {
                "elapsed_seconds": round(self.elapsed, 3),
                "events_per_second": round(self.events / self.elapsed, 1) if self.elapsed > 0 else None,
            },
        }

    def _top_clients(self, decisions: list[dict[str, Any]], by_score: bool) -> list[dict[str, Any]]:
        per_client = Counter(row["client"] for row in decisions)
        rows = [
            {
                "client": client,
                "max_score": tally.max_score,
                "events": tally.events,
                "anomalies": tally.anomalies,
                "decisions": per_client.get(client, 0),
            }
            for client, tally in self._clients.items()
        ]
        if by_score:
            rows = [row for row in rows if row["max_score"] is not None]
            rows.sort(key=lambda r: (-r["max_score"], -r["decisions"], -r["events"], r["client"]))
        else:
            rows = [row for row in rows if row["decisions"]]
            rows.sort(key=lambda r: (-r["decisions"], -(r["max_score"] or 0.0), r["client"]))
        return rows[:TOP_CLIENTS]


def render(summary: dict[str, Any], console: Console) -> None:
    """Print a summary from `Summary.to_dict` as rich tables."""
    totals = Table(title=f"Replay of {summary['source']} ({summary['mode']})", show_header=False)
    totals.add_column("what")
    totals.add_column("count", justify="right")
    for label, key in (
        ("lines read", "lines"),
        ("events scored", "events"),
        ("rejected lines", "rejected"),
        ("anomalies", "anomalies"),
        ("events scored while warming up", "warming_up_events"),
        ("clients", "clients"),
        ("decisions", "decisions"),
        ("threats (alert, rate_limit, block)", "threats"),
        ("clients with threats", "threat_clients"),
        ("failed batches", "failed_batches"),
    ):
        value = summary[key]
        totals.add_row(label, str(len(value) if isinstance(value, list) else value))
    timing = summary["timing"]
    totals.add_row("elapsed (s)", f"{timing['elapsed_seconds']:.1f}")
    totals.add_row("events/s", "-" if timing["events_per_second"] is None else f"{timing['events_per_second']:,.0f}")
    console.print(totals)

    if summary["actions"]:
        actions = Table(title="Decisions by scenario and action")
        actions.add_column("scenario")
        actions.add_column("action")
        actions.add_column("decisions", justify="right")
        for scenario, counts in summary["actions"].items():
            for action, count in counts.items():
                actions.add_row(scenario, action, str(count))
        console.print(actions)

    for title, key in (("Top clients by max score", "top_clients_by_score"),
                       ("Top clients by decisions", "top_clients_by_decisions")):
        if summary[key]:
            console.print(_clients_table(title, summary[key]))

    for failure in summary["failed_batches"]:
        head = f"[red]batch from line {failure['first_line']} ({failure['lines']} lines) failed:[/] "
        console.print(head + escape(failure["error"]), highlight=False)


def _clients_table(title: str, rows: list[dict[str, Any]]) -> Table:
    table = Table(title=title)
    for column in ("client", "max score", "events", "anomalies", "decisions"):
        table.add_column(column, justify="left" if column == "client" else "right")
    for row in rows:
        score = "-" if row["max_score"] is None else f"{row['max_score']:.4f}"
        # Client names come from the log: Text keeps them from being read as rich markup.
        table.add_row(Text(row["client"]), score, str(row["events"]), str(row["anomalies"]), str(row["decisions"]))
    return table
