"""Decision store: expiry against an injected clock, filters, lifting, offences; CrowdSec shape."""

from __future__ import annotations

import re
from typing import Any

import pytest

from agents.decisions_store import Decision, DecisionStore

T0 = 1_700_000_000.0
GO_DURATION = re.compile(r"^(\d+h)?(\d+m)?(\d+s)?$")


def make_decision(
    value: str = "203.0.113.7",
    scenario: str = "brute_force",
    action: str = "block",
    scope: str = "ip",
    start: float = T0,
    seconds: float = 3600,
    **kwargs: Any,
) -> Decision:
    return Decision(
        action=action,
        scope=scope,
        value=value,
        duration_seconds=seconds,
        triggered_at=start,
        until=start + seconds,
        severity="high",
        confidence=0.8,
        scenario=scenario,
        client=value,
        evidence=[{"feature": "failed_logins", "value": 12, "baseline": 10, "unit": "per 60 s"}],
        reasons={"es": ["12 inicios de sesión fallidos."], "en": ["12 failed logins."]},
        created_at=start,
        **kwargs,
    )


class FakeClock:
    """A settable clock: the store reads it instead of the wall clock."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_decision_store_expiry_follows_clock() -> None:
    clock = FakeClock(T0)
    store = DecisionStore(clock=clock)
    decision = make_decision()
    store.add(decision)
    assert store.find() == [decision]
    clock.now = T0 + 3599
    assert store.find() == [decision]
    clock.now = T0 + 3600
    assert store.find() == []
    assert store.find(active=False) == [decision]


def test_decision_store_active_for_uses_given_time() -> None:
    store = DecisionStore(clock=lambda: T0 + 10 * 86_400)
    decision = make_decision()
    store.add(decision)
    assert store.active_for("203.0.113.7", "brute_force", T0 + 60) is decision
    assert store.active_for("203.0.113.7", "brute_force", T0 + 3600) is None
    assert store.active_for("203.0.113.7", "scanning", T0 + 60) is None


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({"scope": "range"}, ["range"]),
        ({"value": "198.51.100.9"}, ["other"]),
        ({"scenario": "scanning"}, ["other"]),
        ({}, ["range", "other", "first"]),
        ({"limit": 1}, ["range"]),
    ],
)
def test_decision_store_filters(filters: dict[str, Any], expected: list[str]) -> None:
    store = DecisionStore(clock=lambda: T0)
    by_id = {}
    for name, decision in [
        ("first", make_decision()),
        ("other", make_decision("198.51.100.9", "scanning")),
        ("range", make_decision("192.0.2.0/24", "credential_stuffing", "rate_limit", scope="range")),
    ]:
        store.add(decision)
        by_id[decision.id] = name
    assert [by_id[d.id] for d in store.find(**filters)] == expected


def test_decision_store_lift_removes() -> None:
    store = DecisionStore(clock=lambda: T0)
    decision = make_decision()
    store.add(decision)
    assert store.lift(decision.id) is decision
    assert store.get(decision.id) is None
    assert store.active_for(decision.value, decision.scenario, T0) is None
    assert store.lift(decision.id) is None


def test_decision_store_counts_offences_within_memory() -> None:
    store = DecisionStore()
    day = 86_400.0
    assert store.record_offence("a", "flood", T0, memory=day) == 1
    assert store.record_offence("a", "flood", T0 + 100, memory=day) == 2
    assert store.record_offence("a", "scanning", T0 + 200, memory=day) == 1
    assert store.record_offence("a", "flood", T0 + 2 * day, memory=day) == 1


def test_decision_store_bounded() -> None:
    store = DecisionStore(max_decisions=3)
    decisions = [make_decision(f"192.0.2.{i}") for i in range(5)]
    for decision in decisions:
        store.add(decision)
    assert len(store) == 3
    assert store.get(decisions[0].id) is None
    assert store.get(decisions[4].id) is decisions[4]
    assert store.dropped == 2


def test_decision_store_history_bounded() -> None:
    store = DecisionStore(max_history_keys=2)
    for i in range(3):
        store.record_offence(f"192.0.2.{i}", "flood", T0, memory=3600)
    assert store.record_offence("192.0.2.0", "flood", T0 + 1, memory=3600) == 1
    assert store.record_offence("192.0.2.2", "flood", T0 + 1, memory=3600) == 2


@pytest.mark.parametrize(
    ("action", "scope", "kind", "crowdsec_scope"),
    [
        ("block", "ip", "ban", "Ip"),
        ("rate_limit", "ip", "throttle", "Ip"),
        ("block", "range", "ban", "Range"),
        ("rate_limit", "range", "throttle", "Range"),
        ("block", "user", "ban", "Username"),
    ],
)
def test_decision_crowdsec_mapping(action: str, scope: str, kind: str, crowdsec_scope: str) -> None:
    decision = make_decision(action=action, scope=scope, seconds=5400)
    exported = decision.to_crowdsec()
    assert exported is not None
    assert exported["type"] == kind
    assert exported["scope"] == crowdsec_scope
    assert exported["value"] == decision.value
    assert exported["duration"] == "1h30m"
    assert exported["scenario"] == "centinela/brute_force"
    assert exported["reason"] == "centinela/brute_force"
    assert exported["origin"] == "centinela"
    assert exported["simulated"] is False


@pytest.mark.parametrize(("action", "scope"), [("alert", "ip"), ("monitor", "ip"), ("alert", "hostname")])
def test_decision_crowdsec_skips_non_enforcing(action: str, scope: str) -> None:
    assert make_decision(action=action, scope=scope).to_crowdsec() is None


@pytest.mark.parametrize("seconds", [1, 59, 60, 3600, 5400, 7 * 86_400, 12_345])
def test_decision_crowdsec_duration_is_go_syntax(seconds: float) -> None:
    exported = make_decision(seconds=seconds).to_crowdsec()
    assert exported is not None
    assert GO_DURATION.match(exported["duration"])
    assert "d" not in exported["duration"]


def test_decision_to_dict_times_are_utc_iso() -> None:
    data = make_decision(seconds=4 * 3600).to_dict()
    assert data["until"] == "2023-11-15T02:13:20Z"
    assert data["triggered_at"] == "2023-11-14T22:13:20Z"
    assert data["duration"] == "4h"


def test_decision_crowdsec_duration_is_time_left() -> None:
    decision = make_decision(start=T0, seconds=3600)

    exported = decision.to_crowdsec(now=T0 + 600)

    assert exported is not None
    assert exported["duration"] == "50m"
    assert exported["until"] == "2023-11-14T23:13:20Z"


def test_decision_crowdsec_skips_decision_over_at_now() -> None:
    decision = make_decision(start=T0, seconds=3600)

    assert decision.to_crowdsec(now=T0 + 3600) is None


def test_decision_duration_follows_until() -> None:
    decision = make_decision(start=T0, seconds=3600)

    decision.extend_to(T0 + 3900, at=T0 + 300)

    assert decision.duration == "1h5m"
    assert decision.duration_seconds == 3900
    assert decision.base_duration_seconds == 3600
    assert decision.to_crowdsec(now=T0 + 3000)["duration"] == "15m"  # type: ignore[index]
