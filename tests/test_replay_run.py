"""`python -m replay run`: counts, JSON summary, exit codes, .gz input and in-process vs live service."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import pytest

from replay.__main__ import main
from tests.conftest import dataset
from tests.test_ws_stream import BASE_TIME, LiveServer, log_line, small_settings

SQLMAP = "sqlmap/1.8.4#stable (https://sqlmap.org)"


def attack_log() -> list[str]:
    """A small log: 200 ordinary requests, 12 failed logins from one address, a scanner and 2 bad lines."""
    lines = [log_line(f"198.51.100.{i % 20 + 1}", BASE_TIME + i, path=f"/producto/{i % 7}") for i in range(200)]
    lines += [log_line("203.0.113.50", BASE_TIME + 200 + i, "POST", "/login", 401, "curl/8.5.0") for i in range(12)]
    lines.append(log_line("203.0.113.60", BASE_TIME + 215, path="/.env", status=404, ua=SQLMAP))
    lines.insert(50, "this line is not an access log")
    lines.insert(120, "")
    return lines


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point the in-process replay at a small model and an empty private state directory."""
    state = tmp_path / "state"
    for name, value in {
        "STATE_DIR": str(state),
        "HST_TREES": "10",
        "HST_WINDOW": "250",
        "REFERENCE_SIZE": "1000",
        "HISTORY_MAX_EVENTS": "5000",
        "SNAPSHOT_INTERVAL_SECONDS": "0",
    }.items():
        monkeypatch.setenv(f"CENTINELA_{name}", value)
    return state


def write_log(path: Path, lines: list[str]) -> Path:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "wt", encoding="utf-8") as handle:
        handle.write("\n".join(lines) + "\n")
    return path


def run_json(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict[str, Any]]:
    status = main(["run", *argv, "--json", "--quiet"])
    return status, json.loads(capsys.readouterr().out)


def decision_keys(summary: dict[str, Any]) -> list[tuple[str, str, str]]:
    return sorted((d["client"], d["scenario"], d["action"]) for d in summary["decision_list"])


def test_replay_run_counts_events_rejects_and_decisions(env: Path, tmp_path: Path, capsys: Any) -> None:
    log = write_log(tmp_path / "access.log", attack_log())
    status, summary = run_json(capsys, str(log), "--batch", "64")

    assert status == 0
    assert summary["lines"] == 215
    assert summary["events"] == 213
    assert summary["rejected"] == 2
    assert summary["format"] == "combined"
    assert [r["line"] for r in summary["rejected_lines"]] == [51, 121]
    assert summary["rejected_lines"][0]["excerpt"] == "this line is not an access log"
    assert ("203.0.113.50", "brute_force", "block") in decision_keys(summary)
    assert ("203.0.113.60", "scanning", "block") in decision_keys(summary)
    assert summary["actions"]["brute_force"] == {"block": 1}
    assert summary["failed_batches"] == []
    assert not env.exists() or not any(env.iterdir()), "the replay must not write the service's state directory"


def test_replay_run_gz_matches_plain(env: Path, tmp_path: Path, capsys: Any) -> None:
    plain = write_log(tmp_path / "access.log", attack_log())
    packed = write_log(tmp_path / "access.log.gz", attack_log())
    _, from_plain = run_json(capsys, str(plain))
    _, from_gz = run_json(capsys, str(packed))

    for key in ("lines", "events", "rejected", "anomalies", "actions", "decision_list", "rejected_lines"):
        assert from_gz[key] == from_plain[key], key


def test_replay_run_missing_file_exits_2(env: Path, tmp_path: Path, capsys: Any) -> None:
    status = main(["run", str(tmp_path / "nope.log"), "--quiet"])
    captured = capsys.readouterr()
    assert status == 2
    assert "nope.log" in captured.err
    assert captured.out == ""


def test_replay_run_unreachable_service_exits_2(env: Path, tmp_path: Path, capsys: Any) -> None:
    log = write_log(tmp_path / "access.log", attack_log())
    status = main(["run", str(log), "--url", "http://127.0.0.1:9", "--quiet"])
    assert status == 2
    assert "unreachable" in capsys.readouterr().err


def test_replay_run_not_gzip_exits_2(env: Path, tmp_path: Path, capsys: Any) -> None:
    fake = tmp_path / "fake.log.gz"
    fake.write_text("plain text, not gzip\n")
    assert main(["run", str(fake), "--quiet"]) == 2
    assert "fake.log.gz" in capsys.readouterr().err


@pytest.mark.parametrize("via", ["http", "ws"])
def test_replay_run_live_service_same_decisions(
    via: str, env: Path, tmp_path: Path, capsys: Any
) -> None:
    log = write_log(tmp_path / "access.log", attack_log())
    _, in_process = run_json(capsys, str(log), "--batch", "64")

    # A fresh service warms from the same history as the in-process run, in its own state directory.
    server = LiveServer(small_settings(tmp_path / "service-state")).start()
    try:
        status, remote = run_json(capsys, str(log), "--batch", "64", "--url", server.url, "--via", via)
    finally:
        server.stop()

    assert status == 0
    assert remote["mode"] == via
    assert decision_keys(remote) == decision_keys(in_process)
    for key in ("lines", "events", "rejected", "anomalies", "actions", "rejected_lines", "top_clients_by_score"):
        assert remote[key] == in_process[key], key


@pytest.mark.slow
def test_replay_run_apache_dataset_same_decisions_over_http(env: Path, tmp_path: Path, capsys: Any) -> None:
    log = dataset("elastic_apache_logs/apache_logs")
    _, in_process = run_json(capsys, str(log))
    server = LiveServer(small_settings(tmp_path / "service-state")).start()
    try:
        status, remote = run_json(capsys, str(log), "--url", server.url)
    finally:
        server.stop()

    assert status == 0
    assert in_process["events"] == remote["events"] == 10_000
    assert decision_keys(remote) == decision_keys(in_process)


def test_replay_run_api_key_and_429(env: Path, tmp_path: Path, capsys: Any) -> None:
    log = write_log(tmp_path / "access.log", attack_log())
    key = "replay-test-key-0123456789"
    settings = small_settings(
        tmp_path / "service-state",
        api_keys=f"replayer:{key}:analyze",
        rate_limit_per_second=2.0,
        rate_limit_burst=1,
    )
    server = LiveServer(settings).start()
    try:
        unauthorized, _ = run_json(capsys, str(log), "--batch", "64", "--url", server.url)
        status, summary = run_json(capsys, str(log), "--batch", "64", "--url", server.url, "--api-key", key)
    finally:
        server.stop()

    assert unauthorized != 0
    assert status == 0
    assert summary["events"] == 213
    assert summary["failed_batches"] == []
