"""A replay of a generated attack mix: one decision per attacker and scenario, never an alert storm."""

from __future__ import annotations

from collections import defaultdict
from itertools import pairwise
from pathlib import Path

from agents.decisions_store import Decision
from config.settings import Settings
from data.generate import generate, summarize_attackers
from replay.pipeline import run_log


def test_attack_mix_one_decision_per_attacker_and_scenario(tmp_path: Path) -> None:
    records = generate(events=20_000, seed=3)
    log = tmp_path / "mix.log"
    log.write_text("".join(record.line + "\n" for record in records), encoding="utf-8")
    attackers = {summary.client for summary in summarize_attackers(records)}

    settings = Settings(hst_trees=10, hst_window=1000, reference_size=2000, history_max_events=10_000)
    run = run_log(log, settings)

    # Keep each decision's last state: the agent reports a decision again when it extends it.
    latest = {decision.id: decision for decision in run.decisions}
    per_pair: dict[tuple[str, str], list[Decision]] = defaultdict(list)
    for decision in latest.values():
        per_pair[(decision.client, decision.scenario)].append(decision)
    on_attackers = [d for d in latest.values() if d.client in attackers]
    scenarios = {d.scenario for d in on_attackers}

    assert on_attackers, "the mix holds attackers the agent must act on"
    assert len(on_attackers) <= len(attackers) * len(scenarios)
    # A second decision for the same client and scenario may only start once the first has expired.
    overlapping = []
    for pair, decisions in per_pair.items():
        decisions.sort(key=lambda d: d.triggered_at)
        for earlier, later in pairwise(decisions):
            if later.triggered_at < earlier.until:
                overlapping.append(pair)
    assert overlapping == [], "one decision per client and scenario while it is active"
    for decision in latest.values():
        assert decision.reasons["es"], decision.id
        assert decision.reasons["en"], decision.id
