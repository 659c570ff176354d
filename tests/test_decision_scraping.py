"""Scraping scenario and new login-only stuffing clients: who is acted on, and who is spared."""

from __future__ import annotations

import pytest

from agents.messages import ClientStats, ScoredEvent
from agents.policy import PolicyError, parse_policy
from tests.test_decision_agent import (
    T0,
    catalogue_page,
    failed_login,
    feed,
    make_agent,
    make_policy,
    make_scored,
    scraping_walk_events,
    stuffing_wave,
)

GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
SHOPPER = "198.51.100.44"


def shopper_events(pages: int) -> list[ScoredEvent]:
    """A fast shopper: each product page is followed by its photo, the stylesheet and the script."""
    events = []
    for index in range(pages):
        ts = T0 + index * 2
        stats = ClientStats(requests=40 + index * 4, rate_per_min=120.0, distinct_paths=40)
        events.append(make_scored(SHOPPER, ts, path=f"/producto/remera-{index}", stats=stats))
        for asset in (f"/img/productos/{index}-1.webp", "/static/css/app.css", "/static/js/app.js"):
            events.append(make_scored(SHOPPER, ts + 0.1, path=asset, stats=stats))
    return events


def test_decision_scraping_spares_shopper_loading_assets() -> None:
    agent, store = make_agent()
    feed(agent, shopper_events(40))
    assert store.find(value=SHOPPER, now=T0) == []


def test_decision_scraping_spares_crawler_at_its_pace() -> None:
    # One page every 10 s for an hour: the window never contains enough requests to follow it.
    agent, store = make_agent()
    events = []
    for index in range(360):
        stats = ClientStats(requests=6, rate_per_min=6.0, distinct_paths=6)
        events.append(make_scored("66.249.66.1", T0 + index * 10, path=f"/producto/p-{index}", ua=GOOGLEBOT,
                                  stats=stats, features={"ua_kind": 0.4}))
    feed(agent, events)
    assert store.find(value="66.249.66.1", now=T0) == []


def test_decision_scraping_evidence_and_reasons() -> None:
    agent, store = make_agent()
    feed(agent, scraping_walk_events())
    decision = store.find(scenario="scraping", now=T0)[0]
    evidence = {item["feature"]: item for item in decision.evidence}
    assert evidence["distinct_catalogue_pages"]["value"] == 30
    assert evidence["distinct_catalogue_pages"]["baseline"] == 30
    assert evidence["asset_share"]["value"] == 0.0
    assert "páginas distintas del catálogo" in decision.reasons["es"][0]
    assert "distinct catalogue pages" in decision.reasons["en"][0]


def test_decision_scraping_repeat_query_counts_once() -> None:
    # Reloading one listing page 40 times is not a catalogue walk.
    agent, store = make_agent()
    stats = ClientStats(requests=40, rate_per_min=40.0, distinct_paths=1)
    events = [make_scored(ts=T0 + i, path="/categoria/calzado", query="page=2", stats=stats) for i in range(40)]
    feed(agent, events)
    assert store.find(scenario="scraping", now=T0) == []


def test_decision_scraping_third_offence_blocks() -> None:
    agent, _ = make_agent()
    actions = []
    for offence in range(3):
        start = T0 + offence * 7200  # after the 30 min rate limit (doubled on repeat) has expired
        walk = [catalogue_page(i, start + i * 1.5) for i in range(30)]
        actions += [d.action for d in feed(agent, walk) if d.scenario == "scraping"]
    assert actions == ["rate_limit", "rate_limit", "block"]


def test_decision_scraping_disabled() -> None:
    agent, store = make_agent(make_policy(scenarios={"scraping": {"enabled": False}}))
    feed(agent, scraping_walk_events())
    assert store.find(scenario="scraping", now=T0) == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('[scenarios.scraping]\naction = "block"\n', "policy.toml: scenarios.scraping.action: 'block' is not accepted"),
        ("[scenarios.scraping]\npage_paths = '(unclosed'\n", "policy.toml: scenarios.scraping.page_paths: '(unclosed'"),
        ("[scenarios.scraping]\nmax_asset_share = 2\n", "policy.toml: scenarios.scraping.max_asset_share: Input"),
    ],
    ids=["block_first_offence", "bad_regex", "share_above_one"],
)
def test_policy_scraping_error_names_field(text: str, expected: str) -> None:
    with pytest.raises(PolicyError) as info:
        parse_policy(text, "policy.toml")
    assert str(info.value).startswith(expected)


# Credential stuffing: bots that send a single guess per address


BOTS = [f"192.0.2.{i}" for i in range(1, 13)]


def single_guess(client: str, ts: float, user: str) -> ScoredEvent:
    stats = ClientStats(requests=1, failed_logins=1, distinct_users=1, share_4xx=1.0, distinct_paths=1)
    return failed_login(client, ts, user=user, stats=stats)


def test_decision_stuffing_acts_on_single_guess_bot() -> None:
    agent, store = make_agent()
    feed(agent, stuffing_wave(BOTS))
    feed(agent, [single_guess("203.0.113.50", T0 + 12, "leaked1")])
    decisions = store.find(value="203.0.113.50", now=T0)
    assert [d.scenario for d in decisions] == ["credential_stuffing"]
    assert "client_age" in {item["feature"] for item in decisions[0].evidence}
    assert "sin navegar la tienda" in decisions[0].reasons["es"][-1]


def test_decision_stuffing_spares_single_guess_of_known_client() -> None:
    # The customer browsed five minutes earlier, then fails once while the endpoint is attacked.
    agent, store = make_agent()
    customer = "198.51.100.20"
    feed(agent, [make_scored(customer, T0 - 300, path="/producto/remera-1")])
    feed(agent, stuffing_wave(BOTS))
    feed(agent, [single_guess(customer, T0 + 12, "maria")])
    assert store.find(value=customer, now=T0) == []


def test_decision_stuffing_spares_new_client_that_browsed() -> None:
    # New within the window, but its window contains pages and assets besides the failed login.
    agent, store = make_agent()
    customer = "198.51.100.21"
    feed(agent, stuffing_wave(BOTS))
    stats = ClientStats(requests=9, failed_logins=1, distinct_users=1, share_4xx=0.1, distinct_paths=7)
    feed(agent, [failed_login(customer, T0 + 12, user="maria", stats=stats)])
    assert store.find(value=customer, now=T0) == []


def test_decision_stuffing_new_client_rule_disabled() -> None:
    agent, store = make_agent(make_policy(scenarios={"credential_stuffing": {"participant_new_client": False}}))
    feed(agent, stuffing_wave(BOTS))
    feed(agent, [single_guess("203.0.113.50", T0 + 12, "leaked1")])
    assert store.find(value="203.0.113.50", now=T0) == []
