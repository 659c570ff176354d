"""Batch scoring and learning for River's HalfSpaceTrees with NumPy, giving River's exact scores.

River's `HalfSpaceTrees.score_one` reads only the reference mass (`r_mass`), and that mass changes
only when a window of `window_size` learned events completes. So a batch can be cut at window
boundaries, and inside one piece every event can be scored first and all of their paths added to the
latest mass (`l_mass`) afterwards. The result equals calling `score_one(x)` then `learn_one(x)` for
each event in order.

The River model stays the model of record. `FastHST` compiles its trees into flat arrays and keeps
the masses in those arrays between calls. Call `sync_to_river()` before anything reads, snapshots or
pickles the River model, and `refresh_from_river()` after anything else changed it.

"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Any

import numpy as np
from river.anomaly import HalfSpaceTrees

from stream import native

__all__ = ["FastHST"]

# Scores are sums of integer masses. They stay exact in float64, and so equal to River's float sums,
# while the largest possible score is below 2**53.
_EXACT_INT_LIMIT = 2**53


class FastHST:
    """NumPy batch scorer and learner that reads and updates a River `HalfSpaceTrees` model.

    Parameters
    ----------
    model
        The River model. Its trees and masses are compiled into arrays. A model without trees yet gets
        them from its own `learn_one` on the first learned row.
    features
        Feature names in the order of the columns of every batch. Every feature that a tree splits on
        must be in this list.

    Notes
    -----
    NaN in a batch marks a missing feature, the same as a key absent from River's input dict. Such a
    row walks toward the child with the larger `l_mass`, as River does, and is processed one at a
    time in Python, so it is much slower than a complete row. A River dict that contains a NaN value
    is a different case: River compares it with the threshold and always goes right.

    The masses live in this object's arrays between calls, so the River model is stale until
    `sync_to_river()` runs. Pickling a `FastHST` syncs first and stores only the River model.

    Examples
    --------
    >>> import numpy as np
    >>> from river.anomaly import HalfSpaceTrees
    >>> model = HalfSpaceTrees(n_trees=3, height=4, window_size=5, seed=1)
    >>> fast = FastHST(model, features=["a", "b"])
    >>> X = np.random.default_rng(0).random((12, 2))
    >>> scores = fast.score_learn_many(X)
    >>> fast.sync_to_river()
    >>> model.score_one({"a": 0.5, "b": 0.5}) == float(fast.score_many(np.array([[0.5, 0.5]]))[0])
    True

    """

    def __init__(self, model: HalfSpaceTrees, features: Sequence[Hashable]) -> None:
        if not isinstance(model, HalfSpaceTrees):
            raise TypeError(f"expected a river.anomaly.HalfSpaceTrees model, got {type(model).__name__}")
        if len(set(features)) != len(features):
            raise ValueError(f"feature names must be unique, got {list(features)!r}")
        if len(features) == 0:
            raise ValueError("features is empty. Give the names of the batch columns in order")
        self.model = model
        self.features = list(features)
        self._column = {name: i for i, name in enumerate(self.features)}
        self._dirty = False
        self._compiled = False
        if model.trees:
            self.refresh_from_river()

    # ----------------------------------------------------------------------------------------------
    # Public API

    def score_learn_many(self, X: Any) -> np.ndarray:
        """Score then learn each row of `X` in order, exactly as River's `score_one` then `learn_one`.

        Returns one score per row as float64. Rows scored during River's first window get 0.0.
        """
        X = self._check_batch(X)
        n = X.shape[0]
        scores = np.zeros(n, dtype=np.float64)
        if n == 0:
            return scores

        start = 0
        if not self._compiled:
            # River draws the trees from its own random generator on the first learn_one call.
            scores[0] = self._score_learn_with_river(X[0])
            start = 1
        if start == n:
            return scores

        leaves = self._find_leaves(X[start:])
        missing_rows = _rows_with_nan(X[start:]) + start
        self._dirty = True

        i = start
        while i < n:
            room = self.model.window_size - self._counter
            # River pivots only when the counter equals window_size, so a counter already past it
            # (window_size lowered on a live model) never pivots again.
            window_end = min(n, i + room) if room > 0 else n
            k = int(np.searchsorted(missing_rows, i))
            next_missing = int(missing_rows[k]) if k < len(missing_rows) else n
            if next_missing == i:
                scores[i] = self._score_row_with_missing(X[i])
                self._learn_row_with_missing(X[i])
                self._advance_counter(1)
                i += 1
                continue

            end = min(window_end, next_missing)
            piece = leaves[:, i - start : end - start]
            if not self._first_window:
                scores[i:end] = self._scores_from_leaves(piece)
            self._learn_leaves(piece)
            self._advance_counter(end - i)
            i = end
        return scores

    def score_many(self, X: Any) -> np.ndarray:
        """Score each row of `X` with River's `score_one` rule, without learning."""
        X = self._check_batch(X)
        n = X.shape[0]
        if not self._compiled:
            return np.array([self.model.score_one(self._row_to_dict(row)) for row in X], dtype=np.float64)
        if self._first_window or n == 0:
            return np.zeros(n, dtype=np.float64)

        scores = self._scores_from_leaves(self._find_leaves(X))
        for i in _rows_with_nan(X):
            scores[i] = self._score_row_with_missing(X[i])
        return scores

    @property
    def first_window(self) -> bool:
        """True while River's first window is still filling, because every score is 0 until it is full."""
        return self._first_window if self._compiled else self.model._first_window

    @property
    def counter(self) -> int:
        """Number of events learned in the current window, as River's `counter`."""
        return self._counter if self._compiled else self.model.counter

    def sync_to_river(self) -> None:
        """Write the masses, `counter` and `_first_window` back into the River model."""
        if not self._dirty:
            return
        model = self.model
        for nodes, r_row, l_row in zip(self._nodes, self._r_mass, self._l_mass, strict=True):
            for node, r_mass, l_mass in zip(nodes, r_row.tolist(), l_row.tolist(), strict=True):
                node.r_mass = r_mass
                node.l_mass = l_mass
        model.counter = self._counter
        model._first_window = self._first_window
        self._dirty = False

    def refresh_from_river(self) -> None:
        """Compile the River model's trees and masses into arrays, replacing unsynced changes here."""
        model = self.model
        height = model.height
        self._n_branches = 2**height - 1
        self._n_leaves = 2**height
        self._max_score = model._max_score
        if self._max_score >= _EXACT_INT_LIMIT:
            raise ValueError(
                f"n_trees * window_size * (2**(height + 1) - 1) = {self._max_score} is not below 2**53, "
                "so float64 scores could differ from River's; use fewer trees, a lower height "
                "or a smaller window"
            )

        self._nodes = [_nodes_in_level_order(tree, height) for tree in model.trees]
        n_trees = len(self._nodes)
        n_nodes = 2 * self._n_leaves - 1
        self._tree_offset = (np.arange(n_trees, dtype=np.intp) * n_nodes)[:, None]
        self._compile_splits(n_nodes)
        self._r_mass = np.array([[node.r_mass for node in nodes] for nodes in self._nodes], dtype=np.int64)
        self._l_mass = np.array([[node.l_mass for node in nodes] for nodes in self._nodes], dtype=np.int64)
        self._compile_leaf_ranges(height)
        self._counter = model.counter
        self._first_window = model._first_window
        self._update_leaf_scores()
        self._compiled = True
        self._dirty = False

    def __getstate__(self) -> dict[str, Any]:
        self.sync_to_river()
        return {"model": self.model, "features": self.features}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["model"], state["features"])  # type: ignore[misc]

    # ----------------------------------------------------------------------------------------------
    # Input checks and River fallbacks

    def _check_batch(self, X: Any) -> np.ndarray:
        try:
            array = np.asarray(X, dtype=np.float64)
        except (TypeError, ValueError) as error:
            raise ValueError(f"invalid batch, expected numbers only: {error}") from error
        if array.ndim != 2 or array.shape[1] != len(self.features):
            raise ValueError(
                f"expected a batch of shape (n, {len(self.features)}) with columns {self.features!r}, "
                f"got shape {array.shape}"
            )
        return np.ascontiguousarray(array)

    def _column_of(self, feature: Hashable, tree: int) -> int:
        try:
            return self._column[feature]
        except KeyError:
            raise ValueError(
                f"tree {tree} splits on feature {feature!r}, which is not in features {self.features!r}. "
                "Add it to the feature list"
            ) from None

    def _row_to_dict(self, row: np.ndarray) -> dict[Hashable, float]:
        # NaN marks a missing feature, and NaN is the only value not equal to itself.
        pairs = zip(self.features, row.tolist(), strict=True)
        return {name: value for name, value in pairs if value == value}

    def _score_learn_with_river(self, row: np.ndarray) -> float:
        x = self._row_to_dict(row)
        if not x:
            raise ValueError(
                "row 0 has only NaN, but River builds its trees from the features of the first learned "
                "row; learn a row with at least one feature first"
            )
        score = self.model.score_one(x)
        self.model.learn_one(x)
        self.refresh_from_river()
        return score

    # ----------------------------------------------------------------------------------------------
    # Compilation. Nodes are numbered per tree in level order (node j has children 2j + 1 and 2j + 2)
    # and globally as tree * n_nodes + j, so one flat array contains a field of every node of every tree.

    def _compile_splits(self, n_nodes: int) -> None:
        n_trees = len(self._nodes)
        feature_index = np.zeros((n_trees, n_nodes), dtype=np.intp)
        # Leaves never split: an infinite threshold keeps their entries harmless.
        threshold = np.full((n_trees, n_nodes), np.inf)
        for tree, nodes in enumerate(self._nodes):
            branches = nodes[: self._n_branches]
            columns = [self._column_of(node.feature, tree) for node in branches]
            feature_index[tree, : self._n_branches] = columns
            threshold[tree, : self._n_branches] = [node.threshold for node in branches]
        self._feature_index = feature_index.ravel()
        self._threshold = threshold.ravel()
        self._left_child = (2 * np.arange(n_nodes, dtype=np.intp) + 1 + self._tree_offset).ravel()

    def _compile_leaf_ranges(self, height: int) -> None:
        """Store, for every node, the range of leaves under it, so leaf hits sum up with one cumsum."""
        start, end = [], []
        for depth in range(height + 1):
            span = 2 ** (height - depth)
            for position in range(2**depth):
                start.append(position * span)
                end.append((position + 1) * span)
        self._node_depth = np.repeat(np.arange(height + 1), 2 ** np.arange(height + 1))
        self._leaf_range_start = np.array(start, dtype=np.intp)
        self._leaf_range_end = np.array(end, dtype=np.intp)

    # ----------------------------------------------------------------------------------------------
    # Vectorised path for complete rows

    def _find_leaves(self, X: np.ndarray) -> np.ndarray:
        """Return the global id of the leaf reached in each tree by each row, shape (n_trees, n)."""
        if native.hst is not None:
            n_trees, n_nodes = self._l_mass.shape
            return native.hst.find_leaves(
                X, self._feature_index, self._threshold, self._left_child, n_trees, n_nodes, self.model.height
            )
        return self._find_leaves_numpy(X)

    def _find_leaves_numpy(self, X: np.ndarray) -> np.ndarray:
        """`_find_leaves` with NumPy only, one `take` round per tree level (the path without stream.native)."""
        n, d = X.shape
        flat = X.ravel()
        row_base = (np.arange(n, dtype=np.intp) * d)[None, :]
        node = np.repeat(self._tree_offset, n, axis=1)
        for _ in range(self.model.height):
            values = flat.take(row_base + self._feature_index.take(node))
            # River goes left when value < threshold, so equality goes right.
            go_right = values >= self._threshold.take(node)
            node = self._left_child.take(node) + go_right
        return node

    def _scores_from_leaves(self, leaves: np.ndarray) -> np.ndarray:
        total = self._path_scores.take(leaves).sum(axis=0).astype(np.float64)
        return 1.0 - total / float(self._max_score)

    def _learn_leaves(self, leaves: np.ndarray) -> None:
        n_trees, n_nodes = self._l_mass.shape
        hits = np.bincount(leaves.ravel(), minlength=n_trees * n_nodes).reshape(n_trees, n_nodes)

        # Every node on a path gets +1, so a node gains the hits of all leaves under it.
        cumulative = np.zeros((n_trees, self._n_leaves + 1), dtype=np.int64)
        np.cumsum(hits[:, self._n_branches :], axis=1, out=cumulative[:, 1:])
        self._l_mass += cumulative[:, self._leaf_range_end] - cumulative[:, self._leaf_range_start]

    def _update_leaf_scores(self) -> None:
        """Precompute each leaf's per-tree score, because the r_mass only changes at a window pivot.

        With complete rows the path to a leaf is fixed, so River's early stop (a node whose r_mass is
        below 0.1 * window_size ends the walk after adding its own term) depends only on the leaf.
        """
        n_trees, n_nodes = self._r_mass.shape
        terms = self._r_mass << self._node_depth
        keeps_walking = self._r_mass >= self.model.size_limit
        total = terms[:, :1]
        walking = keeps_walking[:, :1]
        for depth in range(1, self.model.height + 1):
            level = slice(2**depth - 1, 2 ** (depth + 1) - 1)
            # Children of level-order nodes are adjacent, so repeating the parents lines them up.
            walking = np.repeat(walking, 2, axis=1)
            total = np.repeat(total, 2, axis=1) + terms[:, level] * walking
            walking = walking & keeps_walking[:, level]
        path_scores = np.zeros((n_trees, n_nodes), dtype=np.int64)
        path_scores[:, self._n_branches :] = total
        self._path_scores = path_scores.ravel()

    def _advance_counter(self, n_learned: int) -> None:
        self._counter += n_learned
        if self._counter == self.model.window_size:
            self._r_mass[:] = self._l_mass
            self._l_mass[:] = 0
            self._first_window = False
            self._counter = 0
            self._update_leaf_scores()

    # ----------------------------------------------------------------------------------------------
    # One-row path for rows with missing features (NaN)

    def _next_node(self, tree: int, node: int, row: np.ndarray) -> int:
        split = tree * self._l_mass.shape[1] + node
        value = row[self._feature_index[split]]
        left = 2 * node + 1
        if value != value:
            l_mass = self._l_mass[tree]
            return left + 1 if l_mass[left] < l_mass[left + 1] else left
        return left if value < self._threshold[split] else left + 1

    def _score_row_with_missing(self, row: np.ndarray) -> float:
        if self._first_window:
            return 0.0
        size_limit = self.model.size_limit
        score = 0
        for tree in range(len(self._nodes)):
            r_mass = self._r_mass[tree]
            node = 0
            for depth in range(self.model.height + 1):
                score += int(r_mass[node]) << depth
                if depth == self.model.height or r_mass[node] < size_limit:
                    break
                node = self._next_node(tree, node, row)
        return 1.0 - float(score) / float(self._max_score)

    def _learn_row_with_missing(self, row: np.ndarray) -> None:
        for tree in range(len(self._nodes)):
            l_mass = self._l_mass[tree]
            node = 0
            for _ in range(self.model.height):
                l_mass[node] += 1
                node = self._next_node(tree, node, row)
            l_mass[node] += 1


def _rows_with_nan(X: np.ndarray) -> np.ndarray:
    # A sum without NaN proves that no row has one, and costs less than a full per-row check.
    if not np.isnan(X.sum()):
        return np.empty(0, dtype=np.intp)
    return np.flatnonzero(np.isnan(X).any(axis=1))


def _nodes_in_level_order(root: Any, height: int) -> list[Any]:
    """List a perfect binary tree's nodes level by level, so node i has children 2i + 1 and 2i + 2."""
    nodes = [root]
    level = [root]
    for depth in range(height):
        try:
            level = [child for node in level for child in node.children]
        except AttributeError:
            raise ValueError(
                f"expected a perfect binary tree of height {height}, found a leaf at depth {depth}"
            ) from None
        nodes.extend(level)
    if any(hasattr(node, "children") for node in level):
        raise ValueError(f"expected a perfect binary tree of height {height}, found a branch below it")
    return nodes
