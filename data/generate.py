"""Generate a synthetic access log of a Latin-American shop with labelled attacks.

Usage::

    python -m data.generate --events 120000 --seed 7 --out var/mix.log --labels var/mix.labels.csv
    python -m data.generate --benign --events 60000 --seed 1 --out history.log.gz

Benign traffic (customers, the mobile app, crawlers, monitors) is described in
`data.benign`, the attack scenarios in `data.scenarios`. Attack requests are
merged with benign ones by timestamp. The same arguments always produce the
same bytes: every random draw comes from `random.Random` objects seeded from
`--seed`, and nothing reads the clock.

Outputs
-------
The log (`--out`) is in Apache/Nginx combined format, or with `--format json`
one JSON object per line with dotted ECS names (`@timestamp`, `source.ip`,
`url.path`, ...). A name ending in `.gz` is gzip-compressed with mtime 0, so
the compressed file is reproducible too. The user field carries the account
name on login requests, as the shop's application logs it, and `-` elsewhere.

The labels file (`--labels`) is CSV with a header and one row per log line::

    line,timestamp,label,scenario,client
    1,2024-03-11T03:00:04.000Z,0,benign,10.42.0.1

`line` counts from 1. `timestamp` is the line's own time in UTC, in whole
seconds for the combined format and in milliseconds for JSON. `label` is 1 for
attack requests. `scenario` is `benign` or a scenario name, and `client` is the
address as the parsers report it.

Next to it, `<labels stem>.attackers.csv` lists each attacking client once::

    client,scenario,first_line,first_attack,events

`first_attack` is the timestamp of that client's first labelled line, in the
same form as the labels file.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import io
import random
import sys
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from heapq import merge
from pathlib import Path
from typing import IO

from data import scenarios as attack_scenarios
from data.addresses import AddressPool
from data.benign import BenignTraffic
from data.catalog import build_catalog
from data.records import BENIGN, Hit, Record, iso_utc, render_combined, render_json

DEFAULT_EVENTS = 120_000
DEFAULT_SEED = 7
DEFAULT_ATTACK_RATE = 0.08
DEFAULT_START = "2024-03-11T00:00:00-03:00"
SITE_OFFSET = timezone(timedelta(hours=-3))
FORMATS = ("combined", "json")
MAX_ATTACK_RATE = 0.9

__all__ = ["AttackerSummary", "GenerateError", "Record", "generate", "main", "summarize_attackers", "write"]


class GenerateError(ValueError):
    """An argument of the generator is out of range; the message names it and the accepted values."""


@dataclass(frozen=True, slots=True)
class AttackerSummary:
    """One attacking client: its scenario, first attack line and time, and its number of lines."""

    client: str
    scenario: str
    first_line: int
    first_attack: float
    events: int


def parse_start(start: str | datetime) -> datetime:
    """Return `start` as an aware datetime; a value without offset is read as shop time (UTC-03:00)."""
    if isinstance(start, str):
        try:
            start = datetime.fromisoformat(start)
        except ValueError:
            raise GenerateError(f"invalid start {start!r}; expected ISO 8601 such as {DEFAULT_START}") from None
    return start if start.tzinfo is not None else start.replace(tzinfo=SITE_OFFSET)


def check_arguments(events: int, attack_rate: float, names: list[str], fmt: str) -> None:
    """Raise GenerateError naming the first argument out of range."""
    if events < 1:
        raise GenerateError(f"invalid events {events}; expected a positive number of log lines")
    if not 0 <= attack_rate <= MAX_ATTACK_RATE:
        raise GenerateError(f"invalid attack rate {attack_rate}; expected a share from 0 to {MAX_ATTACK_RATE}")
    unknown = [name for name in names if name not in attack_scenarios.NAMES]
    if unknown or not names:
        raise GenerateError(f"unknown scenarios {unknown}; accepted: {', '.join(attack_scenarios.NAMES)}")
    if fmt not in FORMATS:
        raise GenerateError(f"unknown format {fmt!r}; accepted: {', '.join(FORMATS)}")


def generate(
    events: int = DEFAULT_EVENTS,
    seed: int = DEFAULT_SEED,
    attack_rate: float = DEFAULT_ATTACK_RATE,
    scenarios: Iterable[str] | None = None,
    start: str | datetime = DEFAULT_START,
    benign_only: bool = False,
    format: str = "combined",
) -> list[Record]:
    """Generate `events` log lines in time order, `round(events * attack_rate)` of them attacks.

    `scenarios` limits the attacks to those names (default: all of `data.scenarios.NAMES`);
    `benign_only` makes every line benign whatever `attack_rate` is.
    """
    names = list(attack_scenarios.NAMES if scenarios is None else scenarios)
    check_arguments(events, attack_rate, names, format)
    begin = parse_start(start)
    begin_ms = int(begin.timestamp() * 1000)
    offset = timezone(begin.utcoffset() or timedelta())
    attacks = 0 if benign_only else round(events * attack_rate)

    # Separate generators per part: the benign traffic of a seed is the same whatever the attacks are.
    addresses = AddressPool(random.Random(f"{seed}/addresses"))
    offset_ms = int((begin.utcoffset() or timedelta()).total_seconds() * 1000)
    benign = BenignTraffic(random.Random(f"{seed}/benign"), begin_ms, offset_ms, addresses).generate(events - attacks)

    # Attacks fall inside the benign span so they interleave with real customers.
    first, last = (benign[0].ts_ms, benign[-1].ts_ms) if benign else (begin_ms, begin_ms)
    budget = attack_scenarios.split_budget(attacks, names)
    rng = random.Random(f"{seed}/attacks")
    hostile = attack_scenarios.plan_attacks(rng, addresses, build_catalog(), budget, first, last)

    merged = merge(benign, hostile, key=lambda hit: hit.ts_ms)
    return [to_record(hit, format, offset) for hit in merged]


def to_record(hit: Hit, fmt: str, offset: timezone) -> Record:
    """Render `hit` as a line of format `fmt` and attach its label."""
    timestamp, line = render_combined(hit, offset) if fmt == "combined" else render_json(hit)
    return Record(timestamp, line, 0 if hit.scenario == BENIGN else 1, hit.scenario, hit.client)


def summarize_attackers(records: Sequence[Record]) -> list[AttackerSummary]:
    """Return one summary per attacking client, ordered by its first attack line."""
    first: dict[str, tuple[int, Record]] = {}
    counts: dict[str, int] = {}
    for number, record in enumerate(records, start=1):
        if not record.label:
            continue
        counts[record.client] = counts.get(record.client, 0) + 1
        first.setdefault(record.client, (number, record))
    return [
        AttackerSummary(client, record.scenario, number, record.timestamp, counts[client])
        for client, (number, record) in first.items()
    ]


def attackers_path(labels: str | Path) -> Path:
    """Return the attacker summary path next to `labels`: x/mix.labels.csv -> x/mix.labels.attackers.csv."""
    labels = Path(labels)
    return labels.with_name(labels.name.removesuffix(".csv") + ".attackers.csv")


@contextmanager
def open_text(path: Path) -> Iterator[IO[str]]:
    """Open `path` for writing UTF-8 text; a `.gz` name is gzip-compressed with mtime 0 and no file name."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix != ".gz":
        with open(path, "w", encoding="utf-8", newline="\n") as handle:
            yield handle
        return
    with (
        open(path, "wb") as raw,
        gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as packed,
        io.TextIOWrapper(packed, encoding="utf-8", newline="\n") as handle,
    ):
        yield handle


def write(
    records: Sequence[Record], out: str | Path, labels: str | Path | None = None
) -> list[AttackerSummary]:
    """Write the log to `out` and, when `labels` is given, the labels and attacker summary files."""
    with open_text(Path(out)) as log:
        for record in records:
            log.write(record.line + "\n")
    summary = summarize_attackers(records)
    if labels is None:
        return summary

    with open_text(Path(labels)) as handle:
        rows = csv.writer(handle, lineterminator="\n")
        rows.writerow(("line", "timestamp", "label", "scenario", "client"))
        for number, record in enumerate(records, start=1):
            rows.writerow((number, iso_utc(record.timestamp), record.label, record.scenario, record.client))
    with open_text(attackers_path(labels)) as handle:
        rows = csv.writer(handle, lineterminator="\n")
        rows.writerow(("client", "scenario", "first_line", "first_attack", "events"))
        for item in summary:
            rows.writerow((item.client, item.scenario, item.first_line, iso_utc(item.first_attack), item.events))
    return summary


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m data.generate",
        description="Generate a synthetic shop access log with labelled attack scenarios.",
    )
    parser.add_argument("--events", type=int, default=DEFAULT_EVENTS, help="number of log lines to write")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="random seed; same seed, same bytes")
    parser.add_argument("--attack-rate", type=float, default=DEFAULT_ATTACK_RATE,
                        help=f"share of lines that are attacks, 0 to {MAX_ATTACK_RATE} (default %(default)s)")
    parser.add_argument("--format", choices=FORMATS, default="combined", help="log line format")
    parser.add_argument("--out", required=True, help="log file to write; a .gz name is gzip-compressed")
    parser.add_argument("--labels", help="labels CSV to write; the attacker summary goes next to it")
    parser.add_argument("--start", default=DEFAULT_START,
                        help="ISO 8601 time of the first minute; without offset UTC-03:00 (default %(default)s)")
    parser.add_argument("--benign", action="store_true", help="write benign traffic only")
    parser.add_argument("--scenarios", help=f"comma-separated subset of: {','.join(attack_scenarios.NAMES)}")
    return parser


def report(records: Sequence[Record], summary: Sequence[AttackerSummary], seconds: float) -> str:
    """Return a per-scenario table of lines and attacking clients."""
    lines: dict[str, int] = {}
    for record in records:
        lines[record.scenario] = lines.get(record.scenario, 0) + 1
    clients: dict[str, int] = {}
    for item in summary:
        clients[item.scenario] = clients.get(item.scenario, 0) + 1
    attack_lines = len(records) - lines.get(BENIGN, 0)
    span_h = (records[-1].timestamp - records[0].timestamp) / 3600
    out = [
        f"{len(records)} lines over {span_h:.1f} h, {attack_lines} attack lines "
        f"({attack_lines / len(records):.2%}), {len(summary)} attacking clients, generated in {seconds:.1f} s",
        f"{'scenario':<20} {'lines':>8} {'clients':>8}",
    ]
    for name in (BENIGN, *attack_scenarios.NAMES):
        if name in lines:
            out.append(f"{name:<20} {lines[name]:>8} {clients.get(name, 0) if name != BENIGN else '-':>8}")
    return "\n".join(out)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    names = [name.strip() for name in args.scenarios.split(",")] if args.scenarios else None
    if args.benign and names:
        parser.error("--scenarios cannot be combined with --benign, which writes no attacks")
    started = time.perf_counter()
    try:
        records = generate(args.events, args.seed, args.attack_rate, names, args.start, args.benign, args.format)
    except GenerateError as exc:
        parser.error(str(exc))
    summary = write(records, args.out, args.labels)
    print(report(records, summary, time.perf_counter() - started), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
