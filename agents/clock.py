"""Stream time: the clock decisions expire by.

Decisions carry the log's own time, so a replay of last month's log must not
see every decision as expired. `StreamClock.now()` is the latest log time
seen, advancing with the wall clock since it was seen. On live traffic that is
the wall clock, and on a replay it is the replayed time.
"""

from __future__ import annotations

import time
from collections.abc import Callable

# Log times further ahead of the wall clock than this are clamped. Without the cap, one line dated
# 2099 would move stream time past every `until` and lift all decisions at once.
MAX_FUTURE_SKEW_SECONDS = 300.0


class StreamClock:
    def __init__(self, wall: Callable[[], float] = time.time, max_skew: float = MAX_FUTURE_SKEW_SECONDS) -> None:
        self._wall = wall
        self._max_skew = max_skew
        self._log_time: float | None = None
        self._seen_at = 0.0

    def observe(self, log_time: float) -> None:
        """Move stream time forward to `log_time`; older times are ignored, future ones clamped."""
        log_time = min(log_time, self._wall() + self._max_skew)
        if self._log_time is None or log_time > self.now():
            self._log_time = log_time
            self._seen_at = self._wall()

    def now(self) -> float:
        if self._log_time is None:
            return self._wall()
        return self._log_time + (self._wall() - self._seen_at)
