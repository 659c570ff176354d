"""`python -m replay run FILE`: send a log file through Centinela and summarise what it found.

By default the batches go to a private in-process Runtime built from
Settings (CENTINELA_* variables). With `--url` they go to a running service
through POST /analyze (`--via http`) or the /ws/stream websocket (`--via ws`).

Exit status: 0 when every batch was analysed, 1 when any batch failed, 2 when
the input cannot be read or the service cannot be reached. Rejected lines are
not failures: they are counted, and the first 50 are listed in the summary.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import orjson
from pydantic import ValidationError
from rich.console import Console

from config.settings import Settings
from replay.pacing import Pacer, timestamps
from replay.progress import ReplayProgress
from replay.source import LineSource, SourceError
from replay.summary import Summary, render
from replay.targets import BatchFailed, HttpTarget, InProcessTarget, Outcome, Target, Unreachable, WebSocketTarget
from stream.parsers.base import excerpt
from stream.parsers.batch import SNIFF_ITEMS, decode, detect_format

log = logging.getLogger("centinela.replay")

FORMATS = ("auto", "combined", "common", "json", "csv")
EXIT_OK, EXIT_BATCH_FAILED, EXIT_UNAVAILABLE = 0, 1, 2
EXIT_INTERRUPTED = 130  # what shells report for a program ended by SIGINT
POLL_SECONDS = 0.5  # how often --follow looks for new lines


@dataclass(slots=True)
class Batch:
    """Lines to send and the file line number of the first one; `header` is a CSV header to put in front."""

    first_line: int
    lines: list[str]
    header: str | None = None

    def items(self) -> tuple[list[str], int]:
        """Return the items to send and the line number of the first item."""
        if self.header is None:
            return self.lines, self.first_line
        return [self.header, *self.lines], self.first_line - 1


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "run",
        help="replay a log file through Centinela",
        description="Replay an access log (plain, .gz or - for stdin) and print what Centinela found.",
    )
    parser.add_argument("file", help="log file to replay; .gz files are decompressed; - reads stdin")
    parser.add_argument("--url", help="base URL of a running service, e.g. http://127.0.0.1:8000 (default: in-process)")
    parser.add_argument(
        "--api-key",
        default=os.environ.get("CENTINELA_API_KEY"),
        help="API key sent as X-API-Key with --url (default: $CENTINELA_API_KEY)",
    )
    parser.add_argument("--via", choices=("http", "ws"), default="http",
                        help="with --url: send batches to POST /analyze (http, default) or /ws/stream (ws)")
    parser.add_argument("--batch", type=_positive_int, default=1000, help="lines per batch (default 1000)")
    parser.add_argument("--format", choices=FORMATS, default="auto", help="log format (default: detect per batch)")
    pace = parser.add_mutually_exclusive_group()
    pace.add_argument("--speed", type=_positive_float,
                      help="replay at N times the speed of the log's own timestamps (2 = twice as fast)")
    pace.add_argument("--fast", action="store_true", help="send as fast as the service takes it (default)")
    parser.add_argument("--follow", action="store_true",
                        help="keep reading as the file grows, like tail -f; reopens it after rotation or truncation")
    parser.add_argument("--quiet", action="store_true", help="no progress bar and no summary table")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON on stdout")
    parser.add_argument("--webhook", action="store_true",
                        help="in-process only: let the policy's webhook fire (off by default for replays)")
    parser.set_defaults(handler=main)


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1, got {text!r}")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a number above 0, got {text!r}")
    return value


def main(args: argparse.Namespace) -> int:
    """Run the replay the parsed arguments describe and return the exit status."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s %(message)s", stream=sys.stderr)
    stderr = Console(stderr=True)
    try:
        target = _target(args)
    except ValidationError as exc:
        stderr.print(f"replay: invalid settings: {exc}", markup=False, highlight=False)
        return EXIT_UNAVAILABLE
    try:
        status, summary = asyncio.run(replay(args, target, stderr))
    except KeyboardInterrupt:
        stderr.print("replay: interrupted", markup=False, highlight=False)
        return EXIT_INTERRUPTED
    if summary is None:
        return status
    if args.json:
        sys.stdout.write(orjson.dumps(summary, option=orjson.OPT_INDENT_2).decode() + "\n")
    if not args.quiet:
        render(summary, stderr if args.json else Console())
    return status


def _target(args: argparse.Namespace) -> Target:
    if args.url is None:
        return InProcessTarget(Settings(), webhook=args.webhook)
    if args.via == "ws":
        return WebSocketTarget(args.url, args.api_key)
    return HttpTarget(args.url, args.api_key)


async def replay(args: argparse.Namespace, target: Target, stderr: Console) -> tuple[int, dict[str, Any] | None]:
    """Send the file through `target`; return the exit status and the summary (None when nothing ran)."""
    try:
        source = LineSource(args.file, follow=args.follow)
        source.open()
    except SourceError as exc:
        stderr.print(f"replay: {exc}", markup=False, highlight=False)
        return EXIT_UNAVAILABLE, None

    summary = Summary(args.file, target.name, args.batch)
    stop = asyncio.Event()
    status = EXIT_OK
    try:
        with _stop_on_interrupt(stop):
            async with target:
                status = await _send_all(args, source, target, summary, stop, stderr)
    except Unreachable as exc:
        stderr.print(f"replay: {exc}", markup=False, highlight=False)
        return EXIT_UNAVAILABLE, None
    finally:
        source.close()
    if status == EXIT_OK and summary.failed_batches:
        status = EXIT_BATCH_FAILED
    return status, summary.to_dict()


async def _send_all(
    args: argparse.Namespace, source: LineSource, target: Target, summary: Summary, stop: asyncio.Event,
    stderr: Console,
) -> int:
    progress = ReplayProgress(not args.quiet and stderr.is_terminal, source.total_bytes, stderr)
    pacer = Pacer(args.speed) if args.speed else None
    started = time.monotonic()  # after the target started, so warming the model is not counted
    with progress:
        try:
            async for batch in _batches(source, args, summary, stop, pacer):
                await _send_one(target, batch, args.format, summary)
                progress.update(source.bytes_read, summary.events, summary.anomalies, summary.decision_updates)
        except SourceError as exc:
            stderr.print(f"replay: {exc}", markup=False, highlight=False)
            return EXIT_UNAVAILABLE
        finally:
            summary.elapsed = time.monotonic() - started
    return EXIT_OK


async def _send_one(target: Target, batch: Batch, format: str, summary: Summary) -> None:
    items, first_line = batch.items()
    try:
        outcome = await target.send(items, first_line, format)
    except BatchFailed as exc:
        log.error("batch from line %d (%d lines) failed: %s", batch.first_line, len(batch.lines), exc)
        summary.fail(batch.first_line, len(batch.lines), str(exc))
        return
    summary.add(outcome, _excerpts(outcome, batch))


def _excerpts(outcome: Outcome, batch: Batch) -> dict[int, str]:
    found = {}
    for error in outcome.errors:
        index = error["line"] - batch.first_line
        if 0 <= index < len(batch.lines):
            found[error["line"]] = excerpt(batch.lines[index])
    return found


async def _batches(
    source: LineSource, args: argparse.Namespace, summary: Summary, stop: asyncio.Event, pacer: Pacer | None
) -> AsyncIterator[Batch]:
    """Yield batches of decoded lines until the input ends (or, with --follow, until interrupted)."""
    next_line = 1
    csv_header: str | None = None
    while not stop.is_set():
        raw = await asyncio.to_thread(source.read, args.batch)
        if not raw:
            if not args.follow:
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), POLL_SECONDS)
            continue
        lines = [_text(item) for item in raw]
        summary.lines += len(lines)
        first_line, next_line = next_line, next_line + len(lines)
        if summary.format is None:
            summary.format = args.format if args.format != "auto" else detect_format(lines[:SNIFF_ITEMS])
            # Each batch is parsed on its own, so every CSV batch but the first needs the header in front.
            csv_header = lines[0] if summary.format == "csv" else None

        if pacer is None:
            yield Batch(first_line, lines, csv_header if first_line > 1 else None)
            continue
        stamps = timestamps(lines, args.format, csv_header if first_line > 1 else None)
        async for piece_first, piece in pacer.split(lines, stamps, first_line):
            yield Batch(piece_first, piece, csv_header if piece_first > 1 else None)


def _text(item: bytes) -> str:
    text = decode(item)
    assert isinstance(text, str)
    return text


@contextlib.contextmanager
def _stop_on_interrupt(stop: asyncio.Event) -> Any:
    """Let Ctrl-C end a replay (a --follow one especially) with a summary instead of a traceback."""
    loop = asyncio.get_running_loop()
    try:
        loop.add_signal_handler(signal.SIGINT, stop.set)
    except (NotImplementedError, RuntimeError, ValueError):
        yield  # no signal handlers here (not the main thread, or Windows): Ctrl-C raises as usual
        return
    try:
        yield
    finally:
        loop.remove_signal_handler(signal.SIGINT)
