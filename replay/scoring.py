"""Score one replay against its labels: event metrics, attackers caught, benign clients acted on.

An attacker (a client with any labelled attack line) is caught when one of
its events is flagged anomalous or a decision targets it: the decision's
client, its IP value, or a range decision containing its address. Time and
events to detection count from the attacker's first attack line.
"""

from __future__ import annotations

import bisect
import ipaddress
import math
from collections import Counter, defaultdict
from dataclasses import dataclass, field

import numpy as np

from agents.decisions_store import Decision
from replay.labels import Labels
from replay.metrics import Counts, average_precision, counts_of, roc_auc
from replay.pipeline import PipelineRun


@dataclass(slots=True)
class ScenarioResult:
    scenario: str
    attackers: int
    caught: int
    seconds: list[float] = field(default_factory=list)
    events: list[int] = field(default_factory=list)

    @property
    def recall(self) -> float:
        return self.caught / self.attackers if self.attackers else math.nan


@dataclass(slots=True)
class Evaluation:
    events: int
    attacks: int
    roc_auc: float
    pr_auc: float
    threshold: float
    counts: Counts
    scenarios: list[ScenarioResult]
    benign_actions: Counter[str]
    benign_clients: int
    decisions: int


def evaluate(run: PipelineRun, labels: Labels, start: int = 0) -> Evaluation:
    """Return the metrics of the events from index `start` on (0 = the whole log)."""
    y = labels.label_of(run.lines)[start:]
    scenario = labels.scenario_of(run.lines)[start:]
    scores = run.scores[start:]
    flagged = run.anomalous[start:]
    clients = run.clients[start:]
    times = run.timestamps[start:]
    since = float(times[0]) if len(times) else 0.0
    decisions = [d for d in run.decisions if d.triggered_at >= since]

    results = _attackers(clients, scenario, y, flagged, times, decisions)
    attackers = {c for c, label in zip(clients, y.tolist(), strict=True) if label}
    benign_actions, benign_clients = _benign_acted_on(decisions, set(clients) - attackers)
    return Evaluation(
        events=len(y), attacks=int(y.sum()), roc_auc=roc_auc(scores, y), pr_auc=average_precision(scores, y),
        threshold=run.threshold, counts=counts_of(flagged, y), scenarios=results,
        benign_actions=benign_actions, benign_clients=benign_clients, decisions=len(decisions),
    )


def _attackers(
    clients: list[str], scenario: np.ndarray, y: np.ndarray, flagged: np.ndarray, times: np.ndarray,
    decisions: list[Decision],
) -> list[ScenarioResult]:
    first_attack: dict[str, tuple[float, str]] = {}
    seen: dict[str, list[float]] = defaultdict(list)
    first_flag: dict[str, tuple[float, int]] = {}
    for i, client in enumerate(clients):
        if y[i] and client not in first_attack:
            first_attack[client] = (float(times[i]), str(scenario[i]))
        if client in first_attack:
            seen[client].append(float(times[i]))
            if flagged[i] and client not in first_flag:
                first_flag[client] = (float(times[i]), len(seen[client]))
    _add_decision_catches(first_attack, seen, first_flag, decisions)

    by_scenario: dict[str, ScenarioResult] = {}
    for client, (start, name) in first_attack.items():
        result = by_scenario.setdefault(name, ScenarioResult(name, 0, 0))
        result.attackers += 1
        if client in first_flag:
            result.caught += 1
            result.seconds.append(max(0.0, first_flag[client][0] - start))
            result.events.append(first_flag[client][1])
    return [by_scenario[name] for name in sorted(by_scenario)]


def _add_decision_catches(
    first_attack: dict[str, tuple[float, str]], seen: dict[str, list[float]],
    first_flag: dict[str, tuple[float, int]], decisions: list[Decision],
) -> None:
    """Count an attacker as caught at a decision's time when that decision came before its first flag."""
    for decision in decisions:
        for client in _targets(decision, first_attack):
            if client in first_flag and first_flag[client][0] <= decision.triggered_at:
                continue
            events = bisect.bisect_right(seen[client], decision.triggered_at)
            first_flag[client] = (decision.triggered_at, max(events, 1))


def _targets(decision: Decision, candidates: dict[str, object] | set[str]) -> list[str]:
    if decision.scope == "range":
        try:
            network = ipaddress.ip_network(decision.value, strict=False)
        except ValueError:
            return []
        return [c for c in candidates if _in_network(c, network)]
    return [c for c in {decision.client, decision.value} if c in candidates]


def _in_network(client: str, network: ipaddress.IPv4Network | ipaddress.IPv6Network) -> bool:
    try:
        return ipaddress.ip_address(client) in network
    except ValueError:
        return False


def _benign_acted_on(decisions: list[Decision], benign: set[str]) -> tuple[Counter[str], int]:
    """Return the benign clients acted on per action (each client once per action) and their total."""
    per_action: dict[str, set[str]] = defaultdict(set)
    for decision in decisions:
        for client in _targets(decision, benign):
            per_action[decision.action].add(client)
    everyone = set().union(*per_action.values()) if per_action else set()
    return Counter({action: len(found) for action, found in per_action.items()}), len(everyone)
