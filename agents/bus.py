"""The internal message bus between agents.

`Bus` is the interface; `InMemoryBus` runs every agent in one process on
asyncio queues. Queues are bounded, so a slow subscriber makes `publish`
wait (backpressure) instead of dropping messages or growing without bound.
"""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator
from typing import Any

# Topic names used by the agents.
RAW = "logs.raw"  # RawBatch: lines to analyse
SCORED = "events.scored"  # ScoredBatch: the ingestion agent's output
DECIDED = "batches.decided"  # BatchVerdict: scored events plus the decisions they caused
DECISIONS = "decisions"  # Decision: every new or extended decision, for feeds


class Bus(ABC):
    """Publish/subscribe by topic. Each subscription receives every message of its topic, in order."""

    @abstractmethod
    async def publish(self, topic: str, message: Any) -> None: ...

    @abstractmethod
    def subscribe(self, topic: str, maxsize: int = 10_000) -> Subscription: ...

    async def close(self) -> None:  # noqa: B027 - optional hook
        """Release transport resources."""

    def _unsubscribe(self, subscription: Subscription) -> None:  # noqa: B027 - optional hook
        """Stop delivering messages to `subscription`."""


class Subscription:
    """A bounded queue of one topic's messages; iterate it or call `get`."""

    def __init__(self, bus: Bus, topic: str, maxsize: int) -> None:
        self._bus = bus
        self.topic = topic
        self.queue: asyncio.Queue[Any] = asyncio.Queue(maxsize)

    async def get(self) -> Any:
        return await self.queue.get()

    def task_done(self) -> None:
        self.queue.task_done()

    async def join(self) -> None:
        """Wait until every message received so far has been marked done."""
        await self.queue.join()

    def close(self) -> None:
        self._bus._unsubscribe(self)

    async def __aiter__(self) -> AsyncIterator[Any]:
        while True:
            yield await self.queue.get()


class InMemoryBus(Bus):
    def __init__(self) -> None:
        self._subscriptions: dict[str, list[Subscription]] = {}

    async def publish(self, topic: str, message: Any) -> None:
        for subscription in list(self._subscriptions.get(topic, ())):
            await subscription.queue.put(message)

    def subscribe(self, topic: str, maxsize: int = 10_000) -> Subscription:
        subscription = Subscription(self, topic, maxsize)
        self._subscriptions.setdefault(topic, []).append(subscription)
        return subscription

    def _unsubscribe(self, subscription: Subscription) -> None:
        subs = self._subscriptions.get(subscription.topic, [])
        if subscription in subs:
            subs.remove(subscription)

    def depth(self, topic: str) -> int:
        """Return the messages of `topic` waiting in its fullest subscription."""
        return max((sub.queue.qsize() for sub in self._subscriptions.get(topic, ())), default=0)

    def subscribers(self, topic: str) -> int:
        return len(self._subscriptions.get(topic, ()))
