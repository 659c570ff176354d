"""Wording of decision reasons: counts, numbers, terms and quoted attacker strings, in Spanish and English.

Reasons are read by Spanish-speaking security engineers, so Spanish numbers use
a decimal comma and a space before "%" ("0,67", "62 %"), and English ones keep
"0.67" and "62%". Attacker-controlled strings (paths, queries, user agents) go
through `quote` or `quote_request`: percent-decoded where they are URLs, then
escaped, so a reason never carries a control character, a line break or an
unescaped quote into a log line or a page.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal
from urllib.parse import unquote_to_bytes

Language = Literal["es", "en"]

QUOTE_LIMIT = 80  # characters of an attacker-controlled string kept in a reason
ELLIPSIS = "…"

# The Spanish name of the scenario on its first mention in a decision; later mentions use the English term.
STUFFING_FIRST_ES = "credential stuffing (relleno de credenciales)"
STUFFING = "credential stuffing"

_ESCAPES = {"\\": "\\\\", "'": "\\'", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"}
_SURROGATE_BYTES = range(0xDC80, 0xDD00)  # bytes that were not UTF-8, kept by "surrogateescape"


def count(n: int, singular: str, plural: str) -> str:
    """Return the count with the noun that agrees with it: "1 petición", "3 peticiones"."""
    return f"{n} {singular if n == 1 else plural}"


def number(value: float, language: Language, digits: int | None = 2) -> str:
    """Format a decimal number: "0,67" in Spanish, "0.67" in English; None digits keeps the shortest form."""
    text = f"{value:g}" if digits is None else f"{value:.{digits}f}"
    return text.replace(".", ",") if language == "es" else text


def percent(share: float, language: Language) -> str:
    """Format a share 0..1 as a whole percentage: "62 %" in Spanish, "62%" in English."""
    value = round(share * 100)
    return f"{value} %" if language == "es" else f"{value}%"


def clock_time(timestamp: float) -> str:
    """Format epoch seconds as the UTC time of day, "22:13:20 UTC"."""
    return datetime.fromtimestamp(timestamp, UTC).strftime("%H:%M:%S UTC")


def escape(text: str) -> str:
    """Escape backslashes, quotes, control and other non-printable characters as \\n, \\xNN or \\uNNNN."""
    if text.isprintable() and not any(char in text for char in "\\'\""):
        return text
    return "".join(_escape_char(char) for char in text)


def _escape_char(char: str) -> str:
    named = _ESCAPES.get(char)
    if named is not None:
        return named
    if char.isprintable():
        return char
    code = ord(char)
    if code in _SURROGATE_BYTES:
        return f"\\x{code - 0xDC00:02x}"
    if code <= 0xFF:
        return f"\\x{code:02x}"
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def quote(text: str | None, limit: int = QUOTE_LIMIT) -> str:
    """Quote an attacker-controlled string: escaped, in single quotes, cut at `limit` characters.

    A cut string ends with "…" inside the quotes. None, a missing field, reads '-'.
    """
    if text is None:
        return "'-'"
    if len(text) > limit:
        return f"'{escape(text[:limit])}{ELLIPSIS}'"
    return f"'{escape(text)}'"


def decode_url_part(text: str, plus_is_space: bool = False) -> str:
    """Percent-decode a URL path or query as UTF-8; bytes that are not UTF-8 stay as escapable surrogates."""
    if plus_is_space:
        text = text.replace("+", " ")
    if "%" not in text:
        return text
    try:
        raw = text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:  # a lone surrogate that no byte decoding produced: show it undecoded
        return text
    return unquote_to_bytes(raw).decode("utf-8", "surrogateescape")


def quote_request(path: str | None, query: str | None = None, limit: int = QUOTE_LIMIT) -> str:
    """Quote a request target as one string, path and query percent-decoded, then escaped like `quote`.

    Decoding comes before escaping, so "%0d%0a" shows as "\\r\\n" and "%27" as "\\'": the
    decoded text never reaches a log line or a page unescaped.
    """
    if path is None and query is None:
        return "'-'"
    target = decode_url_part(path or "")
    if query is not None:
        target += "?" + decode_url_part(query, plus_is_space=True)
    return quote(target, limit)
