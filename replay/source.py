"""Read a log file, a .gz file or stdin line by line, optionally following it as it grows.

`LineSource.read` returns up to `n` complete lines. At the end of the input
it returns fewer, or none. With `follow=True` an empty read means "nothing
new yet": the caller waits and reads again, and the source reopens the path
when the file was rotated (a new file under the same name) or truncated.
"""

from __future__ import annotations

import gzip
import os
import sys
from pathlib import Path
from typing import BinaryIO


class SourceError(OSError):
    """The input cannot be opened or read; the message names the path and the cause."""


class LineSource:
    def __init__(self, path: str, follow: bool = False) -> None:
        self.path = path
        self.follow = follow
        self.gzipped = path.endswith(".gz")
        self.lines_read = 0
        self.bytes_read = 0
        self.rotations = 0
        self._handle: BinaryIO | None = None
        self._partial = b""
        self._inode: int | None = None
        if follow and (path == "-" or self.gzipped):
            raise SourceError(f"--follow works on plain files only, not on {'stdin' if path == '-' else path!r}")

    @property
    def total_bytes(self) -> int | None:
        """Size of a plain file when opened, for a progress bar; None for stdin, .gz and followed files."""
        if self.path == "-" or self.gzipped or self.follow:
            return None
        try:
            return os.path.getsize(self.path)
        except OSError:
            return None

    def open(self) -> None:
        if self.path == "-":
            self._handle = sys.stdin.buffer
            return
        try:
            if self.gzipped:
                self._handle = gzip.open(self.path, "rb")  # type: ignore[assignment]
                self._handle.peek(1)  # type: ignore[union-attr]  # fail now on a file that is not gzip
            else:
                self._handle = open(self.path, "rb")
                self._inode = os.fstat(self._handle.fileno()).st_ino
        except (OSError, EOFError) as exc:
            raise SourceError(f"cannot read {self.path!r}: {exc}") from exc

    def close(self) -> None:
        if self._handle is not None and self._handle is not sys.stdin.buffer:
            self._handle.close()
        self._handle = None

    def read(self, n: int) -> list[bytes]:
        """Return up to `n` complete lines (with their line endings)."""
        if self._handle is None:
            raise SourceError("source is not open")
        lines: list[bytes] = []
        try:
            while len(lines) < n:
                line = self._handle.readline()
                if not line:
                    if self.follow and self._reopened():
                        continue
                    break
                if not line.endswith(b"\n") and self.follow:
                    # A writer is midway through this line: keep it until the rest arrives.
                    self._partial += line
                    break
                if self._partial:
                    line, self._partial = self._partial + line, b""
                lines.append(line)
                self.bytes_read += len(line)
        except (OSError, EOFError) as exc:
            raise SourceError(f"cannot read {self.path!r} after line {self.lines_read}: {exc}") from exc
        if not self.follow and not lines and self._partial:
            lines, self._partial = [self._partial], b""
        self.lines_read += len(lines)
        return lines

    def _reopened(self) -> bool:
        """At the end of a followed file: reopen it when rotated, rewind it when truncated."""
        assert self._handle is not None
        try:
            status = Path(self.path).stat()
        except OSError:
            return False  # rotated away and not yet recreated: keep waiting
        if status.st_ino != self._inode:
            self.close()
            self._partial = b""
            self.open()
            self.rotations += 1
            return True
        if status.st_size < self._handle.tell():
            self._handle.seek(0)
            self._partial = b""
            self.rotations += 1
            return True
        return False
