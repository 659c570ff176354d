"""LineSource (plain, .gz, --follow with rotation and truncation) and the --speed pacer."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import pytest

from replay.pacing import Pacer
from replay.source import LineSource, SourceError


def test_replay_source_reads_last_line_without_newline(tmp_path: Path) -> None:
    path = tmp_path / "a.log"
    path.write_bytes(b"one\ntwo\nthree")
    source = LineSource(str(path))
    source.open()
    assert source.read(2) == [b"one\n", b"two\n"]
    assert source.read(2) == [b"three"]
    assert source.read(2) == []
    assert source.lines_read == 3


def test_replay_source_reads_gzip(tmp_path: Path) -> None:
    path = tmp_path / "a.log.gz"
    with gzip.open(path, "wb") as handle:
        handle.write(b"one\ntwo\n")
    source = LineSource(str(path))
    source.open()
    assert source.read(10) == [b"one\n", b"two\n"]


def test_replay_source_follow_rejects_stdin_and_gzip() -> None:
    with pytest.raises(SourceError, match="plain files only"):
        LineSource("-", follow=True)
    with pytest.raises(SourceError, match="plain files only"):
        LineSource("x.log.gz", follow=True)


def test_replay_source_follow_waits_for_complete_lines(tmp_path: Path) -> None:
    path = tmp_path / "a.log"
    path.write_bytes(b"one\ntw")
    source = LineSource(str(path), follow=True)
    source.open()
    assert source.read(10) == [b"one\n"]
    assert source.read(10) == []
    with open(path, "ab") as handle:
        handle.write(b"o\nthree\n")
    assert source.read(10) == [b"two\n", b"three\n"]


def test_replay_source_follow_reopens_rotated_file(tmp_path: Path) -> None:
    path = tmp_path / "a.log"
    path.write_bytes(b"old 1\nold 2\n")
    source = LineSource(str(path), follow=True)
    source.open()
    assert source.read(10) == [b"old 1\n", b"old 2\n"]
    os.rename(path, tmp_path / "a.log.1")
    path.write_bytes(b"new 1\n")
    assert source.read(10) == [b"new 1\n"]
    assert source.rotations == 1


def test_replay_source_follow_rewinds_truncated_file(tmp_path: Path) -> None:
    path = tmp_path / "a.log"
    path.write_bytes(b"a long first line\nanother long line\n")
    source = LineSource(str(path), follow=True)
    source.open()
    assert len(source.read(10)) == 2
    with open(path, "wb") as handle:  # truncate in place, same inode
        handle.write(b"fresh\n")
    assert source.read(10) == [b"fresh\n"]
    assert source.lines_read == 3


async def test_replay_pacer_splits_batch_by_log_time() -> None:
    now = [100.0]
    pacer = Pacer(speed=10.0, clock=lambda: now[0])
    # At speed 10, a line stamped 1 s after the first is due 0.1 s after it, and one stamped 21 s after at 2.1 s.
    delays = [pacer.delay(stamp) for stamp in (1000.0, 1001.0, None)]
    assert delays == [0.0, pytest.approx(0.1), 0.0]
    now[0] = 102.0
    assert pacer.delay(1021.0) == pytest.approx(0.1)
    assert pacer.delay(990.0) == 0.0  # older than the first line: sent at once


async def test_replay_pacer_split_yields_due_pieces() -> None:
    pacer = Pacer(speed=1000.0)
    lines = ["a", "b", "c", "d"]
    pieces = [piece async for piece in pacer.split(lines, [0.0, 0.0, 50.0, 50.0], 7)]
    assert pieces == [(7, ["a", "b"]), (9, ["c", "d"])]
