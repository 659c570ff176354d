"""Parser interface, format registry and batch accounting.

A parser turns one raw line into an `AccessEvent` or raises `ParseError`
with a reason. `parse_batch` never raises on bad input: every line lands
either in `events` or in `errors`, so `received == parsed + rejected`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from stream.events import AccessEvent

EXCERPT_CHARS = 120


class ParseError(ValueError):
    """A line could not be parsed; the message says why and what is accepted."""


@dataclass(slots=True)
class LineRejected:
    line: int
    reason: str
    excerpt: str

    def to_dict(self) -> dict[str, Any]:
        return {"line": self.line, "reason": self.reason, "excerpt": self.excerpt}


@dataclass(slots=True)
class ParseResult:
    events: list[AccessEvent] = field(default_factory=list)
    errors: list[LineRejected] = field(default_factory=list)
    format: str = ""

    @property
    def received(self) -> int:
        return len(self.events) + len(self.errors)


class LogParser(Protocol):
    name: str

    def parse(self, item: str | dict[str, Any], line: int) -> AccessEvent:
        """Parse one item (a raw line or a decoded object) or raise ParseError."""
        ...

    def sniff(self, sample: list[str | dict[str, Any]]) -> float:
        """Return the share of `sample` this format recognises, 0..1."""
        ...


_REGISTRY: dict[str, Callable[..., LogParser]] = {}


def register(name: str) -> Callable[[Callable[..., LogParser]], Callable[..., LogParser]]:
    def wrap(factory: Callable[..., LogParser]) -> Callable[..., LogParser]:
        _REGISTRY[name] = factory
        return factory

    return wrap


def formats() -> list[str]:
    return sorted(_REGISTRY)


def get_parser(name: str, **options: Any) -> LogParser:
    try:
        factory = _REGISTRY[name]
    except KeyError:
        raise ParseError(f"unknown format {name!r}; accepted: auto, {', '.join(formats())}") from None
    return factory(**options)


def excerpt(item: object) -> str:
    """Return a short printable excerpt; control and non-ASCII characters are escaped."""
    text = item if isinstance(item, str) else repr(item)
    short = text[:EXCERPT_CHARS]
    escaped = short.encode("unicode_escape").decode("ascii")
    return escaped + ("…" if len(text) > EXCERPT_CHARS else "")


def detect_format(sample: list[str | dict[str, Any]], **options: Any) -> str:
    """Pick the registered format that recognises the largest share of `sample`."""
    best, best_share = "combined", -1.0
    for name in formats():
        share = get_parser(name, **options).sniff(sample)
        if share > best_share:
            best, best_share = name, share
    return best


def parse_batch(
    items: Iterable[str | bytes | dict[str, Any]],
    format: str = "auto",
    first_line: int = 1,
    max_line_bytes: int = 16_384,
    **options: Any,
) -> ParseResult:
    """Parse a batch of raw lines or event objects, accounting for every item."""
    decoded: list[str | dict[str, Any]] = [
        item.decode("utf-8", "backslashreplace") if isinstance(item, bytes) else item for item in items
    ]
    if format == "auto":
        format = detect_format(decoded[:50], **options)
    parser = get_parser(format, **options)
    result = ParseResult(format=format)

    for offset, item in enumerate(decoded):
        line = first_line + offset
        if isinstance(item, str):
            item = item.rstrip("\r\n")
            if len(item) > max_line_bytes:
                result.errors.append(
                    LineRejected(line, f"line longer than {max_line_bytes} characters ({len(item)})", excerpt(item))
                )
                continue
        try:
            result.events.append(parser.parse(item, line))
        except ParseError as exc:
            result.errors.append(LineRejected(line, str(exc), excerpt(item)))
    return result
