"""API keys, roles, rate limits and websocket limits, through the real app and small apps of their own."""

from __future__ import annotations

import logging
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import Depends, FastAPI, WebSocket
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from api.app import create_app
from api.auth import KeyConfigError, KeyRing, check_bind, load_keys, parse_keys
from api.ratelimit import RateLimiter, TokenBucket, WebSocketGuard, guard
from config.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
ANALYST_KEY = "analyst-key-0123456789abcdef"
OPS_KEY = "ops-key-0123456789abcdef-admin"
KEYS = f"analyst:{ANALYST_KEY}:analyze,ops:{OPS_KEY}:admin"
LINE = '203.0.113.9 - - [04/Dec/2026:10:15:32 +0000] "GET /producto/1 HTTP/1.1" 200 512 "-" "Mozilla/5.0"'


def keyed_settings(tmp_path: Path, **extra: object) -> Settings:
    values: dict[str, object] = {
        "state_dir": tmp_path / "state",
        "history_path": tmp_path / "no-history.log",
        "api_keys": KEYS,
        "snapshot_interval_seconds": 0,
    }
    values.update(extra)
    return Settings(**values)  # type: ignore[arg-type]


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    with TestClient(create_app(keyed_settings(tmp_path))) as test_client:
        yield test_client


def analyst() -> dict[str, str]:
    return {"X-API-Key": ANALYST_KEY}


def ops() -> dict[str, str]:
    return {"X-API-Key": OPS_KEY}


# Key configuration


def test_parse_keys_reads_entries() -> None:
    keys = parse_keys(KEYS, "CENTINELA_API_KEYS")
    assert [(key.name, key.role) for key in keys] == [("analyst", "analyze"), ("ops", "admin")]


def test_parse_keys_file_skips_comments(tmp_path: Path) -> None:
    path = tmp_path / "keys"
    path.write_text(f"# team keys\nanalyst:{ANALYST_KEY}:analyze  # SOC\n\nops:{OPS_KEY}:admin\n")
    keys = load_keys(Settings(api_keys_file=path))
    assert [key.name for key in keys] == ["analyst", "ops"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("analyst:" + ANALYST_KEY, "expected name:key:role"),
        ("analyst:short:analyze", "shorter than 16"),
        ("analyst:" + ANALYST_KEY + ":root", "role 'root'"),
        ("bad name:" + ANALYST_KEY + ":admin", "key name"),
    ],
)
def test_parse_keys_rejects_bad_entry(text: str, message: str) -> None:
    with pytest.raises(KeyConfigError, match=message) as info:
        parse_keys("ok:" + OPS_KEY + ":admin," + text, "CENTINELA_API_KEYS")
    assert "entry 2" in str(info.value)
    assert ANALYST_KEY not in str(info.value)


def test_parse_keys_file_error_names_line(tmp_path: Path) -> None:
    path = tmp_path / "keys"
    path.write_text(f"ops:{OPS_KEY}:admin\n# comment\nanalyst:{ANALYST_KEY}:reader\n")
    with pytest.raises(KeyConfigError, match="line 3"):
        load_keys(Settings(api_keys_file=path))


def test_load_keys_rejects_duplicate_names() -> None:
    with pytest.raises(KeyConfigError, match="repeated: ops"):
        load_keys(Settings(api_keys=f"ops:{OPS_KEY}:admin,ops:{ANALYST_KEY}:analyze"))


def test_keyring_identifies_only_exact_key() -> None:
    ring = KeyRing(parse_keys(KEYS, "test"))
    assert ring.identify(ANALYST_KEY).name == "analyst"  # type: ignore[union-attr]
    assert ring.identify(ANALYST_KEY[:-1]) is None
    assert ring.identify(ANALYST_KEY + "x") is None
    assert ring.identify("") is None
    assert ring.identify(None) is None


def test_check_bind_rejects_open_public_address() -> None:
    with pytest.raises(KeyConfigError, match="CENTINELA_API_KEYS"):
        check_bind("0.0.0.0", KeyRing([]))
    check_bind("127.0.0.1", KeyRing([]))
    check_bind("::1", KeyRing([]))
    check_bind("0.0.0.0", KeyRing(parse_keys(KEYS, "test")))


def test_main_exits_on_public_host_without_keys(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "CENTINELA_STATE_DIR": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, "-m", "api", "--host", "0.0.0.0", "--port", "1"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 2
    assert "CENTINELA_API_KEYS" in result.stderr
    assert "0.0.0.0" in result.stderr


# HTTP routes and roles


def test_auth_missing_key_gets_401(client: TestClient) -> None:
    response = client.post("/analyze", json={"logs": [LINE]})
    assert response.status_code == 401
    assert "X-API-Key" in response.json()["detail"]
    assert response.headers["WWW-Authenticate"] == "X-API-Key"


def test_auth_invalid_key_gets_401(client: TestClient) -> None:
    response = client.get("/decisions", headers={"X-API-Key": ANALYST_KEY + "0"})
    assert response.status_code == 401
    assert response.json()["detail"] == "invalid API key"


def test_auth_analyze_role_may_analyze_and_read(client: TestClient) -> None:
    assert client.post("/analyze", json={"logs": [LINE]}, headers=analyst()).status_code == 200
    assert client.get("/decisions", headers=analyst()).status_code == 200
    assert client.get("/decisions/nope", headers=analyst()).status_code == 404
    assert client.get("/metrics", headers=analyst()).status_code == 200


def test_auth_analyze_role_gets_403_on_admin_routes(client: TestClient) -> None:
    delete = client.delete("/decisions/some-id", headers=analyst())
    export = client.get("/decisions/export/crowdsec", headers=analyst())
    assert delete.status_code == 403
    assert export.status_code == 403
    assert "needs role 'admin'" in delete.json()["detail"]


def test_auth_admin_role_reaches_admin_routes(client: TestClient) -> None:
    assert client.delete("/decisions/some-id", headers=ops()).status_code == 404
    assert client.get("/decisions/export/crowdsec", headers=ops()).status_code == 200
    assert client.post("/analyze", json={"logs": [LINE]}, headers=ops()).status_code == 200


def test_auth_health_is_open_metrics_is_not(client: TestClient) -> None:
    assert client.get("/health").status_code == 200
    assert client.get("/metrics").status_code == 401


def test_auth_metrics_public_setting_opens_metrics(tmp_path: Path) -> None:
    with TestClient(create_app(keyed_settings(tmp_path, metrics_public=True))) as test_client:
        assert test_client.get("/metrics").status_code == 200
        assert test_client.get("/decisions").status_code == 401


def test_auth_open_mode_serves_everything(tmp_path: Path) -> None:
    with TestClient(create_app(keyed_settings(tmp_path, api_keys=None))) as test_client:
        assert test_client.post("/analyze", json={"logs": [LINE]}).status_code == 200
        assert test_client.get("/decisions/export/crowdsec").status_code == 200
        assert test_client.delete("/decisions/x").status_code == 404


def test_auth_never_logs_the_key(client: TestClient, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    client.get("/decisions", headers={"X-API-Key": ANALYST_KEY + "0"})
    client.delete("/decisions/x", headers=analyst())
    assert "access denied" in caplog.text
    assert ANALYST_KEY not in caplog.text


def test_openapi_declares_api_key_scheme(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    scheme = schema["components"]["securitySchemes"]["APIKey"]
    assert scheme == {"type": "apiKey", "in": "header", "name": "X-API-Key", "description": scheme["description"]}
    assert {"APIKey": []} in schema["paths"]["/analyze"]["post"]["security"]


# Rate limits


def test_token_bucket_refills_at_rate() -> None:
    bucket = TokenBucket(rate=2.0, burst=2, now=0.0)
    assert bucket.try_take(0.0) == 0
    assert bucket.try_take(0.0) == 0
    assert bucket.try_take(0.0) == pytest.approx(0.5)
    assert bucket.try_take(0.5) == 0


def test_rate_limiter_bounds_bucket_count() -> None:
    limiter = RateLimiter(rate=1.0, burst=1, max_buckets=3)
    for name in "abcde":
        limiter.try_take(name)
    assert list(limiter.buckets) == ["c", "d", "e"]


def test_rate_limit_answers_429_with_retry_after(tmp_path: Path) -> None:
    settings = keyed_settings(tmp_path, rate_limit_per_second=0.5, rate_limit_burst=3)
    with TestClient(create_app(settings)) as test_client:
        codes = [test_client.get("/decisions", headers=analyst()).status_code for _ in range(4)]
        limited = test_client.get("/decisions", headers=analyst())
        other_key = test_client.get("/decisions", headers=ops())
    assert codes == [200, 200, 200, 429]
    assert limited.status_code == 429
    assert int(limited.headers["Retry-After"]) in (1, 2)
    assert "CENTINELA_RATE_LIMIT_PER_SECOND" in limited.json()["detail"]
    assert other_key.status_code == 200


# Websockets


def test_ws_stream_rejects_missing_key(client: TestClient) -> None:
    with pytest.raises(WebSocketDisconnect) as info, client.websocket_connect("/ws/stream"):
        pass
    assert info.value.code == 1008


def test_ws_stream_accepts_key_in_header_or_query(client: TestClient) -> None:
    message = {"seq": 1, "line": LINE}
    with client.websocket_connect("/ws/stream", headers=analyst()) as ws:
        ws.send_json(message)
        assert ws.receive_json()["type"] == "result"
    with client.websocket_connect(f"/ws/stream?api_key={ANALYST_KEY}") as ws:
        ws.send_json(message)
        assert ws.receive_json()["seq"] == 1


def test_ws_stream_rejects_invalid_query_key(client: TestClient) -> None:
    with pytest.raises(WebSocketDisconnect) as info, client.websocket_connect("/ws/stream?api_key=wrong"):
        pass
    assert info.value.code == 1008


def echo_app(max_bytes: int, rate: float, burst: int) -> FastAPI:
    """A small app with one echo websocket behind the same guard and middleware as the service."""
    app = FastAPI(dependencies=[Depends(guard)])
    app.state.keyring = KeyRing(parse_keys(KEYS, "test"))
    app.state.rate_limiter = RateLimiter(100.0, 100)

    @app.websocket("/ws/echo")
    async def echo(websocket: WebSocket) -> None:
        await websocket.accept()
        try:
            while True:
                await websocket.send_text(await websocket.receive_text())
        except WebSocketDisconnect:
            return

    app.add_middleware(WebSocketGuard, keyring=app.state.keyring, max_bytes=max_bytes, rate=rate, burst=burst)
    return app


def test_ws_guard_closes_on_oversized_message() -> None:
    with TestClient(echo_app(max_bytes=1024, rate=1000.0, burst=1000)) as test_client:
        with test_client.websocket_connect("/ws/echo", headers=analyst()) as ws:
            ws.send_text("x" * 1024)
            assert ws.receive_text() == "x" * 1024
            ws.send_text("x" * 1025)
            with pytest.raises(WebSocketDisconnect) as info:
                ws.receive_text()
    assert info.value.code == 1009
    assert "1025 bytes" in info.value.reason


def test_ws_guard_throttles_message_rate() -> None:
    with TestClient(echo_app(max_bytes=4096, rate=20.0, burst=5)) as test_client:
        with test_client.websocket_connect("/ws/echo", headers=analyst()) as ws:
            started = time.monotonic()
            for i in range(15):
                ws.send_text(str(i))
            replies = [ws.receive_text() for _ in range(15)]
            elapsed = time.monotonic() - started
    # 5 messages pass at once, the other 10 at 20 per second: about 0.5 s; none is lost.
    assert replies == [str(i) for i in range(15)]
    assert elapsed >= 0.45
