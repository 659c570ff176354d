"""parse_batch behaviour: limits, decoding, detection, options and line accounting."""

from __future__ import annotations

import pytest

from stream.events import TAG_FORWARDED
from stream.parsers import ParseError, get_parser, parse_batch

LINE = '192.0.2.7 - - [10/Oct/2000:13:55:36 +0000] "GET /{path} HTTP/1.1" 200 5 "-" "ua"'


def test_parsers_batch_long_line_rejected_not_cut() -> None:
    long_line = LINE.format(path="a" * 400)

    result = parse_batch([LINE.format(path="ok"), long_line], max_line_bytes=256)

    assert [event.line for event in result.events] == [1]
    assert result.errors[0].line == 2
    assert result.errors[0].reason.startswith(f"line is {len(long_line)} bytes, longer than the limit of 256")
    assert result.errors[0].excerpt.endswith("...")


def test_parsers_batch_long_line_counts_utf8_bytes() -> None:
    line = LINE.format(path="é" * 100)  # 174 characters, 274 bytes

    result = parse_batch([line, line.encode()], max_line_bytes=256)

    assert result.events == []
    assert [error.reason.split(",")[0] for error in result.errors] == ["line is 274 bytes"] * 2


def test_parsers_batch_bytes_never_raise() -> None:
    raw = LINE.format(path="caf\xe9").encode("latin-1") + b"\r\n"

    result = parse_batch([raw, b"\xff\xfe\x00garbage", b""])

    assert result.events[0].url_path == "/caf\\xe9"
    assert [error.line for error in result.errors] == [2, 3]


def test_parsers_batch_first_line_numbers_events_and_errors() -> None:
    result = parse_batch([LINE.format(path="a"), "junk", LINE.format(path="b")], first_line=41)

    assert [event.line for event in result.events] == [41, 43]
    assert [error.line for error in result.errors] == [42]


def test_parsers_batch_dict_items_use_json_mapping() -> None:
    item = {"@timestamp": "2024-05-01T12:00:00Z", "source": {"ip": "192.0.2.7"}, "url": {"path": "/x"}}

    result = parse_batch([item])

    assert result.format == "json"
    assert result.events[0].url_path == "/x"
    assert result.events[0].source_ip == "192.0.2.7"


def test_parsers_batch_dict_items_mix_with_lines() -> None:
    event = {"@timestamp": "2015-05-17T10:05:03Z", "source.ip": "192.0.2.7", "url.path": "/x"}
    result = parse_batch([LINE.format(path="a"), event, {"ip": "192.0.2.8"}], format="combined")

    assert result.format == "combined"
    assert len(result.events) == 2
    assert result.events[1].url_path == "/x"
    assert result.errors[0].line == 3
    assert result.errors[0].reason.startswith("missing timestamp")


def test_parsers_batch_explicit_format_overrides_detection() -> None:
    result = parse_batch([LINE.format(path="a")], format="json")

    assert result.format == "json"
    assert result.errors[0].reason.startswith("invalid JSON")


ALIASES = [("common", "combined"), ("CLF", "combined"), ("ndjson", "json"), ("tsv", "csv")]


@pytest.mark.parametrize(("alias", "name"), ALIASES)
def test_parsers_batch_format_aliases(alias: str, name: str) -> None:
    assert get_parser(alias).name == name


def test_parsers_batch_unknown_format_raises() -> None:
    with pytest.raises(ParseError, match="unknown format 'syslog'; accepted: auto, combined"):
        parse_batch([LINE], format="syslog")


def test_parsers_batch_unknown_option_raises() -> None:
    with pytest.raises(ParseError, match=r"unknown parse option\(s\) \['trusted'\]"):
        parse_batch([LINE], trusted=["10.0.0.0/8"])


def test_parsers_batch_invalid_trusted_proxy_raises() -> None:
    with pytest.raises(ParseError, match=r"trusted_proxies: '10\.0\.0\.300' is not an IP address or CIDR"):
        parse_batch([LINE], trusted_proxies=["10.0.0.300"])


def test_parsers_batch_forged_xff_left_of_proxy_ignored() -> None:
    # The client wrote "1.1.1.1" itself; the proxy appended the address it saw, 203.0.113.9.
    line = LINE.format(path="a").replace("192.0.2.7", "10.0.0.2") + ' "1.1.1.1, 203.0.113.9"'

    result = parse_batch([line], trusted_proxies=["10.0.0.0/8"])

    assert result.events[0].source_ip == "203.0.113.9"
    assert result.events[0].tags == (TAG_FORWARDED,)


def test_parsers_batch_csv_bad_header_rejects_every_row() -> None:
    result = parse_batch(["when,who", "2024-05-01T12:00:00Z,192.0.2.7"], format="csv")

    assert result.events == []
    assert result.errors[0].reason.startswith("CSV header has no timestamp column")
    assert result.errors[1].reason == "no usable header: line 1 was rejected as the header"


def test_parsers_batch_csv_explicit_delimiter() -> None:
    lines = ["time|ip|path", "2024-05-01T12:00:00Z|192.0.2.7|/x"]

    result = parse_batch(lines, format="csv", delimiter="|")

    assert result.header_lines == 1
    assert result.events[0].url_path == "/x"
    assert result.received == 2


def test_parsers_batch_empty_batch() -> None:
    result = parse_batch([])

    assert result.received == 0
    assert result.events == []


@pytest.mark.parametrize("digits", ["9223372036854775808", "9" * 400, "9" * 5000])
def test_parsers_batch_oversized_byte_count_rejected(digits: str) -> None:
    # A count past a signed 64-bit long used to reach the features and fail the whole batch.
    lines = [LINE.format(path="ok").replace(" 200 5 ", f" 200 {digits} "), LINE.format(path="next")]
    objects = [
        {"@timestamp": "2000-10-10T13:55:36Z", "source.ip": "192.0.2.8", "http.response.body.bytes": int(digits[:400])},
        {"@timestamp": "2000-10-10T13:55:36Z", "source.ip": "192.0.2.8", "http.response.body.bytes": digits},
    ]

    text = parse_batch(lines, format="combined")
    json_events = parse_batch(objects, format="json")

    assert [event.line for event in text.events] == [2]
    assert [error.line for error in text.errors] == [1]
    assert text.errors[0].reason.startswith("invalid byte count")
    assert "9223372036854775807" in text.errors[0].reason
    assert json_events.events == []
    assert [error.line for error in json_events.errors] == [1, 2]
    assert all(error.reason.startswith("invalid bytes") for error in json_events.errors)


def test_parsers_batch_largest_byte_count_accepted() -> None:
    line = LINE.format(path="ok").replace(" 200 5 ", " 200 9223372036854775807 ")

    result = parse_batch([line], format="combined")

    assert result.events[0].http_response_body_bytes == 2**63 - 1
