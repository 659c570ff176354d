"""`DecisionAgent.observe_batch` gives the decisions and state that `observe` gives event by event."""

from __future__ import annotations

from typing import Any

import pytest

from agents.decision import DecisionAgent
from agents.decisions_store import Decision, DecisionStore
from agents.ingestion import IngestionAgent, RawBatch
from agents.messages import ScoredEvent
from agents.policy import Policy
from config.settings import Settings
from data.generate import generate
from stream.detector import Detector


def _summary(decisions: list[Decision]) -> list[tuple[Any, ...]]:
    return [
        (d.scenario, d.scope, d.value, d.action, d.severity, d.triggered_at, d.until, d.repeat, d.evidence, d.reasons)
        for d in decisions
    ]


def _state(agent: DecisionAgent) -> tuple[Any, ...]:
    return (
        list(agent.baseline._rates.items()),
        list(agent._first_seen.items()),
        [(client, s.requests, s.failed_logins, list(s.anomalous)) for client, s in agent._clients.items()],
        [(client, walk.distinct_pages, walk.assets) for client, walk in agent.walks.followed.items()],
    )


def _scored_batches(settings: Settings, plain_features: bool) -> list[list[ScoredEvent]]:
    lines = [record.line for record in generate(events=12_000, seed=11, attack_rate=0.2)]
    detector = Detector(n_trees=10, height=6, window_size=250, reference_size=500)
    ingestion = IngestionAgent(settings, detector)
    batches = []
    for start in range(0, len(lines), 500):
        scored = ingestion.process(RawBatch(f"b{start}", lines[start : start + 500], first_line=start + 1)).scored
        if plain_features:
            for item in scored:
                item.features = dict(item.features)
        batches.append(scored)
    return batches


@pytest.mark.parametrize("plain_features", [False, True])
def test_decision_batch_matches_event_by_event(tmp_path: Any, plain_features: bool) -> None:
    settings = Settings(state_dir=tmp_path / "state")
    batches = _scored_batches(settings, plain_features)
    event_agent, batch_agent = (DecisionAgent(Policy(), DecisionStore(), settings, clock=lambda: 0.0) for _ in range(2))
    by_event: list[Decision] = []
    by_batch: list[Decision] = []
    for batch in batches:
        for scored in batch:
            by_event.extend(event_agent.observe(scored))
        batch_agent.observe_batch(batch, by_batch)
    assert len(by_event) > 20
    assert {d.scenario for d in by_event} >= {"scanning", "brute_force", "injection_attempt"}
    assert _summary(by_batch) == _summary(by_event)
    assert _state(batch_agent) == _state(event_agent)
