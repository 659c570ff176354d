"""Ingestion agent: parse raw logs, build features, score, publish.

`process` is the synchronous batch path: parse, features, score then learn,
calibrate. `run` does the same work as an asyncio task fed over the bus.
Both keep the order of events inside a batch.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from agents.bus import RAW, SCORED, Bus
from agents.gc_pause import paused_gc
from agents.messages import FeatureRow, ScoredEvent
from config.settings import Settings
from stream.detector import Detector
from stream.events import AccessEvent
from stream.features import MODEL_FEATURES, FeatureExtractor
from stream.parsers import ParseResult, parse_batch
from stream.supervised import TunedModel
from stream.supervised import load as load_tuned

log = logging.getLogger("centinela.ingestion")

FEATURE_INDEX = {name: i for i, name in enumerate(MODEL_FEATURES)}


@dataclass(slots=True)
class RawBatch:
    """Raw log lines or event objects to analyse, as one unit of work."""

    batch_id: str
    items: list[Any]
    format: str = "auto"
    first_line: int = 1
    seqs: list[Any] | None = None


@dataclass(slots=True)
class ScoredBatch:
    batch_id: str
    scored: list[ScoredEvent]
    parsed: ParseResult
    extra: dict[str, Any] = field(default_factory=dict)


class IngestionAgent:
    def __init__(self, settings: Settings, detector: Detector, extractor: FeatureExtractor | None = None) -> None:
        self.settings = settings
        self.detector = detector
        self.extractor = extractor or FeatureExtractor(
            settings.window_seconds, settings.max_clients, settings.client_idle_seconds
        )
        self.events_seen = 0
        self.parse_errors = 0
        # A tuned model (`python -m replay tune`) replaces the score and the threshold.
        self.tuned: TunedModel | None = load_tuned(settings.tuned_path) if settings.tuned_path else None
        self.threshold = self.tuned.threshold if self.tuned else settings.anomaly_percentile
        if self.tuned is not None:
            log.info("tuned model loaded from %s, threshold %.3f", settings.tuned_path, self.threshold)

    def parse(self, batch: RawBatch) -> ParseResult:
        return parse_batch(
            batch.items,
            format=batch.format,
            first_line=batch.first_line,
            max_line_bytes=self.settings.max_line_bytes,
            trusted_proxies=self.settings.trusted_proxies,
        )

    def score(self, events: list[AccessEvent], seqs: list[Any] | None = None) -> list[ScoredEvent]:
        """Extract features and score `events` in order, learning from each after scoring it."""
        if not events:
            return []
        matrix, stats = self.extractor.extract_batch(events)

        warming = self.detector.warming_up
        raw = self.detector.score_learn(matrix)
        calibrated = self.detector.calibrate(raw)
        self.detector.remember(raw)
        if self.tuned is not None:
            calibrated = self.tuned.score(matrix, calibrated)
        threshold = self.threshold
        matrix.flags.writeable = False  # the FeatureRows below read it later

        # Whole-batch conversions to Python floats, then one positional constructor call per event.
        # Each FeatureRow points into the matrix; it reads its row only when asked for a value.
        index = FEATURE_INDEX
        if seqs is None:
            seqs = [None] * len(events)
        if warming:
            out = [
                ScoredEvent(event, FeatureRow(None, index, matrix, i), window, None, None, False, True, seq)
                for i, (event, window, seq) in enumerate(zip(events, stats, seqs, strict=True))
            ]
        else:
            scores, raw_scores = calibrated.tolist(), raw.tolist()
            out = [
                ScoredEvent(
                    event, FeatureRow(None, index, matrix, i), window, score, raw_score, score >= threshold, False, seq
                )
                for i, (event, window, score, raw_score, seq) in enumerate(
                    zip(events, stats, scores, raw_scores, seqs, strict=True)
                )
            ]
        self.events_seen += len(events)
        return out

    def process(self, batch: RawBatch) -> ScoredBatch:
        with paused_gc():
            parsed = self.parse(batch)
            self.parse_errors += len(parsed.errors)
            seqs = None
            if batch.seqs is not None:
                seqs = [batch.seqs[event.line - batch.first_line] for event in parsed.events]
            return ScoredBatch(batch.batch_id, self.score(parsed.events, seqs), parsed)

    async def run(self, bus: Bus) -> None:
        """Consume RawBatch messages from the bus and publish a ScoredBatch for each."""
        subscription = bus.subscribe(RAW, maxsize=64)
        try:
            while True:
                batch = await subscription.get()
                try:
                    result = self.process(batch)
                except Exception:
                    # A bug on one batch must not stop the agent; the waiter gets an empty result.
                    log.exception("ingestion failed on batch %s", batch.batch_id)
                    result = ScoredBatch(batch.batch_id, [], ParseResult(), {"error": "internal error"})
                await bus.publish(SCORED, result)
                subscription.task_done()
        finally:
            subscription.close()
