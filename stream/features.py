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
| win_4xx | share of the client's window with a 4xx status |
| win_5xx | share of the client's window with a 5xx status |
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

import importlib
import math
import re
from functools import lru_cache
from itertools import chain
from typing import Any

import numpy as np

from agents.messages import ClientStats
from stream import native
from stream.events import TAG_HANDSHAKE, TAG_MALFORMED_REQUEST, AccessEvent
from stream.row_cache import RowCache
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
    """Feature rows of events, with the client windows they update.

    The windows are stream.native's compiled `NativeWindows` when the extension is loaded, else
    `ClientWindows`. Both give the same rows and stats (tests/test_native_windows.py).
    """

    def __init__(self, window_seconds: float, max_clients: int, idle_seconds: float) -> None:
        kernel = native.windows
        # `Any`: the compiled class has no type stubs, and it has the public surface of ClientWindows.
        self.windows: ClientWindows | Any = (
            ClientWindows(window_seconds, max_clients, idle_seconds)
            if kernel is None
            else kernel.NativeWindows(window_seconds, max_clients, idle_seconds)
        )

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        # A snapshot taken on the Python path contains a ClientWindows, which moves to the compiled
        # windows when they are loaded. Pickled NativeWindows need no step here (see `restore_windows`).
        kernel = native.windows
        if kernel is not None and isinstance(self.windows, ClientWindows):
            self.windows = kernel.NativeWindows.from_python(self.windows)

    def extract(self, event: AccessEvent) -> tuple[list[float], ClientStats]:
        matrix, stats = self.extract_batch([event])
        return matrix[0].tolist(), stats[0]

    def extract_batch(self, events: list[AccessEvent]) -> tuple[np.ndarray, list[ClientStats]]:
        """Return the feature matrix (rows in MODEL_FEATURES order) and window stats of `events`.

        The per-event features are computed once per distinct status, method, target and user
        agent, then gathered into NumPy columns. With the compiled windows, one C loop writes them
        row by row from the same cached values. Only the window update runs once per event. The
        rows are the same as `event_features` gives.
        """
        n = len(events)
        matrix = np.empty((n, len(MODEL_FEATURES)), dtype=np.float64)
        if n == 0:
            return matrix, []
        width = len(ClientStats._fields)
        windows = self.windows
        if isinstance(windows, ClientWindows):
            columns, codes = _event_columns(events)
            matrix[:, :11] = columns
            flag_sets = _FLAG_SETS
            stats_list = windows.update_batch(
                [event.source_ip or event.source_address for event in events],
                [event.timestamp for event in events],
                [event.url_path for event in events],
                [event.user_name for event in events],
                [flag_sets[code] for code in codes.tolist()],
            )
            raw = np.fromiter(chain.from_iterable(stats_list), dtype=np.float64, count=n * width).reshape(n, width)
        else:
            # One C loop fills the first 11 columns and `raw`, the ClientStats values as floats.
            raw = np.empty((n, width), dtype=np.float64)
            batch = events if type(events) is list else list(events)
            stats_list = windows.extract_batch(batch, _kernel_signals(windows), matrix, raw)
        _window_columns(matrix, raw)
        return matrix, stats_list


def _window_columns(matrix: np.ndarray, raw: np.ndarray) -> None:
    """Write the scaled window features (columns 11-17) from `raw`, the ClientStats values of each row.

    Both engines run this same NumPy code: `np.log1p` may use SIMD code that rounds differently
    from `math.log1p`, so computing these columns in C would not give the same bits.
    """
    # rate, 4xx, 5xx, distinct paths, not found, failed logins, distinct users
    matrix[:, 11] = np.minimum(np.log1p(raw[:, 1]) / _LOG_RATE, 1.0)
    matrix[:, 12] = raw[:, 2]
    matrix[:, 13] = raw[:, 3]
    matrix[:, 14] = np.minimum(np.log1p(raw[:, 4]) / _LOG_PATHS, 1.0)
    matrix[:, 15] = np.minimum(np.log1p(raw[:, 6]) / _LOG_100, 1.0)
    matrix[:, 16] = np.minimum(np.log1p(raw[:, 5]) / _LOG_100, 1.0)
    matrix[:, 17] = np.minimum(np.log1p(raw[:, 7]) / _LOG_USERS, 1.0)


# Bits of the per-event flag code. `_FLAG_SETS[code]` is the tuple of window counter slots that the code sets.
_BIT_SLOTS = (C4XX, NOT_FOUND, C5XX, FAILED_LOGIN, INJECTION, PROBE, HANDSHAKE)
_FLAG_SETS = [
    tuple(slot for bit, slot in enumerate(_BIT_SLOTS) if code >> bit & 1) for code in range(1 << len(_BIT_SLOTS))
]
_BIT_4XX, _BIT_NOT_FOUND, _BIT_5XX, _BIT_FAILED, _BIT_INJECTION, _BIT_PROBE, _BIT_HANDSHAKE = (
    1 << bit for bit in range(len(_BIT_SLOTS))
)


def _status_signals(status: int | None) -> tuple[float, int, float, float]:
    """Return the status class feature, its flag bits, whether it is ≥ 400, and whether it is 403."""
    if status is None:
        return 1.0, 0, 0.0, 0.0
    bits = 0
    if 400 <= status < 500:
        bits = _BIT_4XX | (_BIT_NOT_FOUND if status == 404 else 0)
    elif status >= 500:
        bits = _BIT_5XX
    failed = _BIT_FAILED if status == 401 else 0
    return _STATUS_CLASS.get(status // 100, 1.0), bits | failed, float(status >= 400), float(status == 403)


def _method_signals(method: str | None) -> tuple[float, float]:
    """Return the method level feature and whether the method is POST."""
    return _METHOD_LEVEL.get(method or "", 1.0), float(method == "POST")


def _target_signals(target: tuple[str | None, str | None]) -> tuple[float, ...]:
    """Return `target_signals` of a (path, query) pair, then whether the path is login-like."""
    path, query = target
    return (*target_signals(path or "", query or ""), _is_login_path(path))


def _agent_signals(agent: str | None) -> tuple[float, float, int]:
    """Return the user-agent kind and, for a scanner, the injection strength and hits in the user agent."""
    kind = user_agent_kind(agent)
    if kind == UA_SCANNER and agent:
        strength, hits = injection_signal(agent)
        return kind, strength, hits
    return kind, 0.0, 0


_STATUS_ROWS = RowCache(_status_signals, 4, 1024)  # type: ignore[arg-type]
_METHOD_ROWS = RowCache(_method_signals, 2, 1024)  # type: ignore[arg-type]
_TARGET_ROWS = RowCache(_target_signals, 8, 16_384)  # type: ignore[arg-type]
_AGENT_ROWS = RowCache(_agent_signals, 3, 8192)  # type: ignore[arg-type]


def _event_columns(events: list[AccessEvent]) -> tuple[np.ndarray, np.ndarray]:
    """Return the first 11 feature columns of `events` and each event's flag code (see `_FLAG_SETS`)."""
    n = len(events)
    out = np.empty((n, 11), dtype=np.float64)

    status_table = _STATUS_ROWS.gather([event.http_response_status_code for event in events])
    out[:, 0] = status_table[:, 0]
    codes = status_table[:, 1].astype(np.int64)

    method_table = _METHOD_ROWS.gather([event.http_request_method for event in events])
    out[:, 1] = method_table[:, 0]

    targets = list(zip([event.url_path for event in events], [event.url_query for event in events], strict=True))
    target_table = _TARGET_ROWS.gather(targets)  # type: ignore[arg-type]
    out[:, 2:6] = target_table[:, :4]

    agent_table = _AGENT_ROWS.gather([event.user_agent_original for event in events])
    out[:, 7] = agent_table[:, 0]
    injection = target_table[:, 4]
    scanner = agent_table[:, 0] == UA_SCANNER
    out[:, 8] = np.where(scanner, np.minimum(injection + agent_table[:, 1], 1.0), injection)
    hits = target_table[:, 5] + agent_table[:, 2]
    out[:, 9] = target_table[:, 6]

    log1p, log_bytes = math.log1p, _LOG_BYTES
    out[:, 6] = [min(log1p(size) / log_bytes, 1.0) if size else 0.0 for size in
                 [event.http_response_body_bytes for event in events]]
    out[:, 10] = [
        1.0 if tags and (TAG_HANDSHAKE in tags or TAG_MALFORMED_REQUEST in tags) else 0.0
        for tags in [event.tags for event in events]
    ]

    # A failed login: a 401 (already in the status bits), or a 4xx/5xx on a login-like path that is a 403 or a POST.
    failed = (status_table[:, 2] > 0) & (target_table[:, 7] > 0) & ((status_table[:, 3] > 0) | (method_table[:, 1] > 0))
    codes |= np.where(failed, _BIT_FAILED, 0)
    codes |= np.where(hits > 0, _BIT_INJECTION, 0)
    codes |= np.where(out[:, 9] > 0, _BIT_PROBE, 0)
    codes |= np.where(out[:, 10] > 0, _BIT_HANDSHAKE, 0)
    return out, codes


_native_signals: Any = None


def _kernel_signals(windows: Any) -> Any:
    """Return the compiled module's cache of per-event signals, built on first use from the helpers above."""
    global _native_signals
    if _native_signals is None:
        kernel = importlib.import_module(type(windows).__module__)
        _native_signals = kernel.EventSignals(
            status=_status_signals,
            method=_method_signals,
            target=_target_signals,
            agent=_agent_signals,
            bit_slots=_BIT_SLOTS,
            log_bytes=_LOG_BYTES,
            scanner_kind=UA_SCANNER,
            handshake_tag=TAG_HANDSHAKE,
            malformed_tag=TAG_MALFORMED_REQUEST,
        )
    return _native_signals


@lru_cache(maxsize=65_536)
def _is_login_path(path: str | None) -> bool:
    return path is not None and LOGIN_PATH.search(path) is not None
