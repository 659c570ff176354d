"""/ws/stream against a real uvicorn server on a loopback port, driven by the websockets client."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from agents.bus import DECISIONS
from api.app import create_app
from config.settings import Settings

BASE_TIME = 1_796_000_000.0  # 2026-11-29, any fixed log time works


def small_settings(state_dir: Path, **overrides: Any) -> Settings:
    """Settings for a fast test service: a small model warmed from 5,000 history events."""
    values: dict[str, Any] = {
        "state_dir": state_dir,
        "hst_trees": 10,
        "hst_window": 250,
        "reference_size": 1000,
        "history_max_events": 5000,
        "snapshot_interval_seconds": 0,
    }
    values.update(overrides)
    return Settings(**values)


class LiveServer:
    """uvicorn serving `create_app(settings)` in a thread, on a free 127.0.0.1 port."""

    def __init__(self, settings: Settings, send_buffer: int | None = None) -> None:
        self.app = create_app(settings)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if send_buffer is not None:
            # Accepted connections inherit this, so a client that stops reading blocks the server sooner.
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, send_buffer)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        config = uvicorn.Config(
            self.app,
            log_level="warning",
            ws_ping_interval=settings.websocket_ping_interval,
            ws_ping_timeout=settings.websocket_ping_timeout,
        )
        self.server = uvicorn.Server(config)
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self) -> None:
        self.loop.run_until_complete(self.server.serve(sockets=[self.sock]))

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def start(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 120
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("test server did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)

    def call(self, coroutine: Any) -> Any:
        """Run a coroutine on the server's loop and return its result."""
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout=10)

    def task_names(self) -> list[str]:
        async def names() -> list[str]:
            return [task.get_name() for task in asyncio.all_tasks()]

        return self.call(names())

    def sessions(self) -> set[Any]:
        return getattr(self.app.state, "ws_sessions", set())

    def decision_subscribers(self) -> int:
        return self.app.state.service.bus.subscribers(DECISIONS)


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    settings = small_settings(
        tmp_path_factory.mktemp("ws-state"), websocket_max_in_flight=2, websocket_max_message_bytes=64 * 1024
    )
    server = LiveServer(settings, send_buffer=32 * 1024).start()
    yield server
    server.stop()


def log_line(
    ip: str, at: float, method: str = "GET", path: str = "/", status: int = 200, ua: str = "Mozilla/5.0"
) -> str:
    stamp = time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(at))
    return f'{ip} - - [{stamp}] "{method} {path} HTTP/1.1" {status} 512 "-" "{ua}"'


async def replies(ws: ClientConnection, count: int, timeout: float = 30.0) -> list[dict[str, Any]]:
    """Read messages until `count` non-decision replies arrived; return all of them."""
    out: list[dict[str, Any]] = []
    answered = 0
    async with asyncio.timeout(timeout):
        while answered < count:
            message = json.loads(await ws.recv())
            out.append(message)
            if message["type"] != "decision":
                answered += 1
    return out


def decisions_in(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [m["decision"] for m in messages if m["type"] == "decision"]


async def wait_until(condition: Any, timeout: float = 10.0) -> bool:
    """Poll `condition` while letting this loop run (a socket abort completes on the next loop turn)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        await asyncio.sleep(0.05)
    return bool(condition())


async def test_ws_stream_results_keep_seq_order(live: LiveServer) -> None:
    sent: list[Any] = []
    async with connect(f"{live.ws_url}/ws/stream") as ws:
        for message_no in range(60):
            at = BASE_TIME + message_no
            if message_no % 3 == 0:
                seq = f"single-{message_no}"
                await ws.send(json.dumps({"seq": seq, "line": log_line("198.51.100.10", at)}))
                sent.append(seq)
            elif message_no % 3 == 1:
                event = {"@timestamp": "2026-11-29T08:00:00Z", "source.ip": "198.51.100.11", "url.path": "/p",
                         "http.request.method": "GET", "http.response.status_code": 200}
                await ws.send(json.dumps({"seq": message_no, "event": event}))
                sent.append(message_no)
            else:
                items = [{"seq": [message_no, i], "line": log_line("198.51.100.12", at)} for i in range(7)]
                await ws.send(json.dumps({"items": items}))
                sent.extend([message_no, i] for i in range(7))
        received = [m for m in await replies(ws, len(sent)) if m["type"] != "decision"]

    assert [m["type"] for m in received] == ["result"] * len(sent)
    assert [m["seq"] for m in received] == sent
    assert [m["line"] for m in received] == list(range(1, len(sent) + 1))
    assert {m["client"] for m in received} == {"198.51.100.10", "198.51.100.11", "198.51.100.12"}


async def test_ws_stream_rejected_item_gets_error_with_seq(live: LiveServer) -> None:
    async with connect(f"{live.ws_url}/ws/stream") as ws:
        items = [
            {"seq": "ok", "line": log_line("198.51.100.20", BASE_TIME)},
            {"seq": "garbage", "line": "this is not an access log line"},
            {"seq": "shape"},
            {"seq": "ok2", "line": log_line("198.51.100.20", BASE_TIME + 1)},
        ]
        await ws.send(json.dumps({"items": items}))
        received = [m for m in await replies(ws, 4) if m["type"] != "decision"]

    assert [(m["type"], m["seq"]) for m in received] == [
        ("result", "ok"), ("error", "garbage"), ("error", "shape"), ("result", "ok2")
    ]
    assert "combined" in received[1]["reason"]
    assert '"line" or "event"' in received[2]["reason"]


async def test_ws_stream_bad_frames_keep_connection_open(live: LiveServer) -> None:
    bad_frames: list[str | bytes] = [
        "{not json",
        b"\x00\x01binary",
        "[1, 2]",
        json.dumps({"seq": 5, "what": "no line"}),
        json.dumps({"items": []}),
        json.dumps({"seq": 6, "line": "x", "format": "xml"}),
        json.dumps({"seq": 7, "line": "a" * (70 * 1024)}),
    ]
    async with connect(f"{live.ws_url}/ws/stream") as ws:
        for frame in bad_frames:
            await ws.send(frame)
        await ws.send(json.dumps({"seq": "after", "line": log_line("198.51.100.21", BASE_TIME)}))
        received = [m for m in await replies(ws, len(bad_frames) + 1) if m["type"] != "decision"]

    errors, last = received[:-1], received[-1]
    assert [m["type"] for m in errors] == ["error"] * len(bad_frames)
    assert all("line" not in m for m in errors)
    assert "invalid JSON" in errors[0]["reason"]
    assert "binary frames are not accepted" in errors[1]["reason"]
    assert "expected a JSON object, got list" in errors[2]["reason"]
    assert errors[3]["seq"] == 5
    assert "non-empty list" in errors[4]["reason"]
    assert "unknown format 'xml'" in errors[5]["reason"]
    assert "exceeds the limit of 65536 bytes" in errors[6]["reason"]
    assert (last["type"], last["seq"], last["line"]) == ("result", "after", 1)


async def test_ws_stream_unknown_format_query_closes_1008(live: LiveServer) -> None:
    async with connect(f"{live.ws_url}/ws/stream?format=xml") as ws:
        message = json.loads(await ws.recv())
        with pytest.raises(ConnectionClosed) as closed:
            await ws.recv()
    assert "unknown format 'xml'" in message["reason"]
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 1008


def _failed_logins(ip: str, first: int, count: int) -> list[dict[str, Any]]:
    return [
        {"seq": first + i, "line": log_line(ip, BASE_TIME + 100 + first + i, "POST", "/login", 401, "curl/8.5.0")}
        for i in range(count)
    ]


async def test_ws_stream_abrupt_disconnect_keeps_client_state(live: LiveServer) -> None:
    ip = "203.0.113.77"
    subscribers_before = live.decision_subscribers()

    first = await connect(f"{live.ws_url}/ws/stream")
    await first.send(json.dumps({"items": _failed_logins(ip, 0, 6)}))
    before = await replies(first, 6)
    assert await wait_until(lambda: len(live.sessions()) == 1)
    first.transport.abort()  # drop the TCP connection without a close frame

    assert await wait_until(lambda: not live.sessions())
    assert await wait_until(lambda: live.decision_subscribers() == subscribers_before)
    assert not [name for name in live.task_names() if name.startswith("ws-stream")]

    async with connect(f"{live.ws_url}/ws/stream") as second:
        await second.send(json.dumps({"items": _failed_logins(ip, 6, 6)}))
        after = await replies(second, 6)

    brute_before = [d for d in decisions_in(before) if d["scenario"] == "brute_force"]
    brute_after = [d for d in decisions_in(after) if d["scenario"] == "brute_force"]
    assert brute_before == []
    assert [(d["client"], d["action"]) for d in brute_after] == [(ip, "block")]
    # The decision comes before the results of the message that caused it.
    assert after[0]["type"] == "decision"


async def test_ws_stream_slow_reader_stops_server_reading(live: LiveServer) -> None:
    # About 1.4 MB of results, far more than the server's 32 KiB socket send buffer and uvicorn's 64 KiB.
    messages, per_message = 300, 40
    long_agent = "Mozilla/5.0 " + "x" * 300
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    # Set before connect so the advertised TCP window stays small instead of growing to megabytes.
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
    sock.connect(("127.0.0.1", live.port))
    sock.setblocking(False)
    # Without permessage-deflate: the repetitive results would otherwise shrink to a few socket buffers' worth.
    ws = await connect(f"{live.ws_url}/ws/stream", sock=sock, max_queue=4, compression=None)
    sent = 0

    async def send_all() -> None:
        nonlocal sent
        for m in range(messages):
            items = [
                {"seq": m * per_message + i, "line": log_line(f"198.51.100.{40 + i % 5}", BASE_TIME + m, ua=long_agent)}
                for i in range(per_message)
            ]
            await ws.send(json.dumps({"items": items}))
            sent += 1

    sender = asyncio.create_task(send_all())
    # Wait until the server reads no more: its replies fill the socket because this client does not read.
    last = -1
    for _ in range(100):
        await asyncio.sleep(0.3)
        session = next(iter(live.sessions()))
        if session.messages_read == last:
            break
        last = session.messages_read
    assert session.messages_read < messages
    assert session.max_inbox <= 2
    assert session.inbox.qsize() <= 2

    received = [m for m in await replies(ws, messages * per_message, timeout=120) if m["type"] != "decision"]
    await sender
    await ws.close()

    assert [m["seq"] for m in received] == list(range(messages * per_message))
    assert session.messages_read == messages
