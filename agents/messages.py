"""Typed messages the agents exchange over the bus."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from stream.events import AccessEvent


class ClientStats(NamedTuple):
    """Raw values of one client's sliding window at the moment of an event (not scaled).

    A named tuple rather than a dataclass because one is built per event: `new_client_stats`
    builds it from a tuple of all the values without a Python-level `__init__`.
    """

    requests: int = 0
    rate_per_min: float = 0.0
    share_4xx: float = 0.0
    share_5xx: float = 0.0
    distinct_paths: int = 0
    not_found: int = 0
    failed_logins: int = 0
    distinct_users: int = 0
    probe_hits: int = 0
    injection_hits: int = 0
    handshakes: int = 0

    def to_dict(self) -> dict[str, Any]:
        return self._asdict()


def new_client_stats(values: tuple[Any, ...]) -> ClientStats:
    """Return a ClientStats holding `values`, which must be all the fields in declaration order."""
    return tuple.__new__(ClientStats, values)  # type: ignore[type-var]


class FeatureRow(Mapping[str, float]):
    """Read-only name → value view over one row of the feature matrix.

    Building a dict per event costs more than scoring it, so the row stays a
    list and names are looked up through a shared index. The ingestion agent
    passes the batch's matrix and the row number instead of a list: the row
    becomes Python floats only when a value is first read, which most events
    never need.
    """

    __slots__ = ("_index", "_matrix", "_row", "_values")

    def __init__(
        self, values: list[float] | None, index: dict[str, int], matrix: np.ndarray | None = None, row: int = 0
    ) -> None:
        self._values = values
        self._index = index
        self._matrix = matrix
        self._row = row

    def values_list(self) -> list[float]:
        """Return the row as a list of floats, in the order of the index."""
        values = self._values
        if values is None:
            values = self._values = self._matrix[self._row].tolist()  # type: ignore[index]
        return values

    def __getitem__(self, name: str) -> float:
        return self.values_list()[self._index[name]]

    def get(self, name: str, default: Any = None) -> Any:
        position = self._index.get(name)
        return default if position is None else self.values_list()[position]

    def __iter__(self) -> Iterator[str]:
        return iter(self._index)

    def __len__(self) -> int:
        return len(self._index)

    def __reduce__(self) -> tuple[Any, ...]:
        # Pickle the row's own values, never the batch's matrix.
        return FeatureRow, (self.values_list(), self._index)


@dataclass(slots=True)
class ScoredEvent:
    """One event after the ingestion agent: its features, window stats and anomaly score.

    `score` is the calibrated score, the share of recent reference scores
    below this event's raw HST score (0..1). It is None while the detector is
    warming up, so a missing score never looks like a normal one.
    """

    event: AccessEvent
    features: Mapping[str, float]
    stats: ClientStats
    score: float | None
    raw_score: float | None
    anomalous: bool
    warming_up: bool
    seq: Any = None
    batch_id: str | None = None


@dataclass(slots=True)
class BatchDone:
    """Sent by the ingestion agent after the last event of a batch, so waiters can flush."""

    batch_id: str
    events: int
