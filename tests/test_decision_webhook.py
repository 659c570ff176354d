"""Webhook delivery against a real HTTP server on 127.0.0.1, including retries."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from agents.decision import DecisionAgent
from agents.decisions_store import DecisionStore
from agents.policy import Policy, Webhook
from agents.webhook import WebhookNotifier
from config.settings import Settings
from tests.test_decision_agent import T0, brute_force_events, feed
from tests.test_decision_store import make_decision


class Receiver:
    """What the local server saw, and how many requests it fails before succeeding."""

    def __init__(self, fail_first: int = 0, status: int = 503) -> None:
        self.fail_first = fail_first
        self.status = status
        self.attempts = 0
        self.bodies: list[dict[str, Any]] = []
        self.lock = threading.Lock()


def make_handler(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(length)
            with receiver.lock:
                receiver.attempts += 1
                failing = receiver.attempts <= receiver.fail_first
                if not failing:
                    receiver.bodies.append(json.loads(body))
            self.send_response(receiver.status if failing else 204)
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


@pytest.fixture
def server() -> Iterator[tuple[str, Receiver]]:
    receiver = Receiver()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(receiver))
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/hook", receiver
    finally:
        httpd.shutdown()
        httpd.server_close()


def config(url: str, **overrides: Any) -> Webhook:
    values: dict[str, Any] = {"url": url, "timeout": "2s", "retries": 3, "backoff": "0.01s"}
    values.update(overrides)
    return Webhook.model_validate(values)


async def test_decision_webhook_posts_json(server: tuple[str, Receiver]) -> None:
    url, receiver = server
    notifier = WebhookNotifier(config(url))
    decision = make_decision()
    assert notifier.submit(decision) is True
    await asyncio.wait_for(notifier.drain(), 5)
    await notifier.close()
    assert receiver.bodies == [decision.to_dict()]
    assert notifier.sent == 1


async def test_decision_webhook_retries_then_succeeds(server: tuple[str, Receiver]) -> None:
    url, receiver = server
    receiver.fail_first = 2
    notifier = WebhookNotifier(config(url))
    notifier.submit(make_decision())
    await asyncio.wait_for(notifier.drain(), 5)
    await notifier.close()
    assert receiver.attempts == 3
    assert len(receiver.bodies) == 1
    assert notifier.sent == 1
    assert notifier.failed == 0


async def test_decision_webhook_gives_up_and_logs(
    server: tuple[str, Receiver], caplog: pytest.LogCaptureFixture
) -> None:
    url, receiver = server
    receiver.fail_first = 100
    notifier = WebhookNotifier(config(url, retries=2))
    notifier.submit(make_decision())
    await asyncio.wait_for(notifier.drain(), 5)
    await notifier.close()
    assert receiver.attempts == 3
    assert notifier.failed == 1
    assert any("gave up" in record.getMessage() for record in caplog.records)


async def test_decision_webhook_client_error_not_retried(server: tuple[str, Receiver]) -> None:
    url, receiver = server
    receiver.fail_first = 100
    receiver.status = 400
    notifier = WebhookNotifier(config(url))
    notifier.submit(make_decision())
    await asyncio.wait_for(notifier.drain(), 5)
    await notifier.close()
    assert receiver.attempts == 1
    assert notifier.failed == 1


async def test_decision_webhook_unreachable_does_not_raise() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    notifier = WebhookNotifier(config(f"http://127.0.0.1:{port}/hook", retries=1))
    notifier.submit(make_decision())
    await asyncio.wait_for(notifier.drain(), 5)
    await notifier.close()
    assert notifier.failed == 1


async def test_decision_webhook_skips_below_min_action(server: tuple[str, Receiver]) -> None:
    url, receiver = server
    notifier = WebhookNotifier(config(url, min_action="block"))
    assert notifier.submit(make_decision(action="alert")) is False
    assert notifier.submit(make_decision(action="monitor")) is False
    assert notifier.submit(make_decision(action="block")) is True
    await asyncio.wait_for(notifier.drain(), 5)
    await notifier.close()
    assert [body["action"] for body in receiver.bodies] == ["block"]


async def test_decision_webhook_full_queue_counts_drop(server: tuple[str, Receiver]) -> None:
    url, _ = server
    notifier = WebhookNotifier(config(url, queue_size=1))
    assert notifier.submit(make_decision()) is True
    assert notifier.submit(make_decision()) is False
    assert notifier.dropped == 1
    await notifier.close()


async def test_decision_webhook_fed_by_agent(server: tuple[str, Receiver]) -> None:
    url, receiver = server
    policy = Policy.model_validate({"webhook": {"url": url, "backoff": "0.01s"}})
    agent = DecisionAgent(policy, DecisionStore(), Settings(), clock=lambda: T0)
    assert agent.webhook is not None
    decisions = feed(agent, brute_force_events())
    await asyncio.wait_for(agent.webhook.drain(), 5)
    await agent.webhook.close()
    assert [body["id"] for body in receiver.bodies] == [d.id for d in decisions]


def test_decision_webhook_requires_url() -> None:
    with pytest.raises(ValueError, match="a url is required"):
        WebhookNotifier(Webhook())
