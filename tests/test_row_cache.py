"""RowCache returns each value's computed row, in order, and stays within its capacity."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from stream.row_cache import RowCache


def _row(value: int) -> tuple[float, float]:
    return float(value), float(value * value % 7)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.lists(st.integers(min_value=-50, max_value=50), max_size=40), max_size=8))
def test_row_cache_gathers_computed_rows_in_order(batches: list[list[int]]) -> None:
    cache = RowCache(_row, 2, capacity=16)  # type: ignore[arg-type]
    for values in batches:
        gathered = cache.gather(values)  # type: ignore[arg-type]
        assert gathered.shape == (len(values), 2)
        assert [tuple(row) for row in gathered.tolist()] == [_row(value) for value in values]
        assert len(cache) <= 16
