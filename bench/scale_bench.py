"""Throughput of the scaled path (API runtime → Redis Streams → workers) against the in-process runtime.

Run from the project root with `python -m bench.scale_bench [--events 30000] [--batch 1000]`.
It needs the `redis-server` binary: the script starts a private one on a free
loopback port, then worker subprocesses (`python -m agents.worker`), and sends
the same generated attack mix, batch after batch, through:

1. the in-process `Runtime`;
2. a `RedisRuntime` with one worker owning every partition;
3. a `RedisRuntime` with two workers splitting the partitions.

Batches are sent one at a time, as one API replica serving one client does,
so the figures measure latency-bound throughput; several concurrent clients
or replicas would load two workers more evenly.
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


async def measure(runtime: Runtime | RedisRuntime, lines: list[str], batch: int) -> float:
    """Send `lines` in batches through `runtime` and return events per second."""
    await runtime.start()
    try:
        await runtime.analyze(lines[:batch])  # first batch warms connections and caches
        started = time.perf_counter()
        events = 0
        for start in range(0, len(lines), batch):
            verdict = await runtime.analyze(lines[start : start + batch])
            events += len(verdict.scored)
        return events / (time.perf_counter() - started)
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
    client = redis.Redis.from_url(url)
    deadline = time.monotonic() + 120
    while not all(client.exists(f"centinela:partition:{p}") for p in range(PARTITIONS)):
        if time.monotonic() > deadline:
            raise SystemExit("workers did not take every partition within 120 s")
        time.sleep(0.1)
    client.close()
    return workers


def scaled(url: str, base: Path, groups: list[str], lines: list[str], batch: int) -> float:
    redis.Redis.from_url(url).flushdb()
    state = base / f"state-{len(groups)}"
    workers = start_workers(url, state, groups)
    try:
        settings = Settings(redis_url=url, state_dir=state, partitions=PARTITIONS, **MODEL)
        return asyncio.run(measure(RedisRuntime(settings), lines, batch))
    finally:
        for worker in workers:
            worker.terminate()
            worker.wait(30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=30_000, help="log lines to send (default %(default)s)")
    parser.add_argument("--batch", type=int, default=1_000, help="lines per /analyze batch (default %(default)s)")
    args = parser.parse_args()
    server = shutil.which("redis-server")
    if server is None:
        raise SystemExit("redis-server not found: install it (apt-get install redis-server) to run this benchmark")

    lines = [record.line for record in generate(events=args.events, seed=5, attack_rate=0.1)]
    with tempfile.TemporaryDirectory() as folder:
        base = Path(folder)
        port = free_port()
        command = [server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                   "--dir", folder]
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL)
        url = f"redis://127.0.0.1:{port}/0"
        time.sleep(0.5)
        try:
            single = asyncio.run(measure(Runtime(Settings(state_dir=base / "single", **MODEL)), lines, args.batch))
            one = scaled(url, base, ["0,1,2,3"], lines, args.batch)
            two = scaled(url, base, ["0,1", "2,3"], lines, args.batch)
        finally:
            process.terminate()
            process.wait(10)

    print(f"{args.events} events, batches of {args.batch}, {PARTITIONS} partitions, {os.cpu_count()} CPUs")
    print(f"{'path':<28} {'events/s':>10} {'vs in-process':>14}")
    for name, rate in (("in-process Runtime", single), ("Redis, 1 worker", one), ("Redis, 2 workers", two)):
        print(f"{name:<28} {rate:>10,.0f} {rate / single:>13.2f}x")


if __name__ == "__main__":
    main()
