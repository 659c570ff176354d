"""The HTTP request line (`METHOD target HTTP/x`) and quoted-field escapes."""

from __future__ import annotations

import re

from stream.events import TAG_EMPTY_REQUEST, TAG_HANDSHAKE, TAG_MALFORMED_REQUEST, AccessEvent

# Methods are kept as logged: HTTP methods are case-sensitive and ECS keeps the original casing.
REQUEST_RE = re.compile(
    r"(?P<method>[A-Za-z][A-Za-z0-9_-]*) (?P<target>\S+)(?: HTTP/(?P<version>\d(?:\.\d)?))?"
)
# Protocol openings sent to a plaintext HTTP port, as servers log them (`\x16` escaped) or raw:
# TLS ClientHello, RDP (TPKT), SSH banner, SOCKS4 and SOCKS5 greetings.
HANDSHAKE_RE = re.compile(
    r"(?:\\x16\\x03|\\x03\\x00\\x00|\\x04\\x01\\x00|\\x05\\x0[1-9]\\x00"
    r"|\x16\x03|\x03\x00\x00|\x04\x01\x00|\x05[\x01-\x09]\x00|SSH-\d)"
)
_ESCAPE_RE = re.compile(r"\\([\"\\])")


def unescape(value: str) -> str:
    """Undo Apache's `\\"` and `\\\\` escapes; `\\xNN` stays as text because its encoding is unknown."""
    if "\\" not in value:
        return value
    return _ESCAPE_RE.sub(r"\1", value)


def split_target(target: str) -> tuple[str | None, str | None, str | None]:
    """Split a request target into (path, query, domain).

    Handles origin form (`/a?b`), absolute form (`http://host:80/a?b`),
    authority form (`host:443`, used by CONNECT) and asterisk form (`*`).
    """
    domain = None
    scheme_end = target.find("://", 0, 16)
    if scheme_end > 0:
        authority, slash, tail = target[scheme_end + 3 :].partition("/")
        domain = _host_of(authority)
        target = slash + tail if slash else "/"
        if "?" in authority:  # http://host?q with no path
            domain = _host_of(authority.partition("?")[0])
            target = "/?" + authority.partition("?")[2]
    path, sep, query = target.partition("?")
    return path, (query if sep else None), domain


def _host_of(authority: str) -> str | None:
    host = authority.rpartition("@")[2]  # drop user:password@
    if host.startswith("["):
        return host[1:].partition("]")[0] or None
    return host.partition(":")[0] or None


def _port_of(authority: str) -> int | None:
    host = authority.rpartition("@")[2]
    tail = host.rpartition("]")[2] if host.startswith("[") else host
    _, colon, port = tail.rpartition(":")
    if colon and port.isdigit() and int(port) <= 65535:
        return int(port)
    return None


def fill_request(event: AccessEvent, request: str) -> None:
    """Set method, path, query, domain and version from a request line, tagging odd ones."""
    if not request or request == "-":
        event.tags = (*event.tags, TAG_EMPTY_REQUEST)
        return
    parsed = REQUEST_RE.fullmatch(request)
    if parsed is None:
        tag = TAG_HANDSHAKE if HANDSHAKE_RE.match(request) else TAG_MALFORMED_REQUEST
        event.tags = (*event.tags, tag)
        event.url_path = request
        return

    method, target = parsed["method"], parsed["target"]
    event.http_request_method = method
    event.http_version = parsed["version"]
    if method.upper() == "CONNECT" and not target.startswith("/"):
        event.url_domain = _host_of(target)
        event.url_port = _port_of(target)
        return
    path, query, domain = split_target(target)
    event.url_path, event.url_query = path, query
    if domain is not None:
        event.url_domain = domain
