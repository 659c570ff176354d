"""The Redis decision store behaves like the in-memory one, and shares its state across processes."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from hypothesis import given
from hypothesis import strategies as st

from agents.decisions_store import DecisionStore
from agents.redis_bus import (
    ChunkError,
    Keys,
    decode_chunk,
    decode_decision,
    decode_event,
    encode_chunk,
    encode_decision,
    encode_event,
    partition_of,
    split_by_partition,
)
from agents.redis_decisions import RedisDecisionStore, SharedClock
from stream.events import AccessEvent
from tests.test_decision_store import T0, make_decision
from tests.test_redis_cluster import ROOT, start_redis


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    yield from start_redis(tmp_path_factory.mktemp("redis"))


def redis_store(url: str) -> RedisDecisionStore:
    client = redis.Redis.from_url(url)
    client.flushdb()
    keys = Keys("test")
    return RedisDecisionStore(client, keys, SharedClock(client, keys))


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
def store(request: pytest.FixtureRequest) -> Any:
    if request.param == "memory":
        return DecisionStore(clock=lambda: T0)
    return redis_store(request.getfixturevalue("redis_url"))


def test_store_active_until_expiry(store: Any) -> None:
    decision = make_decision(seconds=3600)
    store.add(decision)
    active = store.active_for(decision.value, "brute_force", T0 + 10)
    assert active is not None
    assert active.id == decision.id
    assert store.active_for(decision.value, "brute_force", T0 + 3600) is None
    assert store.active_for(decision.value, "scanning", T0 + 10) is None


def test_store_find_newest_first_and_filters(store: Any) -> None:
    first = make_decision(value="203.0.113.1", seconds=60)
    second = make_decision(value="203.0.113.2", scenario="scanning")
    store.add(first)
    store.add(second)
    assert [d.id for d in store.find(now=T0 + 1)] == [second.id, first.id]
    assert [d.id for d in store.find(scenario="scanning", now=T0 + 1)] == [second.id]
    assert [d.id for d in store.find(now=T0 + 120)] == [second.id]
    assert [d.id for d in store.find(active=False, now=T0 + 120)] == [second.id, first.id]


def test_store_lift_forgets_offence(store: Any) -> None:
    decision = make_decision()
    assert store.record_offence(decision.value, "brute_force", T0, 86_400) == 1
    store.add(decision)
    lifted = store.lift(decision.id)
    assert lifted is not None
    assert lifted.id == decision.id
    assert store.get(decision.id) is None
    assert store.active_for(decision.value, "brute_force", T0 + 1) is None
    assert store.lift(decision.id) is None
    assert store.record_offence(decision.value, "brute_force", T0 + 10, 86_400) == 1


def test_store_offences_within_memory(store: Any) -> None:
    counts = [store.record_offence("203.0.113.9", "scanning", T0 + step * 100, 250) for step in range(5)]
    assert counts == [1, 2, 3, 3, 3]


def test_store_updated_written_back(store: Any) -> None:
    decision = make_decision(seconds=600)
    store.add(decision)
    active = store.active_for(decision.value, "brute_force", T0 + 1)
    active.until = T0 + 7200
    active.extensions += 1
    store.updated(active, "extended")
    again = store.active_for(decision.value, "brute_force", T0 + 3600)
    assert again is not None
    assert again.extensions == 1


@pytest.mark.redis
def test_redis_store_shared_between_instances(redis_url: str) -> None:
    worker = redis_store(redis_url)
    replica = RedisDecisionStore(redis.Redis.from_url(redis_url), Keys("test"), worker.shared_clock)
    decision = make_decision()
    worker.add(decision)
    assert replica.active_for(decision.value, "brute_force", T0 + 1) is not None
    assert worker.record_offence("203.0.113.9", "flood", T0, 3600) == 1
    assert replica.record_offence("203.0.113.9", "flood", T0 + 60, 3600) == 2
    assert replica.lift(decision.id) is not None
    assert worker.get(decision.id) is None


@pytest.mark.redis
def test_shared_clock_follows_latest_log_time(redis_url: str) -> None:
    store = redis_store(redis_url)
    clock = store.shared_clock
    clock.observe(T0)
    clock.observe(T0 - 3600)
    assert T0 <= clock.now() < T0 + 5


@pytest.mark.redis
def test_read_cache_keeps_own_writes(redis_url: str) -> None:
    store = redis_store(redis_url)
    decision = make_decision()
    with store.read_cache():
        assert store.active_for(decision.value, "brute_force", T0 + 1) is None
        store.add(decision)
        active = store.active_for(decision.value, "brute_force", T0 + 1)
        assert active is not None
        assert active.id == decision.id
        active.until = T0 + 7200
        store.updated(active, "extended")
        assert store.active_for(decision.value, "brute_force", T0 + 3700) is not None
        store.lift(decision.id)
        assert store.active_for(decision.value, "brute_force", T0 + 1) is None


@pytest.mark.redis
def test_read_cache_sees_other_writes_next_block(redis_url: str) -> None:
    worker = redis_store(redis_url)
    replica = RedisDecisionStore(redis.Redis.from_url(redis_url), Keys("test"), worker.shared_clock)
    decision = make_decision(value="198.51.100.0/24", scope="range")
    with worker.read_cache():
        assert worker.active_for(decision.value, "brute_force", T0 + 1) is None
        replica.add(decision)
        # Read once per block: the other process's write counts as arriving after this block.
        assert worker.active_for(decision.value, "brute_force", T0 + 1) is None
    with worker.read_cache():
        assert worker.active_for(decision.value, "brute_force", T0 + 1) is not None
    replica.lift(decision.id)
    assert worker.active_for(decision.value, "brute_force", T0 + 1) is None


def test_decision_codec_round_trip() -> None:
    decision = make_decision(score=0.997)
    assert decode_decision(encode_decision(decision)) == decision


text = st.text(max_size=40) | st.none()

events = st.builds(
    AccessEvent,
    timestamp=st.floats(min_value=0, max_value=4e9),
    source_address=st.text(min_size=1, max_size=40),
    url_path=text,
    user_agent_original=text,
    http_response_status_code=st.integers(100, 599) | st.none(),
    tags=st.lists(st.sampled_from(["handshake", "forwarded", "empty_request"]), max_size=3).map(tuple),
)


@given(events)
def test_event_codec_round_trip(event: AccessEvent) -> None:
    assert decode_event(encode_event(event)) == event


@given(st.lists(st.tuples(st.integers(0, 100_000), events), max_size=20))
def test_chunk_codec_round_trip(pairs: list[tuple[int, AccessEvent]]) -> None:
    fields = {b"b": b"replica:1", b"r": b"centinela:replies:replica", b"e": encode_chunk(pairs)}
    assert decode_chunk("1-0", fields) == pairs


def test_chunk_decode_reads_one_event_entries() -> None:
    event = AccessEvent(timestamp=T0, source_address="203.0.113.9", url_path="/login")
    fields = {b"e": encode_event(event), b"i": b"7", b"b": b"replica:1", b"r": b"centinela:replies:replica"}
    assert decode_chunk("5-0", fields) == [(7, event)]


@pytest.mark.parametrize(
    "fields",
    [
        {b"e": b"[[0, {\"timestamp\": 1.0"},
        {b"e": b"[[0, {\"timestamp\": 1.0, \"colour\": \"red\"}]]"},
        {b"e": b"[[\"zero\"]]"},
        {b"b": b"replica:1"},
    ],
)
def test_chunk_decode_malformed_names_entry(fields: dict[bytes, bytes]) -> None:
    with pytest.raises(ChunkError) as error:
        decode_chunk("1700000000000-3", fields)
    assert "invalid entry 1700000000000-3" in str(error.value)
    assert "expected field e holding [[index, event fields], ...]" in str(error.value)


@given(st.lists(st.text(min_size=1, max_size=20), max_size=60), st.integers(1, 16))
def test_split_by_partition_keeps_batch_order(clients: list[str], partitions: int) -> None:
    batch = [AccessEvent(timestamp=T0 + i, source_address=client) for i, client in enumerate(clients)]
    groups = split_by_partition(batch, partitions)
    assert sorted(index for indices in groups.values() for index in indices) == list(range(len(batch)))
    for partition, indices in groups.items():
        assert indices == sorted(indices)
        assert all(partition_of(batch[index].client, partitions) == partition for index in indices)


def test_partition_same_in_every_process() -> None:
    clients = ["203.0.113.9", "2001:db8::7", "tienda.example", "198.51.100.23"]
    expected = [partition_of(client, 8) for client in clients]
    code = f"from agents.redis_bus import partition_of; print([partition_of(c, 8) for c in {clients!r}])"
    for seed in ("1", "2"):
        result = subprocess.run(
            [sys.executable, "-c", code],
            cwd=ROOT,
            env={"PYTHONHASHSEED": seed, "PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
            capture_output=True,
            text=True,
            check=True,
        )
        assert result.stdout.strip() == str(expected)


@given(st.text(max_size=60), st.integers(1, 64))
def test_partition_in_range(client: str, partitions: int) -> None:
    assert 0 <= partition_of(client, partitions) < partitions

