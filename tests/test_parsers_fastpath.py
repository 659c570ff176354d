"""The combined parser's one-regex path must build the same event as the general LINE_RE path."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from data.generate import generate
from stream.parsers.base import ParseError
from stream.parsers.combined import FAST_LINE_RE, CombinedParser

HOSTS = st.sampled_from(
    ["203.0.113.9", "2001:db8::7", "[2001:db8::7]:443", "198.51.100.23:8080", "shop.example", "::ffff:192.0.2.1", "-"]
)
TIMES = st.sampled_from(
    ["04/Dec/2026:10:15:33 +0000", "29/Feb/2024:23:59:60 -0300", "31/Apr/2024:10:00:00 +0000",
     "10/Oct/2000:25:55:36 -0700", "01/Foo/2024:00:00:00 +0130", "10/oct/2000:13:55:36 +2400"]
)
METHODS = st.sampled_from(["GET", "POST", "CONNECT", "get", "PROPFIND"])
TARGET_CHARS = st.sampled_from([*'/ab?=&%.:-_\\"', "://", "\x16", "é", " "])
TARGETS = st.lists(TARGET_CHARS, max_size=12).map(lambda parts: "/" + "".join(parts))
VERSIONS = st.sampled_from([" HTTP/1.1", " HTTP/2", " HTTP/1.10", "", " HTTP/x"])
FIELDS = st.sampled_from(["-", "", "https://tienda.example/", "Mozilla/5.0 (X11)", 'a\\"b', "sqlmap/1.8"])
TAILS = st.sampled_from(["", " 0.002", ' "198.51.100.1"', " ", "\n"])


def both_paths(line: str) -> tuple[object, object]:
    """Return what `parse` and `parse_general` give for `line`: an event or the ParseError text."""
    parser = CombinedParser()
    outcomes = []
    for parse in (parser.parse, parser.parse_general):
        try:
            outcomes.append(parse(line, 1))
        except ParseError as exc:
            outcomes.append(str(exc))
    return outcomes[0], outcomes[1]


@settings(max_examples=400, deadline=None)
@given(
    host=HOSTS, user=st.sampled_from(["-", "ana", "a\\\\b"]), moment=TIMES, method=METHODS, target=TARGETS,
    version=VERSIONS, status=st.sampled_from(["200", "404", "-", "2000"]), size=st.sampled_from(["512", "-", "x"]),
    referrer=FIELDS, agent=FIELDS, tail=TAILS, common=st.booleans(),
)
def test_combined_fast_path_equals_general_path(
    host: str, user: str, moment: str, method: str, target: str, version: str, status: str, size: str,
    referrer: str, agent: str, tail: str, common: bool,
) -> None:
    line = f'{host} - {user} [{moment}] "{method} {target}{version}" {status} {size}'
    line += tail if common else f' "{referrer}" "{agent}"{tail}'

    fast, general = both_paths(line)

    assert fast == general


def test_combined_fast_path_takes_generated_lines() -> None:
    lines = [record.line for record in generate(events=2_000, seed=3)]

    fast_matched = [line for line in lines if FAST_LINE_RE.fullmatch(line)]

    assert len(fast_matched) >= 0.9 * len(lines)
    for line in lines:
        fast, general = both_paths(line)
        assert fast == general, line
