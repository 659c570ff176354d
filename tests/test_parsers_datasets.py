"""Every line of the public sample logs is parsed or rejected with a reason.

The expected counts were read once from the parser and checked by looking at
the rejected lines: error-log lines, a gzip blob pasted into a text log,
injected garbage lines, an empty line and a rewritten date format.
"""

from __future__ import annotations

from collections import Counter

import pytest

from stream.events import TAG_EMPTY_REQUEST, TAG_HANDSHAKE, TAG_MALFORMED_REQUEST
from stream.parsers import TAG_UNTERMINATED_QUOTE, parse_batch
from tests.conftest import DATASETS

# file, format detected, events, rejected, reason prefix -> count of rejected lines
EXPECTED = [
    ("advertools_log_fixtures/apache_error.log", "combined", 0, 12, {"looks like an Apache/Nginx error log": 12}),
    (
        "advertools_log_fixtures/combined_latin1_enc.log", "combined", 169, 31,
        {"looks like gzip-compressed data": 1, "the line does not start with 'host ident user [time] '": 30},
    ),
    ("advertools_log_fixtures/combined_no_errors.log", "combined", 885, 0, {}),
    (
        "advertools_log_fixtures/combined_with_errors.log",
        "combined",
        885,
        4,
        {"the line does not start with 'host ident user": 4},
    ),
    ("advertools_log_fixtures/dreamhost_apache_access.log", "combined", 129, 1, {"empty line": 1}),
    ("advertools_log_fixtures/nginx_access.log", "combined", 1000, 0, {}),
    ("advertools_log_fixtures/nginx_custom_date.log", "combined", 0, 20, {"invalid timestamp 'November": 20}),
    (
        "advertools_log_fixtures/nginx_error.log", "combined", 0, 74,
        {
            "looks like an Apache/Nginx error log": 35,
            "looks like gzip-compressed data": 13,
            "the line does not start with 'host ident user [time] '": 25,
            'expected a quoted "request"': 1,
        },
    ),
    ("elastic_apache_logs/apache_logs", "combined", 10_000, 0, {}),
    ("nasa_http_aug95_sample/NASA_access_log_Aug95.head_repaired.txt", "combined", 1880, 0, {}),
    ("nasa_http_aug95_sample/nasa_19950801.tsv", "csv", 30_969, 0, {}),
]


def read_lines(relative: str) -> list[bytes]:
    path = DATASETS / relative
    if not path.exists():
        pytest.skip(f"dataset {relative} not available at {path}")
    lines = path.read_bytes().split(b"\n")
    if lines[-1] == b"":
        lines.pop()
    return lines


def count_reasons(reasons: list[str], prefixes: dict[str, int]) -> dict[str, int]:
    counts: Counter[str] = Counter()
    for reason in reasons:
        matches = [prefix for prefix in prefixes if reason.startswith(prefix)]
        counts[matches[0] if matches else reason] += 1
    return dict(counts)


@pytest.mark.parametrize(("relative", "detected", "events", "rejected", "reasons"), EXPECTED)
def test_parsers_dataset_counts(
    relative: str, detected: str, events: int, rejected: int, reasons: dict[str, int]
) -> None:
    lines = read_lines(relative)

    result = parse_batch(lines)

    assert result.format == detected
    assert result.received == len(lines)
    assert len(result.events) == events
    assert len(result.errors) == rejected
    assert count_reasons([error.reason for error in result.errors], reasons) == reasons
    assert all(error.excerpt.isascii() and len(error.excerpt) <= 123 for error in result.errors)


def test_parsers_dataset_nginx_scanner_tags() -> None:
    result = parse_batch(read_lines("advertools_log_fixtures/nginx_access.log"))

    tags = Counter(tag for event in result.events for tag in event.tags)

    assert tags == {TAG_HANDSHAKE: 26, TAG_EMPTY_REQUEST: 12, TAG_MALFORMED_REQUEST: 5}


def test_parsers_dataset_elastic_truncated_user_agent() -> None:
    result = parse_batch(read_lines("elastic_apache_logs/apache_logs"))

    recovered = [event for event in result.events if TAG_UNTERMINATED_QUOTE in event.tags]

    assert [event.line for event in recovered] == [8899]
    assert recovered[0].user_agent_original == (
        "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html"
    )


def test_parsers_dataset_elastic_out_of_order_times_kept() -> None:
    result = parse_batch(read_lines("elastic_apache_logs/apache_logs"))

    last, before_last = result.events[-1], result.events[-2]

    assert last.timestamp < before_last.timestamp
    assert [event.line for event in result.events] == list(range(1, 10_001))


def test_parsers_dataset_nasa_hostnames_are_not_ips() -> None:
    result = parse_batch(read_lines("nasa_http_aug95_sample/NASA_access_log_Aug95.head_repaired.txt"))

    first = result.events[0]

    assert first.source_address == "in24.inetnebr.com"
    assert first.source_ip is None
    assert first.client == "in24.inetnebr.com"


def test_parsers_dataset_nasa_tsv_matches_text_status_mix() -> None:
    result = parse_batch(read_lines("nasa_http_aug95_sample/nasa_19950801.tsv"))

    statuses = Counter(event.http_response_status_code for event in result.events)

    assert result.header_lines == 1
    assert statuses == {200: 27_972, 304: 2_421, 302: 355, 404: 221}
