"""Turn an event and its client's window into features in [0,1].

Every transform is fixed (no learned scaler), so a score means the same thing
after a restart and on every replica. The table below is the contract; the
detector reads `MODEL_FEATURES` in this order.

| feature | transform |
|---|---|
| status_class | (status // 100 - 1) / 4, 1xx→0 … 5xx→1; missing status → 1 |
| method | GET/HEAD 0, POST 0.3, OPTIONS/PUT/PATCH/DELETE 0.6, anything else or none 1 |
| path_depth | min(segments / 12, 1) |
| url_length | log1p(len(path+query)) / log1p(2048), capped at 1 |
| query_length | log1p(len(query)) / log1p(1024), capped at 1 |
| non_alnum | share of characters in path+query outside [A-Za-z0-9/._-] |
| bytes | log1p(body bytes) / log1p(10 MiB), capped at 1; missing → 0 |
| ua_kind | browser 0, app 0.2, bot 0.4, tool 0.7, empty 0.85, scanner 1 |
| injection | min(distinct injection patterns in target and user agent / 3, 1) |
| probe_path | 1 when the path is a known probe path (/.env, /.git/, /wp-login.php …) |
| handshake | 1 when the request was TLS/RDP/SSH bytes or not a request line at all |
| win_rate | log1p(requests per minute) / log1p(1200), capped at 1 |
| win_4xx | share of the client's window answered 4xx |
| win_5xx | share of the client's window answered 5xx |
| win_paths | log1p(distinct paths) / log1p(256), capped at 1 |
| win_failed_logins | log1p(failed logins) / log1p(100), capped at 1 |
| win_not_found | log1p(404 answers) / log1p(100), capped at 1 |
| win_users | log1p(distinct user names) / log1p(32), capped at 1 |

A failed login is a 401 or 403 answer, or a POST to a login-like path that
does not succeed (status ≥ 400).
"""

from __future__ import annotations

import math
import re

from agents.messages import ClientStats
from stream.events import TAG_HANDSHAKE, TAG_MALFORMED_REQUEST, AccessEvent
from stream.signals import UA_SCANNER, injection_hits, is_probe_path, user_agent_kind
from stream.windows import (
    C4XX,
    C5XX,
    FAILED_LOGIN,
    HANDSHAKE,
    INJECTION,
    NOT_FOUND,
    PROBE,
    ClientWindows,
)

MODEL_FEATURES: tuple[str, ...] = (
    "status_class",
    "method",
    "path_depth",
    "url_length",
    "query_length",
    "non_alnum",
    "bytes",
    "ua_kind",
    "injection",
    "probe_path",
    "handshake",
    "win_rate",
    "win_4xx",
    "win_5xx",
    "win_paths",
    "win_failed_logins",
    "win_not_found",
    "win_users",
)

LOGIN_PATH = re.compile(r"login|signin|sign-in|auth|session|token|wp-login|xmlrpc|account/log", re.IGNORECASE)
_METHOD_LEVEL = {"GET": 0.0, "HEAD": 0.0, "POST": 0.3, "OPTIONS": 0.6, "PUT": 0.6, "PATCH": 0.6, "DELETE": 0.6}
_PLAIN = re.compile(r"[A-Za-z0-9/._-]")

_LOG_URL = math.log1p(2048)
_LOG_QUERY = math.log1p(1024)
_LOG_BYTES = math.log1p(10 * 1024 * 1024)
_LOG_RATE = math.log1p(1200)
_LOG_PATHS = math.log1p(256)
_LOG_100 = math.log1p(100)
_LOG_USERS = math.log1p(32)


def _log_scale(value: float, log_max: float) -> float:
    return min(math.log1p(value) / log_max, 1.0)


def is_failed_login(event: AccessEvent) -> bool:
    status = event.http_response_status_code
    if status in (401, 403):
        return True
    return (
        event.http_request_method == "POST"
        and status is not None
        and status >= 400
        and event.url_path is not None
        and LOGIN_PATH.search(event.url_path) is not None
    )


def event_features(event: AccessEvent) -> tuple[list[float], tuple[int, ...]]:
    """Return the per-event features (first 11 of MODEL_FEATURES) and the window counter flags."""
    status = event.http_response_status_code
    path = event.url_path or ""
    query = event.url_query or ""
    target = path + ("?" + query if query else "")
    flags: list[int] = []

    if status is None:
        status_class = 1.0
    else:
        status_class = min(max((status // 100 - 1) / 4, 0.0), 1.0)
        if 400 <= status < 500:
            flags.append(C4XX)
            if status == 404:
                flags.append(NOT_FOUND)
        elif status >= 500:
            flags.append(C5XX)
    if is_failed_login(event):
        flags.append(FAILED_LOGIN)

    hits = injection_hits(target) if target else 0
    ua = event.user_agent_original
    ua_kind = user_agent_kind(ua)
    if ua_kind == UA_SCANNER and ua:
        hits += injection_hits(ua)
    injection = min(hits / 3, 1.0)
    if hits:
        flags.append(INJECTION)
    probe = 1.0 if path and is_probe_path(path) else 0.0
    if probe:
        flags.append(PROBE)
    handshake = 1.0 if TAG_HANDSHAKE in event.tags or TAG_MALFORMED_REQUEST in event.tags else 0.0
    if handshake:
        flags.append(HANDSHAKE)

    size = event.http_response_body_bytes
    plain = len(_PLAIN.findall(target)) if target else 0
    row = [
        status_class,
        _METHOD_LEVEL.get(event.http_request_method or "", 1.0),
        min(path.count("/") / 12, 1.0),
        _log_scale(len(target), _LOG_URL),
        _log_scale(len(query), _LOG_QUERY),
        (len(target) - plain) / len(target) if target else 0.0,
        _log_scale(size, _LOG_BYTES) if size else 0.0,
        ua_kind,
        injection,
        probe,
        handshake,
    ]
    return row, tuple(flags)


def window_features(stats: ClientStats) -> list[float]:
    """Scale the raw window values of a client into the last 7 of MODEL_FEATURES."""
    return [
        _log_scale(stats.rate_per_min, _LOG_RATE),
        stats.share_4xx,
        stats.share_5xx,
        _log_scale(stats.distinct_paths, _LOG_PATHS),
        _log_scale(stats.failed_logins, _LOG_100),
        _log_scale(stats.not_found, _LOG_100),
        _log_scale(stats.distinct_users, _LOG_USERS),
    ]


class FeatureExtractor:
    """Keeps the client windows and turns each event into a full feature row."""

    def __init__(self, window_seconds: float, max_clients: int, idle_seconds: float) -> None:
        self.windows = ClientWindows(window_seconds, max_clients, idle_seconds)

    def extract(self, event: AccessEvent) -> tuple[list[float], ClientStats]:
        row, flags = event_features(event)
        stats = self.windows.update(event.client, event.timestamp, event.url_path, event.user_name, flags)
        row.extend(window_features(stats))
        return row, stats
