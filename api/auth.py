"""API keys and roles: who may call which route.

Keys come from `CENTINELA_API_KEYS` and/or the file named by
`CENTINELA_API_KEYS_FILE`, one `name:key:role` entry each (comma- or
newline-separated in the variable, one per line in the file, `#` starts a
comment). Roles:

- `analyze`: POST /analyze, GET /decisions and /decisions/{id}, /ws/* and,
  unless `CENTINELA_METRICS_PUBLIC` is true, GET /metrics;
- `admin`: everything, including DELETE /decisions/{id}, the CrowdSec export
  and every route not listed above (new routes need admin until listed here).

GET /health is open. With no keys configured the service is open: every
request acts as admin, and `python -m api` then binds only to loopback.

Keys are compared in constant time (SHA-256 digests through
`hmac.compare_digest`) and never logged; the key name is what logs show.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

from fastapi import HTTPException, Security, WebSocketException, status
from fastapi.security import APIKeyHeader
from starlette.requests import HTTPConnection

from config.settings import Settings

log = logging.getLogger("centinela.auth")

HEADER = "X-API-Key"
QUERY_PARAM = "api_key"
ROLES = ("analyze", "admin")
MIN_KEY_LENGTH = 16
NAME_PATTERN = re.compile(r"[A-Za-z0-9_.@-]{1,64}")

# "/" is the static dashboard page; the OpenAPI schema and its page describe the API and hold no data.
OPEN_ROUTES = frozenset({("GET", "/health"), ("GET", "/"), ("GET", "/docs"), ("GET", "/openapi.json")})
ANALYZE_ROUTES = frozenset(
    {
        ("POST", "/analyze"),
        ("GET", "/decisions"),
        ("GET", "/decisions/{decision_id}"),
        ("GET", "/metrics"),
    }
)

api_key_header = APIKeyHeader(
    name=HEADER,
    auto_error=False,
    scheme_name="APIKey",
    description="An API key from CENTINELA_API_KEYS. Role `analyze` or `admin`; /health needs none.",
)


class KeyConfigError(ValueError):
    """The API key configuration is invalid; the message names the entry but never the key."""


@dataclass(frozen=True, slots=True)
class ApiKey:
    name: str
    digest: bytes
    role: str


@dataclass(frozen=True, slots=True)
class Principal:
    """The caller of one request: a key's name and role, or `anonymous` in open mode."""

    name: str
    role: str | None
    address: str
    authenticated: bool = False

    @property
    def bucket(self) -> str:
        """Return the rate-limit bucket: the key name, or the client address without a key."""
        return f"key:{self.name}" if self.authenticated else f"addr:{self.address}"


def _digest(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()


def parse_keys(text: str, source: str, line_numbers: bool = False) -> list[ApiKey]:
    """Parse `name:key:role` entries; `source` names the setting or file in error messages."""
    entries = text.splitlines() if line_numbers else re.split(r"[,\n]", text)
    keys: list[ApiKey] = []
    for number, raw in enumerate(entries, start=1):
        entry = raw.split("#", 1)[0].strip() if line_numbers else raw.strip()
        if not entry:
            continue
        where = f"{source} {'line' if line_numbers else 'entry'} {number}"
        keys.append(_parse_entry(entry, where))
    return keys


def _parse_entry(entry: str, where: str) -> ApiKey:
    parts = entry.split(":")
    if len(parts) != 3:
        raise KeyConfigError(f"{where}: expected name:key:role, found {len(parts)} colon-separated fields")
    name, secret, role = (part.strip() for part in parts)
    if not NAME_PATTERN.fullmatch(name):
        raise KeyConfigError(f"{where}: key name {name!r} must be 1-64 letters, digits or _.@-")
    if len(secret) < MIN_KEY_LENGTH:
        raise KeyConfigError(f"{where}: the key of {name!r} is shorter than {MIN_KEY_LENGTH} characters")
    if role not in ROLES:
        raise KeyConfigError(f"{where}: role {role!r} of {name!r} is invalid; expected analyze or admin")
    return ApiKey(name, _digest(secret), role)


def load_keys(settings: Settings) -> list[ApiKey]:
    """Read the keys from CENTINELA_API_KEYS and CENTINELA_API_KEYS_FILE; raise KeyConfigError if invalid."""
    keys: list[ApiKey] = []
    if settings.api_keys is not None:
        keys += parse_keys(settings.api_keys.get_secret_value(), "CENTINELA_API_KEYS")
    if settings.api_keys_file is not None:
        keys += _read_key_file(settings.api_keys_file)

    names = [key.name for key in keys]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise KeyConfigError(f"API key names must be unique; repeated: {', '.join(duplicates)}")
    if len({key.digest for key in keys}) != len(keys):
        raise KeyConfigError("two API key entries share the same key; give each client its own key")
    return keys


def _read_key_file(path: Path) -> list[ApiKey]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise KeyConfigError(f"CENTINELA_API_KEYS_FILE {path}: cannot read it: {exc}") from exc
    return parse_keys(text, f"CENTINELA_API_KEYS_FILE {path}", line_numbers=True)


class KeyRing:
    """The configured keys; `identify` compares a presented key with every one in constant time."""

    def __init__(self, keys: list[ApiKey], metrics_public: bool = False) -> None:
        self.keys = keys
        self.metrics_public = metrics_public

    @classmethod
    def from_settings(cls, settings: Settings) -> KeyRing:
        return cls(load_keys(settings), settings.metrics_public)

    @property
    def enabled(self) -> bool:
        return bool(self.keys)

    def identify(self, presented: str | None) -> ApiKey | None:
        if not presented:
            return None
        digest = _digest(presented)
        found = None
        # Compare with every key, not stopping at a match, so the time taken says nothing about which one.
        for key in self.keys:
            if hmac.compare_digest(digest, key.digest):
                found = key
        return found

    def required_role(self, method: str, path: str, websocket: bool = False) -> str | None:
        """Return the role a route needs: None (open), "analyze" or "admin"."""
        if websocket:
            return "analyze" if path.startswith("/ws/") else "admin"
        if (method, path) in OPEN_ROUTES or (self.metrics_public and path == "/metrics"):
            return None
        return "analyze" if (method, path) in ANALYZE_ROUTES else "admin"


def allows(role: str, required: str) -> bool:
    return role == "admin" or role == required


def client_address(conn: HTTPConnection) -> str:
    return conn.client.host if conn.client else "unknown"


def _route_path(conn: HTTPConnection) -> str:
    route = conn.scope.get("route")
    return getattr(route, "path_format", None) or getattr(route, "path", None) or conn.url.path


async def authorize(conn: HTTPConnection, header_key: Annotated[str | None, Security(api_key_header)]) -> Principal:
    """Authenticate the caller and check the route's role: 401 without a valid key, 403 for a weaker role.

    Websockets may also pass the key as `?api_key=`; they are rejected with close code 1008.
    """
    keyring: KeyRing = conn.app.state.keyring
    websocket = conn.scope["type"] == "websocket"
    method = "WS" if websocket else conn.scope.get("method", "GET")
    address = client_address(conn)
    if not keyring.enabled:
        return Principal("anonymous", "admin", address)

    path = _route_path(conn)
    required = keyring.required_role(method, path, websocket)
    presented = header_key or (conn.query_params.get(QUERY_PARAM) if websocket else None)
    key = keyring.identify(presented)
    if required is None:
        return Principal(key.name, key.role, address, True) if key else Principal("anonymous", None, address)
    if key is None:
        _deny(websocket, status.HTTP_401_UNAUTHORIZED, _missing_or_invalid(presented), address, method, path)
    assert key is not None
    if not allows(key.role, required):
        detail = f"key {key.name!r} has role {key.role!r}; {method} {path} needs role {required!r}"
        _deny(websocket, status.HTTP_403_FORBIDDEN, detail, address, method, path)
    return Principal(key.name, key.role, address, True)


def _missing_or_invalid(presented: str | None) -> str:
    if not presented:
        return f"missing API key: send it in the {HEADER} header"
    return "invalid API key"


def _deny(websocket: bool, code: int, detail: str, address: str, method: str, path: str) -> None:
    log.warning("access denied status=%d client=%r method=%s path=%r: %s", code, address, method, path, detail)
    if websocket:
        raise WebSocketException(code=status.WS_1008_POLICY_VIOLATION, reason=detail[:120])
    headers = {"WWW-Authenticate": HEADER} if code == status.HTTP_401_UNAUTHORIZED else None
    raise HTTPException(code, detail=detail, headers=headers)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_bind(host: str, keyring: KeyRing) -> None:
    """Raise KeyConfigError when `host` is not a loopback address and no API key is configured."""
    if keyring.enabled or is_loopback(host):
        return
    raise KeyConfigError(
        f"will not listen on {host!r} with no API keys: without CENTINELA_API_KEYS or "
        "CENTINELA_API_KEYS_FILE the service is open to anyone who reaches it, so it only binds to "
        "loopback (127.0.0.1 or ::1). Configure keys, or set CENTINELA_HOST=127.0.0.1"
    )
