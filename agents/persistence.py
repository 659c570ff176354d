"""Snapshots of the whole runtime state: taken on an interval and at shutdown, restored at start.

A state snapshot holds the detector, the per-client windows of the ingestion
agent, the decision store (active decisions and offence history), the
decision agent's per-client and per-site state, and the stream clock. It is
one file, written atomically by `stream.snapshot`, so the model and the
decisions in it always describe the same moment.

To make that moment well defined, a snapshot pauses intake: new batches wait
at `admit` while the batches already on the bus get their verdicts, then the
state is pickled in one synchronous step and intake reopens. Writing and
fsyncing the bytes happens in a worker thread, off the event loop.
"""

from __future__ import annotations

import asyncio
import logging
import pickle
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stream.snapshot import write_snapshot_bytes
from stream.warmstart import MODEL_SNAPSHOT, snapshot_key

if TYPE_CHECKING:
    from agents.runtime import Runtime

log = logging.getLogger("centinela.persistence")

# NOTE: these reach into private attributes of DecisionStore, DecisionAgent and StreamClock.
# A renamed attribute there makes `capture` raise AttributeError, which the snapshot tests catch.
STORE_FIELDS = ("_decisions", "_latest", "_offences", "dropped")
AGENT_FIELDS = ("_clients", "baseline", "logins", "skipped")
CLOCK_FIELDS = ("_log_time", "_seen_at")


def capture(runtime: Runtime) -> dict[str, Any]:
    """Return the runtime state to snapshot, as a dict of live objects (pickle it before it changes)."""
    ingestion = runtime.ingestion
    return {
        "detector": runtime.detector,
        "extractor": ingestion.extractor,
        "ingestion": {"events_seen": ingestion.events_seen, "parse_errors": ingestion.parse_errors},
        "decisions": {name: getattr(runtime.decisions, name) for name in STORE_FIELDS},
        "decision_agent": {name: getattr(runtime.decision_agent, name) for name in AGENT_FIELDS},
        "clock": {name: getattr(runtime.clock, name) for name in CLOCK_FIELDS},
        "saved_at": time.time(),
    }


def restore(runtime: Runtime, payload: dict[str, Any]) -> None:
    """Put the snapshot's windows, decisions and agent state into `runtime` (its detector is set already).

    A payload written by the warm start holds only the detector; the rest then stays fresh.
    """
    if "extractor" in payload:
        runtime.ingestion.extractor = payload["extractor"]
        counts = payload.get("ingestion", {})
        runtime.ingestion.events_seen = counts.get("events_seen", 0)
        runtime.ingestion.parse_errors = counts.get("parse_errors", 0)
    for target, key in ((runtime.decisions, "decisions"), (runtime.decision_agent, "decision_agent")):
        for name, value in payload.get(key, {}).items():
            setattr(target, name, value)
    for name, value in payload.get("clock", {}).items():
        setattr(runtime.clock, name, value)
    log.info(
        "state restored from snapshot: %d events seen, %d clients tracked, %d decisions stored",
        runtime.detector.events_seen,
        len(runtime.ingestion.extractor.windows),
        len(runtime.decisions),
    )


class Persistence:
    """Snapshot writer of one runtime; new batches wait at `admit` while a snapshot is taken."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.path: Path = runtime.settings.state_dir / MODEL_SNAPSHOT
        self.key = snapshot_key(runtime.settings)
        self.interval = runtime.settings.snapshot_interval_seconds
        self.drain_timeout = runtime.settings.drain_timeout_seconds
        self.saved = 0
        self._open = asyncio.Event()
        self._open.set()
        self._lock = asyncio.Lock()
        self._writing: asyncio.Future[None] | None = None

    async def admit(self) -> None:
        """Wait while a snapshot is being taken; `Runtime.analyze` calls this before publishing."""
        await self._open.wait()

    def in_flight(self) -> int:
        """Return the number of batches published and still waiting for their verdict."""
        return len(self.runtime._waiters)

    async def drain(self) -> bool:
        """Wait until no batch is in flight, at most `drain_timeout` seconds; return True if drained."""
        deadline = time.monotonic() + self.drain_timeout
        while self.in_flight():
            if time.monotonic() >= deadline:
                log.warning("%d batches still in flight after %.1f s", self.in_flight(), self.drain_timeout)
                return False
            await asyncio.sleep(0.005)
        return True

    def pickle_state(self) -> bytes:
        return pickle.dumps(capture(self.runtime), protocol=pickle.HIGHEST_PROTOCOL)

    def save(self) -> None:
        """Pickle and write the state now, synchronously (used at shutdown)."""
        started = time.perf_counter()
        body = self.pickle_state()
        write_snapshot_bytes(self.path, body, self.key)
        self._saved(len(body), started)

    async def snapshot(self) -> None:
        """Pause intake, let batches in flight finish, pickle the state, reopen intake, write the file."""
        async with self._lock:
            started = time.perf_counter()
            self._open.clear()
            try:
                await self.drain()
                body = self.pickle_state()
            finally:
                self._open.set()
            # Shielded so that a cancelled task never leaves a write racing the one at shutdown.
            self._writing = asyncio.ensure_future(asyncio.to_thread(write_snapshot_bytes, self.path, body, self.key))
            await asyncio.shield(self._writing)
            self._saved(len(body), started)

    async def pause(self) -> None:
        """Stop intake for good, let batches in flight finish and wait for a write in progress (shutdown)."""
        async with self._lock:
            self._open.clear()
            drained = await self.drain()
            if self._writing is not None and not self._writing.done():
                await asyncio.wait([self._writing])
        log.info("intake stopped for shutdown (bus drained: %s)", drained)

    async def run(self) -> None:
        """Take a snapshot every `interval` seconds; a failed write is logged and retried next time."""
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self.snapshot()
            except (OSError, pickle.PicklingError) as exc:
                log.error("snapshot to %s failed: %s; retrying in %.0f s", self.path, exc, self.interval)

    def _saved(self, size: int, started: float) -> None:
        self.saved += 1
        log.info(
            "snapshot written to %s (%d bytes, %d events seen, %.0f ms)",
            self.path,
            size,
            self.runtime.detector.events_seen,
            (time.perf_counter() - started) * 1000,
        )
