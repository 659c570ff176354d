"""Per-client sliding windows, bounded in memory.

Each client keeps `N_BUCKETS` time buckets covering the window. A bucket contains
counters and two small bitmaps (hashed paths and user names), so the distinct
counts are linear-counting estimates and a client costs about 760 bytes
whatever its rate (tracemalloc, `python -m bench.pipeline_bench`). Clients are
evicted least-recently-seen first when `max_clients` is reached, and dropped
once idle for `idle_seconds` of log time.

stream/native/_windows.pyx is the compiled twin of `ClientWindows`, with the same
results; FeatureExtractor uses it when it is built. `to_state` and
`restore_windows` carry the windows of either engine through a snapshot.
"""

from __future__ import annotations

import math
import zlib
from array import array
from collections import OrderedDict
from functools import lru_cache
from typing import Any

from agents.messages import ClientStats, new_client_stats

N_BUCKETS = 6
PATH_BITS = 256
USER_BITS = 64

# Counter slots inside one bucket.
REQUESTS, C4XX, C5XX, NOT_FOUND, FAILED_LOGIN, PROBE, INJECTION, HANDSHAKE = range(8)
N_COUNTERS = 8
# The running totals follow the buckets in the same array, one allocation per client.
TOTALS = N_BUCKETS * N_COUNTERS


def estimate_distinct(bitmap: int, bits: int) -> int:
    """Linear-counting estimate of how many distinct items set bits in `bitmap`."""
    zeros = bits - bitmap.bit_count()
    if zeros == 0:
        return int(bits * math.log(bits))
    return round(-bits * math.log(zeros / bits))


@lru_cache(maxsize=65_536)
def hash_bit(value: str, bits: int) -> int:
    # crc32 rather than hash(): Python's str hash is salted per process, and
    # estimates must not change across restarts or between replicas.
    return 1 << (zlib.crc32(value.encode("utf-8", "surrogatepass")) % bits)


class _BitCache(dict[str, int]):
    """`hash_bit` results for one bitmap width, bounded: emptied when it reaches `max_size` entries.

    A plain dict lookup costs a fraction of an `lru_cache` call with two arguments, and this runs
    once or twice per event.
    """

    __slots__ = ("bits", "max_size")

    def __init__(self, bits: int, max_size: int = 65_536) -> None:
        super().__init__()
        self.bits = bits
        self.max_size = max_size

    def __missing__(self, value: str) -> int:
        if len(self) >= self.max_size:
            self.clear()
        bit = self[value] = hash_bit(value, self.bits)
        return bit


_PATH_BIT = _BitCache(PATH_BITS)
_USER_BIT = _BitCache(USER_BITS)


_ZERO_BUCKET = array("I", bytes(4 * N_COUNTERS))
_ZERO_COUNTS = array("I", bytes(4 * (TOTALS + N_COUNTERS)))
# Linear-counting estimates by number of set bits, computed once.
_PATH_ESTIMATES = [0] * (PATH_BITS + 1)
_USER_ESTIMATES = [0] * (USER_BITS + 1)


class ClientWindow:
    """One client's buckets plus running totals, so reading the window costs O(1).

    `counts` contains the bucket counters, then the totals from index `TOTALS`. `oldest` is the
    number of the oldest bucket in the window that contains a request, so the span the client was
    active in is read without scanning the buckets. `users` stays None until the client sends
    a user name, which most clients never do.
    """

    __slots__ = ("counts", "head", "last_seen", "oldest", "path_union", "paths", "user_union", "users")

    def __init__(self, head: int, now: float) -> None:
        self.head = head
        self.oldest = head
        self.last_seen = now
        self.counts = array("I", bytes(4 * (TOTALS + N_COUNTERS)))
        self.paths = [0] * N_BUCKETS
        self.users: list[int] | None = None
        self.path_union = 0
        self.user_union = 0

    def __setstate__(self, state: tuple[None, dict[str, object]] | dict[str, object]) -> None:
        slots = dict(state[1] if isinstance(state, tuple) else state)
        totals = slots.pop("totals", None)
        if totals is not None:  # pickled when the totals had an array of their own
            slots["counts"] = slots["counts"] + totals  # type: ignore[operator]
        for name, value in slots.items():
            setattr(self, name, value)
        if not hasattr(self, "oldest"):  # pickled before `oldest` existed
            self.oldest = self.head - max(self.active_buckets() - 1, 0)

    def advance(self, bucket: int) -> int:
        """Move the newest bucket forward to `bucket`, clearing expired ones; return the slot."""
        if bucket - self.head >= N_BUCKETS:
            # Every bucket expired (the usual case for a client back after a pause): start afresh.
            self.counts[:] = _ZERO_COUNTS
            self.paths = [0] * N_BUCKETS
            if self.users is not None:
                self.users = [0] * N_BUCKETS
            self.path_union = self.user_union = 0
            self.head = self.oldest = bucket
            return bucket % N_BUCKETS
        if bucket > self.head:
            steps = bucket - self.head
            counts, users = self.counts, self.users
            for k in range(1, steps + 1):
                slot = (self.head + k) % N_BUCKETS
                base = slot * N_COUNTERS
                for i in range(N_COUNTERS):
                    counts[TOTALS + i] -= counts[base + i]
                counts[base : base + N_COUNTERS] = _ZERO_BUCKET
                self.paths[slot] = 0
                if users is not None:
                    users[slot] = 0
            self.head = bucket
            self.path_union = _union(self.paths)
            if users is not None:
                self.user_union = _union(users)
            if self.oldest <= bucket - N_BUCKETS:
                self.oldest = bucket - max(self.active_buckets() - 1, 0)
        # Out-of-order events older than the window land in the oldest bucket.
        # NOTE: sending the same hour of log twice to one service therefore counts its events
        # twice and inflates rates. Live logs are usually only seconds out of order.
        return max(bucket, self.head - N_BUCKETS + 1) % N_BUCKETS

    def active_buckets(self) -> int:
        """Return how many buckets, counted back from the newest, reach the oldest one holding a request."""
        counts = self.counts
        active = 0
        for age in range(N_BUCKETS):
            slot = (self.head - age) % N_BUCKETS
            if counts[slot * N_COUNTERS + REQUESTS]:
                active = age + 1
        return active

    def distinct_paths(self) -> int:
        return _PATH_ESTIMATES[self.path_union.bit_count()]

    def distinct_users(self) -> int:
        return _USER_ESTIMATES[self.user_union.bit_count()]


def _union(bitmaps: list[int]) -> int:
    union = 0
    for bitmap in bitmaps:
        union |= bitmap
    return union


for _bits, _table in ((PATH_BITS, _PATH_ESTIMATES), (USER_BITS, _USER_ESTIMATES)):
    for _set in range(_bits + 1):
        _table[_set] = estimate_distinct((1 << _set) - 1, _bits)


class ClientWindows:
    """All tracked clients, LRU-bounded, updated with one call per event."""

    def __init__(self, window_seconds: float, max_clients: int, idle_seconds: float) -> None:
        self.bucket_seconds = window_seconds / N_BUCKETS
        self.window_seconds = window_seconds
        self.max_clients = max_clients
        self.idle_seconds = idle_seconds
        self.clients: OrderedDict[str, ClientWindow] = OrderedDict()
        self.evicted = 0

    def __len__(self) -> int:
        return len(self.clients)

    def update(
        self,
        client: str,
        timestamp: float,
        path: str | None,
        user: str | None,
        flags: tuple[int, ...],
    ) -> ClientStats:
        """Add one event (its counter `flags` are slot indexes to increment) and return the window.

        The service calls `update_batch`, an unrolled copy of these steps for speed; this
        one-event form is the reference that the batch path is tested against.
        """
        bucket = int(timestamp // self.bucket_seconds)
        clients = self.clients
        window = clients.get(client)
        if window is None:
            self._make_room(timestamp)
            window = ClientWindow(bucket, timestamp)
            clients[client] = window
        else:
            clients.move_to_end(client)
            if timestamp > window.last_seen:
                window.last_seen = timestamp

        # Same bucket as the last event is the common case; `advance` handles the rest.
        if bucket == window.head:
            slot = bucket % N_BUCKETS
        else:
            slot = window.advance(bucket)
            if bucket < window.oldest:
                window.oldest = max(bucket, window.head - N_BUCKETS + 1)
        base = slot * N_COUNTERS
        counts = window.counts
        counts[base] += 1
        counts[TOTALS + REQUESTS] += 1
        for flag in flags:
            counts[base + flag] += 1
            counts[TOTALS + flag] += 1
        if path is not None:
            bit = _PATH_BIT[path]
            window.paths[slot] |= bit
            window.path_union |= bit
        if user is not None:
            bit = _USER_BIT[user]
            if window.users is None:
                window.users = [0] * N_BUCKETS
            window.users[slot] |= bit
            window.user_union |= bit

        # Rate over the part of the window this client was active in (whole buckets), so a
        # burst of 50 requests in 2 s reads as 300/min rather than 50/min.
        totals = counts[TOTALS:]
        requests = totals[REQUESTS]
        span = (window.head - window.oldest + 1) * self.bucket_seconds
        return new_client_stats((
            requests,
            requests * 60.0 / span,
            totals[C4XX] / requests,
            totals[C5XX] / requests,
            _PATH_ESTIMATES[window.path_union.bit_count()],
            totals[NOT_FOUND],
            totals[FAILED_LOGIN],
            _USER_ESTIMATES[window.user_union.bit_count()],
            totals[PROBE],
            totals[INJECTION],
            totals[HANDSHAKE],
        ))

    def update_batch(
        self,
        clients: list[str],
        timestamps: list[float],
        paths: list[str | None],
        users: list[str | None],
        flag_sets: list[tuple[int, ...]],
    ) -> list[ClientStats]:
        """Apply `update` to each event in order and return the window after each; the same results, one call."""
        bucket_seconds = self.bucket_seconds
        windows = self.clients
        get, move_to_end, make_room = windows.get, windows.move_to_end, self._make_room
        path_bit, user_bit = _PATH_BIT, _USER_BIT
        path_estimates, user_estimates = _PATH_ESTIMATES, _USER_ESTIMATES
        make_stats, stats_type = tuple.__new__, ClientStats
        total_4xx, total_5xx, total_not_found = TOTALS + C4XX, TOTALS + C5XX, TOTALS + NOT_FOUND
        total_failed, total_probe = TOTALS + FAILED_LOGIN, TOTALS + PROBE
        total_injection, total_handshake = TOTALS + INJECTION, TOTALS + HANDSHAKE
        out: list[ClientStats] = []
        append = out.append

        for client, timestamp, path, user, flags in zip(clients, timestamps, paths, users, flag_sets, strict=True):
            bucket = int(timestamp // bucket_seconds)
            window = get(client)
            if window is None:
                make_room(timestamp)
                window = ClientWindow(bucket, timestamp)
                windows[client] = window
            else:
                move_to_end(client)
                if timestamp > window.last_seen:
                    window.last_seen = timestamp

            if bucket == window.head:
                slot = bucket % N_BUCKETS
            else:
                slot = window.advance(bucket)
                if bucket < window.oldest:
                    window.oldest = max(bucket, window.head - N_BUCKETS + 1)
            base = slot * N_COUNTERS
            counts = window.counts
            counts[base] += 1
            counts[TOTALS] += 1
            for flag in flags:
                counts[base + flag] += 1
                counts[TOTALS + flag] += 1

            if path is not None:
                bit = path_bit[path]
                window.paths[slot] |= bit
                window.path_union |= bit
            if user is not None:
                bit = user_bit[user]
                if window.users is None:
                    window.users = [0] * N_BUCKETS
                window.users[slot] |= bit
                window.user_union |= bit

            requests = counts[TOTALS]
            # new_client_stats, inline.
            append(make_stats(stats_type, (
                requests,
                requests * 60.0 / ((window.head - window.oldest + 1) * bucket_seconds),
                counts[total_4xx] / requests,
                counts[total_5xx] / requests,
                path_estimates[window.path_union.bit_count()],
                counts[total_not_found],
                counts[total_failed],
                user_estimates[window.user_union.bit_count()],
                counts[total_probe],
                counts[total_injection],
                counts[total_handshake],
            )))
        return out

    def _make_room(self, now: float) -> None:
        clients = self.clients
        # Idle clients first (log time), then the least recently seen if still full.
        while clients:
            oldest_key = next(iter(clients))
            if now - clients[oldest_key].last_seen <= self.idle_seconds and len(clients) < self.max_clients:
                break
            del clients[oldest_key]
            self.evicted += 1

    def get(self, client: str) -> ClientWindow | None:
        return self.clients.get(client)

    def to_state(self) -> dict[str, Any]:
        """Return the windows as plain values (arrays of machine words) that either engine restores.

        `restore_windows` reads them back; stream.native's `NativeWindows` writes the same format.
        """
        mask = (1 << 64) - 1
        heads, oldest, last_seen = array("q"), array("q"), array("d")
        counts, paths, users = array("I"), array("Q"), array("Q")
        for window in self.clients.values():
            heads.append(window.head)
            oldest.append(window.oldest)
            last_seen.append(window.last_seen)
            counts.extend(window.counts)
            for bitmap in window.paths:
                paths.extend((bitmap >> (64 * word)) & mask for word in range(_PATH_WORDS))
            users.extend(window.users if window.users is not None else _NO_USERS)
        return window_state(self, heads, oldest, last_seen, counts, paths, users)

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> ClientWindows:
        """Return Python windows restored from `to_state` output (of either engine)."""
        check_state(state)
        windows = cls(state["window_seconds"], state["max_clients"], state["idle_seconds"])
        windows.bucket_seconds = state["bucket_seconds"]
        windows.evicted = state["evicted"]
        heads, oldest, last_seen = state["heads"], state["oldest"], state["last_seen"]
        counts, paths, users = state["counts"], state["paths"], state["users"]
        for k, client in enumerate(state["clients"]):
            window = ClientWindow(heads[k], last_seen[k])
            window.oldest = oldest[k]
            window.counts = counts[k * (TOTALS + N_COUNTERS) : (k + 1) * (TOTALS + N_COUNTERS)]
            first = k * N_BUCKETS * _PATH_WORDS
            window.paths = [
                _join_words(paths[first + slot * _PATH_WORDS : first + (slot + 1) * _PATH_WORDS])
                for slot in range(N_BUCKETS)
            ]
            window.path_union = _union(window.paths)
            bucket_users = list(users[k * N_BUCKETS : (k + 1) * N_BUCKETS])
            if any(bucket_users):
                window.users = bucket_users
                window.user_union = _union(bucket_users)
            windows.clients[client] = window
        return windows


# Version of the `to_state` format; bump it when the fields change.
STATE_VERSION = 1
_PATH_WORDS = PATH_BITS // 64
_NO_USERS = [0] * N_BUCKETS


def window_state(
    windows: Any, heads: array, oldest: array, last_seen: array, counts: array, paths: array, users: array
) -> dict[str, Any]:
    """Return the `to_state` dict of `windows` (either engine) around its per-client arrays, in client order."""
    return {
        "version": STATE_VERSION,
        "window_seconds": windows.window_seconds,
        "bucket_seconds": windows.bucket_seconds,
        "max_clients": windows.max_clients,
        "idle_seconds": windows.idle_seconds,
        "evicted": windows.evicted,
        "clients": list(windows.clients),
        "heads": heads,
        "oldest": oldest,
        "last_seen": last_seen,
        "counts": counts,
        "paths": paths,
        "users": users,
    }


def check_state(state: dict[str, Any]) -> None:
    """Raise ValueError unless `state` is `to_state` output of this version with arrays sized for its clients."""
    if state.get("version") != STATE_VERSION:
        raise ValueError(f"unsupported window state version {state.get('version')!r}, expected {STATE_VERSION}")
    n = len(state["clients"])
    sizes = {
        "heads": n,
        "oldest": n,
        "last_seen": n,
        "counts": n * (TOTALS + N_COUNTERS),
        "paths": n * N_BUCKETS * _PATH_WORDS,
        "users": n * N_BUCKETS,
    }
    for name, size in sizes.items():
        if len(state[name]) != size:
            raise ValueError(
                f"invalid window state: {name} has {len(state[name])} items, expected {size} for {n} clients"
            )


def restore_windows(state: dict[str, Any]) -> Any:
    """Rebuild pickled windows with the engine this process runs: compiled when built, Python otherwise.

    Pickles of stream.native's `NativeWindows` call this, so they load where the extension is missing.
    """
    from stream import native  # here, not at the top: stream.native imports this module

    if native.windows is not None:
        return native.windows.NativeWindows.from_state(state)
    return ClientWindows.from_state(state)


def _join_words(words: array) -> int:
    bitmap = 0
    for position, word in enumerate(words):
        bitmap |= word << (64 * position)
    return bitmap
