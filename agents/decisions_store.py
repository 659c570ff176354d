"""Decisions and the in-memory store of active decisions and past offences.

A decision is active while its `until` lies after "now". The store takes a
clock (default `time.time`) for its own listings. The decision agent passes
the log's timestamp as `now` instead, so a replay of an old log gets the
decisions that were active at that time in the log.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from agents.policy import format_duration

logger = logging.getLogger("centinela.decision")

ORIGIN = "centinela"

# CrowdSec decision types and scopes for the actions and scopes we export.
CROWDSEC_TYPES = {"block": "ban", "rate_limit": "throttle"}
CROWDSEC_SCOPES = {"ip": "Ip", "range": "Range", "user": "Username"}


def iso_utc(timestamp: float) -> str:
    """Format epoch seconds as ISO 8601 UTC with a trailing Z."""
    return datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


@dataclass(slots=True)
class Decision:
    """One suggested action on an IP address, a network range, a user name or a hostname.

    `scope` is "ip", "range" or "user". The scope "hostname" marks clients logged
    by name only, which get at most an alert because no firewall can act on a name.
    Times are epoch seconds: `triggered_at` is the log time of the event that
    created the decision and `until` is that time plus `duration_seconds`.
    New evidence pushes `until` to its own log time plus `base_duration_seconds`
    (the policy duration, escalated for repeat offenders), and `duration_seconds`
    follows, so it always equals `until - triggered_at`.
    """

    action: str
    scope: str
    value: str
    duration_seconds: float
    triggered_at: float
    until: float
    severity: str
    confidence: float
    scenario: str
    client: str
    evidence: list[dict[str, Any]]
    reasons: dict[str, list[str]]
    simulated: bool = False
    repeat: int = 1
    score: float | None = None
    created_at: float = field(default_factory=time.time)
    updated_at: float = 0.0  # log time of the last extension or upgrade; 0 until then
    extensions: int = 0
    origin: str = ORIGIN
    id: str = field(default_factory=lambda: str(uuid.uuid4()))
    base_duration_seconds: float = 0.0  # how far past new evidence `until` moves; 0 means duration_seconds

    def __post_init__(self) -> None:
        if self.base_duration_seconds <= 0:
            self.base_duration_seconds = self.duration_seconds

    @property
    def duration(self) -> str:
        """Return the whole span from `triggered_at` to `until` in Go syntax, extensions included ("1h5m")."""
        return format_duration(self.until - self.triggered_at)

    def extend_to(self, until: float, at: float) -> None:
        """Move `until` later, to `until`, because of evidence at log time `at`; keep the duration in step."""
        self.until = max(self.until, until)
        self.duration_seconds = self.until - self.triggered_at
        self.updated_at = at
        self.extensions += 1

    def is_active(self, now: float) -> bool:
        return self.until > now

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "action": self.action,
            "scope": self.scope,
            "value": self.value,
            "duration": self.duration,
            "until": iso_utc(self.until),
            "triggered_at": iso_utc(self.triggered_at),
            "created_at": iso_utc(self.created_at),
            "severity": self.severity,
            "confidence": round(self.confidence, 3),
            "scenario": self.scenario,
            "client": self.client,
            "evidence": self.evidence,
            "reasons": self.reasons,
            "simulated": self.simulated,
            "repeat": self.repeat,
            "extensions": self.extensions,
            "score": None if self.score is None else round(self.score, 4),
            "origin": self.origin,
        }

    def to_crowdsec(self, now: float | None = None) -> dict[str, Any] | None:
        """Return the CrowdSec decision for a block or rate limit, or None for actions CrowdSec lacks.

        CrowdSec counts `duration` from the moment of the import, so it is the time left from `now`
        to `until`: pass the store's clock (stream time). A decision already over at `now` gives None.
        """
        kind = CROWDSEC_TYPES.get(self.action)
        scope = CROWDSEC_SCOPES.get(self.scope)
        if kind is None or scope is None or (now is not None and not self.is_active(now)):
            return None
        # NOTE: without `now` the whole span is exported, which overstates the time left.
        remaining = self.until - (self.triggered_at if now is None else now)
        return {
            "type": kind,
            "scope": scope,
            "value": self.value,
            "duration": format_duration(remaining),
            "until": iso_utc(self.until),
            "scenario": f"{ORIGIN}/{self.scenario}",
            "reason": f"{ORIGIN}/{self.scenario}",
            "origin": self.origin,
            "simulated": self.simulated,
        }


def select_decisions(
    decisions: Iterable[Decision],
    scope: str | None,
    value: str | None,
    scenario: str | None,
    active: bool,
    now: float,
    limit: int,
) -> list[Decision]:
    """Return up to `limit` of `decisions`, in their order, that match every filter given."""
    found: list[Decision] = []
    for decision in decisions:
        if scope is not None and decision.scope != scope:
            continue
        if value is not None and decision.value != value:
            continue
        if scenario is not None and decision.scenario != scenario:
            continue
        if active and not decision.is_active(now):
            continue
        found.append(decision)
        if len(found) >= limit:
            break
    return found


class DecisionStore:
    """Decisions by id, the active one per (value, scenario), and offence times for escalation.

    Memory is bounded: beyond `max_decisions` the oldest decision is dropped
    (with a warning), and offence histories are kept for at most
    `max_history_keys` (value, scenario) pairs, least recently used first out.
    """

    def __init__(
        self,
        clock: Callable[[], float] = time.time,
        max_decisions: int = 100_000,
        max_history_keys: int = 100_000,
        max_offences_per_key: int = 64,
    ) -> None:
        self.clock = clock
        self._max_decisions = max_decisions
        self._max_history_keys = max_history_keys
        self._max_offences = max_offences_per_key
        self._decisions: OrderedDict[str, Decision] = OrderedDict()
        self._latest: dict[tuple[str, str], str] = {}
        self._offences: OrderedDict[tuple[str, str], deque[float]] = OrderedDict()
        self.dropped = 0

    def __len__(self) -> int:
        return len(self._decisions)

    def __iter__(self) -> Iterator[Decision]:
        return iter(list(self._decisions.values()))

    # Writing

    def add(self, decision: Decision) -> None:
        """Store a new decision, make it the current one for its value and scenario, and log it."""
        self._decisions[decision.id] = decision
        self._latest[(decision.value, decision.scenario)] = decision.id
        self._log(decision, "new")
        if len(self._decisions) > self._max_decisions:
            self._drop_oldest()

    def updated(self, decision: Decision, change: str) -> None:
        """Log an extension or upgrade that the caller has applied to a stored decision."""
        self._log(decision, change)

    def lift(self, decision_id: str) -> Decision | None:
        """Delete a decision; its offence no longer counts towards escalation."""
        decision = self._decisions.pop(decision_id, None)
        if decision is None:
            return None
        key = (decision.value, decision.scenario)
        if self._latest.get(key) == decision_id:
            del self._latest[key]
        history = self._offences.get(key)
        if history is not None and decision.triggered_at in history:
            history.remove(decision.triggered_at)
        logger.info("decision lifted id=%s value=%r scenario=%s", decision.id, decision.value, decision.scenario)
        return decision

    def record_offence(self, value: str, scenario: str, at: float, memory: float) -> int:
        """Record an offence at log time `at` and return how many fell within `memory` seconds, this one included."""
        key = (value, scenario)
        history = self._offences.get(key)
        if history is None:
            history = deque(maxlen=self._max_offences)
            self._offences[key] = history
            if len(self._offences) > self._max_history_keys:
                self._offences.popitem(last=False)
        else:
            self._offences.move_to_end(key)
        history.append(at)
        return sum(1 for past in history if at - memory < past <= at)

    # Reading

    def get(self, decision_id: str) -> Decision | None:
        return self._decisions.get(decision_id)

    def active_for(self, value: str, scenario: str, now: float) -> Decision | None:
        """Return the active decision on `value` for `scenario` at time `now`, if any."""
        decision_id = self._latest.get((value, scenario))
        if decision_id is None:
            return None
        decision = self._decisions.get(decision_id)
        if decision is None or not decision.is_active(now):
            return None
        return decision

    def find(
        self,
        scope: str | None = None,
        value: str | None = None,
        scenario: str | None = None,
        active: bool = True,
        limit: int = 100,
        now: float | None = None,
    ) -> list[Decision]:
        """Return matching decisions, newest first; `active` keeps those whose `until` is after `now`."""
        now = self.clock() if now is None else now
        return select_decisions(reversed(self._decisions.values()), scope, value, scenario, active, now, limit)

    def count_active(self, now: float | None = None) -> int:
        """Return how many decisions are active at `now` (the store's clock by default)."""
        now = self.clock() if now is None else now
        return sum(1 for decision in self._decisions.values() if decision.is_active(now))

    # Internals

    def _drop_oldest(self) -> None:
        _, decision = self._decisions.popitem(last=False)
        key = (decision.value, decision.scenario)
        if self._latest.get(key) == decision.id:
            del self._latest[key]
        self.dropped += 1
        if self.dropped == 1 or self.dropped % 1000 == 0:
            logger.warning(
                "decision store full (%d decisions): dropped %d oldest so far",
                self._max_decisions,
                self.dropped,
            )

    @staticmethod
    def _log(decision: Decision, change: str) -> None:
        logger.info(
            "decision id=%s client=%r scenario=%s action=%s until=%s score=%s change=%s simulated=%s",
            decision.id,
            decision.client,
            decision.scenario,
            decision.action,
            iso_utc(decision.until),
            "none" if decision.score is None else f"{decision.score:.4f}",
            change,
            decision.simulated,
        )
