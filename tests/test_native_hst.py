"""The compiled leaf lookup (stream/native/_hst.pyx) against the NumPy one it replaces.

test_fasthst.py checks FastHST against River itself, with whichever lookup is built. These tests
compare the two lookups directly, also on values that sit exactly on split thresholds.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from river.anomaly import HalfSpaceTrees

from stream import native
from stream.fasthst import FastHST

pytestmark = pytest.mark.skipif(native.hst is None, reason="stream.native._hst is not built (scripts/bootstrap)")

FEATURES = [f"f{i}" for i in range(6)]


def warm_engine(seed: int, n_trees: int, height: int) -> FastHST:
    rng = np.random.default_rng(seed)
    model = HalfSpaceTrees(n_trees=n_trees, height=height, window_size=50, seed=seed)
    engine = FastHST(model, FEATURES)
    engine.score_learn_many(rng.random((120, len(FEATURES))))
    return engine


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    n_trees=st.integers(1, 12),
    height=st.integers(1, 9),
    rows=st.integers(0, 300),
    on_threshold=st.floats(0.0, 1.0),
)
def test_native_leaves_equal_numpy_leaves(seed: int, n_trees: int, height: int, rows: int, on_threshold: float) -> None:
    engine = warm_engine(seed, n_trees, height)
    rng = np.random.default_rng(seed + 1)
    X = rng.random((rows, len(FEATURES)))
    # Put a share of the values exactly on split thresholds, where going right rather than left matters.
    thresholds = engine._threshold[np.isfinite(engine._threshold)]
    mask = rng.random(X.shape) < on_threshold
    X[mask] = rng.choice(thresholds, size=int(mask.sum()))

    native_leaves = engine._find_leaves(X)
    numpy_leaves = engine._find_leaves_numpy(X)
    assert native_leaves.dtype == numpy_leaves.dtype
    assert np.array_equal(native_leaves, numpy_leaves)


def test_native_lookup_keeps_scores_and_masses(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(3)
    X = rng.random((2_000, len(FEATURES)))
    with_native = warm_engine(5, 10, 6)
    scores_native = with_native.score_learn_many(X)
    monkeypatch.setattr(native, "hst", None)
    without = warm_engine(5, 10, 6)
    scores_numpy = without.score_learn_many(X)
    assert np.array_equal(scores_native, scores_numpy)
    assert np.array_equal(with_native._l_mass, without._l_mass)
    assert np.array_equal(with_native._r_mass, without._r_mass)
