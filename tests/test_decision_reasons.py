"""Wording helpers of decision reasons: counts, numbers, percentages and quoted attacker strings."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agents.messages import ClientStats
from agents.reasons import clock_time, count, escape, number, percent, quote, quote_request
from tests.test_decision_agent import (
    T0,
    anomalous_events,
    failed_login,
    feed,
    flood_events,
    make_agent,
    make_scored,
    scraping_walk_events,
    stuffing_wave,
)


@pytest.mark.parametrize(
    ("n", "expected"),
    [(0, "0 peticiones"), (1, "1 petición"), (2, "2 peticiones"), (11, "11 peticiones")],
)
def test_reasons_count_agrees_with_number(n: int, expected: str) -> None:
    assert count(n, "petición", "peticiones") == expected


@pytest.mark.parametrize(
    ("value", "language", "digits", "expected"),
    [
        (0.6666, "es", 2, "0,67"),
        (0.6666, "en", 2, "0.67"),
        (13.0, "es", 1, "13,0"),
        (0.99, "es", 2, "0,99"),
        (300.0, "es", 0, "300"),
    ],
)
def test_reasons_number_decimal_separator(value: float, language: str, digits: int, expected: str) -> None:
    assert number(value, language, digits) == expected  # type: ignore[arg-type]


def test_reasons_percent_spacing() -> None:
    assert percent(0.62, "es") == "62 %"
    assert percent(0.62, "en") == "62%"
    assert percent(1.0, "es") == "100 %"


def test_reasons_clock_time_is_utc() -> None:
    assert clock_time(T0) == "22:13:20 UTC"


def test_reasons_quote_request_decodes_path_and_query() -> None:
    assert quote_request("/buscar", "q=%3Csvg%20onload=alert(1)%3E") == "'/buscar?q=<svg onload=alert(1)>'"
    assert quote_request("/a%20b", "q=1+UNION+SELECT") == "'/a b?q=1 UNION SELECT'"
    assert quote_request("/login") == "'/login'"
    assert quote_request(None) == "'-'"


@pytest.mark.parametrize(
    ("path", "query", "expected"),
    [
        ("/x", "a=%0d%0aSet-Cookie:%20y", "'/x?a=\\r\\nSet-Cookie: y'"),
        ("/x", "a=%27%22", "'/x?a=\\'\\\"'"),
        ("/x%1b[31m", None, "'/x\\x1b[31m'"),
        ("/x%ff%fe", None, "'/x\\xff\\xfe'"),
        ("/x%e2%80%ae", None, "'/x\\u202e'"),
        ("/caf%C3%A9", None, "'/café'"),
        ("/x\\y", None, "'/x\\\\y'"),
    ],
)
def test_reasons_quote_request_escapes_after_decoding(path: str, query: str | None, expected: str) -> None:
    assert quote_request(path, query) == expected


def test_reasons_quote_truncates_inside_quotes() -> None:
    quoted = quote_request("/buscar", "q=" + "A" * 200)
    assert quoted.startswith("'/buscar?q=AAA")
    assert quoted.endswith("…'")
    assert len(quoted) == 80 + 3


def test_reasons_quote_keeps_short_text() -> None:
    assert quote("sqlmap/1.8.4#stable (https://sqlmap.org)") == "'sqlmap/1.8.4#stable (https://sqlmap.org)'"
    assert quote(None) == "'-'"
    assert quote("x" * 100, limit=10) == "'xxxxxxxxxx…'"


@given(st.text(max_size=200), st.one_of(st.none(), st.text(max_size=200)))
def test_reasons_quote_request_never_leaks_control_characters(path: str, query: str | None) -> None:
    quoted = quote_request(path, query)

    inner = quoted[1:-1]
    assert quoted.startswith("'")
    assert quoted.endswith("'")
    assert all(char.isprintable() for char in inner)
    assert "'" not in inner.replace("\\'", "")


@given(st.text(max_size=100))
def test_reasons_escape_output_printable(text: str) -> None:
    assert escape(text).isprintable()


# Reasons as the decision agent writes them


def agent_reasons(events: list[Any]) -> tuple[str, str]:
    agent, _ = make_agent()
    decisions = feed(agent, events)
    return " ".join(decisions[-1].reasons["es"]), " ".join(decisions[-1].reasons["en"])


def test_reasons_single_request_is_singular() -> None:
    event = make_scored(path="/buscar", query="q=%3Csvg%20onload=alert(1)%3E", features={"injection": 0.6666},
                        stats=ClientStats(requests=1, injection_hits=1))

    es, en = agent_reasons([event])

    assert "1 petición así en 60 s" in es
    assert "peticiones así" not in es
    assert "1 such request in 60 s" in en
    assert "such requests" not in en


def test_reasons_injection_quotes_decoded_target() -> None:
    event = make_scored(path="/buscar", query="q=%3Csvg%20onload=alert(1)%3E", features={"injection": 0.6666},
                        stats=ClientStats(requests=1, injection_hits=1))

    es, en = agent_reasons([event])

    assert "'/buscar?q=<svg onload=alert(1)>'" in es
    assert "'/buscar?q=<svg onload=alert(1)>'" in en
    assert "intensidad 0,67" in es
    assert "strength 0.67" in en
    assert "path traversal" in es
    assert "recorrido de rutas" not in es


def test_reasons_injection_decoding_keeps_escapes() -> None:
    event = make_scored(path="/x", query="a=%0d%0a%1b[31mINFO%20forged%22", features={"injection": 1.0},
                        stats=ClientStats(requests=1, injection_hits=1))

    es, en = agent_reasons([event])

    for text in (es, en):
        assert "\r" not in text
        assert "\n" not in text
        assert "\x1b" not in text
        assert "'/x?a=\\r\\n\\x1b[31mINFO forged\\\"'" in text


def test_reasons_flood_spanish_decimals() -> None:
    es, en = agent_reasons(flood_events())

    assert "mediana del sitio 3,0/min" in es
    assert "site median 3.0/min" in en
    assert "900 peticiones/min" in es


def test_reasons_anomalous_spanish_threshold() -> None:
    es, en = agent_reasons(anomalous_events())

    assert "≥ 0,99" in es
    assert "(máxima 0,997)" in es
    assert "≥ 0.99" in en
    assert "5 eventos" in es


def test_reasons_scraping_percent_spacing() -> None:
    es, en = agent_reasons(scraping_walk_events())

    assert "solo el 0 % de sus peticiones" in es
    assert "only 0% of its requests" in en


def test_reasons_scanner_says_user_agent() -> None:
    es, en = agent_reasons([make_scored(ua="sqlmap/1.8.4#stable (https://sqlmap.org)", features={"ua_kind": 1.0})])

    assert es.startswith("User-Agent de un escáner conocido: 'sqlmap/1.8.4#stable (https://sqlmap.org)'.")
    assert "Agente de usuario" not in es
    assert en.startswith("Known scanner User-Agent:")


def test_reasons_stuffing_term_on_first_mention() -> None:
    agent, store = make_agent()
    feed(agent, stuffing_wave([f"192.0.2.{i}" for i in range(1, 13)]))

    for decision in store.find(scenario="credential_stuffing", now=T0):
        first = decision.reasons["es"][0]
        assert "credential stuffing (relleno de credenciales)" in first
        assert "relleno de credenciales" not in " ".join(decision.reasons["es"][1:])


def test_reasons_one_failed_attempt_singular() -> None:
    agent, store = make_agent()
    bots = [f"192.0.2.{i}" for i in range(1, 13)]
    feed(agent, stuffing_wave(bots))
    # A new bot that sends one failed login, nothing else: acted on from its first guess.
    stats = ClientStats(requests=1, failed_logins=1, distinct_users=1, share_4xx=1.0)
    feed(agent, [failed_login("198.51.100.200", T0 + 12, user="single", stats=stats)])

    decision = store.find(value="198.51.100.200", now=T0)[0]
    es, en = " ".join(decision.reasons["es"]), " ".join(decision.reasons["en"])
    assert "participa con 1 intento fallido contra 1 usuario," in es
    assert "el 100 % de sus peticiones" in es
    assert "took part with 1 failed attempt against 1 user," in en
    assert "100% of its requests" in en
