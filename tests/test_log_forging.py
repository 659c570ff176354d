"""Attacker strings in log messages cannot forge log lines, in the text or the JSON format."""

from __future__ import annotations

import io
import json
import logging
import socket
import sys
from pathlib import Path

import pytest

from agents.logging_setup import CONTINUATION, EscapingFormatter, JsonFormatter, configure_logging, escape_control
from config.settings import Settings
from tests.test_crash_recovery import Service

FORGED = "\r\n2026-12-04 INFO forged"
FORGED_PATH = "/%0D%0A2026-12-04%20INFO%20forged"


def format_with(formatter: logging.Formatter, message: str, *args: object) -> str:
    record = logging.LogRecord("centinela.test", logging.WARNING, __file__, 1, message, args, None)
    return formatter.format(record)


def test_escape_control_makes_controls_visible() -> None:
    assert escape_control("a\r\nb\tc\x1b[2J\x00\x7f\x85\u2028") == "a\\r\\nb\\tc\\x1b[2J\\x00\\x7f\\x85\\u2028"
    assert escape_control("tienda ñandú /producto?id=1") == "tienda ñandú /producto?id=1"


def test_text_formatter_keeps_one_line() -> None:
    line = format_with(EscapingFormatter("%(levelname)s %(message)s"), "request path %s", "/x" + FORGED)
    assert line.splitlines() == [line]
    assert line == "WARNING request path /x\\r\\n2026-12-04 INFO forged"


def test_text_formatter_indents_traceback_lines() -> None:
    formatter = EscapingFormatter("%(levelname)s %(message)s")
    try:
        raise ValueError("bad value" + FORGED)
    except ValueError:
        record = logging.LogRecord("t", logging.ERROR, __file__, 1, "failed", (), None)
        record.exc_info = sys.exc_info()
    lines = formatter.format(record).splitlines()
    assert lines[0] == "ERROR failed"
    assert all(line.startswith(CONTINUATION) for line in lines[1:])
    assert not any(line.startswith("2026-12-04") for line in lines)


def test_json_formatter_encodes_controls() -> None:
    line = format_with(JsonFormatter(), "path %s", "/x" + FORGED + "\x1b[31m")
    assert line.splitlines() == [line]
    entry = json.loads(line)
    assert entry["message"] == "path /x" + FORGED + "\x1b[31m"
    assert entry["level"] == "WARNING"
    assert entry["logger"] == "centinela.test"


def test_configure_logging_routes_uvicorn_through_formatter() -> None:
    out = io.StringIO()
    configure_logging(Settings(log_format="json"), stream=out)
    try:
        logging.getLogger("uvicorn.access").info('%s - "%s %s HTTP/%s" %d', "127.0.0.1:1", "GET", FORGED, "1.1", 404)
    finally:
        configure_logging(Settings(), stream=io.StringIO())
        logging.getLogger().handlers.clear()
    lines = out.getvalue().splitlines()
    assert len(lines) == 1
    assert json.loads(lines[0])["logger"] == "uvicorn.access"


def raw_request(port: int, target: str) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode())
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_log_forging_request_gives_one_line(tmp_path: Path, log_format: str) -> None:
    state = tmp_path / "state"
    state.mkdir()
    log_path = tmp_path / "service.log"
    service = Service(state, log_path, {"CENTINELA_LOG_FORMAT": log_format})
    try:
        answer = raw_request(service.port, FORGED_PATH)
    finally:
        service.stop()
    assert answer.startswith(b"HTTP/1.1 404")

    lines = log_path.read_text().splitlines()
    hits = [line for line in lines if "forged" in line]
    assert len(hits) == 1
    assert not any(line.startswith("2026-12-04 INFO forged") for line in lines)
    if log_format == "json":
        assert all(json.loads(line)["level"] for line in lines)
        assert FORGED_PATH in json.loads(hits[0])["message"]
    else:
        assert FORGED_PATH in hits[0]


def test_configure_logging_redacts_query_api_key() -> None:
    out = io.StringIO()
    configure_logging(Settings(), stream=out)
    try:
        target = "/ws/stream?api_key=s3cret-key-value&format=json"
        logging.getLogger("uvicorn.access").info('%s - "%s %s HTTP/%s" %d', "127.0.0.1:1", "GET", target, "1.1", 101)
    finally:
        logging.getLogger().handlers.clear()
    assert "s3cret" not in out.getvalue()
    assert "/ws/stream?api_key=REDACTED&format=json" in out.getvalue()
