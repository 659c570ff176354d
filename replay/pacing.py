"""Replay at N times the log's own speed: hold lines back until their timestamp is due.

The first timestamp seen is pinned to the moment it is read; a line stamped
`t` is then due `(t - first) / speed` seconds later. Lines that cannot be
parsed, and lines older than the current one, are sent without waiting.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable

from stream.parsers import parse_batch

MIN_SLEEP = 0.01  # seconds; shorter waits are not worth splitting a batch for


def timestamps(lines: list[str], format: str, header: str | None) -> list[float | None]:
    """Return each line's log timestamp, or None where the line does not parse."""
    items = [header, *lines] if header is not None else lines
    first = 0 if header is not None else 1
    parsed = parse_batch(items, format=format, first_line=first)
    stamps: list[float | None] = [None] * len(lines)
    for event in parsed.events:
        stamps[event.line - 1] = event.timestamp
    return stamps


class Pacer:
    def __init__(self, speed: float, clock: Callable[[], float] = time.monotonic) -> None:
        if speed <= 0:
            raise ValueError(f"speed must be above 0, got {speed}")
        self.speed = speed
        self.clock = clock
        self._origin: tuple[float, float] | None = None

    def delay(self, stamp: float | None) -> float:
        """Return the seconds to wait before a line stamped `stamp` is due (0 when it is due already)."""
        if stamp is None:
            return 0.0
        now = self.clock()
        if self._origin is None:
            self._origin = (stamp, now)
            return 0.0
        log_start, wall_start = self._origin
        return max(0.0, wall_start + (stamp - log_start) / self.speed - now)

    async def split(
        self, lines: list[str], stamps: list[float | None], first_line: int
    ) -> AsyncIterator[tuple[int, list[str]]]:
        """Yield (first line number, lines) pieces of a batch, each once its first line is due."""
        start = 0
        for index, stamp in enumerate(stamps):
            wait = self.delay(stamp)
            if wait < MIN_SLEEP:
                continue
            if index > start:
                yield first_line + start, lines[start:index]
                start = index
            await asyncio.sleep(self.delay(stamp))
        if start < len(lines):
            yield first_line + start, lines[start:]
