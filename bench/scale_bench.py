"""Throughput of the scaled path (API runtime → Redis Streams → workers) against the in-process runtime.

Run from the project root with
`python -m bench.scale_bench [--events 30000] [--batch 1000] [--senders 4]`.
It needs the `redis-server` binary: the script starts a private one on a free
loopback port, then worker subprocesses (`python -m agents.worker`), and sends
the same generated attack mix through:

1. the in-process `Runtime`;
2. a `RedisRuntime` with one worker owning every partition;
3. a `RedisRuntime` with two workers splitting the partitions.

The lines are split among `--senders` concurrent senders by the first field
of the line (the client address), as separate log shippers would send them,
so each client's lines keep their order. Each sender posts its lines batch
after batch to the same runtime, one API replica in this process. With
several batches in flight the replica parses one batch while the workers
score others, and two workers can score at the same time.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path

import redis

from agents.redis_runtime import RedisRuntime
from agents.runtime import Runtime
from config.settings import Settings
from data.generate import generate

ROOT = Path(__file__).resolve().parent.parent
MODEL = {"hst_window": 250, "hst_trees": 10, "history_max_events": 5000, "reference_size": 1000}
PARTITIONS = 4


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def split_by_client(lines: list[str], senders: int) -> list[list[str]]:
    """Deal `lines` to `senders` lists by crc32 of the first field (the client), keeping their order."""
    out: list[list[str]] = [[] for _ in range(senders)]
    for line in lines:
        client = line.split(" ", 1)[0]
        out[zlib.crc32(client.encode()) % senders].append(line)
    return out


async def send(runtime: Runtime | RedisRuntime, lines: list[str], batch: int) -> int:
    """Post `lines` batch after batch and return how many events were scored."""
    events = 0
    for start in range(0, len(lines), batch):
        verdict = await runtime.analyze(lines[start : start + batch])
        events += len(verdict.scored)
    return events


async def measure(runtime: Runtime | RedisRuntime, streams: list[list[str]], batch: int) -> float:
    """Send every stream concurrently through `runtime` and return events per second."""
    await runtime.start()
    try:
        warm = next(stream for stream in streams if stream)
        await runtime.analyze(warm[:batch])  # the first batch warms connections and caches
        started = time.perf_counter()
        counts = await asyncio.gather(*(send(runtime, stream, batch) for stream in streams))
        return sum(counts) / (time.perf_counter() - started)
    finally:
        await runtime.stop()


def start_workers(url: str, state_dir: Path, groups: list[str]) -> list[subprocess.Popen[bytes]]:
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "CENTINELA_STATE_DIR": str(state_dir),
        "CENTINELA_PARTITIONS": str(PARTITIONS),
        "CENTINELA_LOG_LEVEL": "WARNING",
        **{f"CENTINELA_{key.upper()}": str(value) for key, value in MODEL.items()},
    }
    command = [sys.executable, "-m", "agents.worker", "--redis-url", url, "--partitions"]
    workers = [subprocess.Popen([*command, group], cwd=ROOT, env=env) for group in groups]
    try:
        wait_for_partitions(url, workers)
    except BaseException:
        stop_workers(workers)
        raise
    return workers


def wait_for_partitions(url: str, workers: list[subprocess.Popen[bytes]]) -> None:
    """Wait until every partition has an owner; raise SystemExit when a worker dies or 120 s pass."""
    client = redis.Redis.from_url(url)
    deadline = time.monotonic() + 120
    try:
        while not all(client.exists(f"centinela:partition:{p}") for p in range(PARTITIONS)):
            failed = [worker.returncode for worker in workers if worker.poll() is not None]
            if failed:
                code = failed[0]
                raise SystemExit(f"a worker exited with code {code} before taking its partitions (see its log above)")
            if time.monotonic() > deadline:
                raise SystemExit("workers did not take every partition within 120 s")
            time.sleep(0.1)
    finally:
        client.close()


def stop_workers(workers: list[subprocess.Popen[bytes]]) -> None:
    for worker in workers:
        worker.terminate()
    for worker in workers:
        worker.wait(30)


def scaled(url: str, base: Path, groups: list[str], streams: list[list[str]], batch: int) -> float:
    client = redis.Redis.from_url(url)
    client.flushdb()
    client.close()
    state = base / f"state-{len(groups)}"
    workers = start_workers(url, state, groups)
    try:
        settings = Settings(redis_url=url, state_dir=state, partitions=PARTITIONS, **MODEL)
        return asyncio.run(measure(RedisRuntime(settings), streams, batch))
    finally:
        stop_workers(workers)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=30_000, help="log lines to send (default %(default)s)")
    parser.add_argument("--batch", type=int, default=1_000, help="lines per /analyze batch (default %(default)s)")
    parser.add_argument("--senders", type=int, default=4, help="concurrent senders (default %(default)s)")
    args = parser.parse_args()
    if args.events < 1 or args.batch < 1 or args.senders < 1:
        parser.error("--events, --batch and --senders must be positive integers")
    server = shutil.which("redis-server")
    if server is None:
        raise SystemExit("redis-server not found: install it (apt-get install redis-server) to run this benchmark")

    lines = [record.line for record in generate(events=args.events, seed=5, attack_rate=0.1)]
    streams = split_by_client(lines, args.senders)
    with tempfile.TemporaryDirectory() as folder:
        base = Path(folder)
        port = free_port()
        command = [server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                   "--dir", folder]
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL)
        url = f"redis://127.0.0.1:{port}/0"
        time.sleep(0.5)
        try:
            single = asyncio.run(measure(Runtime(Settings(state_dir=base / "single", **MODEL)), streams, args.batch))
            one = scaled(url, base, ["0,1,2,3"], streams, args.batch)
            two = scaled(url, base, ["0,1", "2,3"], streams, args.batch)
        finally:
            process.terminate()
            process.wait(10)

    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    print(
        f"{args.events} events, batches of {args.batch}, {args.senders} senders, {PARTITIONS} partitions, "
        f"{os.cpu_count()} CPUs, load average {load}"
    )
    print(f"{'path':<28} {'events/s':>10} {'vs in-process':>14} {'overhead':>9}")
    for name, rate in (("in-process Runtime", single), ("Redis, 1 worker", one), ("Redis, 2 workers", two)):
        print(f"{name:<28} {rate:>10,.0f} {rate / single:>13.2f}x {single / rate:>8.2f}x")
    print(f"2 workers vs 1 worker: {two / one:.2f}x")


if __name__ == "__main__":
    main()
