"""Simulated requests and how they are written as log lines.

A `Hit` is one request the simulation produced; `render_combined` and
`render_json` turn it into a line the parsers in `stream.parsers` read back.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import NamedTuple

from stream.events import AccessEvent

BENIGN = "benign"
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


@dataclass(slots=True)
class Hit:
    """One simulated request; `ts_ms` is milliseconds since the Unix epoch (UTC)."""

    ts_ms: int
    client: str
    method: str
    target: str
    status: int
    size: int
    referrer: str = "-"
    agent: str = "-"
    user: str = "-"
    version: str = "HTTP/1.1"
    scenario: str = BENIGN


class Record(NamedTuple):
    """One generated log line with its ground truth; `timestamp` is what the line states."""

    timestamp: float
    line: str
    label: int
    scenario: str
    client: str


def escape_field(value: str) -> str:
    """Escape a quoted combined-log field the way Apache does: backslash, quote, control bytes."""
    if value.isascii() and value.isprintable() and '"' not in value and "\\" not in value:
        return value
    out = []
    for char in value:
        if char in ('"', "\\"):
            out.append("\\" + char)
        elif char.isascii() and char.isprintable():
            out.append(char)
        else:
            out.extend(f"\\x{byte:02x}" for byte in char.encode("utf-8"))
    return "".join(out)


def clf_time(seconds: int, offset: timezone) -> str:
    """Format epoch seconds as `10/Oct/2000:13:55:36 -0700` in the site's UTC offset."""
    local = datetime.fromtimestamp(seconds, offset)
    delta = offset.utcoffset(None) or timedelta()
    minutes = int(delta.total_seconds()) // 60
    sign = "-" if minutes < 0 else "+"
    zone = f"{sign}{abs(minutes) // 60:02d}{abs(minutes) % 60:02d}"
    return f"{local.day:02d}/{_MONTHS[local.month - 1]}/{local.year}:{local:%H:%M:%S} {zone}"


def render_combined(hit: Hit, offset: timezone) -> tuple[float, str]:
    """Return (timestamp in whole seconds, combined-format line) for `hit`."""
    seconds = hit.ts_ms // 1000
    request = escape_field(f"{hit.method} {hit.target} {hit.version}")
    line = (
        f'{hit.client} - {hit.user} [{clf_time(seconds, offset)}] "{request}" {hit.status} {hit.size} '
        f'"{escape_field(hit.referrer)}" "{escape_field(hit.agent)}"'
    )
    return float(seconds), line


def render_json(hit: Hit) -> tuple[float, str]:
    """Return (timestamp in milliseconds precision, JSON line with dotted ECS field names)."""
    timestamp = hit.ts_ms / 1000
    # Every simulated target is in origin form (`/path?query`), so no domain is split off.
    path, sep, query = hit.target.partition("?")
    event = AccessEvent(
        timestamp=timestamp,
        source_address=hit.client,
        source_ip=hit.client,
        http_request_method=hit.method,
        url_path=path,
        url_query=query if sep else None,
        http_version=hit.version.removeprefix("HTTP/"),
        http_response_status_code=hit.status,
        http_response_body_bytes=hit.size,
        http_request_referrer=None if hit.referrer == "-" else hit.referrer,
        user_agent_original=None if hit.agent == "-" else hit.agent,
        user_name=None if hit.user == "-" else hit.user,
    )
    return timestamp, json.dumps(event.to_ecs(), separators=(",", ":"))


def iso_utc(timestamp: float) -> str:
    """Format epoch seconds as ISO 8601 UTC with milliseconds, e.g. 2024-03-11T03:00:00.000Z."""
    moment = datetime.fromtimestamp(timestamp, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
