"""Decision agent: each scenario and its action, escalation, de-duplication, exemptions."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agents.bus import DECISIONS, SCORED, InMemoryBus
from agents.decision import DecisionAgent
from agents.decisions_store import Decision, DecisionStore
from agents.messages import ClientStats, ScoredEvent
from agents.policy import ACTION_RANK, SEVERITIES, Policy
from agents.reasons import quote
from config.settings import Settings
from stream.events import AccessEvent

T0 = 1_700_000_000.0  # 2023-11-14T22:13:20Z
ATTACKER = "203.0.113.7"


def make_scored(
    client: str = ATTACKER,
    ts: float = T0,
    *,
    method: str = "GET",
    path: str = "/",
    query: str | None = None,
    status: int = 200,
    ua: str | None = "Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0",
    user: str | None = None,
    stats: ClientStats | None = None,
    features: dict[str, float] | None = None,
    score: float | None = 0.3,
    hostname: bool = False,
) -> ScoredEvent:
    """Build a ScoredEvent from a real AccessEvent and ClientStats values."""
    event = AccessEvent(
        timestamp=ts,
        source_address=client,
        source_ip=None if hostname else client,
        http_request_method=method,
        url_path=path,
        url_query=query,
        http_response_status_code=status,
        user_agent_original=ua,
        user_name=user,
    )
    return ScoredEvent(
        event=event,
        features=features or {"injection": 0.0, "probe_path": 0.0, "handshake": 0.0, "ua_kind": 0.0},
        stats=stats or ClientStats(requests=1, rate_per_min=1.0, distinct_paths=1),
        score=score,
        raw_score=None if score is None else score,
        anomalous=score is not None and score >= 0.995,
        warming_up=score is None,
    )


def failed_login(client: str = ATTACKER, ts: float = T0, count: int = 1, **kwargs: Any) -> ScoredEvent:
    """Return a POST /login with status 401, the client's window containing `count` failed logins."""
    stats = kwargs.pop("stats", None) or ClientStats(
        requests=count, rate_per_min=float(count), failed_logins=count, distinct_users=1, share_4xx=1.0
    )
    kwargs.setdefault("user", "alice")
    return make_scored(client, ts, method="POST", path="/login", status=401, stats=stats, **kwargs)


def make_policy(**sections: Any) -> Policy:
    return Policy.model_validate(sections)


def make_agent(policy: Policy | None = None, trusted: list[str] | None = None) -> tuple[DecisionAgent, DecisionStore]:
    store = DecisionStore(clock=lambda: T0)
    settings_ = Settings(trusted_proxies=trusted or [])
    return DecisionAgent(policy or Policy(), store, settings_, clock=lambda: T0), store


def feed(agent: DecisionAgent, events: list[ScoredEvent]) -> list[Decision]:
    out: list[Decision] = []
    for scored in events:
        out.extend(agent.observe(scored))
    return out


def benign_site(ts: float = T0, clients: int = 5, rate: float = 3.0) -> list[ScoredEvent]:
    return [
        make_scored(f"198.51.100.{i}", ts, stats=ClientStats(requests=3, rate_per_min=rate, distinct_paths=3))
        for i in range(1, clients + 1)
    ]


# Scenario table: event sequence -> expected scenario, action, scope


def brute_force_events() -> list[ScoredEvent]:
    return [failed_login(ts=T0 + i, count=i + 1) for i in range(10)]


def stuffing_by_client_events() -> list[ScoredEvent]:
    return [
        failed_login(
            ts=T0 + i,
            user=f"user{i}",
            stats=ClientStats(requests=i + 1, failed_logins=i + 1, distinct_users=i + 1, share_4xx=1.0),
        )
        for i in range(5)
    ]


def scanning_probe_events() -> list[ScoredEvent]:
    paths = ["/.env", "/.git/config", "/wp-login.php"]
    return [
        make_scored(
            ts=T0 + i,
            path=path,
            status=404,
            features={"probe_path": 1.0},
            stats=ClientStats(requests=i + 1, probe_hits=i + 1, not_found=i + 1, share_4xx=1.0),
        )
        for i, path in enumerate(paths)
    ]


def scanning_ua_events() -> list[ScoredEvent]:
    return [make_scored(ua="sqlmap/1.7.2#stable (https://sqlmap.org)", features={"ua_kind": 1.0})]


def scanning_handshake_events() -> list[ScoredEvent]:
    return [
        make_scored(ts=T0 + i, path=None, status=400, stats=ClientStats(requests=i + 1, handshakes=i + 1))  # type: ignore[arg-type]
        for i in range(2)
    ]


def scanning_404_events() -> list[ScoredEvent]:
    stats = ClientStats(requests=40, rate_per_min=40.0, share_4xx=0.9, distinct_paths=38, not_found=36)
    return [make_scored(path="/backup.zip", status=404, stats=stats)]


def injection_block_events() -> list[ScoredEvent]:
    return [
        make_scored(
            ts=T0 + i,
            path="/search",
            query="q=1' UNION SELECT password FROM users--",
            features={"injection": 0.67},
            stats=ClientStats(requests=i + 1, injection_hits=i + 1),
        )
        for i in range(3)
    ]


def flood_events() -> list[ScoredEvent]:
    flood = make_scored(ts=T0 + 1, stats=ClientStats(requests=900, rate_per_min=900.0, distinct_paths=2))
    return [*benign_site(), flood]


def catalogue_page(index: int, ts: float, ua: str = "Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0",
                   ua_kind: float = 0.0) -> ScoredEvent:
    """Return a product page request of a client whose window already contains many requests."""
    stats = ClientStats(requests=20 + index, rate_per_min=40.0, distinct_paths=20 + index)
    return make_scored(ts=ts, path=f"/producto/zapatillas-{10_000 + index}", stats=stats,
                       features={"ua_kind": ua_kind})


def scraping_walk_events() -> list[ScoredEvent]:
    return [catalogue_page(i, T0 + i * 1.5) for i in range(30)]


def scraping_script_events() -> list[ScoredEvent]:
    return [catalogue_page(i, T0 + i * 3, ua="python-requests/2.31.0", ua_kind=0.7) for i in range(15)]


def anomalous_events() -> list[ScoredEvent]:
    return [make_scored(ts=T0 + i, path=f"/p{i}", score=0.997) for i in range(5)]


SCENARIO_CASES: list[tuple[str, Callable[[], list[ScoredEvent]], str, str]] = [
    ("brute_force", brute_force_events, "brute_force", "block"),
    ("stuffing_by_client", stuffing_by_client_events, "credential_stuffing", "block"),
    ("probe_paths", scanning_probe_events, "scanning", "block"),
    ("scanner_user_agent", scanning_ua_events, "scanning", "block"),
    ("handshakes", scanning_handshake_events, "scanning", "block"),
    ("many_404_paths", scanning_404_events, "scanning", "block"),
    ("injection_repeated", injection_block_events, "injection_attempt", "block"),
    ("flood", flood_events, "flood", "rate_limit"),
    ("scraping_catalogue_walk", scraping_walk_events, "scraping", "rate_limit"),
    ("scraping_script_agent", scraping_script_events, "scraping", "rate_limit"),
    ("anomalous", anomalous_events, "anomalous_behaviour", "monitor"),
]


@pytest.mark.parametrize(
    ("events", "scenario", "action"),
    [case[1:] for case in SCENARIO_CASES],
    ids=[case[0] for case in SCENARIO_CASES],
)
def test_decision_scenario_action(events: Callable[[], list[ScoredEvent]], scenario: str, action: str) -> None:
    agent, store = make_agent()
    decisions = feed(agent, events())
    latest = store.find(scenario=scenario, now=T0)
    assert decisions, "no decision was made"
    assert len(latest) == 1
    decision = latest[0]
    assert decision.action == action
    assert decision.scope == "ip"
    assert decision.value == ATTACKER
    assert decision.origin == "centinela"
    assert decision.reasons["es"]
    assert decision.reasons["en"]
    assert decision.evidence
    assert 0.0 <= decision.confidence <= 1.0


@pytest.mark.parametrize(
    "events",
    [case[1] for case in SCENARIO_CASES],
    ids=[case[0] for case in SCENARIO_CASES],
)
def test_decision_below_threshold_silent(events: Callable[[], list[ScoredEvent]]) -> None:
    agent, _ = make_agent()
    sequence = events()
    if len(sequence) == 1:
        pytest.skip("a single-event scenario has no shorter sequence")
    decisions = feed(agent, sequence[:-1])
    named = [d for d in decisions if d.value == ATTACKER and d.action in ("block", "rate_limit")]
    assert named == []


def test_decision_forbidden_pages_not_brute_force() -> None:
    agent, _ = make_agent()
    events = []
    for i in range(20):
        stats = ClientStats(requests=i + 1, failed_logins=i + 1, share_4xx=1.0, distinct_paths=2)
        path = "/login" if i % 2 else "/admin"
        events.append(make_scored(ts=T0 + i, path=path, status=403, stats=stats))
    assert feed(agent, events) == []


def test_decision_brute_force_fires_at_threshold_event() -> None:
    agent, _ = make_agent()
    events = brute_force_events()
    assert feed(agent, events[:9]) == []
    decisions = agent.observe(events[9])
    assert [d.scenario for d in decisions] == ["brute_force"]
    assert decisions[0].duration == "1h"
    assert decisions[0].severity == "high"


def test_decision_until_uses_log_time() -> None:
    agent, _ = make_agent()
    decision = feed(agent, brute_force_events())[0]
    assert decision.triggered_at == T0 + 9
    assert decision.until == T0 + 9 + 3600
    assert decision.to_dict()["until"] == "2023-11-14T23:13:29Z"


def test_decision_injection_first_hit_alerts_then_upgrades() -> None:
    agent, store = make_agent()
    events = injection_block_events()
    first = agent.observe(events[0])
    assert [d.action for d in first] == ["alert"]
    assert agent.observe(events[1]) == []
    third = agent.observe(events[2])
    assert [d.action for d in third] == ["block"]
    assert third[0].id == first[0].id
    assert len(store) == 1


def test_decision_flood_ignored_when_site_is_busy() -> None:
    agent, _ = make_agent()
    busy = benign_site(clients=5, rate=100.0)
    heavy = make_scored(ts=T0 + 1, stats=ClientStats(requests=900, rate_per_min=900.0))
    assert feed(agent, [*busy, heavy]) == []


def test_decision_flood_needs_absolute_floor() -> None:
    agent, _ = make_agent()
    quick = make_scored(ts=T0 + 1, stats=ClientStats(requests=250, rate_per_min=250.0))
    assert feed(agent, [*benign_site(rate=1.0), quick]) == []


def test_decision_flood_evidence_quotes_site_median() -> None:
    agent, _ = make_agent()
    decision = feed(agent, flood_events())[-1]
    median = next(e for e in decision.evidence if e["reference"] == "site_median")
    assert median["value"] == 900.0
    assert median["baseline"] == 3.0
    assert median["unit"] == "requests/min"


def test_decision_anomalous_never_blocks_by_default() -> None:
    agent, _ = make_agent()
    events = [make_scored(ts=T0 + i, path=f"/p{i}", score=1.0) for i in range(50)]
    decisions = feed(agent, events)
    assert {d.action for d in decisions} == {"monitor"}


def test_decision_anomalous_skipped_when_named_scenario_active() -> None:
    agent, _ = make_agent()
    feed(agent, scanning_ua_events())
    events = [make_scored(ts=T0 + 1 + i, path=f"/p{i}", score=0.999) for i in range(6)]
    decisions = feed(agent, events)
    assert [d for d in decisions if d.scenario == "anomalous_behaviour"] == []


def test_decision_anomalous_needs_sustained_score() -> None:
    agent, _ = make_agent()
    events = [make_scored(ts=T0 + i * 30, path=f"/p{i}", score=0.999) for i in range(5)]
    assert feed(agent, events) == []


def test_decision_warming_up_score_is_not_anomalous() -> None:
    agent, _ = make_agent()
    events = [make_scored(ts=T0 + i, score=None) for i in range(20)]
    assert feed(agent, events) == []


# Credential stuffing across clients


def stuffing_wave(bots: list[str], per_bot: int = 3, start: float = T0) -> list[ScoredEvent]:
    events = []
    for round_ in range(per_bot):
        for index, bot in enumerate(bots):
            count = round_ + 1
            stats = ClientStats(requests=count, failed_logins=count, distinct_users=count, share_4xx=1.0)
            user = f"victim{index * per_bot + round_}"
            events.append(failed_login(bot, start + round_ * 5 + index * 0.1, user=user, stats=stats))
    return events


def test_decision_stuffing_blocks_participants() -> None:
    agent, store = make_agent()
    bots = [f"192.0.2.{i}" for i in range(1, 13)]
    feed(agent, stuffing_wave(bots))
    blocked = {d.value for d in store.find(scenario="credential_stuffing", scope="ip", now=T0)}
    assert blocked == set(bots)
    for decision in store.find(scenario="credential_stuffing", scope="ip", now=T0):
        assert decision.action == "block"


def test_decision_stuffing_spares_customer_who_mistyped() -> None:
    agent, store = make_agent()
    bots = [f"192.0.2.{i}" for i in range(1, 13)]
    customer = "198.51.100.20"
    mixed = stuffing_wave(bots)
    for i in range(2):
        stats = ClientStats(requests=25 + i, failed_logins=i + 1, distinct_users=1, share_4xx=0.08)
        mixed.append(failed_login(customer, T0 + 12 + i, user="maria", stats=stats))
    feed(agent, mixed)
    assert store.find(value=customer, now=T0) == []


def test_decision_stuffing_range_throttled() -> None:
    agent, store = make_agent()
    bots = [f"192.0.2.{i}" for i in range(1, 13)]
    feed(agent, stuffing_wave(bots))
    ranges = store.find(scope="range", now=T0)
    assert [d.value for d in ranges] == ["192.0.2.0/24"]
    assert ranges[0].action == "rate_limit"
    assert ranges[0].to_crowdsec()["scope"] == "Range"


def test_decision_stuffing_range_skipped_among_customers() -> None:
    agent, store = make_agent()
    customers = benign_site(T0, clients=30)  # 198.51.100.1 .. 198.51.100.30
    bots = [f"198.51.100.{i}" for i in range(101, 113)]
    feed(agent, [*customers, *stuffing_wave(bots, start=T0 + 1)])
    assert len(store.find(scenario="credential_stuffing", scope="ip", now=T0)) == 12
    assert store.find(scope="range", now=T0) == []


def test_decision_stuffing_participant_by_distinct_users() -> None:
    agent, store = make_agent()
    bots = [f"192.0.2.{i}" for i in range(1, 13)]
    wave = stuffing_wave(bots)
    # This bot browses a little too (share 3/10), but tries a new account every time.
    stats = ClientStats(requests=10, failed_logins=3, distinct_users=3, share_4xx=0.3)
    wave += [failed_login("198.51.100.60", T0 + 11 + i, user=f"other{i}", stats=stats) for i in range(3)]
    feed(agent, wave)
    assert [d.value for d in store.find(value="198.51.100.60", now=T0)] == ["198.51.100.60"]


def test_decision_stuffing_endpoint_stays_attacked() -> None:
    agent, store = make_agent()
    bots = [f"192.0.2.{i}" for i in range(1, 13)]
    feed(agent, stuffing_wave(bots))
    # At T0 + 66.5 the first two rounds have left the window: 14 failed logins remain, below
    # the threshold of 15 but above half of it, so the endpoint is still under attack.
    late = ClientStats(requests=2, failed_logins=2, distinct_users=2, share_4xx=1.0)
    events = [failed_login("203.0.113.99", T0 + 66 + i / 2, user=f"late{i}", stats=late) for i in range(2)]
    feed(agent, events)
    assert [d.scenario for d in store.find(value="203.0.113.99", now=T0)] == ["credential_stuffing"]


def test_decision_stuffing_range_disabled() -> None:
    policy = make_policy(scenarios={"credential_stuffing": {"range_min_clients": 0}})
    agent, store = make_agent(policy)
    feed(agent, stuffing_wave([f"192.0.2.{i}" for i in range(1, 13)]))
    assert store.find(scope="range", now=T0) == []


def test_decision_stuffing_range_skips_allowed_network() -> None:
    policy = make_policy(allow={"addresses": ["192.0.2.200"]})
    agent, store = make_agent(policy)
    feed(agent, stuffing_wave([f"192.0.2.{i}" for i in range(1, 13)]))
    assert store.find(scope="range", now=T0) == []
    assert len(store.find(scope="ip", now=T0)) == 12


# Escalation, de-duplication, cooldown


def test_decision_hundred_failed_logins_one_decision() -> None:
    agent, store = make_agent()
    events = [failed_login(ts=T0 + i, count=min(i + 1, 60)) for i in range(100)]
    decisions = feed(agent, events)
    assert len(decisions) == 1
    assert len(store) == 1


def test_decision_evidence_after_cooldown_extends() -> None:
    agent, store = make_agent()
    first = feed(agent, brute_force_events())[0]
    until = first.until
    later = agent.observe(failed_login(ts=T0 + 9 + 400, count=12))
    assert [d.id for d in later] == [first.id]
    assert first.until == T0 + 9 + 400 + 3600
    assert first.until > until
    assert first.extensions == 1
    assert len(store) == 1


def offend(agent: DecisionAgent, start: float) -> list[Decision]:
    return feed(agent, [failed_login(ts=start + i, count=i + 1) for i in range(10)])


def test_decision_repeat_offender_escalates() -> None:
    agent, _ = make_agent()
    first = offend(agent, T0)[0]
    second = offend(agent, first.until + 1)[0]
    third = offend(agent, second.until + 1)[0]
    assert [d.repeat for d in (first, second, third)] == [1, 2, 3]
    assert [d.duration for d in (first, second, third)] == ["1h", "2h", "4h"]
    assert [d.severity for d in (first, second, third)] == ["high", "high", "critical"]
    assert len({first.id, second.id, third.id}) == 3
    assert any("#3" in reason for reason in third.reasons["en"])
    assert any("n.º 3" in reason for reason in third.reasons["es"])


def test_decision_escalation_capped() -> None:
    policy = make_policy(escalation={"factor": 10.0, "max_duration": "5h"})
    agent, _ = make_agent(policy)
    start = T0
    durations = []
    for _ in range(4):
        decision = offend(agent, start)[0]
        durations.append(decision.duration)
        start = decision.until + 1
    assert durations == ["1h", "5h", "5h", "5h"]


def test_decision_repeated_flood_becomes_block() -> None:
    agent, _ = make_agent()
    actions = []
    ts = T0
    for _ in range(3):
        site = benign_site(ts)
        heavy = make_scored(ts=ts + 1, stats=ClientStats(requests=900, rate_per_min=900.0))
        decision = feed(agent, [*site, heavy])[-1]
        actions.append(decision.action)
        ts = decision.until + 10
    assert actions == ["rate_limit", "rate_limit", "block"]


def test_decision_lift_forgets_offence() -> None:
    agent, store = make_agent()
    first = offend(agent, T0)[0]
    store.lift(first.id)
    again = offend(agent, first.until + 1)[0]
    assert again.repeat == 1
    assert again.duration == "1h"


def test_decision_expired_offence_outside_memory_resets() -> None:
    agent, _ = make_agent(make_policy(escalation={"memory": "1d"}))
    offend(agent, T0)
    later = offend(agent, T0 + 2 * 86_400)[0]
    assert later.repeat == 1


# Exemptions


@pytest.mark.parametrize(
    ("allow", "client", "ua"),
    [
        ({"addresses": [ATTACKER]}, ATTACKER, "sqlmap/1.7"),
        ({"addresses": ["203.0.113.0/24"]}, ATTACKER, "sqlmap/1.7"),
        ({"addresses": ["2001:db8::/32"]}, "2001:db8::5", "sqlmap/1.7"),
        ({"user_agents": ["^AcmeScan/"]}, ATTACKER, "AcmeScan/2.0 (sqlmap engine)"),
    ],
    ids=["ip", "cidr", "ipv6_cidr", "ua_regex"],
)
def test_decision_allow_list_wins(allow: dict[str, list[str]], client: str, ua: str) -> None:
    agent, store = make_agent(make_policy(allow=allow))
    events = [
        make_scored(
            client,
            T0,
            ua=ua,
            features={"ua_kind": 1.0, "injection": 1.0},
            stats=ClientStats(requests=5, injection_hits=5, probe_hits=5),
        ),
        *[failed_login(client, T0 + i, count=i + 1, ua=ua) for i in range(20)],
    ]
    assert feed(agent, events) == []
    assert len(store) == 0
    assert sum(agent.skipped.values()) > 0


def test_decision_ua_regex_does_not_cover_other_agents() -> None:
    agent, _ = make_agent(make_policy(allow={"user_agents": ["^AcmeScan/"]}))
    decisions = feed(agent, [make_scored(ua="sqlmap/1.7", features={"ua_kind": 1.0})])
    assert [d.scenario for d in decisions] == ["scanning"]


@pytest.mark.parametrize("client", ["127.0.0.1", "127.8.9.10", "::1"])
def test_decision_loopback_never_acted_on(client: str) -> None:
    agent, store = make_agent()
    events = [failed_login(client, T0 + i, count=i + 1) for i in range(20)]
    events.append(make_scored(client, T0 + 30, features={"ua_kind": 1.0}))
    assert feed(agent, events) == []
    assert agent.skipped["loopback"] > 0
    assert len(store) == 0


def test_decision_localhost_name_never_acted_on() -> None:
    agent, _ = make_agent()
    events = [failed_login("localhost", T0 + i, count=i + 1, hostname=True) for i in range(20)]
    assert feed(agent, events) == []


def test_decision_trusted_proxy_never_acted_on() -> None:
    agent, _ = make_agent(trusted=["10.0.0.0/8"])
    events = [failed_login("10.1.2.3", T0 + i, count=i + 1) for i in range(20)]
    assert feed(agent, events) == []
    assert agent.skipped["trusted_proxy"] > 0


def test_decision_documentation_range_is_acted_on() -> None:
    agent, _ = make_agent()
    decisions = feed(agent, [failed_login("192.0.2.44", T0 + i, count=i + 1) for i in range(10)])
    assert [d.value for d in decisions] == ["192.0.2.44"]


def test_decision_hostname_client_alert_only() -> None:
    agent, store = make_agent()
    host = "crawler.example.net"
    events = [failed_login(host, T0 + i, count=i + 1, hostname=True) for i in range(30)]
    decisions = feed(agent, events)
    assert len(decisions) == 1
    assert decisions[0].action == "alert"
    assert decisions[0].scope == "hostname"
    assert decisions[0].to_crowdsec() is None
    assert len(store) == 1


# Simulation, reasons, logging, invariants


def test_decision_simulation_marks_decisions() -> None:
    agent, _ = make_agent(make_policy(simulate=True))
    decision = feed(agent, brute_force_events())[0]
    assert decision.simulated is True
    assert decision.to_dict()["simulated"] is True
    assert any("simulación" in reason.lower() for reason in decision.reasons["es"])
    assert any("simulation" in reason.lower() for reason in decision.reasons["en"])


def test_decision_reasons_escape_attacker_strings() -> None:
    agent, _ = make_agent()
    path = "/search\x1b[31m<script>alert(1)</script>" + "A" * 200
    scored = make_scored(
        path=path,
        query="q=\r\nSet-Cookie: x",
        features={"injection": 1.0},
        stats=ClientStats(requests=3, injection_hits=3),
    )
    decision = agent.observe(scored)[0]
    text = " ".join(decision.reasons["en"] + decision.reasons["es"])
    assert "\x1b" not in text
    assert "\r" not in text
    assert "\n" not in text
    assert "A" * 100 not in text
    assert "\\x1b" in text


def test_decision_quote_truncates_and_escapes() -> None:
    assert quote("abc") == "'abc'"
    assert quote("x" * 100, limit=10) == "'xxxxxxxxxx…'"
    assert quote("\x00\n") == "'\\x00\\n'"
    assert quote(None) == "'-'"


def test_decision_log_line(caplog: pytest.LogCaptureFixture) -> None:
    agent, _ = make_agent()
    with caplog.at_level(logging.INFO, logger="centinela.decision"):
        decision = feed(agent, brute_force_events())[0]
    lines = [r.getMessage() for r in caplog.records if r.name == "centinela.decision"]
    assert any(line.startswith(f"decision id={decision.id} client='{ATTACKER}' scenario=brute_force") for line in lines)
    assert any("action=block until=2023-11-14T23:13:29Z" in line for line in lines)


def test_decision_to_dict_is_json() -> None:
    import json

    agent, _ = make_agent()
    decisions = feed(agent, flood_events() + brute_force_events())
    for decision in decisions:
        data = json.loads(json.dumps(decision.to_dict()))
        for key in (
            "id",
            "action",
            "scope",
            "value",
            "duration",
            "until",
            "created_at",
            "severity",
            "confidence",
            "scenario",
            "client",
            "evidence",
            "reasons",
            "simulated",
            "repeat",
            "origin",
        ):
            assert key in data
        for item in data["evidence"]:
            assert set(item) >= {"feature", "value", "baseline", "unit"}


stats_strategy = st.builds(
    ClientStats,
    requests=st.integers(0, 5000),
    rate_per_min=st.floats(0, 5000),
    share_4xx=st.floats(0, 1),
    share_5xx=st.floats(0, 1),
    distinct_paths=st.integers(0, 500),
    not_found=st.integers(0, 500),
    failed_logins=st.integers(0, 200),
    distinct_users=st.integers(0, 50),
    probe_hits=st.integers(0, 50),
    injection_hits=st.integers(0, 50),
    handshakes=st.integers(0, 10),
)
feature_strategy = st.fixed_dictionaries(
    {
        "injection": st.floats(0, 1),
        "probe_path": st.sampled_from([0.0, 1.0]),
        "handshake": st.sampled_from([0.0, 1.0]),
        "ua_kind": st.sampled_from([0.0, 0.4, 0.7, 1.0]),
    }
)
event_strategy = st.builds(
    make_scored,
    client=st.sampled_from([ATTACKER, "192.0.2.9", "2001:db8::1", "127.0.0.1"]),
    ts=st.floats(T0, T0 + 600),
    method=st.sampled_from(["GET", "POST"]),
    path=st.sampled_from(["/", "/login", "/.env", "/search", "/producto/1", "/static/app.css"]),
    status=st.sampled_from([200, 401, 403, 404, 500]),
    ua=st.one_of(st.none(), st.text(max_size=40)),
    user=st.one_of(st.none(), st.sampled_from(["a", "b", "c"])),
    stats=stats_strategy,
    features=feature_strategy,
    score=st.one_of(st.none(), st.floats(0, 1)),
)


@settings(max_examples=150, deadline=None)
@given(st.lists(event_strategy, min_size=1, max_size=40))
def test_decision_invariants_any_events(events: list[ScoredEvent]) -> None:
    agent, store = make_agent()
    for decision in feed(agent, events):
        assert decision.action in ACTION_RANK
        assert decision.severity in SEVERITIES
        assert decision.scope in ("ip", "range", "user", "hostname")
        assert 0.0 <= decision.confidence <= 1.0
        assert decision.until > decision.triggered_at
        assert decision.reasons["es"] and decision.reasons["en"]
        assert decision.value != "127.0.0.1"
        assert decision.scenario != "anomalous_behaviour" or decision.action != "block"
        assert decision.scenario != "scraping" or decision.repeat > 1 or decision.action != "block"
    values_scenarios = [(d.value, d.scenario) for d in store.find(now=T0 + 600, limit=10_000)]
    assert len(values_scenarios) == len(set(values_scenarios))


# The bus loop


async def test_decision_agent_run_publishes_decisions() -> None:
    bus = InMemoryBus()
    agent, _ = make_agent()
    out = bus.subscribe(DECISIONS)
    task = asyncio.create_task(agent.run(bus))
    await asyncio.sleep(0)
    for scored in brute_force_events():
        await bus.publish(SCORED, scored)
    await bus.publish(SCORED, "not a scored event")
    decision = await asyncio.wait_for(out.get(), timeout=2)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert decision.scenario == "brute_force"
    assert bus.subscribers(SCORED) == 0


# Duration after an extension, evidence under hysteresis, one login scenario per client


def test_decision_extension_keeps_duration_in_step() -> None:
    agent, _ = make_agent()
    first = feed(agent, brute_force_events())[0]

    agent.observe(failed_login(ts=T0 + 9 + 300, count=12))

    assert first.until == T0 + 9 + 300 + 3600
    assert first.duration == "1h5m"
    assert first.to_dict()["duration"] == "1h5m"
    assert first.duration_seconds == first.until - first.triggered_at


def test_decision_second_extension_adds_policy_duration() -> None:
    agent, _ = make_agent()
    first = feed(agent, brute_force_events())[0]

    agent.observe(failed_login(ts=T0 + 9 + 300, count=12))
    agent.observe(failed_login(ts=T0 + 9 + 600, count=12))

    assert first.until == T0 + 9 + 600 + 3600
    assert first.duration == "1h10m"
    assert first.extensions == 2


def test_decision_crowdsec_after_extension_exports_time_left() -> None:
    agent, _ = make_agent()
    first = feed(agent, brute_force_events())[0]
    agent.observe(failed_login(ts=T0 + 9 + 300, count=12))

    exported = first.to_crowdsec(now=T0 + 9 + 600)

    assert exported is not None
    assert exported["duration"] == "55m"
    assert exported["until"] == "2023-11-14T23:18:29Z"


def late_participant(agent: DecisionAgent, store: DecisionStore) -> Decision:
    """Run a stuffing wave, then one bot while the endpoint is held under attack below the thresholds."""
    feed(agent, stuffing_wave([f"192.0.2.{i}" for i in range(1, 13)]))
    late = ClientStats(requests=2, failed_logins=2, distinct_users=2, share_4xx=1.0)
    # At T0 + 67 the first round has left the window: 12 failed logins remain, and this bot's makes 13.
    feed(agent, [failed_login("203.0.113.99", T0 + 67 + i / 2, user=f"late{i}", stats=late) for i in range(2)])
    return store.find(value="203.0.113.99", now=T0)[0]


def test_decision_stuffing_hysteresis_evidence_not_below_baseline() -> None:
    agent, store = make_agent()

    decision = late_participant(agent, store)

    evidence = {item["feature"]: item for item in decision.evidence}
    held = evidence["endpoint_failed_logins"]
    assert held["value"] == 13
    assert held["reference"] == "hysteresis"
    assert held["baseline"] == 8
    assert "under attack since 2023-11-14T22:13:25Z" in held["unit"]
    start = evidence["endpoint_failed_logins_at_start"]
    assert start["value"] == 15
    assert start["baseline"] == 15
    assert start["reference"] == "threshold"


def test_decision_stuffing_hysteresis_reasons_state_rule() -> None:
    agent, store = make_agent()

    decision = late_participant(agent, store)

    es, en = " ".join(decision.reasons["es"]), " ".join(decision.reasons["en"])
    assert "desde las 22:13:25 UTC, cuando llegó a 15 inicios de sesión fallidos" in es
    assert "al menos 8 inicios de sesión fallidos desde 3 clientes o contra 5 usuarios (la mitad de los umbrales)" in es
    assert "since 22:13:25 UTC, when it reached 15 failed logins" in en
    assert "at least 8 failed logins from 3 clients or against 5 users (half the thresholds)" in en


def test_decision_stuffing_evidence_at_threshold_unchanged() -> None:
    agent, store = make_agent()
    feed(agent, stuffing_wave([f"192.0.2.{i}" for i in range(1, 13)]))

    decision = store.find(value="192.0.2.1", now=T0)[0]

    references = {item["feature"]: item["reference"] for item in decision.evidence}
    assert references["endpoint_failed_logins"] == "threshold"
    assert "endpoint_failed_logins_at_start" not in references


def test_decision_brute_forcer_not_also_stuffing() -> None:
    agent, store = make_agent()
    brute = [failed_login("198.51.100.66", T0 + i * 0.5, user="admin", count=i + 1) for i in range(10)]
    feed(agent, brute)
    # A distributed wave on the same endpoint while the brute forcer keeps going.
    wave = stuffing_wave([f"192.0.2.{i}" for i in range(1, 13)], start=T0 + 10)
    more = [failed_login("198.51.100.66", T0 + 10.05 + i, user="admin", count=11 + i) for i in range(10)]
    feed(agent, sorted([*wave, *more], key=lambda scored: scored.event.timestamp))

    scenarios = [decision.scenario for decision in store.find(value="198.51.100.66", now=T0)]
    assert scenarios == ["brute_force"]
    assert len(store.find(scenario="credential_stuffing", scope="ip", now=T0)) == 12


def test_decision_many_users_is_stuffing_not_brute_force() -> None:
    agent, store = make_agent()
    events = []
    for i in range(12):
        stats = ClientStats(requests=i + 1, failed_logins=i + 1, distinct_users=min(i + 1, 6), share_4xx=1.0)
        events.append(failed_login("198.51.100.66", T0 + i, user=f"user{i % 6}", stats=stats))

    feed(agent, events)

    scenarios = [decision.scenario for decision in store.find(value="198.51.100.66", now=T0)]
    assert scenarios == ["credential_stuffing"]


def test_decision_participant_first_keeps_stuffing_label() -> None:
    agent, store = make_agent()
    feed(agent, stuffing_wave([f"192.0.2.{i}" for i in range(1, 13)]))
    # Joins the attacked endpoint, named a participant at its second failed login, then goes on.
    feed(agent, [failed_login("198.51.100.66", T0 + 11 + i * 0.2, user="admin", count=i + 1) for i in range(12)])

    scenarios = [decision.scenario for decision in store.find(value="198.51.100.66", now=T0)]
    assert scenarios == ["credential_stuffing"]
