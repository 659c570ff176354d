"""POST /analyze and GET /health through the FastAPI test client, with the real agents."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from config.settings import Settings
from data.generate import generate
from stream import native
from tests.conftest import dataset

START = datetime(2026, 12, 4, 10, 0, tzinfo=UTC)
ATTACKER = "203.0.113.66"


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    settings = Settings(
        state_dir=tmp_path_factory.mktemp("state"),
        hst_trees=10,
        hst_window=250,
        reference_size=2000,
        history_max_events=8000,
    )
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def normal_traffic(seed: int = 11, events: int = 2000) -> list[str]:
    records = generate(events=events, seed=seed, benign_only=True, start=START)
    return [record.line for record in records]


def brute_force_lines(count: int = 100) -> list[str]:
    lines = []
    for i in range(count):
        stamp = (START + timedelta(minutes=30, seconds=i * 0.5)).strftime("%d/%b/%Y:%H:%M:%S +0000")
        lines.append(
            f'{ATTACKER} - - [{stamp}] "POST /login HTTP/1.1" 401 312 "-" "python-requests/2.31.0"'
        )
    return lines


def mix(normal: list[str], attack: list[str]) -> list[str]:
    """Insert the attack burst in the middle of the normal traffic."""
    return normal[:1000] + attack + normal[1000:]


def test_health_reports_warm_model(client: TestClient) -> None:
    body = client.get("/health").json()
    assert body["status"] == "ok"
    assert body["warm"] is True
    assert body["events_seen"] >= 8000


def test_health_reports_engine(client: TestClient) -> None:
    engine = client.get("/health").json()["engine"]
    assert engine == native.engine()
    if os.environ.get("CENTINELA_REQUIRE_NATIVE") == "1":
        # CI builds stream/native, so a silent fall back to the pure-Python path must fail there.
        assert engine == "native"


@pytest.mark.parametrize("seed", [12, 21, 1])
def test_analyze_normal_traffic_is_no_threat(tmp_path: Path, seed: int) -> None:
    # A fresh service per seed: the seeds cover the same hours, and sending the same hour twice
    # to one service would double every client's rate.
    settings = Settings(
        state_dir=tmp_path, hst_trees=10, hst_window=250, reference_size=2000, history_max_events=8000
    )
    with TestClient(create_app(settings)) as fresh:
        response = fresh.post("/analyze", json={"logs": normal_traffic(seed=seed, events=3000)})
        assert response.status_code == 200
        body = response.json()
    assert body["threat"] is False
    assert body["parsed"] == 3000
    assert [a for a in body["actions"] if a["action"] in ("alert", "rate_limit", "block")] == []


def test_analyze_brute_force_is_blocked(client: TestClient) -> None:
    response = client.post("/analyze", json={"logs": mix(normal_traffic(seed=13), brute_force_lines())})
    assert response.status_code == 200
    body = response.json()
    assert body["threat"] is True
    actions = [a for a in body["actions"] if a["client"] == ATTACKER]
    assert len(actions) == 1, "one action per client acted on"
    action = actions[0]
    assert action["action"] in ("block", "rate_limit")
    assert action["scenario"] == "brute_force"
    assert action["value"] == ATTACKER
    assert action["reasons"]["en"] and action["reasons"]["es"]
    assert any("401" in r or "login" in r.lower() for r in action["reasons"]["en"])
    others = [a for a in body["actions"] if a["client"] != ATTACKER and a["action"] in ("rate_limit", "block")]
    assert others == []


def test_analyze_lists_rejected_lines_and_scores_the_rest(client: TestClient) -> None:
    logs = [*normal_traffic(seed=14, events=20), "not a log line", '{"broken json', *normal_traffic(seed=15, events=5)]
    body = client.post("/analyze", json={"logs": logs}).json()
    assert body["received"] == 27
    assert body["parsed"] == 25
    assert [error["line"] for error in body["errors"]] == [21, 22]
    assert all(error["reason"] for error in body["errors"])
    assert len(body["events"]) == 25
    assert all(event["score"] is not None for event in body["events"])


def test_analyze_accepts_ecs_event_objects(client: TestClient) -> None:
    event = {
        "@timestamp": "2026-12-04T11:00:00Z",
        "source": {"ip": "198.51.100.4"},
        "http": {"request": {"method": "GET"}, "response": {"status_code": 200, "body": {"bytes": 512}}},
        "url": {"path": "/producto/1"},
    }
    body = client.post("/analyze", json={"logs": [event]}).json()
    assert body["parsed"] == 1
    assert body["events"][0]["client"] == "198.51.100.4"


def test_analyze_rejects_malformed_body(client: TestClient) -> None:
    assert client.post("/analyze", json={"lines": []}).status_code == 422
    assert client.post("/analyze", content=b"not json", headers={"content-type": "application/json"}).status_code == 422


def test_analyze_rejects_oversized_body_with_413(tmp_path: Path) -> None:
    settings = Settings(state_dir=tmp_path, hst_trees=5, hst_window=100, history_max_events=500, max_body_bytes=4096)
    with TestClient(create_app(settings)) as small:
        before = small.get("/health").json()["clients_tracked"]
        big = {"logs": ["x" * 100] * 100}
        assert small.post("/analyze", json=big).status_code == 413

        def chunks() -> Iterator[bytes]:
            yield b'{"logs": ['
            for _ in range(200):
                yield b'"' + b"y" * 100 + b'",'
            yield b'"z"]}'

        response = small.post("/analyze", content=chunks(), headers={"content-type": "application/json"})
        assert response.status_code == 413
        assert "limit" in response.json()["detail"]
        assert small.get("/health").json()["clients_tracked"] == before


def test_analyze_first_2000_lines_of_elastic_log(client: TestClient) -> None:
    path = dataset("elastic_apache_logs/apache_logs")
    lines = path.read_text(encoding="utf-8", errors="backslashreplace").splitlines()[:2000]
    body = client.post("/analyze", json={"logs": lines}).json()
    assert body["received"] == 2000
    assert body["parsed"] + body["rejected"] == 2000
    assert len(body["events"]) == body["parsed"]
    assert all(event["score"] is not None for event in body["events"])
    assert all(isinstance(error["line"], int) for error in body["errors"])


def test_analyze_counts_csv_header(client: TestClient) -> None:
    logs = [
        "client.ip,@timestamp,http.request.method,url.path,http.response.status_code",
        "198.51.100.7,2026-12-04T10:00:00Z,GET,/,200",
    ]
    body = client.post("/analyze", json={"logs": logs}).json()
    assert body["format"] == "csv"
    assert body["headers"] == 1
    assert body["received"] == body["parsed"] + body["rejected"] + body["headers"]


def test_health_counts_active_decisions(client: TestClient) -> None:
    lines = [
        f'198.51.100.77 - - [04/Dec/2026:12:00:0{i} +0000] "GET {path} HTTP/1.1" 404 153 "-" "Mozilla/5.0"'
        for i, path in enumerate(["/.env", "/.git/config", "/wp-login.php", "/phpmyadmin/"])
    ]
    body = client.post("/analyze", json={"logs": lines}).json()
    assert body["threat"] is True
    assert client.get("/health").json()["active_decisions"] >= 1


def test_future_dated_line_does_not_lift_decisions(client: TestClient) -> None:
    now = datetime.now(UTC)
    lines = [
        f'198.51.100.78 - - [{(now + timedelta(seconds=i)).strftime("%d/%b/%Y:%H:%M:%S +0000")}] '
        f'"GET {path} HTTP/1.1" 404 153 "-" "Mozilla/5.0"'
        for i, path in enumerate(["/.env", "/.git/config", "/wp-login.php", "/phpmyadmin/"])
    ]
    assert client.post("/analyze", json={"logs": lines}).json()["threat"] is True
    active_before = client.get("/decisions", params={"value": "198.51.100.78"}).json()
    assert len(active_before) == 1
    future = '198.51.100.99 - - [04/Dec/2099:10:15:33 +0000] "GET / HTTP/1.1" 200 312 "-" "curl/8"'
    assert client.post("/analyze", json={"logs": [future]}).status_code == 200
    active_after = client.get("/decisions", params={"value": "198.51.100.78"}).json()
    assert [d["id"] for d in active_after] == [d["id"] for d in active_before]


def test_json_answers_forbid_content_sniffing(client: TestClient) -> None:
    assert client.get("/decisions").headers["x-content-type-options"] == "nosniff"
    assert client.get("/health").headers["x-content-type-options"] == "nosniff"
