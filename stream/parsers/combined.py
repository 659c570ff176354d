"""Apache/Nginx combined and common log format.

    host ident user [time] "request" status bytes ["referrer" "user-agent"]

The referrer and user-agent pair is optional, which makes this parser read the
common format as well.
"""

from __future__ import annotations

import ipaddress
import re
from datetime import datetime
from functools import lru_cache
from typing import Any

from stream.events import TAG_EMPTY_REQUEST, TAG_HANDSHAKE, TAG_MALFORMED_REQUEST, AccessEvent
from stream.parsers.base import ParseError, register

_QUOTED = r'"((?:[^"\\]|\\.)*)"'
LINE_RE = re.compile(
    r"^(?P<host>\S+) (?P<ident>\S+) (?P<user>\S+) \[(?P<time>[^\]]+)\] "
    + _QUOTED.replace("(", "(?P<request>", 1)
    + r" (?P<status>\d{3}|-) (?P<bytes>\d+|-)"
    + r"(?: " + _QUOTED.replace("(", "(?P<referrer>", 1) + r" " + _QUOTED.replace("(", "(?P<agent>", 1) + r")?"
    + r"(?P<extra>.*)$"
)
REQUEST_RE = re.compile(r"^(?P<method>[A-Za-z][A-Za-z0-9_-]*) (?P<target>\S+)(?: (?P<version>HTTP/\d(?:\.\d)?))?$")
HANDSHAKE_RE = re.compile(r"^(?:\\x16\\x03|\\x03\\x00|\\x16|SSH-)")
ACCEPTED = 'expected Apache/Nginx combined or common log format: host ident user [time] "request" status bytes'


@lru_cache(maxsize=4096)
def parse_clf_time(text: str) -> float:
    """Convert `10/Oct/2000:13:55:36 -0700` to UTC epoch seconds."""
    try:
        return datetime.strptime(text, "%d/%b/%Y:%H:%M:%S %z").timestamp()
    except ValueError:
        raise ParseError(f"invalid timestamp {text!r}; expected dd/Mon/yyyy:HH:MM:SS +zzzz") from None


def split_target(target: str) -> tuple[str, str | None, str | None]:
    """Split a request target into path, query and domain (for absolute URLs)."""
    domain = None
    if "://" in target[:12]:
        rest = target.split("://", 1)[1]
        domain, slash, tail = rest.partition("/")
        target = slash + tail if slash else "/"
    path, sep, query = target.partition("?")
    return path, (query if sep else None), domain


def unescape(value: str) -> str:
    if "\\" not in value:
        return value
    return value.replace('\\"', '"').replace("\\\\", "\\")


def parse_client(host: str) -> tuple[str, str | None]:
    """Return (address as logged, IP or None) for the client field."""
    try:
        return host, str(ipaddress.ip_address(host))
    except ValueError:
        return host, None


@register("combined")
class CombinedParser:
    name = "combined"

    def __init__(self, **_: Any) -> None:
        pass

    def sniff(self, sample: list[str | dict[str, Any]]) -> float:
        if not sample:
            return 0.0
        hits = sum(1 for item in sample if isinstance(item, str) and LINE_RE.match(item))
        return hits / len(sample)

    def parse(self, item: str | dict[str, Any], line: int) -> AccessEvent:
        if not isinstance(item, str):
            raise ParseError(f"expected a text line, got {type(item).__name__}")
        match = LINE_RE.match(item)
        if match is None:
            raise ParseError(ACCEPTED)
        host, ip = parse_client(match["host"])
        status = match["status"]
        size = match["bytes"]
        user = match["user"]
        event = AccessEvent(
            timestamp=parse_clf_time(match["time"]),
            source_address=host,
            source_ip=ip,
            http_response_status_code=None if status == "-" else int(status),
            http_response_body_bytes=None if size == "-" else int(size),
            user_name=None if user == "-" else user,
            line=line,
        )
        referrer = match["referrer"]
        if referrer is not None:
            event.http_request_referrer = None if referrer == "-" else unescape(referrer)
            agent = match["agent"]
            event.user_agent_original = None if agent == "-" else unescape(agent)
        self._fill_request(event, unescape(match["request"]))
        return event

    @staticmethod
    def _fill_request(event: AccessEvent, request: str) -> None:
        if not request or request == "-":
            event.tags = (TAG_EMPTY_REQUEST,)
            return
        parsed = REQUEST_RE.match(request)
        if parsed is None:
            tag = TAG_HANDSHAKE if HANDSHAKE_RE.match(request) else TAG_MALFORMED_REQUEST
            event.tags = (tag,)
            event.url_path = request
            return
        event.http_request_method = parsed["method"].upper()
        event.http_version = parsed["version"][5:] if parsed["version"] else None
        path, query, domain = split_target(parsed["target"])
        event.url_path, event.url_query, event.url_domain = path, query, domain
