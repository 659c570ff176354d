"""Throughput, latency and memory of the whole pipeline, side by side, in one run.

Run from the project root: `python -m bench.pipeline_bench [--quick]`.

Every path gets the same generated mix (`data.generate.generate(events=N, seed=7)`):

(a) parse and features as Centinela does them, then River's `HalfSpaceTrees.score_one` and
    `learn_one` on one dict per event, then the decision agent's `observe_batch`;
(b) Centinela's in-process batch pipeline: the ingestion agent (parse, features, FastHST score then
    learn, calibration) and the decision agent's `observe_batch`, batches of `--batch` lines; when
    the compiled modules (stream/native) are built, (b) runs twice, with and without them;
(c) `POST /analyze` over HTTP on loopback: `python -m api` runs as a subprocess and
    `--http-clients` httpx clients send batches of `--batch` lines at once;
(d) the `/ws/stream` websocket, with `--batch` items per message.

(a) and (b) run `--repeat` times on fresh agents and the median run is shown, because on a shared
machine one run can be 10 % off. Separate passes of (b), with and without the compiled modules,
time its stages apart (parse, features and windows, FastHST, the rest of scoring, decisions; the
median of `--repeat` passes). Then the latency of a 1-event websocket message sent at a paced
1,000 messages/s, the latency of one `--batch`-line `/analyze`
request, and memory: bytes per tracked client (tracemalloc delta
after `--memory-clients` distinct addresses) and the RSS while `--flood-addresses` distinct
addresses pass through.

Before (a) and (b), the warm objects are moved out of the garbage collector's generations with
`gc.freeze()`, as `Runtime.start` does in the service (`--no-gc-freeze` leaves them in).

The machine may be shared, so in-process rates are given from this process's CPU time (the
one-core figure) and from wall time. Server rates use the server process's CPU time (from
/proc) and wall time; the load generator runs on the same machine and competes for the cores.
The server runs open on loopback with its rate limits raised, because the limits protect a
service from one client and this client is the benchmark.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import logging
import os
import platform
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import orjson
from rich.console import Console
from rich.table import Table
from websockets.asyncio.client import connect

from agents.decision import DecisionAgent
from agents.decisions_store import DecisionStore
from agents.gc_pause import paused_gc
from agents.ingestion import IngestionAgent, RawBatch
from agents.policy import load_policy
from config.settings import Settings
from data.generate import generate
from stream import native
from stream.detector import _RiverEngine
from stream.warmstart import load_snapshot, warm_detector

ROOT = Path(__file__).resolve().parent.parent
SEED = 7
PACED_RATE = 1_000  # single-event websocket messages per second in the latency run
CLIENT_LINE = (
    '{ip} - - [{time}] "GET /producto/{item} HTTP/1.1" 200 5120 "-" '
    '"Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"'
)
# Limits that would throttle the benchmark's own client; raised for the server it starts.
OPEN_LIMITS = {
    "CENTINELA_RATE_LIMIT_PER_SECOND": "1000000000",
    "CENTINELA_RATE_LIMIT_BURST": "1000000000",
    "CENTINELA_WEBSOCKET_MESSAGES_PER_SECOND": "1000000000",
    "CENTINELA_WEBSOCKET_BURST": "1000000000",
}

console = Console(width=None if sys.stdout.isatty() else 120)


@dataclass(slots=True)
class Rate:
    """Events handled and the CPU and wall seconds they took."""

    events: int
    cpu: float
    wall: float
    note: str = ""

    @property
    def per_cpu_second(self) -> float:
        return self.events / self.cpu if self.cpu > 0 else float("nan")

    @property
    def per_wall_second(self) -> float:
        return self.events / self.wall if self.wall > 0 else float("nan")


@dataclass(slots=True)
class Results:
    rates: dict[str, Rate] = field(default_factory=dict)
    latency: dict[str, list[float]] = field(default_factory=dict)
    memory: list[tuple[str, str]] = field(default_factory=list)
    checks: list[str] = field(default_factory=list)
    # Every run of a repeated in-process path; `rates` contains the median one.
    spread: dict[str, list[Rate]] = field(default_factory=dict)
    # CPU seconds per event of each stage of (b), by engine ("native", "python")
    stages: dict[str, dict[str, float]] = field(default_factory=dict)


# In-process pipelines (a) and (b)


def make_agents(settings: Settings, river: bool) -> tuple[IngestionAgent, DecisionAgent]:
    """Return an ingestion and a decision agent on a fresh copy of the warm snapshot in `settings.state_dir`."""
    detector = warm_detector(settings, load_snapshot(settings))
    if river:
        # The reference path: River's own score_one and learn_one on one dict per event.
        detector._engine = _RiverEngine(detector.model, detector.features)
    decision = DecisionAgent(load_policy(settings.policy_path), DecisionStore(), settings)
    return IngestionAgent(settings, detector), decision


def run_pipeline(
    ingestion: IngestionAgent, decision: DecisionAgent, lines: list[str], batch: int, freeze: bool = True
) -> tuple[Rate, list[float | None], int]:
    """Parse, score and decide on `lines` in batches; return the rate, the scores and the decision count."""
    scores: list[float | None] = []
    decisions = 0
    observe_batch = decision.observe_batch
    if freeze:
        # As `Runtime.start` does: the warm model's objects leave the collector's generations.
        gc.collect()
        gc.freeze()
    cpu, wall = time.process_time(), time.perf_counter()
    for start in range(0, len(lines), batch):
        scored = ingestion.process(RawBatch(f"b{start}", lines[start : start + batch], first_line=start + 1))
        decisions += len(observe_batch(scored.scored))
        scores.extend(event.score for event in scored.scored)
    rate = Rate(len(scores), time.process_time() - cpu, time.perf_counter() - wall)
    return rate, scores, decisions


def run_repeated(
    settings: Settings, lines: list[str], batch: int, freeze: bool, repeat: int, river: bool = False
) -> tuple[Rate, list[float | None], int, list[Rate]]:
    """Run the pipeline `repeat` times on fresh agents; return the median run, its scores and decisions, and all rates.

    Every run starts from the same snapshot, so every run must give the same scores and decisions.
    Raise RuntimeError when one does not, because its rate would not measure the same work.
    """
    runs = [run_pipeline(*make_agents(settings, river=river), lines, batch, freeze) for _ in range(repeat)]
    first_scores, first_decisions = runs[0][1], runs[0][2]
    if any(scores != first_scores or decisions != first_decisions for _, scores, decisions in runs):
        raise RuntimeError("repeated runs from the same snapshot gave different scores or decisions")
    ordered = sorted(runs, key=lambda run: run[0].per_cpu_second)
    median = ordered[len(ordered) // 2]
    return median[0], first_scores, first_decisions, [run[0] for run in runs]


def bench_in_process(
    settings: Settings, lines: list[str], batch: int, freeze: bool, repeat: int, results: Results
) -> None:
    river_rate, river_scores, river_decisions, river_runs = run_repeated(
        settings, lines, batch, freeze, repeat, river=True
    )
    results.rates["(a) River one event at a time"] = river_rate
    results.spread["(a) River one event at a time"] = river_runs
    fast_rate, fast_scores, fast_decisions, fast_runs = run_repeated(settings, lines, batch, freeze, repeat)
    fast_name = f"(b) Centinela in-process batches ({native.engine()})"
    results.rates[fast_name] = fast_rate
    results.spread[fast_name] = fast_runs
    same = river_scores == fast_scores and river_decisions == fast_decisions
    results.checks.append(
        f"(a) and (b) give {'identical' if same else 'DIFFERENT'} scores and decision counts "
        f"({fast_decisions} decisions on {len(fast_scores)} events)"
    )
    results.stages[native.engine()] = median_stages(settings, lines, batch, repeat)
    if native.engine() == "native":
        with native.disabled():
            results.stages["python"] = median_stages(settings, lines, batch, repeat)
            # The same batches without the compiled modules, to show what they contribute.
            python_rate, python_scores, python_decisions, python_runs = run_repeated(
                settings, lines, batch, freeze, repeat
            )
        results.rates["(b) Centinela in-process batches (python)"] = python_rate
        results.spread["(b) Centinela in-process batches (python)"] = python_runs
        same = python_scores == fast_scores and python_decisions == fast_decisions
        results.checks.append(
            f"(b) native and (b) python give {'identical' if same else 'DIFFERENT'} scores and decision counts"
        )


def median_stages(settings: Settings, lines: list[str], batch: int, repeat: int) -> dict[str, float]:
    """Return the median over `repeat` passes of each stage's CPU seconds per event."""
    passes = [time_stages(settings, lines, batch) for _ in range(repeat)]
    return {stage: statistics.median(timings[stage] for timings in passes) for stage in passes[0]}


def time_stages(settings: Settings, lines: list[str], batch: int) -> dict[str, float]:
    """Return CPU seconds per event of each stage of (b), from a separate run with the stages timed apart."""
    ingestion, decision = make_agents(settings, river=False)
    extractor, detector = ingestion.extractor, ingestion.detector
    spent = {"parse": 0.0, "features and windows": 0.0, "score and learn (FastHST)": 0.0,
             "scored events, calibration": 0.0, "decisions": 0.0}
    clock = time.process_time
    extract, score_learn = extractor.extract_batch, detector.score_learn

    def timed_extract(events: list[Any]) -> Any:
        started = clock()
        result = extract(events)
        spent["features and windows"] += clock() - started
        return result

    def timed_score_learn(rows: Any) -> Any:
        started = clock()
        result = score_learn(rows)
        spent["score and learn (FastHST)"] += clock() - started
        return result

    # Instance attributes shadow the methods for this run only; these agents are thrown away after.
    extractor.extract_batch = timed_extract  # type: ignore[method-assign]
    detector.score_learn = timed_score_learn  # type: ignore[method-assign]
    gc.collect()
    gc.freeze()
    scoring = 0.0
    for start in range(0, len(lines), batch):
        # The collector pauses per batch, as in `IngestionAgent.process` and `DecisionAgent.observe_batch`.
        with paused_gc():
            started = clock()
            parsed = ingestion.parse(RawBatch(f"s{start}", lines[start : start + batch], first_line=start + 1))
            middle = clock()
            scored = ingestion.score(parsed.events)
            end = clock()
        decision.observe_batch(scored)
        spent["parse"] += middle - started
        scoring += end - middle
        spent["decisions"] += clock() - end
    spent["scored events, calibration"] = scoring - spent["features and windows"] - spent["score and learn (FastHST)"]
    return {stage: seconds / len(lines) for stage, seconds in spent.items()}


# The service over loopback: (c), (d) and latencies


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def process_cpu_seconds(pid: int) -> float:
    """Return user plus system CPU seconds of process `pid`, from /proc/<pid>/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def process_memory(pid: int | str, key: str) -> int:
    """Return a /proc/<pid>/status memory field (VmRSS, VmHWM) in bytes."""
    for row in Path(f"/proc/{pid}/status").read_text().splitlines():
        if row.startswith(key + ":"):
            return int(row.split()[1]) * 1024
    raise KeyError(key)


@contextlib.contextmanager
def running_server(state_dir: Path) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """Start `python -m api` on a free loopback port; yield its base URL and process, stop it after."""
    port = free_port()
    env = {key: value for key, value in os.environ.items() if not key.startswith("CENTINELA_")}
    env.update(OPEN_LIMITS)
    env.update({
        "PYTHONPATH": str(ROOT),
        "CENTINELA_HOST": "127.0.0.1",
        "CENTINELA_PORT": str(port),
        "CENTINELA_STATE_DIR": str(state_dir),
        "CENTINELA_LOG_LEVEL": "ERROR",
        "CENTINELA_SNAPSHOT_INTERVAL_SECONDS": "0",
    })
    server = subprocess.Popen([sys.executable, "-m", "api"], cwd=ROOT, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(url, server)
        yield url, server
    finally:
        server.terminate()
        try:
            server.wait(60)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def wait_ready(url: str, server: subprocess.Popen[bytes], timeout: float = 180.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"the server exited with code {server.returncode} before it was ready")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url + "/health", timeout=2).status_code == 200:
                return
        time.sleep(0.2)
    raise SystemExit(f"the server at {url} was not ready within {timeout:.0f} s")


def batches_of(lines: list[str], size: int) -> list[list[str]]:
    return [lines[start : start + size] for start in range(0, len(lines), size)]


async def post_batch(client: httpx.AsyncClient, url: str, batch: list[str]) -> int:
    response = await client.post(
        url + "/analyze", content=orjson.dumps({"logs": batch}), headers={"content-type": "application/json"}
    )
    if response.status_code != 200:
        raise SystemExit(f"/analyze returned {response.status_code}: {response.text[:300]}")
    return int(orjson.loads(response.content)["parsed"])


async def analyze_throughput(url: str, batches: list[list[str]], clients: int) -> int:
    """Send every batch to /analyze from `clients` concurrent clients; return the events parsed."""
    pending = iter(batches)
    parsed = 0

    async def worker() -> None:
        nonlocal parsed
        async with httpx.AsyncClient(timeout=120) as client:
            for batch in pending:
                count = await post_batch(client, url, batch)
                parsed += count  # after the await, so no other worker's addition is lost

    await asyncio.gather(*(worker() for _ in range(clients)))
    return parsed


async def analyze_latency(url: str, batches: list[list[str]], requests: int) -> list[float]:
    """Return the seconds each of `requests` sequential /analyze requests took."""
    seconds = []
    async with httpx.AsyncClient(timeout=120) as client:
        await post_batch(client, url, batches[0])  # opens the connection
        for index in range(requests):
            started = time.perf_counter()
            await post_batch(client, url, batches[index % len(batches)])
            seconds.append(time.perf_counter() - started)
    return seconds


def ws_url(url: str) -> str:
    return "ws" + url.removeprefix("http") + "/ws/stream"


async def stream_throughput(url: str, batches: list[list[str]]) -> int:
    """Send every batch as one /ws/stream message and wait for a reply per item; return the results."""
    expected = sum(len(batch) for batch in batches)
    results = 0
    async with connect(ws_url(url), max_size=None) as websocket:

        async def send_all() -> None:
            line = 1
            for batch in batches:
                items = [{"seq": line + offset, "line": text} for offset, text in enumerate(batch)]
                line += len(batch)
                await websocket.send(orjson.dumps({"items": items}).decode())

        sender = asyncio.create_task(send_all())
        replies = 0
        while replies < expected:
            message = orjson.loads(await websocket.recv())
            if message["type"] in ("result", "error", "header"):
                replies += 1
                results += message["type"] == "result"
        await sender
    return results


async def stream_latency(url: str, lines: list[str], messages: int) -> list[float]:
    """Send `messages` 1-event messages at PACED_RATE per second; return each send-to-result time."""
    sent: dict[int, float] = {}
    seconds: list[float] = []
    async with connect(ws_url(url), max_size=None) as websocket:

        async def send_paced() -> None:
            start = time.perf_counter()
            for seq in range(messages):
                delay = start + seq / PACED_RATE - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                sent[seq] = time.perf_counter()
                await websocket.send(orjson.dumps({"seq": seq, "line": lines[seq % len(lines)]}).decode())

        sender = asyncio.create_task(send_paced())
        while len(seconds) < messages:
            message = orjson.loads(await websocket.recv())
            if message["type"] in ("result", "error"):
                seconds.append(time.perf_counter() - sent[message["seq"]])
        await sender
    return seconds


def bench_server(state_dir: Path, lines: list[str], args: argparse.Namespace, results: Results) -> None:
    batches = batches_of(lines, args.batch)
    with running_server(state_dir) as (url, server):
        asyncio.run(analyze_throughput(url, batches[:2], 1))  # first requests load code and caches

        cpu, wall = process_cpu_seconds(server.pid), time.perf_counter()
        parsed = asyncio.run(analyze_throughput(url, batches, args.http_clients))
        results.rates[f"(c) /analyze over HTTP, {args.http_clients} clients"] = Rate(
            parsed, process_cpu_seconds(server.pid) - cpu, time.perf_counter() - wall, "server CPU"
        )

        cpu, wall = process_cpu_seconds(server.pid), time.perf_counter()
        streamed = asyncio.run(stream_throughput(url, batches))
        results.rates[f"(d) /ws/stream, {args.batch} items a message"] = Rate(
            streamed, process_cpu_seconds(server.pid) - cpu, time.perf_counter() - wall, "server CPU"
        )

        results.latency[f"/ws/stream 1-event message at {PACED_RATE}/s"] = asyncio.run(
            stream_latency(url, lines, args.latency_messages)
        )
        results.latency[f"/analyze {args.batch}-line batch"] = asyncio.run(
            analyze_latency(url, batches, args.latency_requests)
        )
        results.memory.append(("server peak RSS (VmHWM)", mebibytes(process_memory(server.pid, "VmHWM"))))


# Memory per client and under a flood of addresses


def client_lines(count: int, first: int = 0) -> Iterator[str]:
    """Yield one line per distinct IPv4 client in 10.0.0.0/8, 1,000 lines per second of log time.

    At that rate 100,000 clients arrive within 100 s, well inside the default idle time (900 s),
    so none of them is dropped for idleness before it is counted.
    """
    start = datetime(2024, 3, 11, 3, 0, tzinfo=UTC).timestamp()
    for index in range(first, first + count):
        moment = datetime.fromtimestamp(start + index // 1000, UTC).strftime("%d/%b/%Y:%H:%M:%S +0000")
        ip = f"10.{index >> 16 & 255}.{index >> 8 & 255}.{index & 255}"
        yield CLIENT_LINE.format(ip=ip, time=moment, item=index % 500)


# Source file of each traced allocation → its part: per-client state, or caches bounded in size.
MEMORY_PARTS = {
    "stream/windows.py": "per-client windows (ingestion agent)",
    # The compiled windows and the feature caches are allocated while stream/features.py runs.
    "stream/features.py": "per-client windows (ingestion agent)",
    "agents/": "per-client state of the decision agent",
    "stream/parsers/": "parser caches (bounded, 65,536 entries each)",
    "ipaddress.py": "parser caches (bounded, 65,536 entries each)",
}
OTHER_PART = "other"


def memory_part(filename: str) -> str:
    for marker, part in MEMORY_PARTS.items():
        if marker in filename:
            return part
    return OTHER_PART


def feed(ingestion: IngestionAgent, decision: DecisionAgent, lines: list[str], batch: int) -> None:
    observe = decision.observe
    for start in range(0, len(lines), batch):
        for event in ingestion.process(RawBatch("m", lines[start : start + batch])).scored:
            observe(event)


def bench_memory(settings: Settings, args: argparse.Namespace, results: Results) -> None:
    ingestion, decision = make_agents(settings, river=False)
    lines = list(client_lines(args.memory_clients))
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    feed(ingestion, decision, lines, args.batch)
    gc.collect()
    grown = tracemalloc.take_snapshot().compare_to(before, "filename")
    tracemalloc.stop()
    tracked = len(ingestion.extractor.windows)
    parts = dict.fromkeys([*MEMORY_PARTS.values(), OTHER_PART], 0)
    for stat in grown:
        parts[memory_part(stat.traceback[0].filename)] += stat.size_diff
    count = tracked
    results.memory.append((
        f"bytes per tracked client ({tracked:,} of {args.memory_clients:,} distinct clients), tracemalloc delta",
        f"{sum(parts.values()) / count:,.0f} B",
    ))
    for part, size in parts.items():
        results.memory.append((f"  of which {part}", f"{size / count:,.0f} B"))
    del lines, ingestion, decision
    gc.collect()

    ingestion, decision = make_agents(settings, river=False)
    step = 100_000
    samples: list[tuple[int, int]] = [(0, process_memory("self", "VmRSS"))]
    for first in range(0, args.flood_addresses, step):
        feed(ingestion, decision, list(client_lines(min(step, args.flood_addresses - first), first)), args.batch)
        samples.append((first + step, process_memory("self", "VmRSS")))
    tracked = len(ingestion.extractor.windows)
    shown = ", ".join(f"{count // 1000}k: {mebibytes(rss)}" for count, rss in samples[:: max(len(samples) // 5, 1)])
    shown += f"; growth over the last half {mebibytes(samples[-1][1] - samples[len(samples) // 2][1])}"
    results.memory.append((f"RSS as {args.flood_addresses:,} distinct addresses pass ({tracked:,} tracked)", shown))


# Output


def mebibytes(size: float) -> str:
    return f"{size / 2**20:,.0f} MiB"


def percentile(values: list[float], share: float) -> float:
    return statistics.quantiles(values, n=1000, method="inclusive")[round(share * 1000) - 1]


def machine() -> str:
    model = "unknown CPU"
    with contextlib.suppress(OSError):
        for row in Path("/proc/cpuinfo").read_text().splitlines():
            if row.startswith("model name"):
                model = row.split(":", 1)[1].strip()
                break
    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    return (
        f"{model}, {os.cpu_count()} CPUs, Python {platform.python_version()}, engine {native.engine()}, "
        f"load average {load}"
    )


def print_results(results: Results, args: argparse.Namespace) -> None:
    rates = Table(title=f"Throughput, {args.events:,} generated events (seed {SEED})")
    for column in ("path", "events", "events/s (CPU)", "events/s (wall)", "CPU measured"):
        rates.add_column(column, justify="left" if column in ("path", "CPU measured") else "right")
    for name, rate in results.rates.items():
        rates.add_row(
            name, f"{rate.events:,}", f"{rate.per_cpu_second:,.0f}", f"{rate.per_wall_second:,.0f}",
            rate.note or "this process",
        )
    console.print(rates)
    for name, runs in results.spread.items():
        if len(runs) > 1:
            figures = ", ".join(f"{run.per_cpu_second:,.0f}" for run in runs)
            console.print(f"{name}: {len(runs)} runs, {figures} events/s CPU; the median is shown")

    reference = next((rate for name, rate in results.rates.items() if name.startswith("(a)")), None)
    if reference is not None:
        ratios = Table(title="Ratios to (a)")
        for column in ("path", "CPU", "wall"):
            ratios.add_column(column, justify="left" if column == "path" else "right")
        for name, rate in results.rates.items():
            if name[:3] in ("(b)", "(c)", "(d)"):
                ratios.add_row(
                    name,
                    f"{rate.per_cpu_second / reference.per_cpu_second:.1f}x",
                    f"{rate.per_wall_second / reference.per_wall_second:.1f}x",
                )
        console.print(ratios)

    if results.stages:
        stages = Table(title="Where (b) spends its time, µs of CPU per event (separate passes, stages timed apart)")
        stages.add_column("stage")
        for engine in results.stages:
            stages.add_column(engine, justify="right")
        names = list(next(iter(results.stages.values())))
        for name in [*names, "total"]:
            stages.add_row(name, *(
                f"{(sum(per.values()) if name == 'total' else per[name]) * 1e6:.2f}" for per in results.stages.values()
            ))
        console.print(stages)

    if results.latency:
        latency = Table(title="Latency (wall time, client side)")
        for column in ("request", "count", "p50 ms", "p99 ms", "max ms"):
            latency.add_column(column, justify="left" if column == "request" else "right")
        for name, seconds in results.latency.items():
            latency.add_row(
                name, str(len(seconds)), f"{percentile(seconds, 0.5) * 1e3:.2f}",
                f"{percentile(seconds, 0.99) * 1e3:.2f}", f"{max(seconds) * 1e3:.2f}",
            )
        console.print(latency)

    memory = Table(title="Memory")
    memory.add_column("measure")
    memory.add_column("value", justify="right")
    for name, value in results.memory:
        memory.add_row(name, value)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    memory.add_row("benchmark process peak RSS (ru_maxrss)", mebibytes(peak))
    console.print(memory)

    for check in results.checks:
        console.print(check)
    console.print(machine())


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.pipeline_bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a short run with smaller counts")
    parser.add_argument("--events", type=int, help="generated events per path (default 100000, quick 20000)")
    parser.add_argument("--batch", type=int, default=1_000, help="lines per batch, request and message")
    parser.add_argument("--http-clients", type=int, default=4, help="concurrent /analyze clients (default 4)")
    parser.add_argument("--latency-messages", type=int, help="paced 1-event messages (default 5000, quick 1000)")
    parser.add_argument("--latency-requests", type=int, help="sequential /analyze requests (default 50, quick 10)")
    parser.add_argument("--memory-clients", type=int, help="distinct clients for bytes per client (100000)")
    parser.add_argument("--flood-addresses", type=int, help="distinct addresses for the RSS run (1000000)")
    parser.add_argument(
        "--repeat", type=int, help="runs of each in-process path, the median is shown (default 3, quick 1)"
    )
    parser.add_argument("--skip-server", action="store_true", help="measure only the in-process paths")
    parser.add_argument(
        "--no-gc-freeze", action="store_true", help="leave the warm objects in the collector's generations for (a), (b)"
    )
    args = parser.parse_args(argv)
    defaults: dict[str, tuple[int, int]] = {
        "events": (100_000, 20_000),
        "repeat": (3, 1),
        "latency_messages": (5_000, 1_000),
        "latency_requests": (50, 10),
        "memory_clients": (100_000, 20_000),
        "flood_addresses": (1_000_000, 200_000),
    }
    for name, (full, quick) in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, quick if args.quick else full)
    return args


def step(title: str, action: Callable[[], None]) -> None:
    started = time.perf_counter()
    console.print(f"[dim]{title}…[/dim]")
    action()
    console.print(f"[dim]  done in {time.perf_counter() - started:.1f} s[/dim]")


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    logging.basicConfig(level=logging.ERROR)
    console.print(f"[dim]start: {machine()}[/dim]")
    lines = [record.line for record in generate(events=args.events, seed=SEED)]
    results = Results()
    with tempfile.TemporaryDirectory(prefix="centinela-bench-") as folder:
        state_dir = Path(folder) / "state"
        settings = Settings(state_dir=state_dir)
        step("warming the model from the shipped history (snapshot shared by every path)",
             lambda: warm_detector(settings, None))
        freeze = not args.no_gc_freeze
        step("(a) and (b) in process",
             lambda: bench_in_process(settings, lines, args.batch, freeze, args.repeat, results))
        # Objects alive so far (the generated lines) stay out of this process's collections, so
        # a full collection in the load generator does not show up as server latency.
        gc.collect()
        gc.freeze()
        if not args.skip_server:
            server_state = Path(folder) / "server"
            shutil.copytree(state_dir, server_state)
            step("(c), (d) and latencies against python -m api",
                 lambda: bench_server(server_state, lines, args, results))
        step("memory", lambda: bench_memory(settings, args, results))
    print_results(results, args)


if __name__ == "__main__":
    main()
