"""Token-bucket rate limits: HTTP requests per key (429 with Retry-After), websocket messages per key.

Each key (or client address, for callers without a key) owns a bucket of
`burst` tokens refilled at `rate` tokens per second. An HTTP request over the
limit gets 429 and a Retry-After in whole seconds. A websocket message over
the limit is not dropped: the guard waits before handing it to the route, so
a fast sender is slowed to the rate (backpressure through TCP). A websocket
message larger than `websocket_hard_limit` closes the connection with code 1009.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Annotated
from urllib.parse import parse_qs

from fastapi import Depends, HTTPException, status
from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.auth import HEADER, QUERY_PARAM, KeyRing, Principal, authorize
from config.settings import Settings

log = logging.getLogger("centinela.ratelimit")

MAX_BUCKETS = 100_000
WS_MESSAGE_TOO_BIG = 1009


def websocket_hard_limit(settings: Settings) -> int:
    """Return the frame size that closes a websocket: twice `websocket_max_message_bytes`.

    Frames between the two limits get an error reply from the route and the connection stays open.
    """
    return 2 * settings.websocket_max_message_bytes


class TokenBucket:
    __slots__ = ("burst", "rate", "stamp", "tokens")

    def __init__(self, rate: float, burst: int, now: float) -> None:
        self.rate = rate
        self.burst = burst
        self.tokens = float(burst)
        self.stamp = now

    def _refill(self, now: float) -> None:
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now

    def try_take(self, now: float) -> float:
        """Take a token if one is there and return 0, else return the seconds until one will be."""
        self._refill(now)
        if self.tokens >= 1:
            self.tokens -= 1
            return 0.0
        return (1 - self.tokens) / self.rate

    def reserve(self, now: float) -> float:
        """Take a token, borrowing from the future if needed; return the seconds to wait before using it."""
        self._refill(now)
        self.tokens -= 1
        return 0.0 if self.tokens >= 0 else -self.tokens / self.rate


class RateLimiter:
    """One bucket per name, at most `max_buckets` of them (least recently used dropped first)."""

    def __init__(
        self,
        rate: float,
        burst: int,
        max_buckets: int = MAX_BUCKETS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.rate = rate
        self.burst = burst
        self.max_buckets = max_buckets
        self.clock = clock
        self.buckets: OrderedDict[str, TokenBucket] = OrderedDict()

    def bucket(self, name: str) -> TokenBucket:
        bucket = self.buckets.get(name)
        if bucket is None:
            bucket = TokenBucket(self.rate, self.burst, self.clock())
            self.buckets[name] = bucket
            if len(self.buckets) > self.max_buckets:
                self.buckets.popitem(last=False)
        else:
            self.buckets.move_to_end(name)
        return bucket

    def try_take(self, name: str) -> float:
        return self.bucket(name).try_take(self.clock())

    def reserve(self, name: str) -> float:
        return self.bucket(name).reserve(self.clock())


async def guard(conn: HTTPConnection, principal: Annotated[Principal, Depends(authorize)]) -> Principal:
    """Authorize the caller, then charge its HTTP rate limit (429 when empty); the app-wide dependency."""
    conn.state.principal = principal
    if conn.scope["type"] != "http":
        return principal
    limiter: RateLimiter = conn.app.state.rate_limiter
    wait = limiter.try_take(principal.bucket)
    if wait > 0:
        retry = max(1, math.ceil(wait))
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS,
            detail=f"rate limit of {limiter.rate:g} requests/s (burst {limiter.burst}) exceeded; "
            f"retry in {retry} s or raise CENTINELA_RATE_LIMIT_PER_SECOND",
            headers={"Retry-After": str(retry)},
        )
    return principal


class WebSocketGuard:
    """ASGI middleware on /ws/*: limit each message's size, and message rate per key or address."""

    def __init__(self, app: ASGIApp, keyring: KeyRing, max_bytes: int, rate: float, burst: int) -> None:
        self.app = app
        self.keyring = keyring
        self.max_bytes = max_bytes
        self.limiter = RateLimiter(rate, burst)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "websocket" or not scope["path"].startswith("/ws/"):
            await self.app(scope, receive, send)
            return
        bucket = self._bucket(scope)
        closed = False

        async def limited_receive() -> Message:
            nonlocal closed
            message = await receive()
            if message["type"] != "websocket.receive":
                return message
            size = len(message.get("bytes") or b"") + len((message.get("text") or "").encode())
            if size > self.max_bytes:
                closed = True
                reason = f"message of {size} bytes exceeds the limit of {self.max_bytes}"
                log.warning("websocket closed client=%r path=%r: %s", bucket, scope["path"], reason)
                await send({"type": "websocket.close", "code": WS_MESSAGE_TOO_BIG, "reason": reason})
                return {"type": "websocket.disconnect", "code": WS_MESSAGE_TOO_BIG}
            wait = self.limiter.reserve(bucket)
            if wait > 0:
                await asyncio.sleep(wait)
            return message

        async def guarded_send(message: Message) -> None:
            if not closed:
                await send(message)

        await self.app(scope, limited_receive, guarded_send)

    def _bucket(self, scope: Scope) -> str:
        headers = dict(scope.get("headers", ()))
        presented = headers.get(HEADER.lower().encode(), b"").decode("latin-1")
        if not presented:
            query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
            presented = (query.get(QUERY_PARAM) or [""])[0]
        key = self.keyring.identify(presented)
        if key is not None:
            return f"key:{key.name}"
        client = scope.get("client")
        return f"addr:{client[0] if client else 'unknown'}"
