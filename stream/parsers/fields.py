"""Map named fields (JSON keys, CSV columns) onto an `AccessEvent`.

Both ECS names (`source.ip`, `http.response.status_code`) and the names common
in nginx/Apache JSON and CSV logs (`remote_addr`, `status`, `body_bytes_sent`)
are recognised. Names are compared in lower case; for each event attribute the
first listed name that has a value wins.
"""

from __future__ import annotations

from typing import Any

from stream.events import MAX_BODY_BYTES, TAG_EMPTY_REQUEST, AccessEvent
from stream.parsers.base import ParseError
from stream.parsers.client import TrustedProxies, apply_forwarded, parse_client
from stream.parsers.request import fill_request, split_target
from stream.parsers.timestamps import parse_any_time

MAX_DEPTH = 16

NAMES: dict[str, tuple[str, ...]] = {
    "timestamp": ("@timestamp", "timestamp", "time", "time_iso8601", "time_local", "datetime", "date", "ts"),
    "address": (
        "source.address", "source.ip", "client.address", "client.ip", "ip", "remote_addr", "remote_ip",
        "client_ip", "clientip", "client", "source_ip", "src_ip", "c-ip", "remote_host", "host",
    ),
    "port": ("source.port", "client.port", "remote_port", "client_port", "source_port", "src_port"),
    "method": ("http.request.method", "method", "request_method", "verb", "cs-method"),
    "path": ("url.path", "path", "uri", "request_path", "cs-uri-stem"),
    "query": ("url.query", "query", "query_string", "args", "cs-uri-query"),
    "target": ("url.original", "url.full", "url", "request_uri", "request_url"),
    "request": ("request", "request_line"),
    "version": ("http.version", "http_version", "protocol", "server_protocol", "cs-version"),
    "status": (
        "http.response.status_code", "status", "status_code", "response", "response_code", "sc-status",
    ),
    "bytes": (
        "http.response.body.bytes", "bytes", "body_bytes_sent", "bytes_sent", "size", "response_size",
        "sc-bytes", "http.response.bytes",
    ),
    "referrer": (
        "http.request.referrer", "referrer", "referer", "http_referer", "http_referrer", "cs(referer)",
    ),
    "agent": ("user_agent.original", "user_agent", "useragent", "http_user_agent", "agent", "cs(user-agent)"),
    "user": ("user.name", "user", "remote_user", "user_name", "username", "cs-username"),
    "domain": ("url.domain", "server_name", "vhost", "http_host", "domain", "cs-host", "host"),
    "forwarded_for": (
        "http.request.headers.x-forwarded-for", "http.request.headers.x_forwarded_for", "x_forwarded_for",
        "http_x_forwarded_for", "x-forwarded-for", "xff",
    ),
}
_EMPTY = (None, "", "-")


def accepted(kind: str) -> str:
    return f"accepted names: {', '.join(NAMES[kind])}"


def flatten(
    obj: dict[Any, Any], prefix: str = "", out: dict[str, Any] | None = None, depth: int = 0
) -> dict[str, Any]:
    """Return nested objects as one dict with dotted lower-case keys, so both ECS spellings agree."""
    if depth > MAX_DEPTH:
        raise ParseError(f"object nested deeper than {MAX_DEPTH} levels; expected flat or ECS-nested keys")
    flat: dict[str, Any] = {} if out is None else out
    for key, value in obj.items():
        name = prefix + str(key).lower()
        if isinstance(value, dict):
            flatten(value, name + ".", flat, depth + 1)
        else:
            flat[name] = value
    return flat


def first(fields: dict[str, Any], kind: str) -> tuple[str | None, Any]:
    """Return (name, value) of the first name for `kind` that has a value."""
    for name in NAMES[kind]:
        value = fields.get(name)
        if value not in _EMPTY:
            return name, value
    return None, None


def build_event(fields: dict[str, Any], line: int, proxies: TrustedProxies) -> AccessEvent:
    """Build an event from a flat mapping of lower-case names, or raise ParseError."""
    _, moment = first(fields, "timestamp")
    if moment is None:
        raise ParseError(f"missing timestamp; {accepted('timestamp')}")
    address_name, address = first(fields, "address")
    if address is None:
        raise ParseError(f"missing client address; {accepted('address')}")
    client = parse_client(_text(address_name or "", address))
    _, port = first(fields, "port")

    event = AccessEvent(
        timestamp=parse_any_time(moment),
        source_address=client.address,
        source_ip=client.ip,
        source_port=client.port if port is None else _integer("port", port, 65_535),
        http_response_status_code=_optional_integer(fields, "status", 999),
        http_response_body_bytes=_optional_integer(fields, "bytes", MAX_BODY_BYTES),
        http_request_referrer=_optional_text(fields, "referrer"),
        user_agent_original=_optional_text(fields, "agent"),
        user_name=_optional_text(fields, "user"),
        line=line,
    )
    _fill_url(event, fields, skip_domain=address_name == "host")
    if proxies and client.ip is not None:
        _, forwarded = first(fields, "forwarded_for")
        if isinstance(forwarded, list):
            forwarded = ", ".join(str(entry) for entry in forwarded)
        if forwarded is not None:
            apply_forwarded(event, proxies, _text("forwarded_for", forwarded))
    return event


def _fill_url(event: AccessEvent, fields: dict[str, Any], skip_domain: bool) -> None:
    method = _optional_text(fields, "method")
    path = _optional_text(fields, "path")
    target = _optional_text(fields, "target")
    if method is None and path is None and target is None:
        _fill_from_request_line(event, fields)
    else:
        _fill_from_parts(event, fields, method, path, target)

    domain_name, domain = first(fields, "domain")
    if domain is not None and event.url_domain is None and not (skip_domain and domain_name == "host"):
        event.url_domain = _text("domain", domain)


def _fill_from_request_line(event: AccessEvent, fields: dict[str, Any]) -> None:
    _, request = first(fields, "request")
    if request is not None:
        fill_request(event, _text("request", request))
    elif any(fields.get(name) == "" for name in NAMES["request"]):
        event.tags = (*event.tags, TAG_EMPTY_REQUEST)


def _fill_from_parts(
    event: AccessEvent, fields: dict[str, Any], method: str | None, path: str | None, target: str | None
) -> None:
    event.http_request_method = method
    version = _optional_text(fields, "version")
    event.http_version = version[5:] if version and version.upper().startswith("HTTP/") else version
    if path is None and target is not None:
        path, event.url_query, event.url_domain = split_target(target)
    event.url_path = path
    query = _optional_text(fields, "query")
    if query is not None:
        event.url_query = query


def _text(kind: str, value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    raise ParseError(f"field {kind!r}: expected a string, got a {type(value).__name__}")


def _optional_text(fields: dict[str, Any], kind: str) -> str | None:
    _, value = first(fields, kind)
    return None if value is None else _text(kind, value)


def _integer(kind: str, value: Any, maximum: int) -> int:
    number: int | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, float) and value.is_integer():
        number = int(value)
    elif isinstance(value, str) and value.strip().isdigit() and len(value.strip()) <= 20:
        number = int(value.strip())
    if number is None or number < 0 or number > maximum:
        raise ParseError(f"invalid {kind} {_shown(value)}: expected a non-negative integer up to {maximum} or '-'")
    return number


def _shown(value: Any) -> str:
    """Return `repr(value)`, shortened for a huge integer, whose full repr may even raise ValueError."""
    if isinstance(value, int) and value.bit_length() > 128:
        return f"(an integer of {value.bit_length()} bits)"
    text = repr(value)
    return text if len(text) <= 60 else text[:60] + "…"


def _optional_integer(fields: dict[str, Any], kind: str, maximum: int) -> int | None:
    _, value = first(fields, kind)
    return None if value is None else _integer(kind, value, maximum)
