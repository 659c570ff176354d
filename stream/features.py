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
| injection | sum of injection pattern weights in target (and scanner UA), capped at 1; see below |
| probe_path | 1 when the path is a known probe path (/.env, /.git/, /wp-login.php …) |
| handshake | 1 when the request was TLS/RDP/SSH bytes or not a request line at all |
| win_rate | log1p(requests per minute) / log1p(1200), capped at 1 |
| win_4xx | share of the client's window answered 4xx |
| win_5xx | share of the client's window answered 5xx |
| win_paths | log1p(distinct paths) / log1p(256), capped at 1 |
| win_failed_logins | log1p(failed logins) / log1p(100), capped at 1 |
| win_not_found | log1p(404 answers) / log1p(100), capped at 1 |
| win_users | log1p(distinct user names) / log1p(32), capped at 1 |

Injection patterns weigh 0.7 when one alone is an attack (UNION SELECT, a
tautology, a JNDI lookup, a script tag, /etc/passwd …) and 0.35 when one
needs company (quote then comment, ../, javascript:, file://), so a single clear
payload reaches 0.7 and harmless punctuation stays low.

A failed login is a 401 answer, or a request to a login-like path answered
403, or a POST to a login-like path that does not succeed (status ≥ 400).
"""

from __future__ import annotations

import math
import re
from functools import lru_cache

import numpy as np

from agents.messages import ClientStats
from stream.events import TAG_HANDSHAKE, TAG_MALFORMED_REQUEST, AccessEvent
from stream.signals import UA_SCANNER, injection_signal, is_probe_path, user_agent_kind
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
_DROP_PLAIN = str.maketrans(dict.fromkeys("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789/._-"))
_STATUS_CLASS = {1: 0.0, 2: 0.25, 3: 0.5, 4: 0.75, 5: 1.0}

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
    """Return True for a 401, or a request to a login-like path that fails (403 or another 4xx/5xx POST)."""
    status = event.http_response_status_code
    if status == 401:
        return True
    if status is None or status < 400 or event.url_path is None:
        return False
    if LOGIN_PATH.search(event.url_path) is None:
        return False
    return status == 403 or event.http_request_method == "POST"


@lru_cache(maxsize=131_072)
def target_signals(path: str, query: str) -> tuple[float, float, float, float, float, int, bool]:
    """Return path depth, URL length, query length and non-alphanumeric share (all scaled),
    injection strength, raw injection hits and whether the path is a known probe path."""
    target = path + ("?" + query if query else "")
    injection, hits = injection_signal(target) if target else (0.0, 0)
    plain = len(target.translate(_DROP_PLAIN)) if target else 0
    return (
        min(path.count("/") / 12, 1.0),
        _log_scale(len(target), _LOG_URL),
        _log_scale(len(query), _LOG_QUERY),
        plain / len(target) if target else 0.0,
        injection,
        hits,
        bool(path) and is_probe_path(path),
    )


def event_features(event: AccessEvent) -> tuple[list[float], tuple[int, ...]]:
    """Return the per-event features (first 11 of MODEL_FEATURES) and the window counter flags."""
    status = event.http_response_status_code
    flags: list[int] = []

    if status is None:
        status_class = 1.0
    else:
        status_class = _STATUS_CLASS.get(status // 100, 1.0)
        if 400 <= status < 500:
            flags.append(C4XX)
            if status == 404:
                flags.append(NOT_FOUND)
        elif status >= 500:
            flags.append(C5XX)
    if status is not None and status >= 400 and (status == 401 or is_failed_login(event)):
        flags.append(FAILED_LOGIN)

    depth, url_length, query_length, non_alnum, injection, hits, probe = target_signals(
        event.url_path or "", event.url_query or ""
    )
    ua = event.user_agent_original
    ua_kind = user_agent_kind(ua)
    if ua_kind == UA_SCANNER and ua:
        ua_strength, ua_hits = injection_signal(ua)
        hits += ua_hits
        injection = min(injection + ua_strength, 1.0)
    if hits:
        flags.append(INJECTION)
    if probe:
        flags.append(PROBE)
    tags = event.tags
    handshake = 1.0 if tags and (TAG_HANDSHAKE in tags or TAG_MALFORMED_REQUEST in tags) else 0.0
    if handshake:
        flags.append(HANDSHAKE)

    size = event.http_response_body_bytes
    row = [
        status_class,
        _METHOD_LEVEL.get(event.http_request_method or "", 1.0),
        depth,
        url_length,
        query_length,
        non_alnum,
        _log_scale(size, _LOG_BYTES) if size else 0.0,
        ua_kind,
        injection,
        1.0 if probe else 0.0,
        handshake,
    ]
    return row, tuple(flags)


class FeatureExtractor:
    """Keeps the client windows and turns each event into a full feature row."""

    def __init__(self, window_seconds: float, max_clients: int, idle_seconds: float) -> None:
        self.windows = ClientWindows(window_seconds, max_clients, idle_seconds)

    def extract(self, event: AccessEvent) -> tuple[list[float], ClientStats]:
        matrix, stats = self.extract_batch([event])
        return matrix[0].tolist(), stats[0]

    def extract_batch(self, events: list[AccessEvent]) -> tuple[np.ndarray, list[ClientStats]]:
        """Return the feature matrix (rows in MODEL_FEATURES order) and window stats of `events`.

        The window columns are scaled with NumPy once per batch.
        """
        n = len(events)
        matrix = np.empty((n, len(MODEL_FEATURES)), dtype=np.float64)
        raw = np.empty((n, 7), dtype=np.float64)
        stats_list: list[ClientStats] = []
        update = self.windows.update
        for i, event in enumerate(events):
            row, flags = event_features(event)
            matrix[i, :11] = row
            stats = update(event.client, event.timestamp, event.url_path, event.user_name, flags)
            stats_list.append(stats)
            raw[i] = (
                stats.rate_per_min,
                stats.share_4xx,
                stats.share_5xx,
                stats.distinct_paths,
                stats.failed_logins,
                stats.not_found,
                stats.distinct_users,
            )
        matrix[:, 11] = np.minimum(np.log1p(raw[:, 0]) / _LOG_RATE, 1.0)
        matrix[:, 12] = raw[:, 1]
        matrix[:, 13] = raw[:, 2]
        matrix[:, 14] = np.minimum(np.log1p(raw[:, 3]) / _LOG_PATHS, 1.0)
        matrix[:, 15] = np.minimum(np.log1p(raw[:, 4]) / _LOG_100, 1.0)
        matrix[:, 16] = np.minimum(np.log1p(raw[:, 5]) / _LOG_100, 1.0)
        matrix[:, 17] = np.minimum(np.log1p(raw[:, 6]) / _LOG_USERS, 1.0)
        return matrix, stats_list
