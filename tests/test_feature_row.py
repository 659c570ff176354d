"""FeatureRow reads the same values whether built from a list or from a row of a matrix."""

from __future__ import annotations

import pickle

import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from agents.ingestion import FEATURE_INDEX
from agents.messages import FeatureRow
from stream.features import MODEL_FEATURES

unit = st.floats(min_value=0.0, max_value=1.0, allow_nan=False)


@given(arrays(np.float64, (5, len(MODEL_FEATURES)), elements=unit), st.integers(min_value=0, max_value=4))
def test_feature_row_from_matrix_matches_list(matrix: np.ndarray, row: int) -> None:
    lazy = FeatureRow(None, FEATURE_INDEX, matrix, row)
    eager = FeatureRow(matrix[row].tolist(), FEATURE_INDEX)
    assert dict(lazy) == dict(eager)
    assert lazy.get("injection") == matrix[row, FEATURE_INDEX["injection"]]
    assert lazy.get("no_such_feature", -1.0) == -1.0
    copy = pickle.loads(pickle.dumps(lazy))
    assert copy._matrix is None
    assert list(copy.values()) == matrix[row].tolist()
