"""Snapshot files: atomic writes, signatures, format versions, confinement, and full runtime restore."""

from __future__ import annotations

import logging
import pickle
from pathlib import Path

import numpy as np
import pytest

from agents.runtime import Runtime
from config.settings import Settings
from stream.snapshot import FORMAT_VERSION, SnapshotError, read_snapshot, write_snapshot
from stream.warmstart import MODEL_SNAPSHOT, load_snapshot, new_detector

KEY = b"snapshot-key-for-tests-0123456789"
PAYLOAD = {"detector": "stand-in", "numbers": [1, 2, 3]}


class Exploit:
    """Unpickling this would create a file: proof that a payload was unpickled."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str, str]]:
        return (open, (str(self.marker), "w"))


def test_snapshot_roundtrip_signed(tmp_path: Path) -> None:
    path = tmp_path / "state.pkl"
    write_snapshot(path, PAYLOAD, KEY)
    assert read_snapshot(path, tmp_path, KEY) == PAYLOAD
    assert path.read_bytes().startswith(f"CENTINELA-SNAPSHOT {FORMAT_VERSION}\nhmac-sha256 ".encode())


def test_snapshot_roundtrip_unsigned(tmp_path: Path) -> None:
    path = tmp_path / "state.pkl"
    write_snapshot(path, PAYLOAD)
    assert read_snapshot(path, tmp_path) == PAYLOAD


def test_snapshot_write_leaves_no_temporary_file(tmp_path: Path) -> None:
    path = tmp_path / "state.pkl"
    write_snapshot(path, PAYLOAD, KEY)
    write_snapshot(path, {"second": True}, KEY)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state.pkl"]
    assert read_snapshot(path, tmp_path, KEY) == {"second": True}
    assert path.stat().st_mode & 0o077 == 0


def test_snapshot_tampered_body_rejected_before_unpickling(tmp_path: Path) -> None:
    path = tmp_path / "state.pkl"
    write_snapshot(path, PAYLOAD, KEY)
    marker = tmp_path / "pwned"
    version, signature, _ = path.read_bytes().split(b"\n", 2)
    path.write_bytes(version + b"\n" + signature + b"\n" + pickle.dumps(Exploit(marker)))
    with pytest.raises(SnapshotError, match="bad signature"):
        read_snapshot(path, tmp_path, KEY)
    assert not marker.exists()


def test_snapshot_wrong_key_rejected(tmp_path: Path) -> None:
    path = tmp_path / "state.pkl"
    write_snapshot(path, PAYLOAD, b"another-key-0123456789abcdef")
    with pytest.raises(SnapshotError, match="bad signature"):
        read_snapshot(path, tmp_path, KEY)


def test_snapshot_unsigned_rejected_when_key_set(tmp_path: Path) -> None:
    path = tmp_path / "state.pkl"
    write_snapshot(path, PAYLOAD)
    with pytest.raises(SnapshotError, match="unsigned"):
        read_snapshot(path, tmp_path, KEY)


def test_snapshot_other_format_version_rejected(tmp_path: Path) -> None:
    path = tmp_path / "state.pkl"
    write_snapshot(path, PAYLOAD)
    data = path.read_bytes().replace(f"SNAPSHOT {FORMAT_VERSION}\n".encode(), b"SNAPSHOT 99\n", 1)
    path.write_bytes(data)
    with pytest.raises(SnapshotError, match="format version '99'"):
        read_snapshot(path, tmp_path)


def test_snapshot_bare_pickle_rejected_without_unpickling(tmp_path: Path) -> None:
    path = tmp_path / "state.pkl"
    marker = tmp_path / "pwned"
    path.write_bytes(pickle.dumps(Exploit(marker)))
    with pytest.raises(SnapshotError, match="not a Centinela snapshot"):
        read_snapshot(path, tmp_path)
    assert not marker.exists()


def test_snapshot_symlink_outside_state_dir_rejected(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    outside = tmp_path / "elsewhere.pkl"
    write_snapshot(outside, PAYLOAD, KEY)
    (state / "state.pkl").symlink_to(outside)
    with pytest.raises(SnapshotError, match="outside the state directory"):
        read_snapshot(state / "state.pkl", state, KEY)


def test_snapshot_symlink_inside_state_dir_accepted(tmp_path: Path) -> None:
    write_snapshot(tmp_path / "real.pkl", PAYLOAD, KEY)
    (tmp_path / "state.pkl").symlink_to(tmp_path / "real.pkl")
    assert read_snapshot(tmp_path / "state.pkl", tmp_path, KEY) == PAYLOAD


def cold_settings(tmp_path: Path, **extra: object) -> Settings:
    values: dict[str, object] = {
        "state_dir": tmp_path / "state",
        "history_path": tmp_path / "no-history.log",
        "hst_trees": 5,
        "hst_window": 50,
        "reference_size": 200,
        "snapshot_key": KEY.decode(),
        "snapshot_interval_seconds": 0,
    }
    values.update(extra)
    return Settings(**values)  # type: ignore[arg-type]


def test_load_snapshot_logs_reason_and_falls_back(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    settings = cold_settings(tmp_path)
    detector = new_detector(settings)
    write_snapshot(settings.state_dir / MODEL_SNAPSHOT, {"detector": detector}, b"not-the-configured-key-000")
    with caplog.at_level(logging.WARNING, logger="centinela.warmstart"):
        assert load_snapshot(settings) is None
    assert "bad signature" in caplog.text
    assert "warming from history instead" in caplog.text


def test_load_snapshot_accepts_own_signature(tmp_path: Path) -> None:
    settings = cold_settings(tmp_path)
    detector = new_detector(settings)
    detector.score_learn(np.full((20, len(detector.features)), 0.5))
    write_snapshot(settings.state_dir / MODEL_SNAPSHOT, {"detector": detector}, KEY)
    payload = load_snapshot(settings)
    assert payload is not None
    assert payload["detector"].events_seen == 20


def attack_lines(ip: str, count: int, minute: int = 15) -> list[str]:
    return [
        f'{ip} - - [04/Dec/2026:10:{minute:02d}:{i % 60:02d} +0000] "POST /login HTTP/1.1" 401 120 "-" "curl/8.5"'
        for i in range(count)
    ]


def browse_lines(count: int) -> list[str]:
    return [
        f'198.51.100.{i % 200} - - [04/Dec/2026:10:14:{i % 60:02d} +0000] "GET /producto/{i % 37} HTTP/1.1" '
        f'200 {500 + i % 900} "-" "Mozilla/5.0"'
        for i in range(count)
    ]


async def test_runtime_restores_state_from_snapshot(tmp_path: Path) -> None:
    settings = cold_settings(tmp_path)
    first = Runtime(settings)
    await first.start()
    await first.analyze(browse_lines(400))
    verdict = await first.analyze(attack_lines("203.0.113.50", 30))
    await first.stop()
    assert verdict.decisions

    second = Runtime(settings)
    assert second.detector.events_seen == first.detector.events_seen == 430
    assert len(second.ingestion.extractor.windows) == len(first.ingestion.extractor.windows)
    assert [d.id for d in second.decisions.find()] == [d.id for d in first.decisions.find()]
    assert second.clock.now() >= first.clock.now() - 1
    # Offence history survives too: the restored store counts the earlier offence.
    assert second.decisions._offences == first.decisions._offences

async def test_runtime_restored_twice_scores_alike(tmp_path: Path) -> None:
    settings = cold_settings(tmp_path)
    first = Runtime(settings)
    await first.start()
    await first.analyze(browse_lines(2000))
    await first.stop()
    assert not first.detector.warming_up
    copy_dir = tmp_path / "copy"
    copy_dir.mkdir()
    snapshot = settings.state_dir / MODEL_SNAPSHOT
    (copy_dir / MODEL_SNAPSHOT).write_bytes(snapshot.read_bytes())

    probe = browse_lines(60) + attack_lines("203.0.113.77", 5, minute=16)
    scores = []
    for state_dir in (settings.state_dir, copy_dir):
        runtime = Runtime(settings.model_copy(update={"state_dir": state_dir}))
        await runtime.start()
        verdict = await runtime.analyze(probe)
        await runtime.stop()
        scores.append([scored.raw_score for scored in verdict.scored])
    assert None not in scores[0]
    assert scores[0] == scores[1]
