"""Wording helpers of decision reasons: counts, numbers, percentages and quoted attacker strings."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agents.reasons import clock_time, count, escape, number, percent, quote, quote_request

T0 = 1_700_000_000.0  # 2023-11-14T22:13:20Z


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
