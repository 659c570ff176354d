"""Log parsers. Each format registers itself; `parse_batch` picks one per batch."""

from stream.parsers import combined, delimited, jsonlines  # noqa: F401  (register the formats)
from stream.parsers.base import LineRejected, LogParser, ParseError, ParseResult, get_parser, register
from stream.parsers.batch import parse_batch
from stream.parsers.combined import TAG_UNTERMINATED_QUOTE, format_combined

__all__ = [
    "TAG_UNTERMINATED_QUOTE",
    "LineRejected",
    "LogParser",
    "ParseError",
    "ParseResult",
    "format_combined",
    "get_parser",
    "parse_batch",
    "register",
]
