"""Hostile input for the compiled fast path: crashes and differences from the Python path found by fuzzing.

The extensions are built with bounds checks off, so an index past an array reads or writes memory
silently. Each test here pins an input that once did that, or that gave another result than the
pure-Python path, and checks that the compiled module now gives what the Python path gives.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from river.anomaly import HalfSpaceTrees

from stream import native
from stream.events import AccessEvent
from stream.fasthst import FastHST
from stream.features import FeatureExtractor
from stream.parsers.base import ParseError
from stream.parsers.combined import CombinedParser
from stream.windows import ClientWindows

LINES: Any = native.lines
WINDOWS: Any = native.windows
HST: Any = native.hst
pytestmark = pytest.mark.skipif(
    LINES is None or WINDOWS is None, reason="stream.native is not built (scripts/bootstrap) or CENTINELA_NATIVE=0"
)

REPO = Path(__file__).resolve().parents[1]
LINE = '203.0.113.9 - bob [04/Dec/2026:10:15:33 +0000] "GET /a?b=1 HTTP/1.1" 200 512 "-" "curl/8.5.0"'


def python_parse(text: str, line: int) -> AccessEvent | None:
    try:
        return CombinedParser().parse(text, line)
    except ParseError:
        return None


@pytest.mark.parametrize("tail", ["", "\u0100", "\U0001f600"], ids=["latin1", "ucs2", "ucs4"])
def test_lines_cut_at_every_position(tail: str) -> None:
    # A line that ends inside any field, in each string kind: the character after the cut makes the
    # string two or four bytes per character.
    items = [LINE[:end] + tail for end in range(len(LINE) + 1)]
    results = LINES.parse_common_lines(items, 1, 4096)

    assert len(results) == len(items)
    for index, (item, event) in enumerate(zip(items, results, strict=True)):
        if event is not None:
            assert event == python_parse(item, 1 + index), item


def test_lines_whole_line_with_wide_characters() -> None:
    wide = LINE.replace('"curl/8.5.0"', '"curl/\U0001f600"')
    event = LINES.parse_common_lines([wide], 7, 4096)[0]

    assert event is not None
    assert event == python_parse(wide, 7)
    assert event.user_agent_original == "curl/\U0001f600"


def test_windows_batch_list_shrinking_during_extract() -> None:
    # An event object whose attribute read empties the batch list. The compiled loop indexed the list
    # without bounds checks and crashed the interpreter (segmentation fault), so this runs in a child.
    script = textwrap.dedent(
        """
        from stream.features import FeatureExtractor

        events = []

        class ShrinkingEvent:
            timestamp = 1.0
            source_address = "198.51.100.7"
            source_ip = None
            http_request_method = "GET"
            url_path = "/"
            url_query = None
            user_agent_original = None
            http_response_body_bytes = 10
            user_name = None
            tags = ()

            @property
            def http_response_status_code(self):
                events.clear()
                return 200

        events.extend(ShrinkingEvent() for _ in range(500))
        matrix, stats = FeatureExtractor(60.0, 100, 600.0).extract_batch(events)
        print(matrix.shape[0], len(stats), stats[-1].requests)
        """
    )
    child = subprocess.run(
        [sys.executable, "-X", "faulthandler", "-c", script], cwd=REPO, capture_output=True, text=True, timeout=60
    )

    assert child.returncode == 0, child.stderr
    assert child.stdout.split() == ["500", "500", "500"]


@pytest.mark.parametrize("size", ["", False, 0.0, None, 0])
def test_windows_false_body_bytes_scale_to_zero(size: object) -> None:
    # stream/features.py scales `size` only when it is true, so every false value gives 0.0. The
    # compiled path raised TypeError for "" because it converted anything but None to a float.
    event = AccessEvent(1_700_000_000.0, "198.51.100.7", http_response_body_bytes=size)  # type: ignore[arg-type]
    native_matrix, native_stats = FeatureExtractor(60.0, 100, 600.0).extract_batch([event])
    python = FeatureExtractor(60.0, 100, 600.0)
    python.windows = ClientWindows(60.0, 100, 600.0)
    python_matrix, python_stats = python.extract_batch([event])

    assert native_matrix[0, 6] == 0.0
    assert native_matrix.tobytes() == python_matrix.tobytes()
    assert native_stats == python_stats


@pytest.mark.skipif(HST is None, reason="stream.native._hst is not built")
def test_hst_height_raised_after_compile_raises() -> None:
    # A walk deeper than the compiled trees leaves the node arrays. The NumPy lookup raises
    # IndexError there, and the compiled one read past the arrays.
    features = ["f0", "f1", "f2", "f3"]
    rng = np.random.default_rng(0)
    model = HalfSpaceTrees(n_trees=3, height=4, window_size=20, seed=1)
    engine = FastHST(model, features)
    engine.score_learn_many(rng.random((50, len(features))))
    model.height = 9
    rows = rng.random((5, len(features)))

    with pytest.raises(IndexError):
        engine._find_leaves_numpy(rows)
    with pytest.raises(IndexError, match="node"):
        engine._find_leaves(rows)


@pytest.mark.skipif(HST is None, reason="stream.native._hst is not built")
@pytest.mark.parametrize("column", [-1, 3, 1 << 40])
def test_hst_feature_column_out_of_range_raises(column: int) -> None:
    rows = np.zeros((2, 3))
    feature_index = np.array([column, 0, 0], dtype=np.intp)
    threshold = np.array([0.5, np.inf, np.inf])
    left_child = np.array([1, 3, 5], dtype=np.intp)

    with pytest.raises(IndexError, match="feature column"):
        HST.find_leaves(rows, feature_index, threshold, left_child, 1, 3, 1)


@pytest.mark.skipif(HST is None, reason="stream.native._hst is not built")
def test_hst_tree_offset_past_arrays_raises() -> None:
    rows = np.zeros((1, 2))
    feature_index = np.zeros(3, dtype=np.intp)
    threshold = np.full(3, np.inf)
    left_child = np.array([1, 3, 5], dtype=np.intp)

    # Two trees of three nodes need six entries per array; the second tree starts past them.
    with pytest.raises(IndexError, match="node 3"):
        HST.find_leaves(rows, feature_index, threshold, left_child, 2, 3, 1)
