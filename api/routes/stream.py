"""Websockets: live scoring on /ws/stream and the decision feed on /ws/decisions.

/ws/stream
    The client sends text frames, each one JSON object:

    - one line: ``{"seq": 17, "line": "<raw access-log line>"}``
    - one event: ``{"seq": 18, "event": {"@timestamp": "...", "source.ip": "...", ...}}``
    - several: ``{"items": [{"seq": 19, "line": "..."}, {"seq": 20, "event": {...}}]}``

    ``seq`` is optional and may be any JSON value; it is echoed back, or null
    when absent. An optional ``"format"`` key (auto, combined, common, json,
    csv) overrides the connection's ``?format=`` query parameter for that
    message. One message is one batch: a CSV message must start with its header.

    Every item gets exactly one reply, in the order the items were sent:

    - ``{"type": "result", "seq", "line", "client", "score", "anomalous", "warming_up"}``
    - ``{"type": "error", "seq", "line", "reason"}`` for an item that was rejected
    - ``{"type": "header", "seq", "line"}`` for an item read as a CSV header

    ``line`` numbers the items of the connection from 1, rejected ones included.
    Decisions the agents make about a client seen on this connection arrive as
    ``{"type": "decision", "decision": {...}}`` as soon as they are published,
    and always before the results of the message that caused them. A frame
    that is not valid JSON, has the wrong shape, is binary or is larger than
    ``websocket_max_message_bytes`` gets ``{"type": "error", "reason": "..."}``
    and the connection stays open.

    Backpressure: at most ``websocket_max_in_flight`` messages are read ahead
    of their replies. When the service or the client falls behind, the server
    stops reading, so TCP flow control slows the sender and nothing is dropped.

/ws/decisions
    Every new, extended or upgraded decision, as ``{"type": "decision",
    "snapshot": false, "decision": {...}}``. With ``?snapshot=1`` the active
    decisions come first, oldest first, with ``"snapshot": true``. Messages
    from the client are read and ignored.

Slow subscribers: decisions are taken off the bus at once so the decision
agent never waits on a socket. A connection with more than
``websocket_decision_buffer`` decisions waiting is closed with code 1013
(try again later) instead of silently losing decisions; reconnect with
``?snapshot=1`` to catch up.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
from fastapi import APIRouter, WebSocket
from starlette.websockets import WebSocketDisconnect

from agents.bus import DECISIONS, Bus
from agents.decisions_store import Decision
from agents.runtime import BatchVerdict, Runtime
from stream.parsers import ParseResult

log = logging.getLogger("centinela.ws")

router = APIRouter()

FORMATS = ("auto", "combined", "common", "json", "csv")
ACCEPTED = (
    'send one JSON object per text frame: {"seq": <any>, "line": "<log line>"}, '
    '{"seq": <any>, "event": {<ECS fields>}} or {"items": [<those objects>]}, '
    'optionally with "format": one of ' + ", ".join(FORMATS)
)
CLOSE_TRY_AGAIN = 1013
CLOSE_POLICY = 1008
CLOSE_TIMEOUT = 2.0  # seconds to try a close frame on a socket that no longer drains
MAX_KNOWN_CLIENTS = 100_000
MAX_SENT_KEYS = 10_000


class FrameError(ValueError):
    """A websocket message that is not a valid request; the message states what is accepted."""


# Messages in


@dataclass(slots=True)
class Batch:
    """One client message: its items, their seq ids and line numbers, and items rejected before parsing."""

    items: list[str | dict[str, Any]]
    seqs: list[Any]
    lines: list[int]
    format: str
    rejected: dict[int, tuple[Any, str]] = field(default_factory=dict)

    @property
    def size(self) -> int:
        return len(self.items) + len(self.rejected)


@dataclass(slots=True)
class BadFrame:
    reason: str
    seq: Any = None


def _decode_frame(message: dict[str, Any], max_bytes: int) -> dict[str, Any]:
    """Return the JSON object of a websocket.receive message, or raise FrameError."""
    text = message.get("text")
    if text is None:
        raise FrameError(f"binary frames are not accepted; {ACCEPTED}")
    size = len(text.encode("utf-8", "surrogatepass")) if len(text) * 4 > max_bytes else len(text)
    if size > max_bytes:
        raise FrameError(
            f"message of {size} bytes exceeds the limit of {max_bytes} bytes (websocket_max_message_bytes); "
            "split it into smaller messages"
        )
    try:
        body = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise FrameError(f"invalid JSON ({exc}); {ACCEPTED}") from None
    if not isinstance(body, dict):
        raise FrameError(f"expected a JSON object, got {type(body).__name__}; {ACCEPTED}")
    return body


def _item_of(entry: Any) -> tuple[Any, str | dict[str, Any] | None, str | None]:
    """Return (seq, item, None) for a valid entry or (seq, None, reason) for a rejected one."""
    if not isinstance(entry, dict):
        return None, None, f'expected an object with "line" or "event", got {type(entry).__name__}'
    seq = entry.get("seq")
    line, event = entry.get("line"), entry.get("event")
    if line is not None and event is not None:
        return seq, None, 'send either "line" or "event", not both'
    if isinstance(line, str):
        return seq, line, None
    if isinstance(event, dict):
        return seq, event, None
    if line is not None:
        return seq, None, f'"line" must be a string, got {type(line).__name__}'
    if event is not None:
        return seq, None, f'"event" must be an object, got {type(event).__name__}'
    return seq, None, f'missing "line" or "event"; {ACCEPTED}'


def parse_message(body: dict[str, Any], first_line: int, default_format: str, max_items: int) -> Batch:
    """Turn one decoded client message into a Batch whose lines start at `first_line`, or raise FrameError."""
    message_format = body.get("format", default_format)
    if message_format not in FORMATS:
        raise FrameError(f"unknown format {message_format!r}; accepted: {', '.join(FORMATS)}")
    if "items" in body:
        entries = body["items"]
        if not isinstance(entries, list) or not entries:
            raise FrameError(f'"items" must be a non-empty list; {ACCEPTED}')
        if len(entries) > max_items:
            raise FrameError(f"{len(entries)} items exceed the limit of {max_items} per message (max_batch_lines)")
    elif "line" in body or "event" in body:
        entries = [body]
    else:
        raise FrameError(f'missing "line", "event" or "items"; {ACCEPTED}')

    batch = Batch([], [], [], message_format)
    for offset, entry in enumerate(entries):
        seq, item, reason = _item_of(entry)
        if reason is not None:
            batch.rejected[first_line + offset] = (seq, reason)
            continue
        assert item is not None
        batch.items.append(item)
        batch.seqs.append(seq)
        batch.lines.append(first_line + offset)
    return batch


# Messages out


def result_message(seq: Any, line: int, scored: Any) -> dict[str, Any]:
    return {
        "type": "result",
        "seq": seq,
        "line": line,
        "client": scored.event.client,
        "score": None if scored.score is None else round(scored.score, 4),
        "anomalous": scored.anomalous,
        "warming_up": scored.warming_up,
    }


def replies_for(batch: Batch, verdict: BatchVerdict) -> list[dict[str, Any]]:
    """Return one reply per item of `batch`, in item order."""
    replies: dict[int, dict[str, Any]] = {}
    for line, (seq, reason) in batch.rejected.items():
        replies[line] = {"type": "error", "seq": seq, "line": line, "reason": reason}
    if verdict.error:
        for seq, line in zip(batch.seqs, batch.lines, strict=True):
            replies[line] = {"type": "error", "seq": seq, "line": line, "reason": f"analysis failed: {verdict.error}"}
        return [replies[line] for line in sorted(replies)]

    if not batch.lines:
        return [replies[line] for line in sorted(replies)]
    # analyze() numbered the accepted items from the batch's first line, so an offset finds each one.
    first = batch.lines[0]
    for scored in verdict.scored:
        offset = scored.event.line - first
        replies[batch.lines[offset]] = result_message(batch.seqs[offset], batch.lines[offset], scored)
    for error in verdict.parsed.errors:
        offset = error.line - first
        line = batch.lines[offset]
        replies[line] = {"type": "error", "seq": batch.seqs[offset], "line": line, "reason": error.reason}
    for seq, line in zip(batch.seqs, batch.lines, strict=True):
        # parse_batch accounts for every item, so one with neither an event nor an error was a header.
        replies.setdefault(line, {"type": "header", "seq": seq, "line": line})
    return [replies[line] for line in sorted(replies)]


def decision_message(decision: Decision, snapshot: bool | None = None) -> dict[str, Any]:
    message: dict[str, Any] = {"type": "decision"}
    if snapshot is not None:
        message["snapshot"] = snapshot
    message["decision"] = decision.to_dict()
    return message


# Sending and the decision feed


class Sender:
    """Serialise sends on one websocket and remember when the peer is gone."""

    def __init__(self, websocket: WebSocket) -> None:
        self.websocket = websocket
        self.lock = asyncio.Lock()
        self.closed = False

    async def send(self, message: dict[str, Any]) -> bool:
        """Send one JSON message; return False once the connection is gone."""
        if self.closed:
            return False
        async with self.lock:
            try:
                await self.websocket.send_text(orjson.dumps(message).decode())
            except (WebSocketDisconnect, RuntimeError, OSError):
                self.closed = True
        return not self.closed

    async def close(self, code: int, reason: str) -> None:
        if self.closed:
            return
        self.closed = True
        with contextlib.suppress(WebSocketDisconnect, RuntimeError, OSError, TimeoutError):
            await asyncio.wait_for(self.websocket.close(code, reason), CLOSE_TIMEOUT)


class DecisionFeed:
    """Decisions from the bus for one websocket, taken off the bus at once so the publisher never waits.

    `accept` filters decisions. More than `limit` waiting decisions mark the
    feed as overflowed, and `next` then returns None.
    """

    def __init__(self, bus: Bus, limit: int, accept: Callable[[Decision], bool]) -> None:
        self.subscription = bus.subscribe(DECISIONS, maxsize=256)
        self.limit = limit
        self.accept = accept
        self.pending: deque[Decision] = deque()
        self.ready = asyncio.Event()
        self.overflowed = False

    async def pump(self) -> None:
        while not self.overflowed:
            decision = await self.subscription.get()
            self.subscription.task_done()
            if not self.accept(decision):
                continue
            self.pending.append(decision)
            if len(self.pending) > self.limit:
                self.overflowed = True
            self.ready.set()

    async def next(self) -> Decision | None:
        while not self.pending and not self.overflowed:
            self.ready.clear()
            await self.ready.wait()
        if self.overflowed:
            return None
        return self.pending.popleft()

    def close(self) -> None:
        self.subscription.close()


async def _forward(feed: DecisionFeed, deliver: Callable[[Decision], Any], sender: Sender) -> None:
    """Send the feed's decisions until the connection closes; close with 1013 when the feed overflows."""
    while not sender.closed:
        decision = await feed.next()
        if decision is None:
            peer = sender.websocket.client
            log.warning("websocket %s closed with 1013: over %d decisions waiting", peer, feed.limit)
            await sender.close(
                CLOSE_TRY_AGAIN, f"too slow: over {feed.limit} decisions waiting; reconnect with ?snapshot=1"
            )
            return
        await deliver(decision)


async def _cancel(tasks: list[asyncio.Task[Any]]) -> None:
    for task in tasks:
        task.cancel()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task


def sessions(websocket: WebSocket) -> set[StreamSession]:
    """Return the app's set of open /ws/stream sessions (for monitoring and tests)."""
    state = websocket.app.state
    registry: set[StreamSession] | None = getattr(state, "ws_sessions", None)
    if registry is None:
        registry = set()
        state.ws_sessions = registry
    return registry


# /ws/stream


class StreamSession:
    """One /ws/stream connection: a reader, a processor of batches in order, and the decision forwarder."""

    def __init__(self, websocket: WebSocket, runtime: Runtime, default_format: str) -> None:
        settings = runtime.settings
        self.websocket = websocket
        self.runtime = runtime
        self.default_format = default_format
        self.max_bytes = settings.websocket_max_message_bytes
        self.max_items = settings.max_batch_lines
        self.sender = Sender(websocket)
        self.inbox: asyncio.Queue[Batch | BadFrame | None] = asyncio.Queue(settings.websocket_max_in_flight)
        self.feed = DecisionFeed(runtime.bus, settings.websocket_decision_buffer, self._is_ours)
        self.next_line = 1
        self.messages_read = 0
        self.max_inbox = 0
        self._clients: OrderedDict[str, None] = OrderedDict()
        self._sent: OrderedDict[tuple[str, int, str, int], None] = OrderedDict()

    async def run(self) -> None:
        await self.websocket.accept()
        tasks = [
            asyncio.create_task(self._process(), name="ws-stream-process"),
            asyncio.create_task(self.feed.pump(), name="ws-stream-feed"),
            asyncio.create_task(_forward(self.feed, self._send_decision, self.sender), name="ws-stream-forward"),
        ]
        try:
            await self._read()
            # Batches already read are still analysed so no received line is lost; the inbox bounds the wait.
            await self.inbox.put(None)
            await tasks[0]
        finally:
            self.feed.close()
            await _cancel(tasks)

    async def _read(self) -> None:
        while not self.sender.closed:
            message = await self.websocket.receive()
            if message["type"] == "websocket.disconnect":
                self.sender.closed = True
                return
            self.messages_read += 1
            await self.inbox.put(self._batch_of(message))
            self.max_inbox = max(self.max_inbox, self.inbox.qsize())

    def _batch_of(self, message: dict[str, Any]) -> Batch | BadFrame:
        try:
            body = _decode_frame(message, self.max_bytes)
        except FrameError as exc:
            return BadFrame(str(exc))
        try:
            batch = parse_message(body, self.next_line, self.default_format, self.max_items)
        except FrameError as exc:
            return BadFrame(str(exc), body.get("seq"))
        self.next_line += batch.size
        return batch

    async def _process(self) -> None:
        while (job := await self.inbox.get()) is not None:
            if isinstance(job, BadFrame):
                await self.sender.send({"type": "error", "seq": job.seq, "reason": job.reason})
                continue
            try:
                await self._answer(job)
            except Exception:
                # The reader may be waiting on a full inbox, so this loop must go on whatever one batch does.
                log.exception("websocket batch at line %d failed", job.lines[0] if job.lines else 0)
                failed = BatchVerdict("", [], ParseResult(), error="internal error")
                for reply in replies_for(job, failed):
                    await self.sender.send(reply)

    async def _answer(self, job: Batch) -> None:
        if job.items:
            verdict = await self.runtime.analyze(job.items, job.format, job.lines[0], job.lines)
        else:
            verdict = BatchVerdict("", [], ParseResult())
        for decision in verdict.decisions:
            await self._send_decision(decision)
        for reply in replies_for(job, verdict):
            await self.sender.send(reply)
        self._remember(verdict)

    def _remember(self, verdict: BatchVerdict) -> None:
        clients = self._clients
        for scored in verdict.scored:
            client = scored.event.client
            clients[client] = None
            clients.move_to_end(client)
        while len(clients) > MAX_KNOWN_CLIENTS:
            clients.popitem(last=False)

    def _is_ours(self, decision: Decision) -> bool:
        return decision.client in self._clients

    async def _send_decision(self, decision: Decision) -> None:
        # The same decision reaches us from the bus and from the batch verdict: send each state once.
        key = (decision.id, decision.extensions, decision.action, decision.repeat)
        if key in self._sent:
            return
        self._sent[key] = None
        if len(self._sent) > MAX_SENT_KEYS:
            self._sent.popitem(last=False)
        await self.sender.send(decision_message(decision))


@router.websocket("/ws/stream")
async def stream(websocket: WebSocket, format: str = "auto") -> None:
    """Score log lines or events live; see the module docstring for the message formats."""
    if format not in FORMATS:
        await websocket.accept()
        reason = f"unknown format {format!r}; accepted: {', '.join(FORMATS)}"
        await websocket.send_text(orjson.dumps({"type": "error", "reason": reason}).decode())
        await websocket.close(CLOSE_POLICY, reason[:120])
        return
    session = StreamSession(websocket, websocket.app.state.service, format)
    registry = sessions(websocket)
    registry.add(session)
    try:
        await session.run()
    finally:
        registry.discard(session)


# /ws/decisions


@router.websocket("/ws/decisions")
async def decision_feed(websocket: WebSocket, snapshot: bool = False) -> None:
    """Stream every new decision; `?snapshot=1` sends the active decisions first."""
    runtime: Runtime = websocket.app.state.service
    sender = Sender(websocket)
    sent: set[tuple[str, int, str, int]] = set()

    async def deliver(decision: Decision, is_snapshot: bool = False) -> None:
        key = (decision.id, decision.extensions, decision.action, decision.repeat)
        if is_snapshot:
            sent.add(key)
        elif key in sent:
            return
        await sender.send(decision_message(decision, is_snapshot))

    # Subscribe before reading the snapshot so no decision falls in between.
    feed = DecisionFeed(runtime.bus, runtime.settings.websocket_decision_buffer, lambda _: True)
    tasks: list[asyncio.Task[Any]] = []
    try:
        await websocket.accept()
        if snapshot:
            for decision in reversed(runtime.decisions.find(active=True, limit=1_000_000)):
                await deliver(decision, True)
        tasks = [
            asyncio.create_task(feed.pump(), name="ws-decisions-feed"),
            asyncio.create_task(_forward(feed, deliver, sender), name="ws-decisions-forward"),
        ]
        while not sender.closed:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                sender.closed = True
    finally:
        feed.close()
        await _cancel(tasks)
