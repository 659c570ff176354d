"""Replay targets: an in-process runtime, POST /analyze, or the /ws/stream websocket.

Each target turns one batch into an `Outcome` with the same fields and the
same rounding, so a summary does not depend on the transport. Line numbers in
an outcome are line numbers of the replayed file.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit, urlunsplit

import httpx
import orjson
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidHandshake, WebSocketException

from agents.policy import load_policy
from agents.runtime import Runtime
from api.routes.analyze import verdict_to_dict
from config.settings import Settings

BATCH_TIMEOUT = 300.0  # seconds one batch may take on a remote service


class BatchFailed(Exception):
    """One batch could not be analysed; the replay goes on and exits with status 1."""


class Unreachable(Exception):
    """The service cannot be reached at all; the replay stops with exit status 2."""


@dataclass(slots=True)
class Outcome:
    """Result of one batch: scored events, rejected lines, headers read and decisions."""

    events: list[dict[str, Any]] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)
    decisions: list[dict[str, Any]] = field(default_factory=list)
    headers: int = 0


class Target(Protocol):
    name: str

    async def __aenter__(self) -> Target: ...

    async def __aexit__(self, *exc: object) -> None: ...

    async def send(self, items: list[str], first_line: int, format: str) -> Outcome: ...


class InProcessTarget:
    """A private Runtime built from Settings.

    It starts from a copy of the service's state directory, so it sees the
    same model and never overwrites the service's snapshots. The policy's
    webhook is switched off unless `webhook` is true, so a replay of old logs
    does not notify anyone.
    """

    name = "in-process"

    def __init__(self, settings: Settings, webhook: bool = False) -> None:
        self.settings = settings
        self.webhook = webhook
        self.runtime: Runtime | None = None
        self._tmp: tempfile.TemporaryDirectory[str] | None = None

    async def __aenter__(self) -> InProcessTarget:
        self._tmp = tempfile.TemporaryDirectory(prefix="centinela-replay-")
        state_dir = Path(self._tmp.name) / "state"
        if self.settings.state_dir.is_dir():
            shutil.copytree(self.settings.state_dir, state_dir)
        settings = self.settings.model_copy(update={"state_dir": state_dir})
        policy = load_policy(settings.policy_path)
        if not self.webhook:
            policy = policy.model_copy(update={"webhook": policy.webhook.model_copy(update={"url": None})})
        self.runtime = Runtime(settings, policy=policy)
        await self.runtime.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self.runtime is not None:
            await self.runtime.stop()
        if self._tmp is not None:
            self._tmp.cleanup()

    async def send(self, items: list[str], first_line: int, format: str) -> Outcome:
        assert self.runtime is not None
        verdict = await self.runtime.analyze(items, format=format, first_line=first_line)
        if verdict.error:
            raise BatchFailed(f"analysis failed: {verdict.error}")
        body = verdict_to_dict(verdict)
        return Outcome(body["events"], body["errors"], body["actions"], verdict.parsed.header_lines)


MAX_RATE_LIMIT_RETRIES = 8


class HttpTarget:
    """POST /analyze on a running service, one batch per request, in order."""

    name = "http"

    def __init__(self, url: str, api_key: str | None = None) -> None:
        self.url = url.rstrip("/")
        headers = {"X-API-Key": api_key} if api_key else {}
        self.client = httpx.AsyncClient(base_url=self.url, timeout=BATCH_TIMEOUT, headers=headers)

    async def __aenter__(self) -> HttpTarget:
        try:
            response = await self.client.get("/health", timeout=10.0)
        except httpx.HTTPError as exc:
            await self.client.aclose()
            raise Unreachable(f"service at {self.url} is unreachable: {exc!r}") from exc
        if response.status_code >= 500 or response.status_code == 404:
            await self.client.aclose()
            raise Unreachable(f"{self.url}/health returned HTTP {response.status_code}; is this Centinela?")
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.client.aclose()

    async def send(self, items: list[str], first_line: int, format: str) -> Outcome:
        response = await self._post({"logs": items, "format": format})
        if response.status_code != 200:
            raise BatchFailed(f"POST /analyze returned HTTP {response.status_code}: {response.text[:300]}")
        body = response.json()
        shift = first_line - 1  # the service numbers each batch from 1
        events = [{**event, "line": event["line"] + shift} for event in body["events"]]
        errors = [{**error, "line": error["line"] + shift} for error in body["errors"]]
        headers = body["received"] - body["parsed"] - body["rejected"]
        return Outcome(events, errors, body["actions"], headers)


    async def _post(self, body: dict[str, object]) -> httpx.Response:
        """POST one batch, waiting out 429 responses for as long as their Retry-After asks (a few times at most)."""
        for _attempt in range(MAX_RATE_LIMIT_RETRIES):
            try:
                response = await self.client.post("/analyze", json=body)
            except httpx.HTTPError as exc:
                raise BatchFailed(f"POST /analyze failed: {exc!r}") from exc
            if response.status_code != 429:
                return response
            await asyncio.sleep(_retry_after(response))
        return response


def _retry_after(response: httpx.Response) -> float:
    try:
        return min(max(float(response.headers.get("retry-after", "1")), 0.05), 30.0)
    except ValueError:
        return 1.0


def websocket_url(url: str) -> str:
    """Turn http(s)://host:port into ws(s)://host:port/ws/stream."""
    parts = urlsplit(url)
    scheme = {"http": "ws", "https": "wss"}.get(parts.scheme, parts.scheme)
    return urlunsplit((scheme, parts.netloc, parts.path.rstrip("/") + "/ws/stream", "", ""))


class WebSocketTarget:
    """/ws/stream on a running service: one message per batch, seq ids are the file's line numbers."""

    name = "ws"

    def __init__(self, url: str, api_key: str | None = None) -> None:
        self.url = websocket_url(url)
        self.headers = {"X-API-Key": api_key} if api_key else None
        self.connection: ClientConnection | None = None

    async def __aenter__(self) -> WebSocketTarget:
        try:
            self.connection = await connect(
                self.url, max_size=16 * 1024 * 1024, open_timeout=10.0, additional_headers=self.headers
            )
        except (OSError, InvalidHandshake, TimeoutError) as exc:
            raise Unreachable(f"websocket {self.url} is unreachable: {exc!r}") from exc
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self.connection is not None:
            await self.connection.close()

    async def send(self, items: list[str], first_line: int, format: str) -> Outcome:
        assert self.connection is not None
        message = {"format": format, "items": [{"seq": first_line + i, "line": item} for i, item in enumerate(items)]}
        try:
            await self.connection.send(orjson.dumps(message).decode())
            return await self._collect(len(items))
        except (WebSocketException, OSError, TimeoutError) as exc:
            raise BatchFailed(f"websocket batch at line {first_line} failed: {exc!r}") from exc

    async def _collect(self, expected: int) -> Outcome:
        """Read replies until every item of the batch has one; decisions come before their results."""
        assert self.connection is not None
        outcome = Outcome()
        answered = 0
        while answered < expected:
            reply = orjson.loads(await self.connection.recv())
            kind = reply.get("type")
            if kind == "decision":
                outcome.decisions.append(reply["decision"])
                continue
            if "line" not in reply:
                raise BatchFailed(f"service rejected the message: {reply.get('reason')}")
            answered += 1
            if kind == "result":
                outcome.events.append(_event_of(reply))
            elif kind == "error":
                outcome.errors.append({"line": reply["seq"], "reason": reply["reason"]})
            else:
                outcome.headers += 1
        return outcome


def _event_of(reply: dict[str, Any]) -> dict[str, Any]:
    return {
        "line": reply["seq"],
        "client": reply["client"],
        "score": reply["score"],
        "anomalous": reply["anomalous"],
        "warming_up": reply["warming_up"],
    }
