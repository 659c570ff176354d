"""The API side of the scaled deployment: same surface as `agents.runtime.Runtime`, work done by workers.

`RedisRuntime.analyze` parses the batch here and appends one chunk per
partition: the batch's events of that partition's clients, with their
indices, the batch id and this replica's reply stream. It then waits until
the workers have returned a result for every event, and returns the same
`BatchVerdict` as the in-process runtime. When some partition does not reply
within `reply_timeout_seconds`
it raises `AnalysisTimeout`, which the API turns into a 504 naming those
partitions.

Decisions live in Redis (`RedisDecisionStore`), so every replica lists and
lifts the same ones. The bus sends the `decisions` topic through Redis and
keeps the other topics (scored batches for the dashboard) in this process.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import socket
import uuid
from dataclasses import dataclass, field
from typing import Any

import orjson
import redis
import redis.asyncio as aioredis

from agents.bus import DECIDED, DECISIONS, SCORED, Bus, InMemoryBus
from agents.decisions_store import Decision
from agents.ingestion import FEATURE_INDEX, ScoredBatch
from agents.messages import ClientStats, FeatureRow, ScoredEvent, new_client_stats
from agents.metrics import Metrics, reason_label
from agents.redis_bus import Keys, RedisBus, raise_if_cancelled, split_by_partition
from agents.redis_decisions import RedisDecisionStore, SharedClock
from agents.runtime import BatchVerdict, cancel_tasks
from config.settings import Settings
from stream.parsers import ParseResult, parse_batch

log = logging.getLogger("centinela.runtime")

STATUS_REFRESH_SECONDS = 1.0
REDIS_TOPICS = frozenset({DECISIONS})


class AnalysisTimeout(RuntimeError):
    """Some partitions did not return their results in time; the message names them."""

    def __init__(self, batch_id: str, missing: dict[int, int], timeout: float) -> None:
        self.batch_id = batch_id
        self.partitions = sorted(missing)
        events = sum(missing.values())
        names = ", ".join(str(partition) for partition in self.partitions)
        super().__init__(
            f"timed out after {timeout:g} s waiting for partitions {names} ({events} events unanswered in batch "
            f"{batch_id}); check that a worker owns each of them (python -m agents.worker --partitions ...)"
        )


class ClusterBus(Bus):
    """Topics in `REDIS_TOPICS` travel through Redis to every replica; the rest stay in this process."""

    def __init__(self, remote: RedisBus, local: InMemoryBus) -> None:
        self.remote = remote
        self.local = local

    async def publish(self, topic: str, message: Any) -> None:
        await (self.remote if topic in REDIS_TOPICS else self.local).publish(topic, message)

    def subscribe(self, topic: str, maxsize: int = 10_000) -> Any:
        return (self.remote if topic in REDIS_TOPICS else self.local).subscribe(topic, maxsize)

    async def close(self) -> None:
        await self.remote.close()


class ClusterView:
    """Totals over the partitions as the workers last reported them, read in place of a local detector."""

    def __init__(self) -> None:
        self.events_seen = 0
        self.clients = 0
        self.warm = False
        self.owners: dict[int, str] = {}

    @property
    def warming_up(self) -> bool:
        return not self.warm

    def __len__(self) -> int:
        return self.clients


@dataclass(slots=True)
class PendingBatch:
    """A batch sent to the partitions and the results received so far."""

    parsed: ParseResult
    seqs: list[Any] | None
    missing: dict[int, set[int]]
    results: list[list[Any] | None]
    future: asyncio.Future[None]
    decisions: dict[str, tuple[int, Decision]] = field(default_factory=dict)


class RedisRuntime:
    """The runtime of one API replica when `settings.redis_url` is set."""

    def __init__(self, settings: Settings) -> None:
        if settings.redis_url is None:
            raise ValueError("RedisRuntime needs settings.redis_url (CENTINELA_REDIS_URL)")
        self.settings = settings
        self.replica = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self.keys = Keys(settings.redis_prefix)
        self.client = redis.Redis.from_url(settings.redis_url)
        self.clock = SharedClock(self.client, self.keys)
        self.decisions = RedisDecisionStore(self.client, self.keys, self.clock)
        self.metrics = Metrics()
        self.view = ClusterView()
        self.detector = self.view
        self.reply_stream = self.keys.replies(self.replica)
        self.bus: ClusterBus | None = None
        self._remote: RedisBus | None = None
        self._pending: dict[str, PendingBatch] = {}
        self._ids = itertools.count(1)
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def clients_tracked(self) -> int:
        return self.view.clients

    @property
    def warm(self) -> bool:
        return self.view.warm

    async def start(self) -> None:
        assert self.settings.redis_url is not None
        client = aioredis.Redis.from_url(self.settings.redis_url)
        self._remote = RedisBus(client, self.keys, self.settings.partitions, self.settings.stream_max_len)
        self.bus = ClusterBus(self._remote, InMemoryBus())
        await self._refresh_status()
        self._tasks = [
            asyncio.create_task(self._collect(), name="reply-collector"),
            asyncio.create_task(self._watch_status(), name="cluster-status"),
        ]
        log.info("API replica %s on Redis, %d partitions", self.replica, self.settings.partitions)

    async def stop(self) -> None:
        await cancel_tasks(self._tasks)
        self._tasks = []
        if self.bus is not None:
            with contextlib.suppress(redis.RedisError):
                await self.bus.remote.client.delete(self.reply_stream)
            await self.bus.close()
        self.client.close()

    def save(self) -> None:
        """Do nothing: the workers snapshot the partitions' state."""

    async def analyze(
        self, items: list[Any], format: str = "auto", first_line: int = 1, seqs: list[Any] | None = None
    ) -> BatchVerdict:
        """Parse a batch, send its events to their partitions and wait for every result."""
        assert self._remote is not None and self.bus is not None
        batch_id = f"{self.replica}:{next(self._ids)}"
        parsed = parse_batch(
            items,
            format=format,
            first_line=first_line,
            max_line_bytes=self.settings.max_line_bytes,
            trusted_proxies=self.settings.trusted_proxies,
        )
        event_seqs = None if seqs is None else [seqs[event.line - first_line] for event in parsed.events]
        groups = split_by_partition(parsed.events, self.settings.partitions)
        pending = self._register(batch_id, parsed, event_seqs, groups)
        try:
            if parsed.events:
                await self._remote.append_batch(parsed.events, groups, batch_id, self.reply_stream)
                await self._wait(batch_id, pending)
        finally:
            self._pending.pop(batch_id, None)
        return await self._finish(batch_id, pending)

    def _register(
        self, batch_id: str, parsed: ParseResult, seqs: list[Any] | None, groups: dict[int, list[int]]
    ) -> PendingBatch:
        missing = {partition: set(indices) for partition, indices in groups.items()}
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        pending = PendingBatch(parsed, seqs, missing, [None] * len(parsed.events), future)
        self._pending[batch_id] = pending
        return pending

    async def _wait(self, batch_id: str, pending: PendingBatch) -> None:
        timeout = self.settings.reply_timeout_seconds
        try:
            await asyncio.wait_for(asyncio.shield(pending.future), timeout)
        except TimeoutError:
            missing = {partition: len(indices) for partition, indices in pending.missing.items() if indices}
            error = AnalysisTimeout(batch_id, missing, timeout)
            log.error("%s", error)
            raise error from None

    async def _finish(self, batch_id: str, pending: PendingBatch) -> BatchVerdict:
        events = pending.parsed.events
        scored = [
            _scored(event, row, None if pending.seqs is None else pending.seqs[index], batch_id)
            for index, (event, row) in enumerate(zip(events, pending.results, strict=True))
        ]
        decisions = [decision for _, decision in sorted(pending.decisions.values(), key=lambda pair: pair[0])]
        assert self.bus is not None and self._remote is not None
        await self._remote.deliver_local(DECISIONS, decisions)
        self._count(pending.parsed, scored, decisions)
        await self.bus.local.publish(SCORED, ScoredBatch(batch_id, scored, pending.parsed))
        verdict = BatchVerdict(batch_id, scored, pending.parsed, decisions)
        await self.bus.local.publish(DECIDED, verdict)
        return verdict

    # Background tasks

    async def _collect(self) -> None:
        """Read this replica's reply stream and file each result under its batch."""
        assert self._remote is not None
        client = self._remote.client
        last_id = "0-0"  # the stream name is unique to this replica, so all of it is ours
        while True:
            try:
                answer = await client.xread({self.reply_stream: last_id}, count=1000, block=1000)
            except redis.RedisError as exc:
                raise_if_cancelled(exc)
                log.warning("reading replies failed: %s; retrying in 1 s", exc)
                await asyncio.sleep(1.0)
                continue
            raise_if_cancelled()
            for _, entries in answer or ():
                for entry_id, fields in entries:
                    last_id = entry_id
                    try:
                        self._file(fields)
                    except (KeyError, IndexError, TypeError, ValueError) as exc:
                        # A malformed reply must not stop the collector, or every batch would time out.
                        log.error("invalid reply %s on %s: %r; skipped", entry_id, self.reply_stream, exc)
            if answer:
                await self._trim_replies(client, last_id)

    async def _trim_replies(self, client: aioredis.Redis, last_id: Any) -> None:
        """Delete the replies read so far: this replica is the only reader of its stream."""
        try:
            await client.xtrim(self.reply_stream, minid=last_id, approximate=True)
        except redis.RedisError as exc:
            raise_if_cancelled(exc)
            log.warning("trimming %s failed: %s; the workers' MAXLEN still bounds it", self.reply_stream, exc)

    def _file(self, fields: dict[bytes, bytes]) -> None:
        """File one worker reply, which contains every result of one batch in one partition.

        The first result received for an event index is kept, and repeats after a takeover are ignored.
        """
        pending = self._pending.get(fields[b"b"].decode())
        if pending is None:
            return  # a late or repeated answer for a batch already answered or timed out
        partition = int(fields[b"p"])
        body = orjson.loads(fields[b"d"])
        waiting = pending.missing.get(partition, set())
        results = pending.results
        for row in body["results"]:
            index = row[0]
            if not 0 <= index < len(results):
                raise IndexError(f"event index {index} outside batch of {len(results)}")
            if results[index] is None:
                results[index] = row
                waiting.discard(index)
        for index, data in body["decisions"]:
            decision = Decision(**data)
            first = pending.decisions.get(decision.id, (index, decision))[0]
            pending.decisions[decision.id] = (first, decision)
        if not any(pending.missing.values()) and not pending.future.done():
            pending.future.set_result(None)

    async def _watch_status(self) -> None:
        while True:
            await asyncio.sleep(STATUS_REFRESH_SECONDS)
            try:
                await self._refresh_status()
            except redis.RedisError as exc:
                raise_if_cancelled(exc)
                log.warning("reading partition status failed: %s", exc)

    async def _refresh_status(self) -> None:
        assert self._remote is not None
        pipe = self._remote.client.pipeline(transaction=False)
        for partition in range(self.settings.partitions):
            pipe.hgetall(self.keys.partition_stats(partition))
        rows = await pipe.execute()
        view = self.view
        view.events_seen = sum(int(row.get(b"events_seen", 0)) for row in rows)
        view.clients = sum(int(row.get(b"clients", 0)) for row in rows)
        view.warm = all(row.get(b"warm") == b"1" for row in rows)
        view.owners = {p: row[b"owner"].decode() for p, row in enumerate(rows) if b"owner" in row}
        self.metrics.warm.set(1 if view.warm else 0)

    def _count(self, parsed: ParseResult, scored: list[ScoredEvent], decisions: list[Decision]) -> None:
        metrics = self.metrics
        metrics.lines.inc(parsed.received)
        metrics.events.inc(len(scored))
        for error in parsed.errors:
            metrics.parse_errors.labels(reason_label(error.reason)).inc()
        for item in scored:
            if item.score is not None:
                metrics.scores.observe(item.score)
            if item.anomalous:
                metrics.anomalies.inc()
        for decision in decisions:
            metrics.decisions.labels(decision.scenario, decision.action).inc()


def _scored(event: Any, row: list[Any] | None, seq: Any, batch_id: str) -> ScoredEvent:
    assert row is not None  # _wait returns only once every index has a row
    _, score, raw_score, anomalous, warming_up, features, stats = row
    return ScoredEvent(
        event=event,
        features=FeatureRow(features, FEATURE_INDEX),
        # Workers of earlier releases send the stats as an object.
        stats=ClientStats(**stats) if isinstance(stats, dict) else new_client_stats(tuple(stats)),
        score=score,
        raw_score=raw_score,
        anomalous=anomalous,
        warming_up=warming_up,
        seq=seq,
        batch_id=batch_id,
    )
