"""Bodies FastAPI cannot decode: the 400 response names the problem and the body /analyze accepts."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from config.settings import Settings

JSON = {"content-type": "application/json"}
LINE = '203.0.113.9 - - [04/Dec/2026:10:15:34 +0000] "GET / HTTP/1.1" 200 5 "-" "curl/8.5.0"'


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    settings = Settings(state_dir=Path(tmp_path_factory.mktemp("state")), hst_trees=5, hst_window=100,
                        history_max_events=500)
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def test_api_errors_body_not_utf8(client: TestClient) -> None:
    body = '{"logs": ["caf\u00e9"]}'.encode("latin-1")

    response = client.post("/analyze", content=body, headers=JSON)

    assert response.status_code == 400
    detail = response.json()["detail"]
    assert detail.startswith("invalid request body: it is not UTF-8 (byte 0xe9 at offset 14)")
    assert '{"logs": [...]}' in detail
    assert "UTF-8 JSON" in detail


def test_api_errors_json_nested_too_deep(client: TestClient) -> None:
    body = b'{"logs": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"

    response = client.post("/analyze", content=body, headers=JSON)

    assert response.status_code == 400
    detail = response.json()["detail"]
    assert detail.startswith("invalid request body: the JSON is nested too deeply to parse")
    assert '{"logs": [...]}' in detail


def test_api_errors_service_still_answers(client: TestClient) -> None:
    client.post("/analyze", content=b"\xff\xfe\x00", headers=JSON)
    client.post("/analyze", content=b"[" * 100_000, headers=JSON)

    response = client.post("/analyze", json={"logs": [LINE]})

    assert response.status_code == 200
    assert response.json()["parsed"] == 1


def test_api_errors_other_http_errors_unchanged(client: TestClient) -> None:
    response = client.get("/decisions/no-such-id")

    assert response.status_code == 404
    assert response.json() == {"detail": "decision 'no-such-id' not found"}


def test_api_errors_lone_surrogates_become_escapes(client: TestClient) -> None:
    # JSON allows "\ud800" escapes, but no UTF-8 response can carry the lone surrogate they decode to.
    probe = LINE.replace("GET / ", "GET /.env\\ud800 ").replace("curl/8.5.0", "curl\\udfff").replace('"', '\\"')
    hostname = LINE.replace("203.0.113.9", "host\\udc00.example").replace('"', '\\"')
    body = (
        '{"logs": ["' + probe + '", "' + hostname + '", '
        '{"@timestamp": "2026-12-04T10:15:35Z", "source.ip": "203.0.113.9", "url.path": "/a\\ud800"}, '
        '"\\ud800 not a log line", "' + LINE.replace('"', '\\"') + '"]}'
    )

    response = client.post("/analyze", content=body.encode(), headers=JSON)

    assert response.status_code == 200
    result = response.json()
    assert result["parsed"] == 4
    assert [error["line"] for error in result["errors"]] == [4]
    assert result["errors"][0]["excerpt"].endswith("ud800 not a log line")
    assert "host\\udc00.example" in [event["client"] for event in result["events"]]
    assert client.get("/health").status_code == 200
