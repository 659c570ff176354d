"""Site-wide evidence shared between partitions (agents.redis_site), checked against one process."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from agents.redis_bus import partition_of
from tests.test_redis_cluster import (
    append_batch,
    in_process_worker,
    read_and_handle,
    single_process_actions,
    start_redis,
)

pytestmark = pytest.mark.redis

PARTITIONS = 4
START = datetime(2026, 12, 4, 10, 0, tzinfo=UTC)
BROWSER = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/122.0 Safari/537.36"


@pytest.fixture
def redis_url(tmp_path: Path) -> Iterator[str]:
    yield from start_redis(tmp_path)


def line(client: str, second: float, method: str, path: str, status: int, user: str = "-") -> str:
    stamp = (START + timedelta(seconds=second)).strftime("%d/%b/%Y:%H:%M:%S +0000")
    return f'{client} - {user} [{stamp}] "{method} {path} HTTP/1.1" {status} 512 "-" "{BROWSER}"'


def spread_clients(count: int, network: str) -> list[str]:
    """Return `count` addresses, one per /24, dealt evenly over the partitions."""
    by_partition: dict[int, list[str]] = {p: [] for p in range(PARTITIONS)}
    octet = 0
    while sum(len(items) for items in by_partition.values()) < count:
        octet += 1
        client = f"{network}.{octet}.7"
        bucket = by_partition[partition_of(client, PARTITIONS)]
        if len(bucket) < count // PARTITIONS:
            bucket.append(client)
    return [client for items in zip(*by_partition.values(), strict=True) for client in items]


def scaled_actions(redis_url: str, batches: list[list[str]], state_dir: Path) -> set[tuple[str, str]]:
    """Send each batch through a worker owning every partition; return the (value, scenario) pairs stored."""
    worker = in_process_worker(redis_url, state_dir, PARTITIONS)
    try:
        for batch in batches:
            append_batch(redis_url, batch, PARTITIONS, "centinela:replies:site")
            read_and_handle(worker)
        return {(decision.value, decision.scenario) for decision in worker.store}
    finally:
        worker.client.close()


def named(pairs: set[tuple[str, str]]) -> set[tuple[str, str]]:
    return {pair for pair in pairs if pair[1] != "anomalous_behaviour"}


def test_redis_site_stuffing_across_partitions_matches_one_process(redis_url: str, tmp_path: Path) -> None:
    # 12 clients, 3 per partition, each failing 3 logins with 3 user names: 9 per partition, 36 site-wide.
    # One partition alone never reaches the 15 failed logins of the endpoint threshold.
    clients = spread_clients(12, "198.18")
    rounds = [
        [line(client, 12 * turn + index, "POST", "/login", 401, f"user{turn}-{index}@correo.example")
         for index, client in enumerate(clients)]
        for turn in range(3)
    ]
    expected = named(single_process_actions([item for batch in rounds for item in batch], tmp_path / "single"))
    assert {scenario for _, scenario in expected} == {"credential_stuffing"}
    assert {value for value, _ in expected} == set(clients)

    assert named(scaled_actions(redis_url, rounds, tmp_path / "scaled")) == expected


def test_redis_site_flood_baseline_covers_every_partition(redis_url: str, tmp_path: Path) -> None:
    # A busy site: 12 clients in the other partitions browse at 60 requests/min. One client sends
    # 600 requests/min: above the 300/min floor but below 20 times the site median, so no flood.
    # Its own partition contains no other client, so a per-partition median would be unknown
    # and the floor alone would flag it.
    busy = [client for client in spread_clients(16, "198.19") if partition_of(client, PARTITIONS) != 0][:12]
    loud = next(f"198.20.{octet}.9" for octet in range(1, 256) if partition_of(f"198.20.{octet}.9", PARTITIONS) == 0)
    lines = []
    for tick in range(120):  # one request per second from each busy client, for two minutes
        lines += [line(client, tick, "GET", f"/producto/{tick}", 200) for client in busy]
        if tick >= 60:
            lines += [line(loud, tick + step / 10, "GET", "/", 200) for step in range(10)]
    batches = [lines[start : start + 60] for start in range(0, len(lines), 60)]

    expected = named(single_process_actions(lines, tmp_path / "single"))
    assert (loud, "flood") not in expected

    assert named(scaled_actions(redis_url, batches, tmp_path / "scaled")) == expected
