"""Log parsers. Each format registers itself; `parse_batch` picks one per batch."""

from stream.parsers.base import (
    LineRejected,
    LogParser,
    ParseResult,
    ParseError,
    get_parser,
    parse_batch,
    register,
)
from stream.parsers import combined  # noqa: F401  (registers the format)

__all__ = [
    "LineRejected",
    "LogParser",
    "ParseError",
    "ParseResult",
    "get_parser",
    "parse_batch",
    "register",
]
