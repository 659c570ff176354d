"""Helpers for the Redis tests: a private redis-server, worker and API subprocesses on loopback."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

ROOT = Path(__file__).resolve().parent.parent
REDIS_SERVER = shutil.which("redis-server") or shutil.which("redis-server", path="/usr/bin:/usr/sbin")

# Small model and quick failover, so a test run stays well under two minutes.
FAST_ENV = {
    "CENTINELA_HST_WINDOW": "250",
    "CENTINELA_HST_TREES": "10",
    "CENTINELA_HISTORY_MAX_EVENTS": "5000",
    "CENTINELA_REFERENCE_SIZE": "1000",
    "CENTINELA_PARTITIONS": "4",
    "CENTINELA_LEASE_TTL_SECONDS": "2",
    "CENTINELA_PARTITION_SNAPSHOT_SECONDS": "1",
    "CENTINELA_REPLY_TIMEOUT_SECONDS": "60",
    "CENTINELA_RATE_LIMIT_PER_SECOND": "10000",
    "CENTINELA_RATE_LIMIT_BURST": "10000",
    "CENTINELA_LOG_LEVEL": "INFO",
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_redis(directory: Path) -> Iterator[str]:
    """Run a private redis-server on a free loopback port and yield its URL; skip when the binary is absent."""
    if REDIS_SERVER is None:
        pytest.skip("redis-server is not installed (apt-get install redis-server); the Redis tests need it")
    port = free_port()
    command = [REDIS_SERVER, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
               "--dir", str(directory)]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"redis://127.0.0.1:{port}/0"
    client = redis.Redis.from_url(url)
    try:
        wait_until(lambda: _pings(client), 10, "redis-server did not answer PING")
        yield url
    finally:
        client.close()
        process.terminate()
        process.wait(10)


def _pings(client: redis.Redis) -> bool:
    try:
        return bool(client.ping())
    except redis.ConnectionError:
        return False


def wait_until(condition: object, timeout: float, message: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return
        time.sleep(0.05)
    raise AssertionError(f"{message} within {timeout} s")


class Cluster:
    """Worker and API subprocesses sharing one Redis and one state directory."""

    def __init__(self, redis_url: str, state_dir: Path, logs: Path) -> None:
        self.redis_url = redis_url
        self.logs = logs
        self.env = {**os.environ, **FAST_ENV, "CENTINELA_STATE_DIR": str(state_dir), "PYTHONPATH": str(ROOT)}
        self.processes: list[subprocess.Popen[bytes]] = []

    def _spawn(self, name: str, command: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        log = open(self.logs / f"{name}.log", "wb")
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        self.processes.append(process)
        return process

    def worker(self, name: str, *options: str) -> subprocess.Popen[bytes]:
        command = [sys.executable, "-m", "agents.worker", "--redis-url", self.redis_url, "--name", name, *options]
        return self._spawn(name, command, self.env)

    def api(self, name: str = "api") -> str:
        port = free_port()
        env = {**self.env, "CENTINELA_REDIS_URL": self.redis_url}
        self._spawn(name, [sys.executable, "-m", "api", "--port", str(port)], env)
        return f"http://127.0.0.1:{port}"

    def log(self, name: str) -> str:
        return (self.logs / f"{name}.log").read_text(errors="replace")

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()


# Tests

pytestmark = pytest.mark.redis

# Every scenario but anomalous_behaviour, which reads the per-partition detectors (see docs/scaling.md).
NAMED_SCENARIOS = frozenset(
    {"brute_force", "credential_stuffing", "scanning", "injection_attempt", "flood", "scraping"}
)
BATCH = 250


@pytest.fixture
def redis_url(tmp_path: Path) -> Iterator[str]:
    yield from start_redis(tmp_path)


@pytest.fixture
def cluster(redis_url: str, tmp_path: Path) -> Iterator[Cluster]:
    logs = tmp_path / "logs"
    logs.mkdir()
    running = Cluster(redis_url, tmp_path / "state", logs)
    try:
        yield running
    finally:
        running.stop()


def attack_mix() -> list[str]:
    from data.generate import generate

    return [record.line for record in generate(events=6000, seed=11, attack_rate=0.15)]


def single_process_actions(lines: list[str], state_dir: Path) -> set[tuple[str, str]]:
    """Run the same batches through the in-process runtime and return the (client, scenario) pairs acted on."""
    import asyncio

    from agents.runtime import Runtime
    from config.settings import Settings

    env = {key.removeprefix("CENTINELA_").lower(): value for key, value in FAST_ENV.items()}
    settings = Settings(state_dir=state_dir, **{k: env[k] for k in ("hst_window", "hst_trees", "history_max_events",
                                                                    "reference_size")})

    async def run() -> set[tuple[str, str]]:
        runtime = Runtime(settings)
        await runtime.start()
        acted: set[tuple[str, str]] = set()
        try:
            for start in range(0, len(lines), BATCH):
                verdict = await runtime.analyze(lines[start : start + BATCH])
                acted |= {(decision.value, decision.scenario) for decision in verdict.decisions}
        finally:
            await runtime.stop()
        return acted

    return asyncio.run(run())


def leases_held(url: str, partitions: int) -> bool:
    client = redis.Redis.from_url(url)
    try:
        return all(client.exists(f"centinela:lease:{p}") for p in range(partitions))
    finally:
        client.close()


def kill_while_unacked(
    url: str, partitions: list[int], worker: subprocess.Popen[bytes], until_done: Any
) -> bool:
    """SIGKILL `worker` at a moment it has a read, unacknowledged entry of `partitions`.

    Processing a chunk lasts milliseconds, so the worker is frozen (SIGSTOP) before its pending
    entries are read; killed when some are pending, else thawed and tried again while
    `until_done()` is false. Returns True once the worker is killed.
    """
    client = redis.Redis.from_url(url)
    try:
        while not until_done():
            worker.send_signal(signal.SIGSTOP)
            pipe = client.pipeline(transaction=False)
            for partition in partitions:
                pipe.xpending(f"centinela:events:{partition}", "workers")
            if any(summary["pending"] for summary in pipe.execute()):
                worker.send_signal(signal.SIGKILL)
                return True
            worker.send_signal(signal.SIGCONT)
            time.sleep(0.001)
        return False
    finally:
        client.close()


def wait_ready(http: httpx.Client, base: str) -> None:
    def ready() -> bool:
        try:
            return http.get(f"{base}/health").json().get("warm") is True
        except httpx.HTTPError:
            return False

    wait_until(ready, 60, f"API at {base} did not report warm")


def test_cluster_kill_worker_loses_no_event(cluster: Cluster, tmp_path: Path) -> None:
    lines = attack_mix()
    expected = single_process_actions(lines, tmp_path / "single")

    first = cluster.worker("worker-a", "--partitions", "0,1")
    cluster.worker("worker-b", "--partitions", "2,3")
    wait_until(lambda: leases_held(cluster.redis_url, 4), 60, "workers did not take partitions 0-3")
    cluster.worker("worker-standby", "--standby")
    apis = [cluster.api("api-a"), cluster.api("api-b")]

    acted: set[tuple[str, str]] = set()
    with httpx.Client(timeout=90) as http, ThreadPoolExecutor(1) as pool:
        for base in apis:
            wait_ready(http, base)
        killed = False
        for number, start in enumerate(range(0, len(lines), BATCH)):
            batch = lines[start : start + BATCH]
            if number >= 8 and not killed:
                # Kill the owner of partitions 0 and 1 while it has read a chunk and not yet acked it.
                sent = pool.submit(http.post, f"{apis[number % 2]}/analyze", json={"logs": batch})
                killed = kill_while_unacked(cluster.redis_url, [0, 1], first, sent.done)
                response = sent.result()
            else:
                response = http.post(f"{apis[number % 2]}/analyze", json={"logs": batch})
            assert response.status_code == 200, response.text
            body = response.json()
            assert body["received"] == len(batch)
            assert body["parsed"] + body["rejected"] == len(batch)
            assert sorted(event["line"] for event in body["events"]) == sorted(
                {event["line"] for event in body["events"]}
            )
            assert all(event["score"] is not None for event in body["events"])
            acted |= {(action["value"], action["scenario"]) for action in body["actions"]}

        listed = [http.get(f"{base}/decisions", params={"active": False, "limit": 10000}).json() for base in apis]

    assert killed, "the worker never held an unacknowledged chunk while batches were sent"

    client = redis.Redis.from_url(cluster.redis_url)
    pending = [client.xpending(f"centinela:events:{p}", "workers")["pending"] for p in range(4)]
    client.close()
    assert pending == [0, 0, 0, 0]
    standby_log = cluster.log("worker-standby")
    assert "took partition 0" in standby_log
    assert "took partition 1" in standby_log
    claimed = [int(count) for count in re.findall(r"(\d+) pending entries claimed", standby_log)]
    assert sum(claimed) >= 1, standby_log

    assert [item["id"] for item in listed[0]] == [item["id"] for item in listed[1]]
    stored = {(item["value"], item["scenario"]) for item in listed[0]}
    # /analyze shows the strongest decision per client, and a batch the killed worker had decided
    # but not replied to comes back without its decisions, so the store is the reference.
    assert acted <= stored
    ours = {pair for pair in stored if pair[1] in NAMED_SCENARIOS}
    theirs = {pair for pair in expected if pair[1] in NAMED_SCENARIOS}
    assert theirs
    assert ours == theirs


def test_cluster_lift_seen_by_other_replica(cluster: Cluster) -> None:
    cluster.worker("worker-all", "--partitions", "0,1,2,3")
    apis = [cluster.api("api-a"), cluster.api("api-b")]
    lines = attack_mix()[:3000]
    with httpx.Client(timeout=90) as http:
        for base in apis:
            wait_ready(http, base)
        for start in range(0, len(lines), 1000):
            assert http.post(f"{apis[0]}/analyze", json={"logs": lines[start : start + 1000]}).status_code == 200
        decisions = http.get(f"{apis[1]}/decisions", params={"active": False}).json()
        assert decisions
        victim = decisions[0]["id"]
        assert http.delete(f"{apis[1]}/decisions/{victim}").status_code == 200
        assert http.get(f"{apis[0]}/decisions/{victim}").status_code == 404


def test_analyze_without_owner_returns_504(redis_url: str, tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from agents.redis_bus import partition_of
    from api.app import create_app
    from config.settings import Settings

    settings = Settings(redis_url=redis_url, state_dir=tmp_path, reply_timeout_seconds=1.0, partitions=4)
    line = '203.0.113.9 - - [04/Dec/2026:10:15:32 +0000] "GET / HTTP/1.1" 200 512 "-" "curl/8.5.0"'
    with TestClient(create_app(settings)) as http:
        response = http.post("/analyze", json={"logs": [line]})
    assert response.status_code == 504
    detail = response.json()["detail"]
    assert f"partitions {partition_of('203.0.113.9', 4)} " in detail
    assert "1 events unanswered" in detail


def in_process_worker(redis_url: str, state_dir: Path, partitions: int) -> Any:
    """A Worker on `redis_url` owning every partition, driven by the test instead of its loop."""
    from agents.worker import Worker
    from config.settings import Settings

    env = {key.removeprefix("CENTINELA_").lower(): value for key, value in FAST_ENV.items()}
    model = {key: env[key] for key in ("hst_window", "hst_trees", "history_max_events", "reference_size")}
    settings = Settings(redis_url=redis_url, state_dir=state_dir, partitions=partitions, **model)
    worker = Worker(settings, list(range(partitions)), standby=False, name="worker-test")
    for partition in range(partitions):
        worker._take(partition)
    return worker


def append_batch(redis_url: str, lines: list[str], partitions: int, reply_to: str) -> dict[int, list[int]]:
    """Parse `lines` and append them as the API does; return the event indices by partition."""
    import asyncio

    import redis.asyncio as aioredis

    from agents.redis_bus import Keys, RedisBus, split_by_partition
    from stream.parsers import parse_batch

    events = parse_batch(lines).events
    groups = split_by_partition(events, partitions)

    async def send() -> None:
        bus = RedisBus(aioredis.Redis.from_url(redis_url), Keys(), partitions, 1000)
        try:
            await bus.append_batch(events, groups, "batch-1", reply_to)
        finally:
            await bus.close()

    asyncio.run(send())
    return groups


def read_and_handle(worker: Any) -> None:
    streams = {worker.keys.events(p): ">" for p in worker.owned}
    answer = worker.client.xreadgroup("workers", worker.name, streams, count=100)
    for stream, entries in answer:
        partition = int(stream.decode().rsplit(":", 1)[1])
        worker._handle(partition, [(entry_id.decode(), fields) for entry_id, fields in entries])


def test_worker_replies_once_per_chunk(redis_url: str, tmp_path: Path) -> None:
    import orjson

    worker = in_process_worker(redis_url, tmp_path, partitions=2)
    lines = attack_mix()[:400]
    groups = append_batch(redis_url, lines, 2, "centinela:replies:test")
    read_and_handle(worker)

    client = redis.Redis.from_url(redis_url)
    events = [client.xrange(f"centinela:events:{p}") for p in range(2)]
    replies = client.xrange("centinela:replies:test")
    pending = [client.xpending(f"centinela:events:{p}", "workers")["pending"] for p in range(2)]
    client.close()
    worker.client.close()

    assert [len(entries) for entries in events] == [1 if groups.get(p) else 0 for p in range(2)]
    assert len(replies) == len(groups)
    assert pending == [0, 0]
    for _, fields in replies:
        partition = int(fields[b"p"])
        body = orjson.loads(fields[b"d"])
        assert fields[b"b"] == b"batch-1"
        assert [row[0] for row in body["results"]] == groups[partition]
        assert all(row[1] is not None for row in body["results"])


def test_worker_acks_malformed_chunk(redis_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    worker = in_process_worker(redis_url, tmp_path, partitions=1)
    client = redis.Redis.from_url(redis_url)
    bad = client.xadd("centinela:events:0", {"b": "batch-0", "r": "centinela:replies:test", "e": "[[0, {"})
    append_batch(redis_url, attack_mix()[:50], 1, "centinela:replies:test")
    read_and_handle(worker)

    pending = client.xpending("centinela:events:0", "workers")["pending"]
    replies = client.xrange("centinela:replies:test")
    client.close()
    worker.client.close()

    assert pending == 0
    assert [fields[b"b"] for _, fields in replies] == [b"batch-1"]
    assert f"invalid entry {bad.decode()}" in caplog.text
