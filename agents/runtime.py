"""The in-process runtime: one bus, the two agents as asyncio tasks, and request/reply.

`Runtime.analyze` publishes a RawBatch on the bus and waits for the decision
agent's BatchVerdict with the same batch id. The API, the websocket and the
in-process replay all go through it, so they see the same agents and state.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import itertools
import logging
from dataclasses import dataclass, field
from typing import Any

from agents.bus import DECIDED, DECISIONS, RAW, SCORED, Bus, InMemoryBus
from agents.clock import StreamClock
from agents.decision import DecisionAgent
from agents.decisions_store import Decision, DecisionStore
from agents.ingestion import IngestionAgent, RawBatch, ScoredBatch
from agents.messages import ScoredEvent
from agents.metrics import Metrics, reason_label
from agents.persistence import Persistence, restore
from agents.policy import Policy, load_policy
from config.settings import Settings
from stream.parsers import ParseResult
from stream.warmstart import load_snapshot, warm_detector

log = logging.getLogger("centinela.runtime")


@dataclass(slots=True)
class BatchVerdict:
    """The outcome of one batch: its scored events, rejected lines and decisions."""

    batch_id: str
    scored: list[ScoredEvent]
    parsed: ParseResult
    decisions: list[Decision] = field(default_factory=list)
    error: str | None = None


async def cancel_tasks(tasks: list[asyncio.Task[None]]) -> None:
    """Cancel `tasks` and wait until each has finished."""
    for task in tasks:
        task.cancel()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError):
            await task


class Runtime:
    def __init__(self, settings: Settings, bus: Bus | None = None, policy: Policy | None = None) -> None:
        self.settings = settings
        self.bus = bus or InMemoryBus()
        self.policy = policy or load_policy(settings.policy_path)
        snapshot = load_snapshot(settings)
        self.detector = warm_detector(settings, snapshot)
        self.ingestion = IngestionAgent(settings, self.detector)
        self.clock = StreamClock()
        self.decisions = DecisionStore(clock=self.clock.now)
        self.decision_agent = DecisionAgent(self.policy, self.decisions, settings)
        self.metrics = Metrics()
        self._ids = itertools.count(1)
        self._waiters: dict[str, asyncio.Future[BatchVerdict]] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self.persistence = Persistence(self)
        if snapshot is not None:
            restore(self, snapshot)

    @property
    def clients_tracked(self) -> int:
        return len(self.ingestion.extractor.windows)

    @property
    def warm(self) -> bool:
        return not self.detector.warming_up

    async def start(self) -> None:
        # The warm model contains many long-lived objects (River's tree nodes, cached patterns).
        # Freezing them keeps the cyclic collector from rescanning them during requests.
        gc.freeze()
        # Subscribe before the tasks run so no message published in between is missed.
        scored = self.bus.subscribe(SCORED, maxsize=64)
        decided = self.bus.subscribe(DECIDED, maxsize=256)
        self._tasks = [
            asyncio.create_task(self.ingestion.run(self.bus), name="ingestion-agent"),
            asyncio.create_task(self._decide(scored), name="decision-agent"),
            asyncio.create_task(self._collect(decided), name="verdict-collector"),
        ]
        if self.persistence.interval > 0:
            self._tasks.append(asyncio.create_task(self.persistence.run(), name="snapshots"))
        await asyncio.sleep(0)

    async def stop(self) -> None:
        await self.persistence.pause()
        await cancel_tasks(self._tasks)
        self._tasks = []
        if self.decision_agent.webhook is not None:
            # Send the alerts still queued before the process goes away.
            await self.decision_agent.webhook.close()
        self.save()

    def save(self) -> None:
        self.persistence.save()

    async def analyze(
        self, items: list[Any], format: str = "auto", first_line: int = 1, seqs: list[Any] | None = None
    ) -> BatchVerdict:
        """Send one batch through the agents over the bus and wait for its verdict."""
        await self.persistence.admit()
        batch_id = f"b{next(self._ids)}"
        future: asyncio.Future[BatchVerdict] = asyncio.get_running_loop().create_future()
        self._waiters[batch_id] = future
        try:
            await self.bus.publish(RAW, RawBatch(batch_id, items, format, first_line, seqs))
            return await future
        finally:
            self._waiters.pop(batch_id, None)

    async def _decide(self, subscription: Any) -> None:
        """Run the decision agent's loop: aggregate scored events, publish decisions and the verdict."""
        while True:
            batch: ScoredBatch = await subscription.get()
            decisions: list[Decision] = []
            if batch.scored:
                self.clock.observe(max(scored.event.timestamp for scored in batch.scored))
            try:
                # observe_batch appends as it goes, so a failure keeps the decisions made before it.
                self.decision_agent.observe_batch(batch.scored, decisions)
            except Exception:
                log.exception("decision agent failed on batch %s", batch.batch_id)
            self._count(batch, decisions)
            for decision in decisions:
                await self.bus.publish(DECISIONS, decision)
            verdict = BatchVerdict(batch.batch_id, batch.scored, batch.parsed, decisions, batch.extra.get("error"))
            await self.bus.publish(DECIDED, verdict)
            subscription.task_done()

    def _count(self, batch: ScoredBatch, decisions: list[Decision]) -> None:
        metrics = self.metrics
        metrics.lines.inc(batch.parsed.received)
        metrics.events.inc(len(batch.scored))
        for error in batch.parsed.errors:
            metrics.parse_errors.labels(reason_label(error.reason)).inc()
        for scored in batch.scored:
            if scored.score is not None:
                metrics.scores.observe(scored.score)
            if scored.anomalous:
                metrics.anomalies.inc()
        for decision in decisions:
            metrics.decisions.labels(decision.scenario, decision.action).inc()
        metrics.warm.set(1 if self.warm else 0)
        depth = getattr(self.bus, "depth", None)
        if depth is not None:
            for topic in (RAW, SCORED, DECIDED, DECISIONS):
                metrics.queue_depth.labels(topic).set(depth(topic))

    async def _collect(self, subscription: Any) -> None:
        while True:
            verdict: BatchVerdict = await subscription.get()
            future = self._waiters.get(verdict.batch_id)
            if future is not None and not future.done():
                future.set_result(verdict)
            subscription.task_done()
