"""Replay real public logs through the parser, the feature windows and the decision agent.

No detector runs here (score None, as while warming up), so only the named
scenarios can fire: this checks the thresholds against real traffic.
"""

from __future__ import annotations

from collections import Counter

from agents.decision import DecisionAgent
from agents.decisions_store import Decision, DecisionStore
from agents.messages import ScoredEvent
from agents.policy import Policy
from config.settings import Settings
from stream.features import MODEL_FEATURES, FeatureExtractor
from stream.parsers.batch import parse_batch
from tests.conftest import dataset


def replay(relative: str) -> list[Decision]:
    lines = dataset(relative).read_bytes().splitlines()
    parsed = parse_batch(lines)
    extractor = FeatureExtractor(60, 100_000, 900)
    agent = DecisionAgent(Policy(), DecisionStore(), Settings())
    decisions: list[Decision] = []
    for event in parsed.events:
        row, stats = extractor.extract(event)
        scored = ScoredEvent(event, dict(zip(MODEL_FEATURES, row, strict=True)), stats, None, None, False, True)
        decisions.extend(agent.observe(scored))
    return decisions


def test_decision_replay_benign_site_blocks_only_probers() -> None:
    decisions = replay("elastic_apache_logs/apache_logs")
    assert len(decisions) <= 10
    for decision in decisions:
        assert decision.scenario == "scanning"
        assert {item["feature"] for item in decision.evidence} == {"probe_hits"}
    # Opera Mini and Android browsers with an Indonesian locale are not scanners.
    assert "82.145.208.98" not in {d.value for d in decisions}


def test_decision_replay_scanner_log_blocks_scanners() -> None:
    decisions = replay("advertools_log_fixtures/nginx_access.log")
    kinds = Counter(d.scenario for d in decisions)
    assert kinds["scanning"] >= 20
    assert set(kinds) <= {"scanning", "injection_attempt"}
    zgrab = [d for d in decisions if any("zgrab" in reason for reason in d.reasons["en"])]
    assert zgrab
    assert all(d.action == "block" for d in zgrab)
