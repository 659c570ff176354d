"""Typed messages the agents exchange over the bus."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from stream.events import AccessEvent


@dataclass(slots=True)
class ClientStats:
    """Raw values of one client's sliding window at the moment of an event (not scaled)."""

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
        return {name: getattr(self, name) for name in self.__slots__}  # type: ignore[attr-defined]


@dataclass(slots=True)
class ScoredEvent:
    """One event after the ingestion agent: its features, window stats and anomaly score.

    `score` is the calibrated score, the share of recent reference scores
    below this event's raw HST score (0..1). It is None while the detector is
    warming up, so a missing score never looks like a normal one.
    """

    event: AccessEvent
    features: dict[str, float]
    stats: ClientStats
    score: float | None
    raw_score: float | None
    anomalous: bool
    warming_up: bool
    seq: Any = None
    batch_id: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class BatchDone:
    """Sent by the ingestion agent after the last event of a batch, so waiters can flush."""

    batch_id: str
    events: int
