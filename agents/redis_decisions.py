"""Decisions shared through Redis, so every worker and API replica sees the same ones.

`RedisDecisionStore` has the methods of `agents.decisions_store.DecisionStore`
that the decision agent and the routes call, backed by these keys:

| key | type | content |
|---|---|---|
| `centinela:decision:{id}` | string | the decision, orjson of its fields |
| `centinela:decisions:until` | sorted set | id by `until`: the active ones are those above "now" |
| `centinela:decisions:order` | sorted set | id by insertion number, for newest-first listings |
| `centinela:active:{scenario}:{value}` | string | id of the current decision there (de-dup, cooldown) |
| `centinela:offences:{scenario}:{value}` | sorted set | offence log times, for escalation |
| `centinela:clock` | hash | the latest log time seen and the wall time it was seen at |

`until` is log time, not wall time, so a replay of an old log keeps its
decisions active. Redis expiry therefore cannot say when a decision ends.
Each key instead gets a wall-clock TTL of its duration plus `retention`, and
the listings filter by the shared stream clock.
"""

from __future__ import annotations

import contextlib
import logging
import time
import uuid
from collections.abc import Iterator

import redis

from agents.decisions_store import Decision, select_decisions
from agents.redis_bus import Keys, decode_decision, encode_decision

logger = logging.getLogger("centinela.decision")

RETENTION_SECONDS = 7 * 86_400  # wall time a decision stays readable after its duration
MAX_OFFENCES_PER_KEY = 64

_OBSERVE = """
local current = tonumber(redis.call('HGET', KEYS[1], 'log_time') or '-1')
local now = tonumber(redis.call('HGET', KEYS[1], 'seen_at') or '0')
local offered = tonumber(ARGV[1])
local wall = tonumber(ARGV[2])
if current < 0 or offered > current + (wall - now) then
    redis.call('HSET', KEYS[1], 'log_time', ARGV[1], 'seen_at', ARGV[2])
end
return 1
"""

_RECORD_OFFENCE = """
redis.call('ZADD', KEYS[1], ARGV[1], ARGV[2])
redis.call('ZREMRANGEBYRANK', KEYS[1], 0, -(tonumber(ARGV[4]) + 1))
redis.call('EXPIRE', KEYS[1], ARGV[5])
return redis.call('ZCOUNT', KEYS[1], '(' .. ARGV[3], ARGV[1])
"""


class SharedClock:
    """Stream time shared by every process: the latest log time any worker saw, moving on with the wall clock."""

    def __init__(self, client: redis.Redis, keys: Keys) -> None:
        self.client = client
        self.key = f"{keys.prefix}:clock"
        self._observe = client.register_script(_OBSERVE)

    def observe(self, log_time: float, pipe: redis.client.Pipeline | None = None) -> None:
        """Move the shared clock to `log_time` if that is later; with `pipe`, queue the update there."""
        self._observe(keys=[self.key], args=[repr(log_time), repr(time.time())], client=pipe)

    def now(self) -> float:
        log_time, seen_at = self.client.hmget(self.key, ["log_time", "seen_at"])
        if log_time is None or seen_at is None:
            return time.time()
        return float(log_time) + (time.time() - float(seen_at))


class RedisDecisionStore:
    """Decisions by id, the active one per (value, scenario) and offence times, in Redis (sync client)."""

    def __init__(self, client: redis.Redis, keys: Keys, clock: SharedClock, max_decisions: int = 100_000) -> None:
        self.client = client
        self.keys = keys
        self.shared_clock = clock
        self.clock = clock.now
        self._max_decisions = max_decisions
        self._until = f"{keys.prefix}:decisions:until"
        self._order = f"{keys.prefix}:decisions:order"
        self._sequence = f"{keys.prefix}:decisions:sequence"
        self._record = client.register_script(_RECORD_OFFENCE)
        # (value, scenario) -> the decision read or written inside `read_cache`, None when there is none.
        self._cache: dict[tuple[str, str], Decision | None] | None = None

    @contextlib.contextmanager
    def read_cache(self) -> Iterator[None]:
        """Serve repeated `active_for` reads from memory inside the block, and keep this store's writes there.

        A worker wraps one chunk in it. The decision agent reads the same
        (client, scenario) on many events of a burst, and a round trip per read
        was most of a chunk's time. Writes made through this store update the
        cache, so reads stay exact for the partition's own clients. A lift or a
        range decision written by another process during the block is seen
        from the next block on, as if it had arrived after this chunk.
        """
        self._cache = {}
        try:
            yield
        finally:
            self._cache = None

    def _decision_key(self, decision_id: str) -> str:
        return f"{self.keys.prefix}:decision:{decision_id}"

    def _active_key(self, value: str, scenario: str) -> str:
        return f"{self.keys.prefix}:active:{scenario}:{value}"

    def _offences_key(self, value: str, scenario: str) -> str:
        return f"{self.keys.prefix}:offences:{scenario}:{value}"

    def __len__(self) -> int:
        return int(self.client.zcard(self._order))

    def __iter__(self) -> Iterator[Decision]:
        ids = [item.decode() for item in self.client.zrange(self._order, 0, -1)]
        return iter(self._load(ids))

    # Writing

    def add(self, decision: Decision) -> None:
        """Store a new decision and make it the current one for its value and scenario."""
        ttl = self._ttl(decision)
        sequence = self.client.incr(self._sequence)
        pipe = self.client.pipeline(transaction=True)
        pipe.set(self._decision_key(decision.id), encode_decision(decision), ex=ttl)
        pipe.zadd(self._until, {decision.id: decision.until})
        pipe.zadd(self._order, {decision.id: sequence})
        pipe.set(self._active_key(decision.value, decision.scenario), decision.id, ex=ttl)
        pipe.zremrangebyrank(self._order, 0, -(self._max_decisions + 1))
        pipe.execute()
        self._remember(decision)
        _log(decision, "new")

    def updated(self, decision: Decision, change: str) -> None:
        """Write back an extension or upgrade that the caller applied to a decision read from here."""
        ttl = self._ttl(decision)
        pipe = self.client.pipeline(transaction=True)
        pipe.set(self._decision_key(decision.id), encode_decision(decision), ex=ttl)
        pipe.zadd(self._until, {decision.id: decision.until})
        pipe.expire(self._active_key(decision.value, decision.scenario), ttl)
        pipe.execute()
        self._remember(decision)
        _log(decision, change)

    def lift(self, decision_id: str) -> Decision | None:
        """Delete a decision; its offence no longer counts towards escalation."""
        decision = self.get(decision_id)
        if decision is None:
            return None
        active_key = self._active_key(decision.value, decision.scenario)
        offences = self._offences_key(decision.value, decision.scenario)
        pipe = self.client.pipeline(transaction=True)
        pipe.delete(self._decision_key(decision_id))
        pipe.zrem(self._until, decision_id)
        pipe.zrem(self._order, decision_id)
        pipe.zrangebyscore(offences, decision.triggered_at, decision.triggered_at, start=0, num=1)
        pipe.get(active_key)
        _, _, _, offence, current = pipe.execute()
        if offence:
            self.client.zrem(offences, offence[0])
        if current is not None and current.decode() == decision_id:
            self.client.delete(active_key)
        if self._cache is not None:
            self._cache.pop((decision.value, decision.scenario), None)
        logger.info("decision lifted id=%s value=%r scenario=%s", decision.id, decision.value, decision.scenario)
        return decision

    def record_offence(self, value: str, scenario: str, at: float, memory: float) -> int:
        """Record an offence at log time `at` and return how many fell within `memory` seconds, this one included."""
        member = f"{at!r}:{uuid.uuid4().hex[:8]}"
        args = [repr(at), member, repr(at - memory), MAX_OFFENCES_PER_KEY, int(memory) + RETENTION_SECONDS]
        return int(self._record(keys=[self._offences_key(value, scenario)], args=args))

    # Reading

    def get(self, decision_id: str) -> Decision | None:
        data = self.client.get(self._decision_key(decision_id))
        return None if data is None else decode_decision(data)

    def active_for(self, value: str, scenario: str, now: float) -> Decision | None:
        """Return the active decision on `value` for `scenario` at time `now`, if any."""
        cache = self._cache
        if cache is not None and (value, scenario) in cache:
            decision = cache[(value, scenario)]
        else:
            decision = self._current(value, scenario)
            if cache is not None:
                cache[(value, scenario)] = decision
        if decision is None or not decision.is_active(now):
            return None
        return decision

    def _current(self, value: str, scenario: str) -> Decision | None:
        decision_id = self.client.get(self._active_key(value, scenario))
        return None if decision_id is None else self.get(decision_id.decode())

    def find(
        self,
        scope: str | None = None,
        value: str | None = None,
        scenario: str | None = None,
        active: bool = True,
        limit: int = 100,
        now: float | None = None,
    ) -> list[Decision]:
        """Return matching decisions, newest first; `active` keeps those whose `until` is after `now`."""
        now = self.clock() if now is None else now
        if active:
            ids = [item.decode() for item in self.client.zrangebyscore(self._until, f"({now!r}", "+inf")]
            sequence = self.client.zmscore(self._order, ids) if ids else []
            ranked = sorted(zip(sequence, ids, strict=True), key=lambda pair: pair[0] or 0.0, reverse=True)
            candidates = [item for _, item in ranked]
        else:
            candidates = [item.decode() for item in self.client.zrevrange(self._order, 0, -1)]
        return select_decisions(self._load(candidates), scope, value, scenario, active, now, limit)

    def count_active(self, now: float | None = None) -> int:
        now = self.clock() if now is None else now
        return int(self.client.zcount(self._until, f"({now!r}", "+inf"))

    # Internals

    def _remember(self, decision: Decision) -> None:
        if self._cache is not None:
            self._cache[(decision.value, decision.scenario)] = decision

    def _load(self, ids: list[str], page: int = 500) -> list[Decision]:
        """Read decisions by id in pages, dropping (and unindexing) those whose key has expired."""
        out: list[Decision] = []
        for start in range(0, len(ids), page):
            chunk = ids[start : start + page]
            values = self.client.mget([self._decision_key(item) for item in chunk])
            expired = [item for item, data in zip(chunk, values, strict=True) if data is None]
            out.extend(decode_decision(data) for data in values if data is not None)
            if expired:
                self.client.zrem(self._until, *expired)
                self.client.zrem(self._order, *expired)
        return out

    @staticmethod
    def _ttl(decision: Decision) -> int:
        return int(decision.duration_seconds) + RETENTION_SECONDS


def _log(decision: Decision, change: str) -> None:
    logger.info(
        "decision id=%s client=%r scenario=%s action=%s until=%.0f change=%s simulated=%s",
        decision.id,
        decision.client,
        decision.scenario,
        decision.action,
        decision.until,
        change,
        decision.simulated,
    )
