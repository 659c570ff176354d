"""The compiled windows (stream/native/_windows.pyx) against the pure-Python path of FeatureExtractor.

Whatever the event stream and however it is split into batches, both engines must give the same
feature matrix bit for bit and the same ClientStats, values and types. They must also track the same
clients in the same LRU order and count the same evictions. A snapshot taken with one engine must
load into the other and carry on where it stopped.
"""

from __future__ import annotations

import gc
import pickle
import tracemalloc
from itertools import accumulate
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from data.generate import generate
from stream import native
from stream.events import TAG_HANDSHAKE, TAG_MALFORMED_REQUEST, AccessEvent
from stream.features import FeatureExtractor, event_features
from stream.parsers.batch import parse_batch
from stream.windows import N_BUCKETS, ClientWindows

KERNEL: Any = native.windows  # the module itself, which some tests replace in stream.native
pytestmark = pytest.mark.skipif(
    KERNEL is None, reason="stream.native._windows is not built (scripts/bootstrap) or CENTINELA_NATIVE=0"
)

T0 = 1_796_378_400.0  # 2026-12-04 10:00:00 UTC
NO_USERS = [0] * N_BUCKETS


def python_extractor(window_seconds: float, max_clients: int, idle_seconds: float) -> FeatureExtractor:
    extractor = FeatureExtractor(window_seconds, max_clients, idle_seconds)
    extractor.windows = ClientWindows(window_seconds, max_clients, idle_seconds)
    return extractor


def native_extractor(window_seconds: float, max_clients: int, idle_seconds: float) -> FeatureExtractor:
    extractor = FeatureExtractor(window_seconds, max_clients, idle_seconds)
    assert isinstance(extractor.windows, KERNEL.NativeWindows)
    return extractor


def assert_same_batch(
    native_result: tuple[np.ndarray, list], python_result: tuple[np.ndarray, list]
) -> None:
    native_matrix, native_stats = native_result
    python_matrix, python_stats = python_result
    assert np.array_equal(native_matrix, python_matrix)
    # Bit for bit: -0.0 against 0.0 or a NaN payload would pass np.array_equal or fail it wrongly.
    assert native_matrix.view(np.uint64).tolist() == python_matrix.view(np.uint64).tolist()
    assert native_stats == python_stats
    assert [[type(value) for value in stats] for stats in native_stats] == [
        [type(value) for value in stats] for stats in python_stats
    ]


def assert_same_clients(native_windows: Any, python_windows: ClientWindows) -> None:
    assert list(native_windows.clients) == list(python_windows.clients)
    assert native_windows.evicted == python_windows.evicted
    assert len(native_windows) == len(python_windows)
    for client, expected in python_windows.clients.items():
        window = native_windows.get(client)
        assert (window.head, window.oldest, window.last_seen) == (expected.head, expected.oldest, expected.last_seen)
        assert window.counts == expected.counts
        assert window.paths == expected.paths
        # No user bitmaps (None) and all-zero ones mean the same; a snapshot keeps only the bits.
        assert (window.users or NO_USERS) == (expected.users or NO_USERS)
        assert window.path_union == expected.path_union
        assert window.user_union == expected.user_union


# Random streams: a few clients (an IP with an empty source_ip among them, so the address is used),
# and time steps that stay, creep forward, jump past the window, and go back less or more than it.
CLIENTS = [
    ("203.0.113.5", "203.0.113.5"),
    ("203.0.113.6", "203.0.113.6"),
    ("2001:db8::1", "2001:db8::1"),
    ("host.example", None),
    ("crawler.example", None),
    ("198.51.100.7", ""),
]
time_steps = st.one_of(
    st.just(0.0),
    st.floats(min_value=0.0, max_value=3.0),
    st.floats(min_value=5.0, max_value=40.0),
    st.floats(min_value=60.0, max_value=2000.0),
    st.floats(min_value=-50.0, max_value=0.0),
    st.floats(min_value=-3000.0, max_value=-61.0),
)
paths = st.one_of(
    st.none(),
    st.sampled_from([
        "/", "", "/login", "/wp-login.php", "/api/v1/auth/login", "/account/login", "/.env", "/.git/config",
        "/producto/7", "/../../etc/passwd", "/buscar",
    ]),
    st.integers(0, 400).map(lambda i: f"/p/{i}"),  # enough distinct paths to fill a 256-bit bitmap
    st.text(max_size=30),
)
queries = st.one_of(
    st.none(),
    st.sampled_from(["", "q=zapatos", "id=1' OR '1'='1", "x=${jndi:ldap://a}", "q=<script>alert(1)</script>"]),
    st.text(max_size=30),
)
agents = st.one_of(
    st.none(),
    st.sampled_from([
        "Mozilla/5.0 (X11; Linux x86_64) Firefox/133.0", "sqlmap/1.8#stable", "Nikto ${jndi:ldap://x} <script>",
        "curl/8.5.0", "Googlebot/2.1", "masscan/1.3", "",
    ]),
    st.text(max_size=20),
)
event_fields = st.fixed_dictionaries({
    "client": st.sampled_from(CLIENTS),
    "step": time_steps,
    "whole_second": st.booleans(),  # an int timestamp, as a JSON log may give
    "http_request_method": st.none() | st.sampled_from(["GET", "POST", "HEAD", "PUT", "DELETE", "PROPFIND", ""]),
    "url_path": paths,
    "url_query": queries,
    "http_response_status_code": st.none()
    | st.sampled_from([200, 301, 304, 400, 401, 403, 404, 429, 500, 502, 503])
    | st.integers(0, 999),
    "http_response_body_bytes": st.none() | st.just(0) | st.integers(1, 10**13),
    "user_agent_original": agents,
    "user_name": st.none() | st.sampled_from(["ana", "luis", "admin", ""]) | st.integers(0, 100).map(str),
    "tags": st.sampled_from(
        [(), (TAG_HANDSHAKE,), (TAG_MALFORMED_REQUEST,), ("forwarded",), ("forwarded", TAG_HANDSHAKE)]
    ),
    # Login attempts are rare among independent draws, so some events are replaced by one: it sets
    # the method, the path and the status together.
    "login_attempt": st.none()
    | st.tuples(
        st.sampled_from(["POST", "GET", None]),
        st.sampled_from(["/login", "/wp-login.php", "/api/v1/auth/login", "/account/login", "/cart"]),
        st.sampled_from([200, 302, 400, 401, 403, 404, 422, 500, None]),
    ),
})
DRAWN_ONLY = ("client", "step", "whole_second", "login_attempt")


def build_events(drawn: list[dict]) -> list[AccessEvent]:
    events = []
    for fields, timestamp in zip(drawn, accumulate((item["step"] for item in drawn), initial=T0), strict=False):
        address, ip = fields["client"]
        event = AccessEvent(
            timestamp=int(timestamp) if fields["whole_second"] else timestamp,
            source_address=address,
            source_ip=ip,
            **{name: value for name, value in fields.items() if name not in DRAWN_ONLY},
        )
        if fields["login_attempt"] is not None:
            event.http_request_method, event.url_path, event.http_response_status_code = fields["login_attempt"]
        events.append(event)
    return events


def split(events: list[AccessEvent], sizes: list[int]) -> list[list[AccessEvent]]:
    batches, start = [], 0
    for size in [*sizes, len(events)]:
        if start >= len(events):
            break
        batches.append(events[start : start + size])
        start += size
    return batches


engine_settings = st.tuples(
    st.sampled_from([60.0, 30.0, 6.0]),  # window_seconds
    st.integers(1, 4),  # max_clients
    st.sampled_from([5.0, 30.0, 900.0]),  # idle_seconds
)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(event_fields, min_size=1, max_size=120),
    st.lists(st.integers(1, 40), max_size=8),
    engine_settings,
)
def test_random_streams_match_python(drawn: list[dict], sizes: list[int], config: tuple[float, int, float]) -> None:
    compiled, reference = native_extractor(*config), python_extractor(*config)
    for batch in split(build_events(drawn), sizes):
        assert_same_batch(compiled.extract_batch(batch), reference.extract_batch(batch))
        assert_same_clients(compiled.windows, reference.windows)


@settings(max_examples=200, deadline=None)
@given(st.lists(event_fields, min_size=1, max_size=80), engine_settings)
def test_update_matches_python(drawn: list[dict], config: tuple[float, int, float]) -> None:
    events = build_events(drawn)
    arguments = [
        (event.client, event.timestamp, event.url_path, event.user_name, event_features(event)[1]) for event in events
    ]
    compiled, reference = KERNEL.NativeWindows(*config), ClientWindows(*config)
    for call in arguments:
        assert compiled.update(*call) == reference.update(*call)
    assert_same_clients(compiled, reference)

    compiled, reference = KERNEL.NativeWindows(*config), ClientWindows(*config)
    columns = [list(column) for column in zip(*arguments, strict=True)]
    assert compiled.update_batch(*columns) == reference.update_batch(*columns)
    assert_same_clients(compiled, reference)


def test_bucket_follows_python_floor_division() -> None:
    # 33.9 / 0.3 rounds up to 113.0, but Python's 33.9 // 0.3 is 112.0: the windows use the latter.
    compiled, reference = KERNEL.NativeWindows(1.8, 10, 900), ClientWindows(1.8, 10, 900)
    for windows in (compiled, reference):
        windows.update("203.0.113.5", 33.9, "/", None, ())
    expected = reference.get("203.0.113.5")
    assert expected is not None
    assert compiled.get("203.0.113.5").head == expected.head == int(33.9 // 0.3)


def test_update_rejects_counter_out_of_range() -> None:
    windows = KERNEL.NativeWindows(60, 10, 900)
    with pytest.raises(IndexError, match="counter slot 8"):
        windows.update("203.0.113.5", T0, "/", None, (8,))


def test_generated_traffic_matches_python() -> None:
    lines = [record.line for record in generate(events=20_000, seed=11)]
    compiled, reference = native_extractor(60, 50, 120), python_extractor(60, 50, 120)
    for start in range(0, len(lines), 700):
        batch = parse_batch(lines[start : start + 700]).events
        assert_same_batch(compiled.extract_batch(batch), reference.extract_batch(batch))
    assert_same_clients(compiled.windows, reference.windows)
    assert compiled.windows.evicted > 0


def test_saturated_path_bitmap_matches_python() -> None:
    # One client requests 2,000 distinct paths, more than a 256-bit bitmap can distinguish.
    events = [
        AccessEvent(timestamp=T0 + i * 0.01, source_address="203.0.113.5", source_ip="203.0.113.5",
                    url_path=f"/item/{i}", http_response_status_code=200, user_name=f"user{i % 300}")
        for i in range(2000)
    ]
    compiled, reference = native_extractor(60, 10, 900), python_extractor(60, 10, 900)
    assert_same_batch(compiled.extract_batch(events), reference.extract_batch(events))
    assert_same_clients(compiled.windows, reference.windows)


# Snapshots


def traffic_batches() -> list[list[AccessEvent]]:
    """Return generated traffic, in batches of 250, with user names on some events."""
    lines = [record.line for record in generate(events=4000, seed=3)]
    events = parse_batch(lines).events
    for i, event in enumerate(events[::7]):
        event.user_name = f"user{i % 40}"
    return [events[start : start + 250] for start in range(0, len(events), 250)]


def run(extractor: FeatureExtractor, batches: list[list[AccessEvent]]) -> list[tuple[np.ndarray, list]]:
    return [extractor.extract_batch(batch) for batch in batches]


@pytest.mark.parametrize("source", ["native", "python"])
def test_snapshot_restores_into_native(source: str) -> None:
    batches = traffic_batches()
    first, rest = batches[:8], batches[8:]
    reference = python_extractor(60, 40, 120)
    run(reference, first)
    original = (native_extractor if source == "native" else python_extractor)(60, 40, 120)
    run(original, first)

    restored = pickle.loads(pickle.dumps(original))

    assert isinstance(restored.windows, KERNEL.NativeWindows)
    assert_same_clients(restored.windows, reference.windows)
    for native_result, python_result in zip(run(restored, rest), run(reference, rest), strict=True):
        assert_same_batch(native_result, python_result)


def test_native_snapshot_restores_without_native(monkeypatch: pytest.MonkeyPatch) -> None:
    batches = traffic_batches()
    first, rest = batches[:8], batches[8:]
    original = native_extractor(60, 40, 120)
    run(original, first)
    snapshot = pickle.dumps(original)

    monkeypatch.setattr(native, "windows", None)
    restored = pickle.loads(snapshot)

    assert type(restored.windows) is ClientWindows
    assert_same_clients(original.windows, restored.windows)
    for native_result, python_result in zip(run(original, rest), run(restored, rest), strict=True):
        assert_same_batch(native_result, python_result)


def test_window_state_rejects_mismatched_arrays() -> None:
    windows = KERNEL.NativeWindows(60, 10, 900)
    windows.update("203.0.113.5", T0, "/", "ana", ())
    state = windows.to_state()
    state["counts"] = state["counts"][:-1]
    with pytest.raises(ValueError, match="counts has 55 items, expected 56"):
        KERNEL.NativeWindows.from_state(state)
    with pytest.raises(ValueError, match="counts has 55 items, expected 56"):
        ClientWindows.from_state(state)


# Memory


def test_memory_per_tracked_client_stays_under_1kib() -> None:
    def batch(first: int) -> list[AccessEvent]:
        # One new client per event; every other one sends a user name, so half carry user bitmaps. Few
        # distinct paths and user names, so the per-value caches do not grow while measuring.
        return [
            AccessEvent(
                timestamp=T0 + i * 0.001,
                source_address=f"10.1.{i // 256}.{i % 256}",
                source_ip=f"10.1.{i // 256}.{i % 256}",
                http_request_method="GET",
                url_path=f"/producto/{i % 50}",
                http_response_status_code=200,
                user_name=f"user{i % 20}" if i % 2 else None,
            )
            for i in range(first, first + 1000)
        ]

    extractor = native_extractor(60, 100_000, 900)
    extractor.extract_batch(batch(1_000_000))  # fill the per-value caches before measuring
    tracked_before = len(extractor.windows)
    gc.collect()
    tracemalloc.start()
    try:
        before, _ = tracemalloc.get_traced_memory()
        # The events are built inside the traced region and dropped, so the client strings the
        # windows keep are counted, as they would be in the service.
        for first in range(0, 20_000, 1000):
            extractor.extract_batch(batch(first))
        gc.collect()
        after, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    tracked = len(extractor.windows) - tracked_before
    assert tracked == 20_000
    per_client = (after - before) / tracked
    print(f"compiled windows: {per_client:.0f} bytes per tracked client (tracemalloc)")
    assert per_client < 1024
