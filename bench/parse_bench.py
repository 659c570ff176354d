"""Parse throughput per log format, on generated lines.

Run from the project root: `python -m bench.parse_bench [--lines N] [--repeat R]`.
Prints lines per second for each format, from this process's CPU time (the
one-core figure) and from wall time; the best of R runs is reported. The
combined and common rows are then measured again with the compiled line parser
(stream/native) on and off, in the same run, with the ratio of the two.
"""

from __future__ import annotations

import argparse
import random
import time
from collections.abc import Callable
from contextlib import nullcontext

import orjson

from agents.gc_pause import paused_gc
from stream import native
from stream.events import AccessEvent
from stream.parsers import format_combined, parse_batch

PATHS = ("/", "/index.html", "/cart/add", "/api/v1/products", "/static/app.js", "/login", "/search")
AGENTS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148",
    "curl/8.5.0",
)
START = 1_714_550_400.0  # 2024-05-01T08:00:00Z


def make_events(count: int, seed: int = 7) -> list[AccessEvent]:
    """Return `count` plausible events: 2,000 clients, a few requests per second."""
    rng = random.Random(seed)
    events = []
    for index in range(count):
        events.append(
            AccessEvent(
                timestamp=START + index // 4,
                source_address=f"198.51.{rng.randrange(8)}.{rng.randrange(250)}",
                http_request_method=rng.choice(("GET", "GET", "GET", "POST")),
                url_path=rng.choice(PATHS),
                url_query=rng.choice((None, None, f"id={rng.randrange(10_000)}")),
                http_version="1.1",
                http_response_status_code=rng.choice((200, 200, 200, 304, 404)),
                http_response_body_bytes=rng.randrange(100_000),
                http_request_referrer=rng.choice((None, "https://shop.example/")),
                user_agent_original=rng.choice(AGENTS),
            )
        )
    return events


def _request_target(event: AccessEvent) -> str:
    return (event.url_path or "/") + ("" if event.url_query is None else "?" + event.url_query)


def ecs_dotted(event: AccessEvent) -> str:
    return orjson.dumps({**event.to_ecs(), "url.original": _request_target(event)}).decode()


def ecs_nested(event: AccessEvent) -> str:
    record: dict = {}
    for name, value in event.to_ecs().items():
        node = record
        *parents, leaf = name.split(".") if name != "@timestamp" else [name]
        for parent in parents:
            node = node.setdefault(parent, {})
        node[leaf] = value
    return orjson.dumps(record).decode()


def common(event: AccessEvent) -> str:
    return format_combined(event).rsplit(' "', 2)[0]


CSV_HEADER = "time,remote_addr,method,url,status,bytes,http_referer,http_user_agent"


def csv_row(event: AccessEvent) -> str:
    agent = (event.user_agent_original or "").replace('"', '""')
    return (
        f"{event.timestamp},{event.source_address},{event.http_request_method},{_request_target(event)},"
        f"{event.http_response_status_code},{event.http_response_body_bytes},"
        f"{event.http_request_referrer or ''},\"{agent}\""
    )


WRITERS: dict[str, tuple[str, Callable[[AccessEvent], str], str | None]] = {
    "combined": ("combined", format_combined, None),
    "common": ("common", common, None),
    "json ECS dotted": ("json", ecs_dotted, None),
    "json ECS nested": ("json", ecs_nested, None),
    "csv": ("csv", csv_row, CSV_HEADER),
}


def measure(lines: list[str], format_name: str, repeat: int, gc_paused: bool = False) -> tuple[float, float]:
    """Return the best (CPU-time, wall-time) lines per second over `repeat` runs.

    CPU time of this process is the one-core figure and stays meaningful on a
    busy machine. With `gc_paused`, the cyclic collector is off during each run,
    as the ingestion agent has it around each batch. Exits if any generated line is rejected.
    """
    best_cpu = best_wall = 0.0
    for _ in range(repeat):
        with paused_gc() if gc_paused else nullcontext():
            cpu_start, wall_start = time.process_time(), time.perf_counter()
            result = parse_batch(lines, format=format_name)
            cpu, wall = time.process_time() - cpu_start, time.perf_counter() - wall_start
        if result.errors:
            raise SystemExit(f"{format_name}: generated line rejected: {result.errors[0]}")
        best_cpu = max(best_cpu, len(result.events) / cpu)
        best_wall = max(best_wall, len(result.events) / wall)
    return best_cpu, best_wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=100_000, help="lines per format (default 100000)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per format; the best is printed")
    args = parser.parse_args()

    events = make_events(args.lines)
    print(f"{'format':<18} {'lines/s (CPU)':>14} {'lines/s (wall)':>15}  ({args.lines} lines, best of {args.repeat})")
    for label, (format_name, write, header) in WRITERS.items():
        lines = [write(event) for event in events]
        if header is not None:
            lines.insert(0, header)
        cpu_rate, wall_rate = measure(lines, format_name, args.repeat)
        print(f"{label:<18} {cpu_rate:>14,.0f} {wall_rate:>15,.0f}")

    print()
    if native.lines is None:
        print("compiled line parser not loaded (not built, or CENTINELA_NATIVE=0): no native figures")
        return
    print(f"{'native vs python':<28} {'lines/s (CPU)':>14} {'lines/s (wall)':>15}  {'ratio (CPU)':>11}")
    for gc_paused in (False, True):
        for label in ("combined", "common"):
            compare_native(label, [WRITERS[label][1](event) for event in events], args.repeat, gc_paused)


def compare_native(label: str, lines: list[str], repeat: int, gc_paused: bool) -> None:
    """Print the rate of `parse_batch` on `lines` with the compiled line parser on, then off."""
    native_cpu, native_wall = measure(lines, label, repeat, gc_paused)
    with native.disabled():
        python_cpu, python_wall = measure(lines, label, repeat, gc_paused)
    suffix = ", gc paused" if gc_paused else ""
    print(
        f"{label + ' native' + suffix:<28} {native_cpu:>14,.0f} {native_wall:>15,.0f}"
        f"  {native_cpu / python_cpu:>10.1f}x"
    )
    print(f"{label + ' python' + suffix:<28} {python_cpu:>14,.0f} {python_wall:>15,.0f}")


if __name__ == "__main__":
    main()
