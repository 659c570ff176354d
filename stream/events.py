"""The one event type every log format is parsed into.

Attribute names are the Elastic Common Schema (ECS) field names with dots
replaced by underscores; `to_ecs` returns the dotted names. The class is a
slotted dataclass rather than a pydantic model because one is built per log
line on the hot path.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

# The largest body size an event carries: ECS stores http.response.body.bytes as a signed 64-bit long.
MAX_BODY_BYTES = 2**63 - 1

# Tags an event may carry. They are signals found while parsing, not verdicts.
TAG_HANDSHAKE = "handshake"  # TLS/RDP/SSH bytes sent to a plaintext HTTP port
TAG_EMPTY_REQUEST = "empty_request"  # the request field was ""
TAG_MALFORMED_REQUEST = "malformed_request"  # request line was not "METHOD target VERSION"
TAG_FORWARDED = "forwarded"  # client taken from X-Forwarded-For of a trusted proxy
TAG_UNTERMINATED_QUOTE = "unterminated_quote"  # a quoted field lost its closing quote


@dataclass(slots=True)
class AccessEvent:
    """One HTTP request as seen in an access log.

    `timestamp` is seconds since the Unix epoch in UTC (ECS `@timestamp`).
    `source_address` is the client as logged: an IP address or a hostname.
    `source_ip` is set only when that client is a valid IP address, so a
    hostname is never mistaken for one.
    """

    timestamp: float
    source_address: str
    source_ip: str | None = None
    http_request_method: str | None = None
    url_path: str | None = None
    url_query: str | None = None
    http_version: str | None = None
    http_response_status_code: int | None = None
    http_response_body_bytes: int | None = None
    http_request_referrer: str | None = None
    user_agent_original: str | None = None
    user_name: str | None = None
    url_domain: str | None = None
    source_port: int | None = None
    url_port: int | None = None
    line: int = 0
    tags: tuple[str, ...] = field(default=())

    @property
    def client(self) -> str:
        """The key per-client state and decisions use: the IP if known, else the logged name."""
        return self.source_ip or self.source_address

    def to_ecs(self) -> dict[str, Any]:
        """Return the event as a flat dict with dotted ECS field names, omitting empty fields."""
        out: dict[str, Any] = {
            "@timestamp": datetime.fromtimestamp(self.timestamp, UTC).isoformat().replace("+00:00", "Z"),
            "source.address": self.source_address,
        }
        for attr, name in _ECS_NAMES.items():
            value = getattr(self, attr)
            if value is not None:
                out[name] = value
        if self.tags:
            out["tags"] = list(self.tags)
        return out


_ECS_NAMES = {
    "source_ip": "source.ip",
    "source_port": "source.port",
    "http_request_method": "http.request.method",
    "url_path": "url.path",
    "url_query": "url.query",
    "url_domain": "url.domain",
    "url_port": "url.port",
    "http_version": "http.version",
    "http_response_status_code": "http.response.status_code",
    "http_response_body_bytes": "http.response.body.bytes",
    "http_request_referrer": "http.request.referrer",
    "user_agent_original": "user_agent.original",
    "user_name": "user.name",
}

# Public: dotted ECS name -> attribute name, used by the JSON and CSV parsers.
ECS_TO_ATTR = {name: attr for attr, name in _ECS_NAMES.items()}
