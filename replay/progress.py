"""A rich progress line on stderr: bytes read, events/s, anomalies and decisions so far."""

from __future__ import annotations

import time
from types import TracebackType

from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn


class ReplayProgress:
    """Progress display that does nothing when `enabled` is false (quiet runs, stderr not a terminal)."""

    def __init__(self, enabled: bool, total_bytes: int | None, console: Console) -> None:
        self.enabled = enabled
        self._started = time.monotonic()
        self._progress: Progress | None = None
        self._task: TaskID | None = None
        if not enabled:
            return
        self._progress = Progress(
            SpinnerColumn(),
            TextColumn("replay"),
            BarColumn(),
            TextColumn("{task.fields[events]:,} events {task.fields[rate]:,.0f}/s"),
            TextColumn("{task.fields[anomalies]:,} anomalies {task.fields[decisions]:,} decisions"),
            TimeElapsedColumn(),
            console=console,
            transient=True,
        )
        self._task = self._progress.add_task(
            "replay", total=total_bytes, events=0, rate=0.0, anomalies=0, decisions=0
        )

    def __enter__(self) -> ReplayProgress:
        if self._progress is not None:
            self._progress.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, traceback: TracebackType | None
    ) -> None:
        if self._progress is not None:
            self._progress.stop()

    def update(self, bytes_read: int, events: int, anomalies: int, decisions: int) -> None:
        if self._progress is None or self._task is None:
            return
        elapsed = max(time.monotonic() - self._started, 1e-9)
        self._progress.update(
            self._task,
            completed=bytes_read,
            events=events,
            rate=events / elapsed,
            anomalies=anomalies,
            decisions=decisions,
        )
