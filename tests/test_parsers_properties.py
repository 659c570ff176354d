"""Invariants of parse_batch over generated input (hypothesis)."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from stream.events import AccessEvent
from stream.parsers import format_combined, parse_batch

FORMATS = st.sampled_from(["auto", "combined", "common", "json", "csv", "tsv"])
ITEMS = st.lists(
    st.one_of(
        st.binary(max_size=300),
        st.text(max_size=300),
        st.dictionaries(st.text(max_size=20), st.one_of(st.none(), st.integers(), st.text(max_size=40))),
    ),
    max_size=8,
)


PROXIES = st.sampled_from([[], ["0.0.0.0/0", "::/0"]])


@settings(max_examples=300, deadline=None)
@given(items=ITEMS, format_name=FORMATS, proxies=PROXIES)
def test_parsers_never_raise_and_account_every_item(items: list, format_name: str, proxies: list) -> None:
    result = parse_batch(items, format=format_name, max_line_bytes=256, trusted_proxies=proxies)

    assert result.received == len(items)
    lines = sorted([event.line for event in result.events] + [error.line for error in result.errors])
    assert lines == list(range(1 + result.header_lines, len(items) + 1))
    for error in result.errors:
        assert error.reason
        assert not error.reason.startswith("internal parser error")
        assert error.excerpt.isascii()
        assert len(error.excerpt) <= 123


LINE_PREFIX = st.sampled_from([
    '10.0.0.1 - - [01/Jan/2024:00:00:00 +0000] "',
    '10.0.0.1 - - [01/Jan/2024:00:00:00 +0000] "GET / HTTP/1.1" 200 5 "-" "ua"',
    "[::1]:80 - - [",
    "x ",
])


@settings(max_examples=300, deadline=None)
@given(prefix=LINE_PREFIX, tail=st.text(max_size=200), proxies=PROXIES)
def test_parsers_never_raise_on_near_combined_lines(prefix: str, tail: str, proxies: list) -> None:
    result = parse_batch([prefix + tail], format="combined", trusted_proxies=proxies)

    assert result.received == 1
    assert all(not error.reason.startswith("internal") for error in result.errors)


# Printable text, quotes and backslashes included: format_combined escapes them.
FIELD_TEXT = st.text(st.characters(min_codepoint=32, max_codepoint=0x2FFF, exclude_characters="\x7f"), max_size=40)
TOKEN = st.text(st.characters(min_codepoint=33, max_codepoint=126, exclude_characters='"\\?#'), min_size=1, max_size=20)
IPV4 = st.ip_addresses(v=4).map(str)
IPV6 = st.ip_addresses(v=6).filter(lambda ip: ip.ipv4_mapped is None and ip.scope_id is None).map(str)


@st.composite
def events(draw: st.DrawFn) -> AccessEvent:
    second = draw(st.integers(min_value=0, max_value=4_102_444_800))  # up to 2100
    return AccessEvent(
        timestamp=float(second),
        source_address=draw(st.one_of(IPV4, IPV6)),
        http_request_method=draw(st.sampled_from(["GET", "POST", "PROPFIND", "Xyz"])),
        url_path="/" + draw(TOKEN),
        url_query=draw(st.none() | TOKEN),
        http_version=draw(st.sampled_from(["1.0", "1.1", "2", "2.0", "3"])),
        http_response_status_code=draw(st.none() | st.integers(min_value=100, max_value=599)),
        http_response_body_bytes=draw(st.none() | st.integers(min_value=0, max_value=10**12)),
        http_request_referrer=draw(st.none() | FIELD_TEXT.filter(lambda text: text not in ("", "-"))),
        user_agent_original=draw(st.none() | FIELD_TEXT.filter(lambda text: text not in ("", "-"))),
        user_name=draw(st.none() | st.from_regex(r"[a-z][a-z0-9_]{0,11}", fullmatch=True)),
        source_port=draw(st.none() | st.integers(min_value=0, max_value=65_535)),
        line=1,
    )


@settings(max_examples=400, deadline=None)
@given(event=events())
def test_parsers_combined_round_trip(event: AccessEvent) -> None:
    line = format_combined(event)

    result = parse_batch([line])

    assert result.errors == []
    parsed = result.events[0]
    expected_ip = event.source_address
    assert parsed.source_ip == expected_ip
    parsed.source_ip = None
    event.source_ip = None
    assert parsed == event, line
    assert datetime.fromtimestamp(parsed.timestamp, UTC).year <= 2100
