"""/ws/decisions: live feed, snapshot on connect, and slow subscribers that must not stall the agents."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import connect

from tests.test_ws_stream import BASE_TIME, LiveServer, log_line, small_settings, wait_until

SQLMAP = "sqlmap/1.8.4#stable (https://sqlmap.org)"


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    settings = small_settings(tmp_path_factory.mktemp("feed-state"), websocket_decision_buffer=20)
    server = LiveServer(settings, send_buffer=32 * 1024).start()
    yield server
    server.stop()


def scanner_lines(prefix: str, count: int, offset: float = 0.0) -> list[str]:
    """One request with a scanner user agent from each of `count` addresses: one scanning block each."""
    return [log_line(f"{prefix}.{i // 250}.{i % 250 + 1}", BASE_TIME + offset + i, ua=SQLMAP) for i in range(count)]


async def analyze(server: LiveServer, lines: list[str]) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        response = await client.post("/analyze", json={"logs": lines})
    assert response.status_code == 200
    return response.json()


async def test_ws_decisions_feed_sends_new_decisions(live: LiveServer) -> None:
    async with connect(f"{live.ws_url}/ws/decisions") as feed:
        body = await analyze(live, scanner_lines("10.1", 2))
        messages = [json.loads(await asyncio.wait_for(feed.recv(), 10)) for _ in range(2)]

    assert [m["type"] for m in messages] == ["decision", "decision"]
    assert [m["snapshot"] for m in messages] == [False, False]
    assert {m["decision"]["client"] for m in messages} == {"10.1.0.1", "10.1.0.2"}
    assert {m["decision"]["id"] for m in messages} == {a["id"] for a in body["actions"]}


async def test_ws_decisions_snapshot_sends_active_first(live: LiveServer) -> None:
    await analyze(live, scanner_lines("10.2", 1, offset=1000))
    async with connect(f"{live.ws_url}/ws/decisions?snapshot=1") as feed:
        first = json.loads(await asyncio.wait_for(feed.recv(), 10))
        snapshot = [first]
        while True:
            try:
                snapshot.append(json.loads(await asyncio.wait_for(feed.recv(), 0.5)))
            except TimeoutError:
                break
        await analyze(live, scanner_lines("10.3", 1, offset=1001))
        live_message = json.loads(await asyncio.wait_for(feed.recv(), 10))

    assert all(m["snapshot"] for m in snapshot)
    assert "10.2.0.1" in {m["decision"]["client"] for m in snapshot}
    assert (live_message["snapshot"], live_message["decision"]["client"]) == (False, "10.3.0.1")


async def test_ws_decisions_slow_subscriber_does_not_stall_agents(live: LiveServer) -> None:
    subscribers = live.decision_subscribers()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16 * 1024)
    sock.connect(("127.0.0.1", live.port))
    sock.setblocking(False)
    slow = await connect(f"{live.ws_url}/ws/decisions", sock=sock, max_queue=1, compression=None)
    assert live.decision_subscribers() == subscribers + 1

    # 600 decisions of about 1 KB each: far more than the socket buffers and the 20-decision limit hold.
    for batch in range(6):
        body = await asyncio.wait_for(analyze(live, scanner_lines(f"10.{10 + batch}", 100, batch * 200)), 30)
        assert len(body["actions"]) == 100

    assert await wait_until(lambda: live.decision_subscribers() == subscribers)
    assert not [name for name in live.task_names() if name.startswith("ws-decisions")]
    slow.transport.abort()
