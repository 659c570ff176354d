"""JSON lines (ECS, dotted or nested, and flat nginx/Apache-style keys) and decoded objects."""

from __future__ import annotations

from typing import Any

import orjson

from stream.events import AccessEvent
from stream.parsers.base import BaseParser, Item, ParseError, register
from stream.parsers.client import TrustedProxies
from stream.parsers.fields import build_event, flatten

ACCEPTED = "expected one JSON object per line with ECS or common field names"


def load_object(item: Item) -> dict[str, Any]:
    """Return the JSON object in `item`, decoding text with orjson, or raise ParseError."""
    if isinstance(item, dict):
        return item
    try:
        value = orjson.loads(item)
    except orjson.JSONDecodeError as exc:
        raise ParseError(f"invalid JSON ({exc}); {ACCEPTED}") from None
    if not isinstance(value, dict):
        raise ParseError(f"expected a JSON object, got a JSON {type(value).__name__}; {ACCEPTED}")
    return value


@register("json", "jsonl", "ndjson", "ecs")
class JsonParser(BaseParser):
    name = "json"

    def __init__(self, trusted_proxies: TrustedProxies | None = None, **_: Any) -> None:
        self.proxies = trusted_proxies or TrustedProxies()

    def sniff(self, sample: list[Item]) -> float:
        if not sample:
            return 0.0
        hits = 0
        for item in sample:
            if isinstance(item, dict):
                hits += 1
            elif item.lstrip().startswith("{"):
                try:
                    hits += isinstance(orjson.loads(item), dict)
                except orjson.JSONDecodeError:
                    pass
        return hits / len(sample)

    def parse(self, item: Item, line: int) -> AccessEvent:
        return build_event(flatten(load_object(item)), line, self.proxies)
