"""Atomic, versioned and optionally signed snapshots of the service state.

File layout (format version 2)::

    CENTINELA-SNAPSHOT 2\\n
    hmac-sha256 <64 hex digits>\\n      or   unsigned\\n
    <pickle bytes>

Unpickling runs any code the file's author chose. So before a single byte is
unpickled, `read_snapshot` checks the magic and the format version, the
HMAC-SHA256 signature of the version line and the payload when a key is
configured, and that the file, symlinks resolved, lies inside the state
directory. Writes go to a temporary file in the same directory, are fsynced,
then renamed over the old snapshot, so a crash leaves either the old file or
the new one, never a torn one.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import pickle
import tempfile
from pathlib import Path
from typing import Any

FORMAT_VERSION = 2
MAGIC = b"CENTINELA-SNAPSHOT"
UNSIGNED = b"unsigned"
SIGNATURE_PREFIX = b"hmac-sha256 "


class SnapshotError(RuntimeError):
    """A snapshot could not be read, or was rejected before unpickling."""


def _version_line() -> bytes:
    return MAGIC + b" " + str(FORMAT_VERSION).encode() + b"\n"


def sign(key: bytes, version_line: bytes, body: bytes) -> str:
    """Return the hex HMAC-SHA256 of the version line and the pickled body."""
    return hmac.new(key, version_line + body, hashlib.sha256).hexdigest()


def write_snapshot(path: Path, payload: dict[str, Any], key: bytes | None = None) -> None:
    """Pickle `payload` and write it atomically to `path`, signed when `key` is given."""
    body = pickle.dumps(payload, protocol=pickle.HIGHEST_PROTOCOL)
    write_snapshot_bytes(path, body, key)


def write_snapshot_bytes(path: Path, body: bytes, key: bytes | None = None) -> None:
    """Write an already pickled payload atomically (temporary file, fsync, rename, fsync of the folder)."""
    version = _version_line()
    signature = SIGNATURE_PREFIX + sign(key, version, body).encode() if key else UNSIGNED
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)

    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(version + signature + b"\n" + body)
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


def read_snapshot(path: Path, root: Path, key: bytes | None = None) -> dict[str, Any]:
    """Check and load the snapshot at `path`, which must resolve to a file inside `root`.

    Raises SnapshotError, naming the reason, when the file is outside `root`,
    is not a snapshot, has another format version, or (with a `key`) is
    unsigned or its signature does not match. Without a key, signatures are
    not checked, so the state directory itself is all that is trusted.
    """
    resolved = _inside(path, root)
    try:
        data = resolved.read_bytes()
    except OSError as exc:
        raise SnapshotError(f"cannot read snapshot {path}: {exc}") from exc

    version, signature, body = _split(path, data)
    _check_version(path, version)
    _check_signature(path, version, signature, body, key)
    try:
        payload = pickle.loads(body)
    except Exception as exc:  # unpickling can raise almost anything on a damaged body
        raise SnapshotError(f"cannot unpickle snapshot {path}: {type(exc).__name__}: {exc}") from exc
    if not isinstance(payload, dict):
        raise SnapshotError(f"snapshot {path} contains a {type(payload).__name__}, expected a dict")
    return payload


def _inside(path: Path, root: Path) -> Path:
    try:
        resolved = path.resolve(strict=True)
        base = root.resolve(strict=True)
    except OSError as exc:
        raise SnapshotError(f"cannot resolve snapshot {path}: {exc}") from exc
    if not resolved.is_relative_to(base):
        raise SnapshotError(
            f"snapshot {path} resolves to {resolved}, outside the state directory {base}; refusing to load it"
        )
    if not resolved.is_file():
        raise SnapshotError(f"snapshot {path} is not a regular file")
    return resolved


def _split(path: Path, data: bytes) -> tuple[bytes, bytes, bytes]:
    first = data.find(b"\n")
    second = data.find(b"\n", first + 1) if first >= 0 else -1
    if first < 0 or second < 0 or not data.startswith(MAGIC + b" "):
        raise SnapshotError(
            f"{path} is not a Centinela snapshot of format {FORMAT_VERSION} (no {MAGIC.decode()} header); "
            "it may come from an older version"
        )
    return data[: first + 1], data[first + 1 : second], data[second + 1 :]


def _check_version(path: Path, version: bytes) -> None:
    found = version[len(MAGIC) + 1 :].strip().decode("ascii", "replace")
    if found != str(FORMAT_VERSION):
        raise SnapshotError(f"snapshot {path} has format version {found!r}, expected {FORMAT_VERSION}")


def _check_signature(path: Path, version: bytes, signature: bytes, body: bytes, key: bytes | None) -> None:
    if key is None:
        return
    if not signature.startswith(SIGNATURE_PREFIX):
        raise SnapshotError(f"snapshot {path} is unsigned, but CENTINELA_SNAPSHOT_KEY is set; refusing to load it")
    expected = sign(key, version, body).encode()
    if not hmac.compare_digest(signature[len(SIGNATURE_PREFIX) :], expected):
        raise SnapshotError(
            f"snapshot {path} has a bad signature (tampered with, or signed with another "
            "CENTINELA_SNAPSHOT_KEY); refusing to load it"
        )
