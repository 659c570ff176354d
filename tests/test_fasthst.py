"""FastHST must give River's HalfSpaceTrees results exactly: same scores, masses, counter and window flag."""

from __future__ import annotations

import math
import pickle
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from river.anomaly import HalfSpaceTrees

from stream.fasthst import FastHST

MAX_BATCH = 200


def river_state(model: HalfSpaceTrees) -> list[list[tuple[int, int]]]:
    """Return (r_mass, l_mass) of every node of every tree, in River's depth-first order."""
    return [[(node.r_mass, node.l_mass) for node in tree.iter_dfs()] for tree in model.trees]


def to_dict(features: list[str], row: list[float]) -> dict[str, float]:
    """Build River's input, leaving out NaN cells because FastHST reads NaN as a missing feature."""
    return {name: value for name, value in zip(features, row, strict=True) if not math.isnan(value)}


def run_river(model: HalfSpaceTrees, features: list[str], rows: list[list[float]]) -> list[float]:
    scores = []
    for row in rows:
        x = to_dict(features, row)
        scores.append(model.score_one(x))
        model.learn_one(x)
    return scores


def tree_thresholds(params: dict[str, Any], features: list[str], first_row: list[float]) -> list[float]:
    """Return the thresholds River will draw for these parameters, so streams can hit them exactly."""
    probe = HalfSpaceTrees(**params)
    probe.learn_one(to_dict(features, first_row))
    return [node.threshold for tree in probe.trees for node in tree.iter_dfs() if hasattr(node, "threshold")]


@st.composite
def streams(draw: st.DrawFn, allow_missing: bool) -> dict[str, Any]:
    n_features = draw(st.integers(1, 4))
    features = [f"f{i}" for i in range(n_features)]
    params = {
        "n_trees": draw(st.integers(1, 5)),
        "height": draw(st.integers(0, 6)),
        # For these sizes 0.1 * window_size is a whole number, so an r_mass can equal the size limit.
        "window_size": draw(st.one_of(st.integers(1, 50), st.sampled_from([10, 20, 40, 50]))),
        "seed": draw(st.integers(0, 2**16)),
    }
    unit = st.floats(0.0, 1.0)
    if allow_missing:
        unit = st.one_of(unit, st.just(math.nan))
    # River cannot build trees from a first row without features, so that row keeps at least one.
    first_row = draw(
        st.lists(unit, min_size=n_features, max_size=n_features).filter(
            lambda values: not all(math.isnan(value) for value in values)
        )
    )

    # Values equal to a threshold check that equality goes right, as River's `value < threshold` does.
    ties = [*tree_thresholds(params, features, first_row), 0.0, 1.0]
    value = st.one_of(unit, st.sampled_from(ties))
    row = st.lists(value, min_size=n_features, max_size=n_features)
    drawn_rows = draw(st.lists(row, min_size=0, max_size=30))

    # A long seeded tail crosses many windows without making hypothesis draw every value.
    n_tail = draw(st.integers(0, 400))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    tail = rng.random((n_tail, n_features))
    tie_cells = rng.random(tail.shape) < 0.2
    tail[tie_cells] = rng.choice(ties, size=int(tie_cells.sum()))
    if allow_missing:
        tail[rng.random(tail.shape) < 0.1] = math.nan
    rows = [first_row, *drawn_rows, *tail.tolist()]
    return {
        "features": features,
        "params": params,
        "rows": rows,
        "batch_sizes": draw(st.lists(st.integers(1, MAX_BATCH), min_size=1, max_size=8)),
        "river_warmup": draw(st.integers(0, 60)),
    }


def check_stream_matches_river(stream: dict[str, Any]) -> None:
    """Feed a stream to River one row at a time and to FastHST in batches, and compare everything."""
    features, params, rows = stream["features"], stream["params"], stream["rows"]
    reference = HalfSpaceTrees(**params)
    model = HalfSpaceTrees(**params)

    # Part of the stream may go through River before FastHST wraps the model mid-window.
    warmup = min(stream["river_warmup"], len(rows))
    assert run_river(reference, features, rows[:warmup]) == run_river(model, features, rows[:warmup])
    fast = FastHST(model, features)

    start, batch = warmup, 0
    while start < len(rows):
        size = stream["batch_sizes"][batch % len(stream["batch_sizes"])]
        chunk = rows[start : start + size]
        expected = run_river(reference, features, chunk)
        got = fast.score_learn_many(np.array(chunk, dtype=np.float64)).tolist()
        fast.sync_to_river()

        assert got == expected, f"scores differ in rows {start}..{start + len(chunk) - 1}"
        assert fast.counter == reference.counter
        assert fast.first_window == reference._first_window
        assert model.counter == reference.counter
        assert model._first_window == reference._first_window
        assert river_state(model) == river_state(reference)
        start += len(chunk)
        batch += 1

    # After a sync, River's own scoring of the model FastHST trained must equal the reference.
    probes = [to_dict(features, row) for row in rows[-20:]]
    assert [model.score_one(x) for x in probes] == [reference.score_one(x) for x in probes]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(stream=streams(allow_missing=False))
def test_fasthst_score_learn_matches_river(stream: dict[str, Any]) -> None:
    check_stream_matches_river(stream)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(stream=streams(allow_missing=True))
def test_fasthst_missing_features_match_river(stream: dict[str, Any]) -> None:
    check_stream_matches_river(stream)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(stream=streams(allow_missing=True), split=st.integers(0, 300))
def test_fasthst_score_many_matches_river(stream: dict[str, Any], split: int) -> None:
    features, params, rows = stream["features"], stream["params"], stream["rows"]
    reference = HalfSpaceTrees(**params)
    fast = FastHST(HalfSpaceTrees(**params), features)
    learned, scored = rows[:split], rows[split:] or rows
    run_river(reference, features, learned)
    fast.score_learn_many(np.array(learned, dtype=np.float64).reshape(-1, len(features)))

    got = fast.score_many(np.array(scored, dtype=np.float64)).tolist()
    fast.sync_to_river()

    assert got == [reference.score_one(to_dict(features, row)) for row in scored]
    assert fast.model.counter == reference.counter
    assert fast.model._first_window == reference._first_window
    assert river_state(fast.model) == river_state(reference)


def warm_pair(seed: int = 7) -> tuple[list[str], np.ndarray, HalfSpaceTrees, FastHST]:
    """Return features, rows, a River reference and a FastHST trained on the same 1,000 rows."""
    features = ["rate", "errors", "path_entropy"]
    X = np.random.default_rng(seed).random((1_300, len(features)))
    params: dict[str, Any] = {"n_trees": 6, "height": 5, "window_size": 64, "seed": seed}
    reference = HalfSpaceTrees(**params)
    run_river(reference, features, X[:1_000].tolist())
    fast = FastHST(HalfSpaceTrees(**params), features)
    for start in range(0, 1_000, 137):
        fast.score_learn_many(X[start : min(start + 137, 1_000)])
    return features, X, reference, fast


def test_fasthst_pickled_river_model_scores_identically() -> None:
    features, X, reference, fast = warm_pair()
    fast.sync_to_river()
    restored = pickle.loads(pickle.dumps(fast.model))

    later_rows = X[1_000:].tolist()
    restored_scores = run_river(restored, features, later_rows)

    assert restored_scores == run_river(reference, features, later_rows)
    assert river_state(restored) == river_state(reference)


def test_fasthst_pickle_syncs_masses_first() -> None:
    features, X, reference, fast = warm_pair()
    restored = pickle.loads(pickle.dumps(fast))

    assert restored.model.counter == reference.counter
    assert river_state(restored.model) == river_state(reference)
    assert restored.score_learn_many(X[1_000:]).tolist() == run_river(reference, features, X[1_000:].tolist())


def test_fasthst_refresh_reads_learning_done_in_river() -> None:
    features, X, reference, fast = warm_pair()
    fast.sync_to_river()
    middle = X[1_000:1_100].tolist()
    run_river(fast.model, features, middle)
    run_river(reference, features, middle)

    fast.refresh_from_river()

    assert fast.score_learn_many(X[1_100:]).tolist() == run_river(reference, features, X[1_100:].tolist())


def test_fasthst_river_model_is_stale_until_sync() -> None:
    features, _, _, fast = warm_pair()
    model_state = river_state(fast.model)
    fast.score_learn_many(np.full((10, len(features)), 0.5))

    assert river_state(fast.model) == model_state
    fast.sync_to_river()
    assert river_state(fast.model) != model_state


def test_fasthst_wrong_column_count_raises() -> None:
    fast = FastHST(HalfSpaceTrees(seed=1), ["a", "b"])

    with pytest.raises(ValueError, match=r"expected a batch of shape \(n, 2\).*got shape \(4, 3\)"):
        fast.score_learn_many(np.zeros((4, 3)))


def test_fasthst_non_numeric_batch_raises() -> None:
    fast = FastHST(HalfSpaceTrees(seed=1), ["a", "b"])

    with pytest.raises(ValueError, match="invalid batch, expected numbers only"):
        fast.score_many([["0.1", "GET /admin"]])


def test_fasthst_tree_feature_missing_from_list_raises() -> None:
    model = HalfSpaceTrees(n_trees=3, height=4, seed=3)
    model.learn_one({"a": 0.2, "b": 0.7})

    with pytest.raises(ValueError, match="splits on feature 'b', which is not in features"):
        FastHST(model, ["a"])


def test_fasthst_duplicate_feature_names_raise() -> None:
    with pytest.raises(ValueError, match="feature names must be unique"):
        FastHST(HalfSpaceTrees(seed=1), ["a", "a"])


def test_fasthst_first_row_without_features_raises() -> None:
    fast = FastHST(HalfSpaceTrees(seed=1), ["a", "b"])

    with pytest.raises(ValueError, match="row 0 has only NaN"):
        fast.score_learn_many(np.array([[math.nan, math.nan], [0.1, 0.2]]))


def test_fasthst_counter_past_window_never_pivots() -> None:
    features = ["a", "b"]
    rows = np.random.default_rng(5).random((120, 2))
    reference = HalfSpaceTrees(n_trees=3, height=4, window_size=50, seed=5)
    model = HalfSpaceTrees(n_trees=3, height=4, window_size=50, seed=5)
    run_river(reference, features, rows[:80].tolist())
    run_river(model, features, rows[:80].tolist())
    # The counter is 30, so after lowering window_size River never reaches it again.
    reference.window_size = model.window_size = 20
    fast = FastHST(model, features)

    got = fast.score_learn_many(rows[80:]).tolist()
    fast.sync_to_river()

    assert got == run_river(reference, features, rows[80:].tolist())
    assert model.counter == reference.counter == 70
    assert river_state(model) == river_state(reference)
