"""The compiled fast path: Cython versions of the three per-event loops that bounded throughput.

- `_lines.parse_common_lines` reads the common, well-formed combined/common log line (the
  lines `CombinedParser.parse` takes with FAST_LINE_RE) without a regular expression;
- `_windows.NativeWindows` keeps the per-client sliding windows in C arrays and writes feature
  rows straight into the batch matrix;
- `_hst.find_leaves` walks each row down each half-space tree for the vectorised engine
  (stream/fasthst.py).

Each gives exactly what their pure-Python counterparts give (the tests in tests/test_native_*.py compare
them on generated input). `scripts/bootstrap` builds them; without a C compiler, or with
`CENTINELA_NATIVE=0`, the service runs the pure-Python path, and `/health` reports which one runs.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from types import ModuleType


def _load(name: str) -> ModuleType | None:
    if os.environ.get("CENTINELA_NATIVE", "1") == "0":
        return None
    try:
        module = __import__(f"stream.native.{name}", fromlist=[name])
    except ImportError:
        return None
    return module


lines: ModuleType | None = _load("_lines")
windows: ModuleType | None = _load("_windows")
hst: ModuleType | None = _load("_hst")


def engine() -> str:
    """Return "native" when every compiled module is loaded, "python" otherwise."""
    return "native" if lines is not None and windows is not None and hst is not None else "python"


@contextmanager
def disabled() -> Iterator[None]:
    """Run the pure-Python path inside the block; objects built inside keep it after the block.

    Callers look the modules up when they run (or, for the feature extractor, when it is built),
    so this switches the whole pipeline. The benchmarks use it to measure both paths in one run.
    """
    global lines, windows, hst
    saved = lines, windows, hst
    lines = windows = hst = None
    try:
        yield
    finally:
        lines, windows, hst = saved
