"""POST decisions of at least a configured action to a webhook, off the decision path.

`submit` only puts the decision on a bounded queue, so the agent never waits
for the network. A background task sends each decision as JSON with a timeout
and retries failures (connection errors, timeouts, HTTP 429 and 5xx) with
exponential backoff. Errors are logged, never raised. When the queue is full
the decision is not sent and the drop is counted and logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING

import httpx

from agents.policy import ACTION_RANK, Webhook

if TYPE_CHECKING:
    from agents.decisions_store import Decision

logger = logging.getLogger("centinela.webhook")

RETRY_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})


class WebhookNotifier:
    """Send decisions to `config.url` in a background task; see the module docstring for the rules."""

    def __init__(self, config: Webhook, transport: httpx.AsyncBaseTransport | None = None) -> None:
        if not config.url:
            raise ValueError("webhook: a url is required to send decisions")
        self.config = config
        self._transport = transport
        self._queue: asyncio.Queue[Decision] = asyncio.Queue(config.queue_size)
        self._task: asyncio.Task[None] | None = None
        self.sent = 0
        self.failed = 0
        self.dropped = 0

    def submit(self, decision: Decision) -> bool:
        """Queue a decision for sending when its action is at least `min_action`, without waiting.

        Returns False when the action is below `min_action` or the queue is full.
        """
        if ACTION_RANK[decision.action] < ACTION_RANK[self.config.min_action]:
            return False
        self._start_if_loop()
        try:
            self._queue.put_nowait(decision)
        except asyncio.QueueFull:
            self.dropped += 1
            logger.warning(
                "webhook queue full (%d): decision id=%s not sent, %d dropped so far",
                self.config.queue_size,
                decision.id,
                self.dropped,
            )
            return False
        return True

    def start(self) -> None:
        """Start the sending task; call from a running event loop."""
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._worker(), name="centinela-webhook")

    def _start_if_loop(self) -> None:
        # Decisions made outside an event loop wait in the queue until `start` runs in one.
        if self._task is not None and not self._task.done():
            return
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return
        self.start()

    async def drain(self) -> None:
        """Wait until every queued decision has been sent or given up on."""
        await self._queue.join()

    async def close(self, timeout: float = 5.0) -> None:
        """Send what is queued (waiting at most `timeout` seconds), then stop the task."""
        if self._task is None:
            return
        try:
            await asyncio.wait_for(self._queue.join(), timeout)
        except TimeoutError:
            logger.warning("webhook closed with %d decisions unsent", self._queue.qsize())
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None

    async def _worker(self) -> None:
        timeout = httpx.Timeout(self.config.timeout)
        async with httpx.AsyncClient(timeout=timeout, transport=self._transport) as client:
            while True:
                decision = await self._queue.get()
                try:
                    await self._send(client, decision)
                finally:
                    self._queue.task_done()

    async def _send(self, client: httpx.AsyncClient, decision: Decision) -> None:
        url = self.config.url
        assert url is not None
        payload = decision.to_dict()
        attempts = self.config.retries + 1
        for attempt in range(1, attempts + 1):
            error = await self._post(client, url, payload)
            if error is None:
                self.sent += 1
                return
            if attempt < attempts and error.retryable:
                delay = self.config.backoff * 2 ** (attempt - 1)
                logger.warning(
                    "webhook attempt %d/%d for decision id=%s failed: %s; retrying in %.1f s",
                    attempt,
                    attempts,
                    decision.id,
                    error.text,
                    delay,
                )
                await asyncio.sleep(delay)
                continue
            self.failed += 1
            logger.error("webhook gave up on decision id=%s after %d attempts: %s", decision.id, attempt, error.text)
            return

    @staticmethod
    async def _post(client: httpx.AsyncClient, url: str, payload: dict[str, object]) -> _Failure | None:
        try:
            response = await client.post(url, json=payload)
        except httpx.HTTPError as exc:
            return _Failure(f"{type(exc).__name__}: {exc}", retryable=True)
        if response.is_success:
            return None
        retryable = response.status_code in RETRY_STATUSES
        return _Failure(f"HTTP {response.status_code}", retryable=retryable)


class _Failure:
    __slots__ = ("retryable", "text")

    def __init__(self, text: str, retryable: bool) -> None:
        self.text = text
        self.retryable = retryable
