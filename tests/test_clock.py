from __future__ import annotations

from agents.clock import StreamClock


class FakeWall:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_clock_follows_replayed_log_time() -> None:
    wall = FakeWall(2_000_000_000.0)
    clock = StreamClock(wall)
    clock.observe(1_700_000_000.0)
    wall.now += 10
    assert clock.now() == 1_700_000_010.0


def test_clock_ignores_older_log_times() -> None:
    wall = FakeWall(2_000_000_000.0)
    clock = StreamClock(wall)
    clock.observe(1_700_000_100.0)
    clock.observe(1_700_000_000.0)
    assert clock.now() == 1_700_000_100.0


def test_clock_clamps_future_log_times() -> None:
    wall = FakeWall(2_000_000_000.0)
    clock = StreamClock(wall, max_skew=300)
    clock.observe(4_000_000_000.0)  # year 2096
    assert clock.now() == 2_000_000_300.0
