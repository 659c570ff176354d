"""Atomic model snapshots.

A snapshot is a pickle of a dict with a format version. Pickle runs code
when loaded, so only load snapshots from the service's own state directory.
Writes go to a temporary file in the same directory, are fsynced, then
renamed over the old snapshot, so a crash leaves either the old or the new
file, never a torn one.
"""

from __future__ import annotations

import os
import pickle
import tempfile
from pathlib import Path
from typing import Any

FORMAT_VERSION = 1


class SnapshotError(RuntimeError):
    """A snapshot could not be read or does not belong to this version."""


def write_snapshot(path: Path, payload: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = pickle.dumps({"format_version": FORMAT_VERSION, **payload}, protocol=pickle.HIGHEST_PROTOCOL)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def read_snapshot(path: Path) -> dict[str, Any]:
    try:
        payload = pickle.loads(path.read_bytes())
    except (OSError, pickle.UnpicklingError, EOFError, AttributeError, ImportError) as exc:
        raise SnapshotError(f"cannot read snapshot {path}: {exc}") from exc
    if not isinstance(payload, dict) or payload.get("format_version") != FORMAT_VERSION:
        found = payload.get("format_version") if isinstance(payload, dict) else type(payload).__name__
        raise SnapshotError(f"snapshot {path} has format version {found!r}, expected {FORMAT_VERSION}")
    return payload
