"""Prometheus metrics of the agents, in a registry of their own (one per runtime)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

SCORE_BUCKETS = (0.5, 0.8, 0.9, 0.95, 0.98, 0.99, 0.995, 0.999, 1.0)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.events = Counter("centinela_events_total", "Events parsed and scored.", registry=self.registry)
        self.lines = Counter("centinela_lines_total", "Log lines received.", registry=self.registry)
        self.parse_errors = Counter(
            "centinela_parse_errors_total", "Lines rejected by the parsers.", ["reason"], registry=self.registry
        )
        self.anomalies = Counter("centinela_anomalies_total", "Events flagged anomalous.", registry=self.registry)
        self.scores = Histogram(
            "centinela_score", "Calibrated anomaly scores.", buckets=SCORE_BUCKETS, registry=self.registry
        )
        self.decisions = Counter(
            "centinela_decisions_total", "Decisions made.", ["scenario", "action"], registry=self.registry
        )
        self.queue_depth = Gauge(
            "centinela_queue_depth", "Messages waiting on the bus.", ["topic"], registry=self.registry
        )
        self.warm = Gauge("centinela_model_warm", "1 when the model is warm.", registry=self.registry)


def reason_label(reason: str) -> str:
    """Reduce a rejection reason to a low-cardinality label (its text before any quoted value)."""
    head = reason.split(":", 1)[0].split("'", 1)[0].split('"', 1)[0]
    return head.strip()[:60] or "unknown"
