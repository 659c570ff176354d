"""`parse_batch`: decode, size-check, detect the format and account for every item."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from itertools import repeat
from typing import Any

from stream import native
from stream.events import AccessEvent
from stream.parsers.base import (
    Item,
    LineRejected,
    LogParser,
    ParseError,
    ParseResult,
    excerpt,
    formats,
    get_parser,
)
from stream.parsers.client import TrustedProxies
from stream.parsers.combined import CombinedParser

logger = logging.getLogger(__name__)

SNIFF_ITEMS = 50
# Preference when two formats recognise the same share of a sample.
_PREFERENCE = ("combined", "json", "csv")


def decode(item: str | bytes | dict[str, Any]) -> Item:
    """Return a text line or an object; bytes that are not UTF-8 become `\\xNN` text, never an error."""
    if isinstance(item, bytes | bytearray):
        text = bytes(item).decode("utf-8", "backslashreplace")
    elif isinstance(item, str | dict):
        return _strip_eol(item) if isinstance(item, str) else item
    else:
        raise ParseError(f"expected a text line, bytes or a JSON object, got a {type(item).__name__}")
    return _strip_eol(text)


def _without_surrogates(item: Any) -> Any:
    """Return `item` with each lone surrogate in its text written as a backslash escape (`\\udXXX`)."""
    if isinstance(item, str):
        try:
            item.encode("utf-8")
        except UnicodeEncodeError:
            return item.encode("utf-8", "backslashreplace").decode("utf-8")
        return item
    if isinstance(item, dict):
        return {_without_surrogates(key): _without_surrogates(value) for key, value in item.items()}
    if isinstance(item, list):
        return [_without_surrogates(value) for value in item]
    return item


def _strip_eol(text: str) -> str:
    if text.endswith("\n"):
        text = text[:-1]
    if text.endswith("\r"):
        text = text[:-1]
    return text


def detect_format(sample: list[Item], **options: Any) -> str:
    """Pick the registered format that recognises the largest share of `sample`."""
    lines = [item for item in sample if not (isinstance(item, str) and not item.strip())]
    ranked = sorted(formats(), key=lambda name: _PREFERENCE.index(name) if name in _PREFERENCE else 99)
    best, best_share = ranked[0], 0.0
    for name in ranked:
        share = get_parser(name, **options).sniff(lines)
        if share > best_share:
            best, best_share = name, share
    if best_share == 0.0 and lines and _looks_like_json(lines[0]):
        return "json"  # so that broken JSON gets JSON error messages
    return best


def _looks_like_json(item: Item) -> bool:
    return isinstance(item, dict) or item.lstrip().startswith("{")


def _check_length(raw: object, text: Item, max_line_bytes: int) -> str | None:
    if not isinstance(text, str) or len(text) * 4 <= max_line_bytes:
        return None
    size = len(raw) if isinstance(raw, bytes | bytearray) else len(text.encode("utf-8", "surrogatepass"))
    if size <= max_line_bytes:
        return None
    return (
        f"line is {size} bytes, longer than the limit of {max_line_bytes} bytes (max_line_bytes); "
        "long lines are rejected, never cut"
    )


def parse_batch(
    items: Iterable[str | bytes | dict[str, Any]],
    format: str = "auto",
    first_line: int = 1,
    max_line_bytes: int = 16_384,
    **options: Any,
) -> ParseResult:
    """Parse a batch of raw lines or event objects, accounting for every item.

    `format` is `auto` or a registered name or alias (combined, common, json,
    csv...). Options: `trusted_proxies` (IP or CIDR strings whose
    X-Forwarded-For is believed) and, for CSV, `delimiter`. Raises ParseError
    only for a bad format name or option, never for a bad line.
    """
    parser_options = _parser_options(options)
    # A JSON body can carry lone surrogates ("\ud800"), which no UTF-8 output (JSON responses, logs,
    # Redis) accepts. They become `\udXXX` text here, as undecodable bytes become `\xNN` text.
    # str.isascii() is O(1) in CPython, so the usual ASCII line costs one call.
    items = [
        raw if type(raw) is str and raw.isascii() else _without_surrogates(raw)
        for raw in items
    ]
    if format == "auto":
        sample = [_decode(raw, first_line + offset, max_line_bytes) for offset, raw in enumerate(items[:SNIFF_ITEMS])]
        format = detect_format([item for item in sample if not isinstance(item, LineRejected)], **parser_options)
    parser = get_parser(format, **parser_options)
    result = ParseResult(format=parser.name)
    # An event object is self-describing, so it goes through the JSON mapping whatever text format the
    # batch has: a batch may mix raw lines with ECS objects.
    object_parser = parser if parser.name == "json" else get_parser("json", **parser_options)
    if parser.header_lines == 0:
        _run_lines(parser, items, first_line, max_line_bytes, result, object_parser)
    else:
        decoded = [_decode(raw, first_line + offset, max_line_bytes) for offset, raw in enumerate(items)]
        _run(parser, decoded, first_line, result, object_parser)
    return result


def _decode(raw: str | bytes | dict[str, Any], line: int, max_line_bytes: int) -> Item | LineRejected:
    # Fast path for the usual item: a text line, short enough without encoding it.
    if type(raw) is str and len(raw) <= max_line_bytes // 4:  # characters that fit whatever their UTF-8 length
        return _strip_eol(raw) if raw.endswith(("\n", "\r")) else raw
    return _decode_one(raw, line, max_line_bytes)


def _run_lines(
    parser: LogParser,
    items: list[str | bytes | dict[str, Any]],
    first_line: int,
    max_line_bytes: int,
    result: ParseResult,
    object_parser: LogParser,
) -> None:
    """Decode and parse each item in one pass, for a format without header lines; the same results as `_run`."""
    events, errors = result.events, result.errors
    append = events.append
    parse, parse_object = parser.parse, object_parser.parse
    short = max_line_bytes // 4
    line = first_line - 1
    for raw, event in zip(items, _native_events(parser, items, first_line, short), strict=False):
        line += 1
        if event is not None:
            append(event)
            continue
        if type(raw) is str and len(raw) <= short:
            item: Item = _strip_eol(raw) if raw.endswith(("\n", "\r")) else raw
        else:
            decoded = _decode_one(raw, line, max_line_bytes)
            if isinstance(decoded, LineRejected):
                errors.append(decoded)
                continue
            item = decoded
        try:
            append(parse_object(item, line) if isinstance(item, dict) else parse(item, line))
        except ParseError as exc:
            errors.append(LineRejected(line, str(exc), excerpt(item)))
        except Exception as exc:  # a parser bug must not stop the stream or lose the line
            logger.exception("parser %s failed on line %d", parser.name, line)
            errors.append(LineRejected(line, f"internal parser error ({type(exc).__name__})", excerpt(item)))


def _native_events(
    parser: LogParser, items: list[str | bytes | dict[str, Any]], first_line: int, max_chars: int
) -> Iterable[AccessEvent | None]:
    """Return the compiled parser's event for each item, None for the items left to `parser.parse`.

    Only a plain CombinedParser is handed to the compiled kernel: a subclass may parse differently.
    """
    kernel = native.lines
    if kernel is None or type(parser) is not CombinedParser or not items:
        return repeat(None)
    try:
        return kernel.parse_common_lines(items, first_line, max_chars)
    except Exception:  # a kernel bug must not lose the batch: the Python parser takes every line
        logger.exception("compiled line parser failed on lines %d-%d", first_line, first_line + len(items) - 1)
        return repeat(None)


def _parser_options(options: dict[str, Any]) -> dict[str, Any]:
    unknown = set(options) - {"trusted_proxies", "delimiter"}
    if unknown:
        raise ParseError(f"unknown parse option(s) {sorted(unknown)}; accepted: trusted_proxies, delimiter")
    parsed = dict(options)
    proxies = options.get("trusted_proxies")
    if not isinstance(proxies, TrustedProxies):
        if isinstance(proxies, str):
            proxies = [proxies]
        parsed["trusted_proxies"] = TrustedProxies(proxies or ())
    return parsed


def _decode_one(raw: str | bytes | dict[str, Any], line: int, max_line_bytes: int) -> Item | LineRejected:
    try:
        item = decode(raw)
    except ParseError as exc:
        return LineRejected(line, str(exc), excerpt(raw))
    too_long = _check_length(raw, item, max_line_bytes)
    if too_long is not None:
        return LineRejected(line, too_long, excerpt(item))
    return item


def _run(
    parser: LogParser,
    decoded: list[Item | LineRejected],
    first_line: int,
    result: ParseResult,
    object_parser: LogParser,
) -> None:
    header_count = min(parser.header_lines, len(decoded))
    header_error = _read_header(parser, decoded[:header_count], first_line, result)
    events, errors = result.events, result.errors
    parse = parser.parse
    parse_object = object_parser.parse

    for offset in range(header_count, len(decoded)):
        item = decoded[offset]
        line = first_line + offset
        if isinstance(item, LineRejected):
            errors.append(item)
            continue
        try:
            if header_error is not None:
                raise ParseError(header_error)
            events.append(parse_object(item, line) if isinstance(item, dict) else parse(item, line))
        except ParseError as exc:
            errors.append(LineRejected(line, str(exc), excerpt(item)))
        except Exception as exc:  # a parser bug must not stop the stream or lose the line
            logger.exception("parser %s failed on line %d", parser.name, line)
            errors.append(LineRejected(line, f"internal parser error ({type(exc).__name__})", excerpt(item)))


def _read_header(
    parser: LogParser, header: list[Item | LineRejected], first_line: int, result: ParseResult
) -> str | None:
    """Consume the header items; return the reason every later line is rejected, if the header is unusable."""
    for offset, item in enumerate(header):
        line = first_line + offset
        if isinstance(item, LineRejected):
            result.errors.append(item)
            return f"no usable header: line {line} was rejected as the header"
        try:
            parser.read_header(item, line)
        except ParseError as exc:
            result.errors.append(LineRejected(line, str(exc), excerpt(item)))
            return f"no usable header: line {line} was rejected as the header"
        result.header_lines += 1
    return None
