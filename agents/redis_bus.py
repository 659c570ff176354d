"""The networked bus: Redis Streams, partitioned by client, with leases on partitions.

Stream and key layout, every name under `settings.redis_prefix` ("centinela"):

| key | type | content |
|---|---|---|
| `centinela:events:{p}` | stream | a chunk per (batch, partition): `b` batch, `r` reply stream, `n` events, `e` chunk |
| `centinela:replies:{replica}` | stream | a reply per chunk: `b` batch, `p` partition, `d` results and decisions |
| `centinela:topic:{topic}` | stream | broadcast topics such as `decisions` |
| `centinela:lease:{p}` | string with TTL | the worker that owns partition p |
| `centinela:partition:{p}` | hash | the owner's figures: events seen, clients, warm |

A client always lands on partition `crc32(client) % partitions`, so its
window, its history and its decisions live in exactly one worker. crc32 and
not `hash()`, because Python salts `str` hashes per process.

A chunk (`e`) is the orjson array of `[index, event]` pairs of one batch
that fall in one partition, in batch order, where `index` is the event's
position among the batch's parsed events. One entry per chunk, not per event,
keeps the stream, the XACKs and the replies proportional to batches.

`RedisBus` implements `agents.bus.Bus` for broadcast topics (`publish` and
`subscribe`), and `append_batch` for the partitioned event streams. A Kafka
transport would map these one to one: a stream is a topic partition, the
consumer group is the Kafka consumer group.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import zlib
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
import redis
import redis.asyncio as aioredis

from agents.bus import DECISIONS, Bus, Subscription
from agents.decisions_store import Decision
from stream.events import AccessEvent

log = logging.getLogger("centinela.redis")

GROUP = "workers"  # the consumer group on every partition stream
TOPIC_MAX_LEN = 100_000  # approximate entries kept on a broadcast topic stream
SEEN_LIMIT = 10_000  # message versions a subscription remembers to skip duplicates


def raise_if_cancelled(exc: BaseException | None = None) -> None:
    """Raise CancelledError when the current task is being cancelled.

    A cancelled blocking read in redis-py 8.2 can end in a ConnectionError or
    even return normally, so a reading loop that only waits for the
    CancelledError never stops. Reading loops call this after every read.
    """
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError from exc


class BusError(RuntimeError):
    """A message cannot travel on the Redis bus (unknown topic, wrong type)."""


def partition_of(client: str, partitions: int) -> int:
    """Return the partition of `client`: crc32 of its UTF-8 bytes modulo `partitions`."""
    return zlib.crc32(client.encode("utf-8", "surrogatepass")) % partitions


@dataclass(frozen=True, slots=True)
class Keys:
    """Names of the streams and keys of one deployment."""

    prefix: str = "centinela"

    def events(self, partition: int) -> str:
        return f"{self.prefix}:events:{partition}"

    def replies(self, replica: str) -> str:
        return f"{self.prefix}:replies:{replica}"

    def topic(self, topic: str) -> str:
        return f"{self.prefix}:topic:{topic}"

    def lease(self, partition: int) -> str:
        return f"{self.prefix}:lease:{partition}"

    def partition_stats(self, partition: int) -> str:
        return f"{self.prefix}:partition:{partition}"


# Codecs: orjson of the dataclass fields, so any language can read the streams.


def encode_event(event: AccessEvent) -> bytes:
    return orjson.dumps(event)


def decode_event(data: bytes) -> AccessEvent:
    return _event_from(orjson.loads(data))


def _event_from(fields: dict[str, Any]) -> AccessEvent:
    fields["tags"] = tuple(fields.get("tags") or ())
    return AccessEvent(**fields)


class ChunkError(ValueError):
    """A partition stream entry is not a valid chunk; the message names the entry and what is wrong."""


def encode_chunk(pairs: Sequence[tuple[int, AccessEvent]]) -> bytes:
    """Encode `[index, event]` pairs (one batch, one partition, batch order) as one orjson array."""
    return orjson.dumps(pairs)


def decode_chunk(entry_id: str, fields: dict[bytes, bytes]) -> list[tuple[int, AccessEvent]]:
    """Return the `(index, event)` pairs of a partition stream entry; raise ChunkError when it is malformed.

    An entry with an `i` field is the one-event format of earlier releases,
    read as a chunk of one so that entries left in a stream survive an upgrade.
    """
    try:
        body = orjson.loads(fields[b"e"])
        if b"i" in fields:
            return [(int(fields[b"i"]), _event_from(body))]
        return [(int(index), _event_from(event)) for index, event in body]
    except (KeyError, TypeError, ValueError) as exc:
        raise ChunkError(
            f"invalid entry {entry_id}: {exc}; expected field e holding [[index, event fields], ...]"
        ) from None


def encode_decision(decision: Decision) -> bytes:
    return orjson.dumps(decision)


def decode_decision(data: bytes | str) -> Decision:
    return Decision(**orjson.loads(data))


_CODECS: dict[str, tuple[type, Callable[[Any], bytes], Callable[[bytes], Any]]] = {
    DECISIONS: (Decision, encode_decision, decode_decision),
}


def split_by_partition(events: Sequence[AccessEvent], partitions: int) -> dict[int, list[int]]:
    """Return the indices of `events` grouped by partition, each list in batch order."""
    groups: dict[int, list[int]] = {}
    for index, event in enumerate(events):
        groups.setdefault(partition_of(event.client, partitions), []).append(index)
    return groups


class RedisBus(Bus):
    """Broadcast topics and partitioned event streams on one Redis (asyncio client)."""

    def __init__(self, client: aioredis.Redis, keys: Keys, partitions: int, stream_max_len: int) -> None:
        self.client = client
        self.keys = keys
        self.partitions = partitions
        self.stream_max_len = stream_max_len
        self._subscriptions: list[RedisSubscription] = []

    async def publish(self, topic: str, message: Any) -> None:
        _, encode, _ = _codec(topic, message)
        await self.client.xadd(
            self.keys.topic(topic), {"m": encode(message)}, maxlen=TOPIC_MAX_LEN, approximate=True
        )

    def subscribe(self, topic: str, maxsize: int = 10_000) -> RedisSubscription:
        subscription = RedisSubscription(self, topic, maxsize)
        self._subscriptions.append(subscription)
        return subscription

    async def append_batch(
        self, events: Sequence[AccessEvent], groups: dict[int, list[int]], batch_id: str, reply_to: str
    ) -> None:
        """Append one chunk per partition of `groups` (from `split_by_partition`) in one round trip.

        `stream_max_len` counts events: each append trims its stream to that
        many entries of this chunk's size.
        NOTE: with chunks of very different sizes the number of events kept is only roughly that.
        """
        pipe = self.client.pipeline(transaction=False)
        for partition, indices in groups.items():
            fields = {
                "b": batch_id,
                "r": reply_to,
                "n": len(indices),
                "e": encode_chunk([(index, events[index]) for index in indices]),
            }
            max_entries = max(1, self.stream_max_len // len(indices))
            pipe.xadd(self.keys.events(partition), fields, maxlen=max_entries, approximate=True)
        await pipe.execute()

    async def deliver_local(self, topic: str, messages: Sequence[Any]) -> None:
        """Hand `messages` to this process's subscriptions of `topic` now; the stream copies are then skipped.

        The API replica calls this with a batch's decisions before it returns
        the batch's verdict, so its feeds show a decision before the result that caused it.
        """
        for subscription in list(self._subscriptions):
            if subscription.topic == topic:
                for message in messages:
                    await subscription.offer(message)

    async def close(self) -> None:
        for subscription in list(self._subscriptions):
            subscription.close()
        await self.client.aclose()

    def _unsubscribe(self, subscription: Subscription) -> None:
        if subscription in self._subscriptions:
            self._subscriptions.remove(subscription)


def _codec(topic: str, message: Any) -> tuple[type, Callable[[Any], bytes], Callable[[bytes], Any]]:
    codec = _CODECS.get(topic)
    if codec is None:
        raise BusError(f"topic {topic!r} cannot travel on the Redis bus; accepted topics: {', '.join(_CODECS)}")
    if message is not None and not isinstance(message, codec[0]):
        raise BusError(f"topic {topic!r} carries {codec[0].__name__} messages, got {type(message).__name__}")
    return codec


class RedisSubscription(Subscription):
    """Every message of one broadcast topic published after `subscribe`, in order.

    A reader task XREADs the topic stream into a bounded queue; when the queue
    is full the reader waits, and Redis keeps the entries meanwhile.
    """

    def __init__(self, bus: RedisBus, topic: str, maxsize: int) -> None:
        _codec(topic, None)
        super().__init__(bus, topic, maxsize)
        self._bus: RedisBus = bus
        # Start after "now" by the Redis ID clock (milliseconds). NOTE: with a client clock
        # ahead of the Redis server's, the first messages after `subscribe` can be missed.
        self._last_id = f"{int(time.time() * 1000)}-0"
        self._seen: OrderedDict[tuple[Any, ...], None] = OrderedDict()
        self._task: asyncio.Task[None] | None = asyncio.get_running_loop().create_task(self._read())

    async def offer(self, message: Any) -> None:
        """Queue `message` unless this subscription already received the same version of it."""
        key = _version(message)
        if key in self._seen:
            return
        self._seen[key] = None
        if len(self._seen) > SEEN_LIMIT:
            self._seen.popitem(last=False)
        await self.queue.put(message)

    async def _read(self) -> None:
        stream = self._bus.keys.topic(self.topic)
        decode = _CODECS[self.topic][2]
        while True:
            try:
                answer = await self._bus.client.xread({stream: self._last_id}, count=500, block=1000)
            except redis.RedisError as exc:
                raise_if_cancelled(exc)
                log.warning("reading topic %s failed: %s; retrying in 1 s", self.topic, exc)
                await asyncio.sleep(1.0)
                continue
            raise_if_cancelled()
            for _, entries in answer or ():
                for entry_id, fields in entries:
                    self._last_id = entry_id
                    await self.offer(decode(fields[b"m"]))

    def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None
        super().close()


def _version(message: Any) -> tuple[Any, ...]:
    if isinstance(message, Decision):
        return (message.id, message.extensions, message.action, message.until)
    return (id(message),)


# Leases: a partition belongs to the worker whose name is stored under its lease key.

_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
    return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
    return redis.call('DEL', KEYS[1])
end
return 0
"""


class Lease:
    """Ownership of one partition: a key holding the owner's name that expires unless renewed.

    NOTE: there is no fencing token. An owner paused for longer than the TTL
    (a long GC or a stopped VM) keeps processing until its next `renew` fails,
    so for that moment two workers may score the same partition.
    """

    def __init__(self, client: redis.Redis, keys: Keys, partition: int, owner: str, ttl: float) -> None:
        self.client = client
        self.key = keys.lease(partition)
        self.partition = partition
        self.owner = owner
        self.ttl_ms = max(1, int(ttl * 1000))
        self._renew = client.register_script(_RENEW)
        self._release = client.register_script(_RELEASE)

    def acquire(self) -> bool:
        return bool(self.client.set(self.key, self.owner, nx=True, px=self.ttl_ms))

    def renew(self) -> bool:
        return bool(self._renew(keys=[self.key], args=[self.owner, self.ttl_ms]))

    def release(self) -> None:
        with contextlib.suppress(redis.RedisError):
            self._release(keys=[self.key], args=[self.owner])

    def holder(self) -> str | None:
        value = self.client.get(self.key)
        return None if value is None else value.decode()
