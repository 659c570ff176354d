"""The compiled combined-line parser (stream/native/_lines.pyx) against `CombinedParser.parse`.

The kernel may leave a line to the Python parser (None), but an event it builds must equal, field
by field and type by type, the one `CombinedParser.parse` builds. `parse_batch` must give the same
events and errors with the kernel as without it.
"""

from __future__ import annotations

import string
from dataclasses import fields
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from data.generate import generate
from stream import native
from stream.events import AccessEvent
from stream.parsers import parse_batch
from stream.parsers.batch import _strip_eol
from stream.parsers.combined import FAST_LINE_RE, CombinedParser, _build_common_event
from tests.conftest import DATASETS

KERNEL = native.lines  # the module itself, which some tests replace in stream.native
pytestmark = pytest.mark.skipif(
    KERNEL is None, reason="stream.native._lines is not built (scripts/bootstrap) or CENTINELA_NATIVE=0"
)

MAX_CHARS = 4096  # parse_batch's default max_line_bytes (16384) // 4
FIELD_NAMES = [item.name for item in fields(AccessEvent)]
LINE = '203.0.113.9 - {user} [04/Dec/2026:10:15:33 +0000] "GET /a?b=1 HTTP/1.1" 200 512 "-" "curl/8.5.0"'

# Characters the grammar treats specially, characters beyond ASCII space for which `str.isspace` is true,
# and a few non-ASCII ones: a Latin-1 letter, a BMP letter, an astral character, a lone surrogate.
SPECIAL = [
    " ", "\t", "\n", "\r", "\x0b", "\x0c", "\x1c", "\x1f", "\x85", "\xa0", "\u2028", "\u3000", "\x00",
    '"', "\\", "?", "://", "[", "]", "-", "é", "ñ", "\u0663", "€", "\U0001f600", "\ud800",
]
TEXT_CHOICES = [*string.ascii_letters, *string.digits, *"/.:=&%_+-", *SPECIAL]
TEXT_CHARS = st.sampled_from(TEXT_CHOICES)
TEXT = st.lists(TEXT_CHARS, max_size=12).map("".join)

OCTET = st.integers(0, 300).map(str) | st.sampled_from(["00", "01", "256", ""])
IPV6 = st.ip_addresses(v=6).map(str)
HOSTNAME = st.sampled_from(["shop.example", "crawler-7.example.net", "localhost", "xn--tienda-9za.example"])
GOOD_HOSTS = st.one_of(
    st.ip_addresses(v=4).map(str),
    IPV6,
    HOSTNAME,
    st.tuples(st.ip_addresses(v=4).map(str) | HOSTNAME, st.integers(0, 65535)).map(lambda p: f"{p[0]}:{p[1]}"),
    st.tuples(IPV6, st.integers(0, 65535)).map(lambda parts: f"[{parts[0]}]:{parts[1]}"),
    IPV6.map(lambda address: f"{address}%eth0"),
    st.sampled_from(["::ffff:192.0.2.1", "[2001:db8::1]", "caf\xe9.example", "h\x00st"]),
)
BAD_HOSTS = st.one_of(
    st.lists(OCTET, min_size=3, max_size=5).map(".".join),
    st.tuples(HOSTNAME, st.integers(0, 70_000).map(str) | st.sampled_from(["", "x", "080"])).map(":".join),
    st.sampled_from(["-", "a:b:c", "[::1", "[::1]x", "1.2.3.4:"]),
    TEXT,
)
GOOD_IDENTS = st.sampled_from(["-", "ident", "x\x01y"])
GOOD_USERS = st.sampled_from(["-", "ana", "a\\\\b", 'a\\"b', "a\\b", "\\", "jos\xe9", "-x", "\U0001f600"])

CLOCK = st.tuples(st.integers(0, 23), st.integers(0, 59), st.integers(0, 60)).map(
    lambda hms: f"{hms[0]:02d}:{hms[1]:02d}:{hms[2]:02d}"
)
GOOD_TIMES = st.tuples(
    st.integers(1, 28),
    st.sampled_from(["Jan", "Feb", "Apr", "Dec", "dec", "FEB"]),
    st.integers(1900, 2200),
    CLOCK,
    st.sampled_from("+-"),
    st.integers(0, 23),
    st.integers(0, 59),
).map(lambda p: f"{p[0]:02d}/{p[1]}/{p[2]}:{p[3]} {p[4]}{p[5]:02d}{p[6]:02d}")
BAD_CLOCK = st.tuples(st.integers(0, 29), st.integers(0, 69), st.integers(0, 69)).map(
    lambda hms: f"{hms[0]:02d}:{hms[1]:02d}:{hms[2]:02d}"
)
BAD_TIMES = st.one_of(
    st.tuples(
        st.integers(0, 39), st.sampled_from(["Foo", "J4n", "Ene", "Feb"]), st.integers(0, 9999), BAD_CLOCK,
        st.sampled_from("+-"), st.integers(0, 2999),
    ).map(lambda p: f"{p[0]:02d}/{p[1]}/{p[2]:04d}:{p[3]} {p[4]}{p[5]:04d}"),
    st.sampled_from([
        "29/Feb/2023:12:00:00 +0000", "31/Apr/2024:10:00:00 +0000", "10/Oct/2000:13:55:36.123 -0700",
        "1/Oct/2000:13:55:36 -0700", "10/Oct/2000:13:55:36 -07:00", "\u0661\u0660/Oct/2000:13:55:36 -0700",
        "10/Oct/2000:13:55:36 +0000 ", "10/Oct/2000:13:55:36\t+0000", "",
    ]),
    TEXT,
)
GOOD_METHODS = st.sampled_from(["GET", "POST", "HEAD", "get", "PROPFIND", "M-SEARCH", "X_1", "GE"])
BAD_METHODS = st.sampled_from(["1GET", "G\xc9T", "", "GET GET", "-"]) | TEXT
# Characters a target may hold; "://" is left to the broken variant, where it comes early enough to matter.
TARGET_CHOICES = [*"/ab?=&%.:_-", "\xe9", "\u20ac", "\U0001f600", "\ud800", "\x00"]
GOOD_TARGETS = st.lists(st.sampled_from(TARGET_CHOICES), max_size=14).map(lambda parts: "/" + "".join(parts))
BAD_TARGETS = st.lists(st.sampled_from([*"/ab?=&%.:_", *SPECIAL]), max_size=14).map(lambda parts: "/" + "".join(parts))
GOOD_VERSIONS = st.sampled_from([" HTTP/1.1", " HTTP/1.0", " HTTP/2", " HTTP/2.0", " HTTP/3", ""])
BAD_VERSIONS = st.sampled_from(
    [" HTTP/1.", " HTTP/11", " HTTP/x", " http/1.1", " HTTP/1.1 ", " HTTP/\u0661", "  HTTP/1.1"]
)
GOOD_STATUSES = st.integers(0, 999).map(lambda code: f"{code:03d}") | st.just("-")
BAD_STATUSES = st.sampled_from(["2000", "20", "abc", "\u0662\u0660\u0660", "--", ""])
GOOD_SIZES = st.integers(0, 10**25).map(str) | st.sampled_from(["-", "007", "0"])
BAD_SIZES = st.sampled_from(["", "x", "1.5", "\u0665", "9" * 5000, "-1", "--"])
GOOD_QUOTED = st.sampled_from(["-", "", "https://tienda.example/", "Mozilla/5.0 (X11; Linux x86_64)"]) | st.lists(
    st.sampled_from([c for c in TEXT_CHOICES if c not in ('"', "\\")]), max_size=12
).map("".join)
BAD_QUOTED = st.sampled_from(['"', "a\\b", 'a" "b']) | TEXT
BAD_TAILS = st.sampled_from([" 0.002", ' "198.51.100.1"', " ", "\t", "x"])
ENDINGS = st.sampled_from(["", "\n", "\r\n", "\r", "\n\n", "\r\r\n", "\n\r"])

# Each field's well-formed and broken values. A line breaks at most two fields, so many lines are valid.
FIELD_VALUES = {
    "host": (GOOD_HOSTS, BAD_HOSTS),
    "ident": (GOOD_IDENTS, TEXT),
    "user": (GOOD_USERS, TEXT),
    "time": (GOOD_TIMES, BAD_TIMES),
    "method": (GOOD_METHODS, BAD_METHODS),
    "target": (GOOD_TARGETS, BAD_TARGETS),
    "version": (GOOD_VERSIONS, BAD_VERSIONS),
    "status": (GOOD_STATUSES, BAD_STATUSES),
    "size": (GOOD_SIZES, BAD_SIZES),
    "referrer": (GOOD_QUOTED, BAD_QUOTED),
    "agent": (GOOD_QUOTED, BAD_QUOTED),
    "tail": (st.just(""), BAD_TAILS),
}


@st.composite
def combined_lines(draw: st.DrawFn) -> str:
    """Draw a combined or common line, valid or broken in one or two fields."""
    broken: list[str] = []
    if draw(st.booleans()):
        broken = draw(st.lists(st.sampled_from(sorted(FIELD_VALUES)), min_size=1, max_size=2, unique=True))
    value = {name: draw(bad if name in broken else good) for name, (good, bad) in FIELD_VALUES.items()}
    line = "{host} {ident} {user} [{time}] \"{method} {target}{version}\" {status} {size}".format(**value)
    if draw(st.booleans()):
        line += ' "{referrer}" "{agent}"'.format(**value)
    return line + value["tail"] + draw(ENDINGS)


def parse_native(items: list[Any], first_line: int = 1, max_chars: int = MAX_CHARS) -> list[AccessEvent | None]:
    assert KERNEL is not None
    return KERNEL.parse_common_lines(items, first_line, max_chars)


def typed_fields(event: AccessEvent) -> list[tuple[str, type, object]]:
    """Return each field's name, type and value, so that 200 and 200.0 or "" and None differ."""
    return [(name, type(getattr(event, name)), getattr(event, name)) for name in FIELD_NAMES]


def taken_by_fast_path(line: str) -> bool:
    """Return True when `CombinedParser.parse` builds the event of `line` from its FAST_LINE_RE match."""
    match = FAST_LINE_RE.fullmatch(line)
    if match is None:
        return False
    try:
        return _build_common_event(match, 1) is not None
    except Exception:  # the client or time field is invalid: the general path rejects the line
        return False


def check_line(raw: str, line_number: int) -> None:
    """Assert the kernel's contract for one raw item: None, or the event the Python parser builds."""
    event = parse_native([raw], line_number)[0]
    line = _strip_eol(raw)

    if event is not None:
        assert typed_fields(event) == typed_fields(CombinedParser().parse(line, line_number))
    if line.isascii() and "\\" not in line and len(line) <= MAX_CHARS and taken_by_fast_path(line):
        assert event is not None, f"plain ASCII line left to the Python parser: {line!r}"


@settings(max_examples=1500, deadline=None)
@given(raw=combined_lines(), line_number=st.integers(1, 10**12))
def test_native_lines_grammar_equals_python(raw: str, line_number: int) -> None:
    check_line(raw, line_number)


@settings(max_examples=500, deadline=None)
@given(raw=st.text(max_size=200) | st.lists(TEXT_CHARS, max_size=80).map("".join))
def test_native_lines_random_text_equals_python(raw: str) -> None:
    check_line(raw, 1)


@settings(max_examples=300, deadline=None)
@given(prefix=st.text(max_size=40), suffix=st.text(max_size=40))
def test_native_lines_mutated_line_equals_python(prefix: str, suffix: str) -> None:
    check_line(prefix + LINE.format(user="-") + suffix, 7)


def test_native_lines_takes_generated_traffic() -> None:
    lines = [record.line for record in generate(events=5000, seed=7)]

    events = parse_native(lines, 1)

    native_events = [event for event in events if event is not None]
    assert len(native_events) >= 0.99 * len(lines)
    parser = CombinedParser()
    for number, (line, event) in enumerate(zip(lines, events, strict=True), start=1):
        if event is not None:
            assert typed_fields(event) == typed_fields(parser.parse(line, number)), line


def test_native_lines_numbers_from_first_line() -> None:
    lines = [LINE.format(user="-"), b"bytes are left to Python", LINE.format(user="ana")]

    events = parse_native(lines, 41)

    assert events[0] is not None
    assert events[0].line == 41
    assert events[1] is None
    assert events[2] is not None
    assert events[2].line == 43
    assert events[2].user_name == "ana"


def test_native_lines_unescapes_user() -> None:
    line = LINE.format(user='a\\"b\\\\c')

    event = parse_native([line])[0]

    assert event is not None
    assert event.user_name == 'a"b\\c'
    assert event == CombinedParser().parse(line, 1)


def test_native_lines_length_limit_after_eol() -> None:
    base = LINE.format(user="-")
    fitting = base.replace("/a?b=1", "/" + "a" * (MAX_CHARS - len(base) + 5))
    too_long = fitting.replace("/a", "/aa", 1)
    assert len(fitting) == MAX_CHARS

    events = parse_native([fitting, fitting + "\r\n", too_long, too_long[:-1] + "\n"])

    assert events[0] is not None
    assert events[1] is not None
    assert events[2] is None
    assert events[3] is None


WHITESPACE = [chr(code) for code in range(0x110000) if chr(code).isspace()]
# Look-alikes that str.isspace() rejects, so `re` reads them as part of a `\\S` run.
NOT_WHITESPACE = ["\u200b", "\u180e", "\ufeff", "\x00", "\x7f", "\x1b"]


@pytest.mark.parametrize("spot", ["203.0.113.9", "/a?b=1", "- -"])
def test_native_lines_unicode_whitespace_splits(spot: str) -> None:
    """A `\\s` character of any Unicode width ends a host, user or target token; other characters do not."""
    for char in WHITESPACE + NOT_WHITESPACE:
        line = LINE.format(user="-").replace(spot, spot[:2] + char + spot[2:], 1)

        event = parse_native([line])[0]

        if char in WHITESPACE:
            assert event is None, repr(char)
        else:
            assert event is not None, repr(char)
            assert typed_fields(event) == typed_fields(CombinedParser().parse(line, 1)), repr(char)


def test_native_lines_long_byte_counts_fall_back() -> None:
    sizes = ["9" * 18, "0" * 17 + "5", "9" * 19, "9223372036854775807", "9223372036854775808", "9" * 4000]
    lines = [LINE.format(user="-").replace(" 512 ", f" {size} ") for size in sizes]

    events = parse_native(lines)

    # Up to 18 digits the scanner converts the count itself; longer counts go to the Python parser.
    assert [event.http_response_body_bytes if event else None for event in events] == [
        int("9" * 18), 5, None, None, None, None
    ]
    result = parse_batch(lines, format="combined")
    assert [event.http_response_body_bytes for event in result.events] == [int("9" * 18), 5, 2**63 - 1]
    assert [error.line for error in result.errors] == [3, 5, 6]
    assert all("invalid byte count" in error.reason for error in result.errors)


def test_native_lines_time_of_day_limits() -> None:
    times = ["23:59:60", "00:00:00", "24:00:00", "23:60:00", "23:59:61"]
    lines = [LINE.format(user="-").replace("10:15:33", moment) for moment in times]

    events = parse_native(lines)

    assert events[0] is not None
    assert events[0] == CombinedParser().parse(lines[0], 1)
    assert events[1] is not None
    assert events[1] == CombinedParser().parse(lines[1], 2)
    assert events[2:] == [None, None, None]


class Text(str):
    pass


def test_native_lines_other_items_are_none() -> None:
    valid = LINE.format(user="-")
    items = [
        valid.encode(), {"message": valid}, None, 42, Text(valid), "", "\n", "\x00" * 50,
        valid.replace("curl", "\ud800"), valid + "\x00", "x" * 100_000, valid.replace(" ", "\t", 1),
    ]

    events = parse_native(items)

    assert len(events) == len(items)
    assert events[:8] == [None] * 8
    assert events[8] == CombinedParser().parse(items[8], 9)  # a lone surrogate in the user agent is just text
    assert events[9:] == [None] * 3


def test_native_lines_invalid_fields_are_none() -> None:
    lines = [
        LINE.format(user="-").replace("203.0.113.9", "999.1.1.1"),
        LINE.format(user="-").replace("04/Dec/2026:10", "31/Apr/2026:10"),
        LINE.format(user="-").replace("10:15:33", "24:15:33"),
        LINE.format(user="-").replace("+0000", "+2400"),
        LINE.format(user="-").replace("/a?b=1", "/x://y"),
    ]

    assert parse_native(lines) == [None] * len(lines)


def test_native_lines_caches_stay_bounded() -> None:
    assert KERNEL is not None
    KERNEL.clear_caches()
    count = KERNEL.MAX_CACHE_ENTRIES + 4464
    # Every line has its own client and its own day: 20,000 dates times 4 UTC offsets.
    offsets = ["+0000", "-0300", "+0530", "+1200"]
    lines = [
        f"10.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255} - - "
        f"[{(date(2000, 1, 1) + timedelta(days=n % 20_000)).strftime('%d/%b/%Y')}:10:00:00 {offsets[n // 20_000]}] "
        '"GET / HTTP/1.1" 200 1'
        for n in range(count)
    ]

    events = parse_native(lines)

    assert None not in events
    clients, days = KERNEL.cache_sizes()
    assert 0 < clients <= KERNEL.MAX_CACHE_ENTRIES
    assert 0 < days <= KERNEL.MAX_CACHE_ENTRIES


class CountingKernel:
    """The compiled module, counting the events it built, so that a test can check the kernel ran."""

    def __init__(self) -> None:
        self.native_count = 0

    def parse_common_lines(self, items: list[Any], first_line: int, max_chars: int) -> list[AccessEvent | None]:
        events = parse_native(items, first_line, max_chars)
        self.native_count += sum(event is not None for event in events)
        return events


def batch_outcome(items: list[Any], **options: Any) -> tuple[object, ...]:
    result = parse_batch(items, **options)
    return (
        result.format,
        [typed_fields(event) for event in result.events],
        [error.to_dict() for error in result.errors],
        result.received,
    )


def assert_batch_same(monkeypatch: pytest.MonkeyPatch, items: list[Any], **options: Any) -> int:
    """Assert that parse_batch gives the same result with and without the kernel.

    Return how many events the kernel built, so that a caller can check that it ran.
    """
    kernel = CountingKernel()
    monkeypatch.setattr(native, "lines", kernel)
    with_kernel = batch_outcome(items, **options)
    monkeypatch.setattr(native, "lines", None)
    without_kernel = batch_outcome(items, **options)

    assert with_kernel[0] == without_kernel[0]
    assert with_kernel[1] == without_kernel[1]
    assert with_kernel[2] == without_kernel[2]
    assert with_kernel[3] == len(items)
    return kernel.native_count


def test_native_lines_batch_equals_python_batch(monkeypatch: pytest.MonkeyPatch) -> None:
    lines: list[Any] = [record.line + "\n" for record in generate(events=3000, seed=7, attack_rate=0.2)]
    broken = [
        "", "\r\n", "garbage", b"\xff\xfe\x00garbage", {"@timestamp": "2024-05-01T00:00:00Z", "source.ip": "192.0.2.1"},
        LINE.format(user="-").replace("200", "2000"), LINE.format(user="-")[:-1], "x" * 20_000,
        LINE.format(user="-").replace("/a?b=1", "/" + "a" * 5000), LINE.format(user="-").replace("-", "\\", 1),
        LINE.format(user="-").replace("203.0.113.9", "01.02.03.004"), LINE.format(user="-").encode() + b"\r\n",
        LINE.format(user="-") + ' rt=0.002 xff="198.51.100.7"', 17,
    ]
    for offset, item in enumerate(broken):
        lines.insert(offset * 211, item)

    native_count = assert_batch_same(monkeypatch, lines, format="combined", first_line=100)
    assert_batch_same(monkeypatch, lines, format="combined", trusted_proxies=["203.0.113.0/24"])
    assert_batch_same(monkeypatch, lines[:500])  # format detection

    assert native_count >= 0.9 * len(lines)


class FailingKernel:
    def parse_common_lines(self, items: list[Any], first_line: int, max_chars: int) -> list[AccessEvent | None]:
        raise RuntimeError("kernel bug")


def test_native_lines_kernel_failure_falls_back(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    lines = [LINE.format(user="-"), "garbage", LINE.format(user="ana")]
    monkeypatch.setattr(native, "lines", None)
    expected = batch_outcome(lines, format="combined", first_line=5)
    monkeypatch.setattr(native, "lines", FailingKernel())

    outcome = batch_outcome(lines, format="combined", first_line=5)

    assert outcome == expected
    assert "compiled line parser failed on lines 5-7" in caplog.text


DATASET_FILES = [
    "advertools_log_fixtures/combined_latin1_enc.log",
    "advertools_log_fixtures/combined_no_errors.log",
    "advertools_log_fixtures/combined_with_errors.log",
    "advertools_log_fixtures/dreamhost_apache_access.log",
    "advertools_log_fixtures/nginx_access.log",
    "advertools_log_fixtures/nginx_error.log",
    "elastic_apache_logs/apache_logs",
    "nasa_http_aug95_sample/NASA_access_log_Aug95.head_repaired.txt",
]


@pytest.mark.parametrize("relative", DATASET_FILES)
def test_native_lines_datasets_equal_python(monkeypatch: pytest.MonkeyPatch, relative: str) -> None:
    path: Path = DATASETS / relative
    if not path.exists():
        pytest.skip(f"dataset {relative} not available at {path} (set CENTINELA_TEST_DATASETS)")
    # The kernel reads text, so the lines go in decoded as parse_batch decodes bytes.
    lines = [raw.decode("utf-8", "backslashreplace") for raw in path.read_bytes().split(b"\n")]
    if lines[-1] == "":
        lines.pop()

    native_count = assert_batch_same(monkeypatch, lines, format="combined")

    plain = [line for line in lines if line.isascii() and "\\" not in line and taken_by_fast_path(line)]
    assert native_count >= len(plain)
