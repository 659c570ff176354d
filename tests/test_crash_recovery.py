"""Crash safety of a real `python -m api` process: kill -9 during a replay, and SIGTERM at shutdown."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from agents.runtime import Runtime
from config.settings import Settings
from stream.snapshot import read_snapshot
from stream.warmstart import MODEL_SNAPSHOT

ROOT = Path(__file__).resolve().parent.parent
KEY = "crash-test-snapshot-key-0123456789"
ATTACKER = "203.0.113.66"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def service_env(state_dir: Path) -> dict[str, str]:
    return {
        "CENTINELA_STATE_DIR": str(state_dir),
        "CENTINELA_HISTORY_PATH": str(state_dir.parent / "no-history.log"),
        "CENTINELA_HST_TREES": "5",
        "CENTINELA_HST_WINDOW": "100",
        "CENTINELA_REFERENCE_SIZE": "500",
        "CENTINELA_SNAPSHOT_KEY": KEY,
        "CENTINELA_SNAPSHOT_INTERVAL_SECONDS": "0.3",
        "CENTINELA_RATE_LIMIT_PER_SECOND": "10000",
        "CENTINELA_RATE_LIMIT_BURST": "10000",
    }


def in_process_settings(state_dir: Path) -> Settings:
    """The settings the service runs with, read from the same variables."""
    values = {key.removeprefix("CENTINELA_").lower(): value for key, value in service_env(state_dir).items()}
    return Settings(**values)  # type: ignore[arg-type]


class Service:
    """A `python -m api` subprocess on a free loopback port."""

    def __init__(self, state_dir: Path, log_path: Path, extra_env: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {key: value for key, value in os.environ.items() if not key.startswith("CENTINELA_")}
        env.update(service_env(state_dir))
        env.update(extra_env or {})
        self.log = log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "api", "--port", str(self.port)],
            cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT,
        )
        self.client = httpx.Client(base_url=self.url, timeout=30)
        self._wait_ready()

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"service exited with {self.process.returncode}; see {self.log.name}")
            try:
                if self.client.get("/health").status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.05)
        raise TimeoutError(f"service on port {self.port} not ready after 60 s")

    def analyze(self, lines: list[str]) -> dict[str, Any]:
        response = self.client.post("/analyze", json={"logs": lines})
        assert response.status_code == 200, response.text
        return response.json()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=30)
        self.client.close()
        self.log.close()


@pytest.fixture
def state_dir(tmp_path: Path) -> Path:
    path = tmp_path / "state"
    path.mkdir()
    return path


@pytest.fixture
def services(tmp_path: Path) -> Iterator[list[Service]]:
    started: list[Service] = []
    yield started
    for service in started:
        service.stop()


def stamp(second: int) -> str:
    minutes, seconds = divmod(second, 60)
    return f"04/Dec/2026:10:{minutes % 60:02d}:{seconds:02d} +0000"


def browse_batch(batch: int, size: int = 200) -> list[str]:
    return [
        f'198.51.100.{(batch * 7 + i) % 250} - - [{stamp(batch)}] "GET /producto/{(batch + i) % 97} HTTP/1.1" '
        f'200 {400 + (i * 37) % 5000} "https://tienda.example/" "Mozilla/5.0 (X11; Linux x86_64) Firefox/133.0"'
        for i in range(size)
    ]


def brute_force(second: int) -> list[str]:
    return [f'{ATTACKER} - - [{stamp(second)}] "POST /login HTTP/1.1" 401 90 "-" "python-requests/2.31"'] * 20


class Replay(threading.Thread):
    """POST browse batches in a loop until the service goes away; count the events it confirmed."""

    def __init__(self, service: Service, first_batch: int) -> None:
        super().__init__(daemon=True)
        self.service = service
        self.batch = first_batch
        self.confirmed = 0
        self.sent = 0

    def run(self) -> None:
        with httpx.Client(base_url=self.service.url, timeout=30) as client:
            while True:
                try:
                    response = client.post("/analyze", json={"logs": browse_batch(self.batch)})
                except httpx.TransportError:
                    return
                self.sent += 1
                if response.status_code != 200:
                    return
                self.confirmed += response.json()["parsed"]
                self.batch += 1


def wait_for_new_snapshot(path: Path, after: float, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and path.stat().st_mtime > after:
            return
        time.sleep(0.02)
    raise TimeoutError(f"no snapshot written to {path} within {timeout} s")


async def test_crash_kill9_resumes_from_last_snapshot(
    state_dir: Path, tmp_path: Path, services: list[Service]
) -> None:
    first = Service(state_dir, tmp_path / "first.log")
    services.append(first)
    for batch in range(10):
        first.analyze(browse_batch(batch))
    attack = first.analyze(brute_force(12))
    blocked = {action["id"] for action in attack["actions"] if action["action"] == "block"}
    assert blocked

    snapshot = state_dir / MODEL_SNAPSHOT
    replay = Replay(first, first_batch=13)
    replay.start()
    wait_for_new_snapshot(snapshot, after=time.time())
    wait_for_new_snapshot(snapshot, after=time.time())
    while replay.sent < 5:
        time.sleep(0.01)
    first.process.send_signal(signal.SIGKILL)
    first.process.wait(timeout=30)
    replay.join(timeout=30)
    assert replay.sent >= 5

    copy_dir = tmp_path / "copy_dir"
    copy_dir.mkdir()
    shutil.copy(snapshot, copy_dir / MODEL_SNAPSHOT)
    payload = read_snapshot(copy_dir / MODEL_SNAPSHOT, copy_dir, KEY.encode())
    seen = payload["detector"].events_seen
    assert seen >= 10 * 200 + 20

    second = Service(state_dir, tmp_path / "second.log")
    services.append(second)
    health = second.client.get("/health").json()
    # The browse batches walk many product pages without assets, which also earns scraping decisions,
    # so list the attacker's decisions rather than the first page of all of them.
    listed = {decision["id"] for decision in second.client.get("/decisions", params={"value": ATTACKER}).json()}
    assert health["events_seen"] == seen
    assert blocked <= listed

    probe = browse_batch(500, size=50) + brute_force(501)[:3]
    served = [event["score"] for event in second.analyze(probe)["events"]]
    runtime = Runtime(in_process_settings(copy_dir))
    await runtime.start()
    verdict = await runtime.analyze(probe)
    await runtime.stop()
    assert None not in served
    assert served == [round(scored.score, 4) for scored in verdict.scored if scored.score is not None]


def test_crash_sigterm_drains_and_snapshots(state_dir: Path, tmp_path: Path, services: list[Service]) -> None:
    service = Service(state_dir, tmp_path / "service.log")
    services.append(service)
    replay = Replay(service, first_batch=0)
    replay.start()
    while replay.sent < 20:
        time.sleep(0.01)

    service.process.send_signal(signal.SIGTERM)
    # uvicorn re-raises the signal once its graceful shutdown is over, so the exit status is -SIGTERM.
    assert service.process.wait(timeout=60) in (0, -signal.SIGTERM)
    replay.join(timeout=30)

    payload = read_snapshot(state_dir / MODEL_SNAPSHOT, state_dir, KEY.encode())
    assert replay.confirmed >= 20 * 200
    assert payload["detector"].events_seen == replay.confirmed
    log = (tmp_path / "service.log").read_text()
    assert "intake stopped for shutdown (bus drained: True)" in log
