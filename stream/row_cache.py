"""Per-value signal rows kept in one NumPy table, so a batch gathers its columns with one indexing step.

The features of an event depend on a few values that repeat across events (the status, the
method, the request target, the user agent). `RowCache` computes the row of signals of each
value once, stores it in a preallocated table, and maps a batch of values to their rows.
When the table is full it starts afresh, so memory stays bounded whatever the traffic.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence

import numpy as np


class RowCache:
    """Rows of `width` floats computed by `compute(value)`, at most `capacity` values remembered."""

    __slots__ = ("_capacity", "_compute", "_rows", "_table")

    def __init__(self, compute: Callable[[Hashable], Sequence[float]], width: int, capacity: int) -> None:
        self._compute = compute
        self._capacity = capacity
        self._rows: dict[Hashable, int] = {}
        self._table = np.zeros((capacity, width), dtype=np.float64)

    def __len__(self) -> int:
        return len(self._rows)

    def gather(self, values: list[Hashable]) -> np.ndarray:
        """Return the rows of `values`, one per value in order, as a new (len(values), width) array."""
        rows = self._rows
        get = rows.get
        index = [get(value, -1) for value in values]
        if -1 in index:
            new = [value for value in dict.fromkeys(values) if value not in rows]
            if len(rows) + len(new) > self._capacity:
                rows.clear()
                new = list(dict.fromkeys(values))
                if len(new) > self._capacity:  # more distinct values in one batch than the table has rows
                    compute = self._compute
                    return np.array([compute(value) for value in values], dtype=np.float64).reshape(len(values), -1)
            start = len(rows)
            compute = self._compute
            self._table[start : start + len(new)] = [compute(value) for value in new]
            for position, value in enumerate(new, start):
                rows[value] = position
            index = [rows[value] for value in values]
        return self._table[index]
