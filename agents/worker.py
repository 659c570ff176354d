"""A scoring worker of the scaled deployment: `python -m agents.worker --partitions 0,1 [--standby]`.

A worker owns partitions (see `agents.redis_bus`). For each one it keeps the
per-client windows, a detector and a decision agent (`PartitionState`), reads
the partition stream through the consumer group `workers` (XREADGROUP), and
processes it chunk by chunk. A chunk is one batch's events of that partition.
The worker scores them as one batch and decides on each event. Then, in one
pipeline, it sends the results to the API replica that sent the batch and
XACKs the chunk. Decisions go to the shared `RedisDecisionStore` and the
`decisions` topic.

Ownership is a lease key renewed every loop. A worker takes the partitions
given by `--partitions` when their lease is free; with `--standby` it also
takes any partition whose lease has stayed free for a whole TTL, which is
what happens when its owner dies.

Taking over a partition:

1. load the partition snapshot (`<state_dir>/partition-<p>/model.pkl`): the
   state plus the ID of the last stream entry it includes. Without one, warm
   the detector from history like the in-process runtime does;
2. XAUTOCLAIM the entries the dead owner read but never acknowledged;
3. replay every entry after the snapshot's ID up to the group's last
   delivered ID, in stream order, replying again and acknowledging them.

So the windows are rebuilt exactly, every event is scored at least once, and
an event the dead owner had already answered may be answered twice (the API
keeps the first answer).
"""

from __future__ import annotations

import argparse
import logging
import operator
import os
import signal
import socket
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import redis

from agents.bus import DECISIONS
from agents.decision import DecisionAgent
from agents.decisions_store import Decision
from agents.ingestion import IngestionAgent
from agents.messages import ScoredEvent
from agents.persistence import AGENT_FIELDS
from agents.policy import Policy, load_policy
from agents.redis_bus import GROUP, TOPIC_MAX_LEN, ChunkError, Keys, Lease, decode_chunk, encode_decision
from agents.redis_decisions import RedisDecisionStore, SharedClock
from agents.redis_site import SharedSite, plain_site, share_site
from config.settings import Settings
from stream.features import MODEL_FEATURES
from stream.snapshot import write_snapshot
from stream.warmstart import MODEL_SNAPSHOT, load_snapshot, snapshot_key, warm_detector

log = logging.getLogger("centinela.worker")

READ_COUNT = 16  # chunks (one batch's events of one partition each) read per XREADGROUP call
REPLAY_PAGE = 64  # chunks read per XRANGE call during a takeover
REPLY_MAX_LEN = 10_000  # approximate chunk replies kept on a reply stream its API replica has not read
REPLY_TTL_SECONDS = 3600  # a reply stream that no API replica reads any more expires
START_ID = "0-0"

Entry = tuple[str, dict[bytes, bytes]]


@dataclass(slots=True)
class Reply:
    """The results of one chunk (one batch, one partition), on their way to the API replica that sent it."""

    reply_to: str
    batch_id: str
    results: list[list[Any]] = field(default_factory=list)
    decisions: list[list[Any]] = field(default_factory=list)
    new_decisions: list[Decision] = field(default_factory=list)


class PartitionState:
    """Everything a partition's clients need: windows, detector, decision agent, and the stream position."""

    def __init__(self, partition: int, settings: Settings, policy: Policy, store: RedisDecisionStore) -> None:
        self.partition = partition
        self.settings = settings.model_copy(update={"state_dir": settings.state_dir / f"partition-{partition}"})
        snapshot = load_snapshot(self.settings)
        self.detector = warm_detector(self.settings, snapshot)
        self.ingestion = IngestionAgent(self.settings, self.detector)
        self.store = store
        self.agent = DecisionAgent(policy, store, self.settings)
        # NOTE: webhooks are not sent from workers: the agent runs outside an event loop here.
        self.agent.webhook = None
        self.offset = START_ID
        self.newest = 0.0  # latest log time processed
        if snapshot is not None and "offset" in snapshot:
            self._restore(snapshot)
        # The flood baseline and the failed logins per endpoint cover every partition (see agents.redis_site).
        self.site = SharedSite(store.client, store.keys.prefix, self.agent.window, partition)
        share_site(self.agent, self.site)

    def _restore(self, snapshot: dict[str, Any]) -> None:
        self.ingestion.extractor = snapshot["extractor"]
        self.ingestion.events_seen = snapshot.get("events_seen", 0)
        for name, value in snapshot.get("decision_agent", {}).items():
            setattr(self.agent, name, value)
        self.offset = snapshot["offset"]
        log.info(
            "partition %d restored from snapshot at entry %s (%d events seen)",
            self.partition, self.offset, self.detector.events_seen,
        )

    def save(self) -> None:
        payload = {
            "detector": self.detector,
            "extractor": self.ingestion.extractor,
            "events_seen": self.ingestion.events_seen,
            "decision_agent": {**{name: getattr(self.agent, name) for name in AGENT_FIELDS}, **plain_site(self.agent)},
            "offset": self.offset,
            "partition": self.partition,
        }
        write_snapshot(self.settings.state_dir / MODEL_SNAPSHOT, payload, snapshot_key(self.settings))

    def process(self, entry_id: str, fields: dict[bytes, bytes]) -> Reply:
        """Score and decide on one chunk as one batch, in order, and move the stream position past it.

        Raise ChunkError when the entry is malformed. The position moves past a malformed entry too.
        """
        self.offset = entry_id
        reply = Reply(fields.get(b"r", b"").decode(), fields.get(b"b", b"").decode())
        pairs = decode_chunk(entry_id, fields)
        if not reply.reply_to or not reply.batch_id:
            raise ChunkError(f"invalid entry {entry_id}: missing field r (reply stream) or b (batch id)")
        events = [event for _, event in pairs]
        scored = self.ingestion.score(events)
        if events:
            self.newest = max(self.newest, max(event.timestamp for event in events))
        with self.store.read_cache(), self.site.processing(entry_id):
            for (index, _), item in zip(pairs, scored, strict=True):
                reply.results.append(_result(index, item))
                self._decide(reply, index, item)
        return reply

    def _decide(self, reply: Reply, index: int, item: ScoredEvent) -> None:
        try:
            decisions = self.agent.observe(item)
        except Exception:
            # One bad event must not stop the partition: log it with its client and go on.
            log.exception("decision agent failed on client=%r partition=%d", item.event.client, self.partition)
            return
        for decision in decisions:
            reply.decisions.append([index, orjson.loads(encode_decision(decision))])
        reply.new_decisions.extend(decisions)


# One C-level call per event: going through Mapping.values() cost a fifth of a chunk's time.
_FEATURE_VALUES = operator.itemgetter(*MODEL_FEATURES)


def _result(index: int, item: ScoredEvent) -> list[Any]:
    return [
        index,
        item.score,
        item.raw_score,
        item.anomalous,
        item.warming_up,
        _FEATURE_VALUES(item.features),
        tuple(item.stats),
    ]


class LeaseKeeper(threading.Thread):
    """Renews the held leases every `interval` seconds, also while the main loop is busy warming a partition.

    NOTE: a main loop stuck forever keeps its leases alive; only a dead process loses them.
    """

    def __init__(self, leases: dict[int, Lease], interval: float) -> None:
        super().__init__(name="lease-keeper", daemon=True)
        self.leases = leases
        self.interval = interval
        self._held: set[int] = set()
        self._lost: set[int] = set()
        self._lock = threading.Lock()
        self._stopped = threading.Event()

    def hold(self, partition: int) -> None:
        with self._lock:
            self._held.add(partition)

    def take_lost(self) -> set[int]:
        with self._lock:
            lost, self._lost = self._lost, set()
            return lost

    def run(self) -> None:
        while not self._stopped.wait(self.interval):
            with self._lock:
                held = list(self._held)
            for partition in held:
                try:
                    renewed = self.leases[partition].renew()
                except redis.RedisError as exc:
                    log.warning("renewing the lease on partition %d failed: %s", partition, exc)
                    continue
                if not renewed:
                    with self._lock:
                        self._held.discard(partition)
                        self._lost.add(partition)

    def stop(self) -> None:
        self._stopped.set()
        self.join(timeout=self.interval * 2)


class Worker:
    """Owns partitions by lease and processes their streams until `stop` is called."""

    def __init__(self, settings: Settings, partitions: list[int], standby: bool, name: str | None = None) -> None:
        if settings.redis_url is None:
            raise ValueError("the worker needs a Redis URL: pass --redis-url or set CENTINELA_REDIS_URL")
        bad = [p for p in partitions if not 0 <= p < settings.partitions]
        if bad:
            raise ValueError(f"partitions {bad} out of range: expected 0 to {settings.partitions - 1}")
        self.settings = settings
        self.wanted = partitions
        self.standby = standby
        self.name = name or f"{socket.gethostname()}-{os.getpid()}"
        self.client = redis.Redis.from_url(settings.redis_url)
        self.keys = Keys(settings.redis_prefix)
        self.clock = SharedClock(self.client, self.keys)
        self.store = RedisDecisionStore(self.client, self.keys, self.clock)
        self.policy = load_policy(settings.policy_path)
        self.leases = {
            p: Lease(self.client, self.keys, p, self.name, settings.lease_ttl_seconds)
            for p in range(settings.partitions)
        }
        self.owned: dict[int, PartitionState] = {}
        self._free_since: dict[int, float] = {}
        self._saved_at: dict[int, float] = {}
        self._running = True
        self.keeper = LeaseKeeper(self.leases, settings.lease_ttl_seconds / 3)

    def stop(self, *_: Any) -> None:
        self._running = False

    def run(self) -> None:
        log.info("worker %s started: partitions %s, standby=%s", self.name, self.wanted, self.standby)
        block_ms = max(10, int(self.settings.lease_ttl_seconds * 1000 / 5))
        self.keeper.start()
        try:
            while self._running:
                self._keep_leases()
                if not self.owned:
                    time.sleep(block_ms / 1000)
                    continue
                streams = {self.keys.events(p): ">" for p in self.owned}
                answer = self.client.xreadgroup(GROUP, self.name, streams, count=READ_COUNT, block=block_ms)
                for stream, entries in answer or ():
                    partition = int(stream.decode().rsplit(":", 1)[1])
                    if partition in self.owned:
                        self._handle(partition, [(entry_id.decode(), fields) for entry_id, fields in entries])
                self._snapshot_due()
        finally:
            self._shutdown()

    # Leases

    def _keep_leases(self) -> None:
        for partition in self.keeper.take_lost():
            log.error("worker %s lost the lease on partition %d; dropping it", self.name, partition)
            self.owned.pop(partition, None)
        for partition in self._candidates():
            if partition not in self.owned and self.leases[partition].acquire():
                self.keeper.hold(partition)
                self._take(partition)

    def _candidates(self) -> list[int]:
        """Return the wanted partitions, plus for a standby those whose lease has been free for a whole TTL."""
        candidates = list(self.wanted)
        if not self.standby:
            return candidates
        now = time.monotonic()
        for partition, lease in self.leases.items():
            if partition in self.owned or partition in candidates:
                continue
            if lease.holder() is not None:
                self._free_since.pop(partition, None)
                continue
            since = self._free_since.setdefault(partition, now)
            if now - since >= self.settings.lease_ttl_seconds:
                candidates.append(partition)
        return candidates

    # Taking over a partition

    def _take(self, partition: int) -> None:
        started = time.perf_counter()
        state = PartitionState(partition, self.settings, self.policy, self.store)
        stream = self.keys.events(partition)
        try:
            self.client.xgroup_create(stream, GROUP, id=START_ID, mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise
        claimed = self._claim(stream)
        replayed = self._replay(state, stream)
        self.owned[partition] = state
        self._saved_at[partition] = time.monotonic()
        self._publish_stats(state)
        log.info(
            "worker %s took partition %d in %.2f s: %d pending entries claimed, %d entries replayed",
            self.name, partition, time.perf_counter() - started, claimed, replayed,
        )

    def _claim(self, stream: str) -> int:
        """XAUTOCLAIM the entries other consumers read but never acknowledged; return how many."""
        min_idle = int(self.settings.lease_ttl_seconds * 1000 / 2)
        cursor, claimed = "0-0", 0
        while True:
            answer = self.client.xautoclaim(stream, GROUP, self.name, min_idle, start_id=cursor, count=1000)
            cursor, entries = answer[0], answer[1]
            claimed += len(entries)
            if cursor in (b"0-0", "0-0"):
                return claimed

    def _replay(self, state: PartitionState, stream: str) -> int:
        """Process the entries after the snapshot up to the group's last delivered one; return how many."""
        groups = {info["name"].decode(): info for info in self.client.xinfo_groups(stream)}
        last = groups[GROUP]["last-delivered-id"].decode()
        self._check_trimmed(state, stream)
        replayed = 0
        while _id_less(state.offset, last):
            entries = self.client.xrange(stream, min=f"({state.offset}", max=last, count=REPLAY_PAGE)
            if not entries:
                break
            self._handle(state.partition, [(entry_id.decode(), fields) for entry_id, fields in entries], state)
            replayed += len(entries)
        return replayed

    def _check_trimmed(self, state: PartitionState, stream: str) -> None:
        first = self.client.xrange(stream, min="-", max="+", count=1)
        if first and state.offset != START_ID and _id_less(state.offset, first[0][0].decode()):
            log.warning(
                "partition %d: entries after snapshot entry %s were trimmed (first kept: %s); "
                "its windows miss them",
                state.partition, state.offset, first[0][0].decode(),
            )

    # Processing

    def _handle(self, partition: int, entries: list[Entry], state: PartitionState | None = None) -> None:
        """Process `entries` (chunks, in stream order); reply and XACK each one before the next."""
        state = state or self.owned[partition]
        for entry_id, fields in entries:
            # NOTE: an error other than ChunkError (a bug in scoring) stops the worker with the chunk
            # pending, and the worker that takes the partition over stops on the same chunk.
            try:
                reply = state.process(entry_id, fields)
            except ChunkError as exc:
                # Acknowledged so that it does not come back forever; its batch gets a 504 from the API.
                log.error("partition %d: %s; acknowledged without a reply", partition, exc)
                self.client.xack(self.keys.events(partition), GROUP, entry_id)
                continue
            self._send(state, entry_id, reply)

    def _send(self, state: PartitionState, entry_id: str, reply: Reply) -> None:
        """In one round trip: the reply, the new decisions, the site evidence, the shared clock, then the XACK."""
        partition, newest = state.partition, state.newest
        pipe = self.client.pipeline(transaction=False)
        state.site.flush(pipe)
        body = orjson.dumps({"results": reply.results, "decisions": reply.decisions})
        fields = {"b": reply.batch_id, "p": partition, "d": body}
        pipe.xadd(reply.reply_to, fields, maxlen=REPLY_MAX_LEN, approximate=True)
        pipe.expire(reply.reply_to, REPLY_TTL_SECONDS)
        for decision in reply.new_decisions:
            pipe.xadd(self.keys.topic(DECISIONS), {"m": encode_decision(decision)}, maxlen=TOPIC_MAX_LEN,
                      approximate=True)
        if newest > 0:
            self.clock.observe(newest, pipe)
        pipe.xack(self.keys.events(partition), GROUP, entry_id)
        pipe.execute()

    def _publish_stats(self, state: PartitionState) -> None:
        stats = {
            "owner": self.name,
            "events_seen": state.detector.events_seen,
            "clients": len(state.ingestion.extractor.windows),
            "warm": int(not state.detector.warming_up),
            "offset": state.offset,
        }
        self.client.hset(self.keys.partition_stats(state.partition), mapping=stats)

    def _snapshot_due(self) -> None:
        now = time.monotonic()
        for partition, state in self.owned.items():
            if now - self._saved_at.get(partition, now) >= self.settings.partition_snapshot_seconds:
                self._save(state)
                self._saved_at[partition] = now

    def _save(self, state: PartitionState) -> None:
        try:
            state.save()
        except OSError as exc:
            log.error("snapshot of partition %d failed: %s; retrying later", state.partition, exc)
        self._publish_stats(state)

    def _shutdown(self) -> None:
        self.keeper.stop()
        for partition, state in self.owned.items():
            self._save(state)
            self.leases[partition].release()
        log.info("worker %s stopped; released partitions %s", self.name, sorted(self.owned))
        self.owned.clear()
        self.client.close()


def _id_less(left: str, right: str) -> bool:
    """Compare two stream entry IDs ("<ms>-<seq>")."""
    a, _, b = left.partition("-")
    c, _, d = right.partition("-")
    return (int(a), int(b or 0)) < (int(c), int(d or 0))


def parse_partitions(text: str) -> list[int]:
    """Read "0,1,3" into [0, 1, 3]; raise ValueError naming the bad item."""
    out = []
    for item in text.split(","):
        item = item.strip()
        if not item:
            continue
        if not item.isdigit():
            raise ValueError(f"invalid partition {item!r}: expected numbers separated by commas, like 0,1")
        out.append(int(item))
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m agents.worker", description="Run a Centinela scoring worker.")
    parser.add_argument("--redis-url", help="Redis URL, such as redis://127.0.0.1:6379/0 (or CENTINELA_REDIS_URL)")
    parser.add_argument("--partitions", default="", help="partitions this worker owns, such as 0,1")
    parser.add_argument("--standby", action="store_true", help="also take over partitions whose owner died")
    parser.add_argument("--state-dir", type=Path, help="snapshot folder (or CENTINELA_STATE_DIR)")
    parser.add_argument("--name", help="consumer name (default: <host>-<pid>)")
    args = parser.parse_args(argv)

    overrides: dict[str, Any] = {}
    if args.redis_url:
        overrides["redis_url"] = args.redis_url
    if args.state_dir:
        overrides["state_dir"] = args.state_dir
    settings = Settings(**overrides)
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    try:
        partitions = parse_partitions(args.partitions)
        if not partitions and not args.standby:
            raise ValueError("give --partitions, --standby or both")
        worker = Worker(settings, partitions, args.standby, args.name)
    except ValueError as exc:
        parser.error(str(exc))
    signal.signal(signal.SIGTERM, worker.stop)
    signal.signal(signal.SIGINT, worker.stop)
    worker.run()


if __name__ == "__main__":
    main()
