"""Parser interface, format registry and the per-line error record.

A parser turns one item (a raw line or a decoded JSON object) into an
`AccessEvent` or raises `ParseError` with a reason. `parse_batch` (in
`stream.parsers.batch`) drives a parser over a batch and raises on no bad line:
each one becomes a `LineRejected`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from stream.events import AccessEvent

EXCERPT_CHARS = 120

Item = str | dict[str, Any]


class ParseError(ValueError):
    """A line could not be parsed; the message states why and what is accepted."""


@dataclass(slots=True)
class LineRejected:
    line: int
    reason: str
    excerpt: str

    def to_dict(self) -> dict[str, Any]:
        return {"line": self.line, "reason": self.reason, "excerpt": self.excerpt}


@dataclass(slots=True)
class ParseResult:
    """Outcome of one batch: `received == len(events) + len(errors) + header_lines`."""

    events: list[AccessEvent] = field(default_factory=list)
    errors: list[LineRejected] = field(default_factory=list)
    format: str = ""
    header_lines: int = 0  # items read as a header (the first line of a CSV batch), not as events

    @property
    def received(self) -> int:
        return len(self.events) + len(self.errors) + self.header_lines


class LogParser(Protocol):
    name: str
    header_lines: int  # leading items of a batch that `read_header` consumes

    def read_header(self, item: Item, line: int) -> None:
        """Read a header item, or raise ParseError when it is not a usable header."""
        ...

    def parse(self, item: Item, line: int) -> AccessEvent:
        """Parse one item (a raw line or a decoded object) or raise ParseError."""
        ...

    def sniff(self, sample: list[Item]) -> float:
        """Return the share of `sample` this format recognises, 0..1."""
        ...


class BaseParser:
    """Defaults for formats without a header line."""

    name = ""
    header_lines = 0

    def read_header(self, item: Item, line: int) -> None:
        raise ParseError(f"format {self.name!r} has no header line")


_REGISTRY: dict[str, Callable[..., LogParser]] = {}
_ALIASES: dict[str, str] = {}


def register(name: str, *aliases: str) -> Callable[[Callable[..., LogParser]], Callable[..., LogParser]]:
    """Register a parser factory under `name`; `aliases` are other names that select it."""

    def wrap(factory: Callable[..., LogParser]) -> Callable[..., LogParser]:
        _REGISTRY[name] = factory
        for alias in aliases:
            _ALIASES[alias] = name
        return factory

    return wrap


def formats() -> list[str]:
    return sorted(_REGISTRY)


def canonical_format(name: str) -> str:
    """Return the registered name for `name` or one of its aliases (case-insensitive)."""
    key = name.strip().lower()
    key = _ALIASES.get(key, key)
    if key not in _REGISTRY:
        accepted = ", ".join(["auto", *formats(), *sorted(_ALIASES)])
        raise ParseError(f"unknown format {name!r}; accepted: {accepted}")
    return key


def get_parser(name: str, **options: Any) -> LogParser:
    return _REGISTRY[canonical_format(name)](**options)


_ESCAPE_TOKEN_RE = re.compile(r"\\(?:x..|u.{4}|U.{8}|.)|[^\\]")


def excerpt(item: object) -> str:
    """Return an ASCII excerpt of at most EXCERPT_CHARS (+3) characters; control and non-ASCII are escaped."""
    text = item if isinstance(item, str) else repr(item)
    escaped = text[:EXCERPT_CHARS].encode("unicode_escape", "backslashreplace").decode("ascii")
    if len(escaped) <= EXCERPT_CHARS and len(text) <= EXCERPT_CHARS:
        return escaped
    kept, size = [], 0
    for token in _ESCAPE_TOKEN_RE.findall(escaped):  # never cut inside an escape like \x1f
        if size + len(token) > EXCERPT_CHARS:
            break
        kept.append(token)
        size += len(token)
    return "".join(kept) + "..."
