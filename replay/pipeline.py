"""Run a log through the service's own pipeline, in order, and keep what it produced per line.

`run_log` starts a `Runtime` in-process, with the same agents, bus, warm
start and policy as the service, and sends the log in time order as batches.
It records every parsed line's score, raw HST score, anomaly flag and
features, and every decision. Each event is scored before the model learns it
(prequential evaluation), and labels never reach the pipeline.
"""

from __future__ import annotations

import asyncio
import logging
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from agents.decisions_store import Decision
from agents.runtime import Runtime
from config.settings import Settings
from replay.source import LineSource
from stream.features import MODEL_FEATURES

BATCH_LINES = 2000


@dataclass(slots=True)
class PipelineRun:
    """Per-line outputs of one replay, as arrays indexed like `lines` (1-based log line numbers)."""

    lines: np.ndarray
    timestamps: np.ndarray
    clients: list[str]
    scores: np.ndarray
    raw_scores: np.ndarray
    anomalous: np.ndarray
    features: np.ndarray
    decisions: list[Decision] = field(default_factory=list)
    rejected: int = 0
    threshold: float = 0.0


def replay_settings(base: Settings | None, state_dir: Path, **overrides: object) -> Settings:
    """Return a copy of `base` whose state lives in `state_dir`, so the replay warms from history."""
    base = base or Settings()
    update = {"state_dir": state_dir, "snapshot_interval_seconds": 0.0, **overrides}
    return base.model_copy(update=update)


def run_log(path: str | Path, settings: Settings | None = None, **overrides: object) -> PipelineRun:
    """Replay `path` through a fresh `Runtime` (temp state dir, warm start from history)."""
    with tempfile.TemporaryDirectory(prefix="centinela-replay-") as state:
        runtime_settings = replay_settings(settings, Path(state), **overrides)
        return asyncio.run(_replay(str(path), runtime_settings))


async def _replay(path: str, settings: Settings) -> PipelineRun:
    # The agents log every decision; keep the replay's report readable.
    logging.getLogger("centinela").setLevel(logging.ERROR)
    runtime = Runtime(settings)
    collector = _Collector()
    await runtime.start()
    try:
        source = LineSource(path)
        source.open()
        try:
            first_line = 1
            while lines := source.read(BATCH_LINES):
                verdict = await runtime.analyze(lines, first_line=first_line)
                collector.add(verdict.scored, verdict.decisions, len(verdict.parsed.errors))
                first_line += len(lines)
        finally:
            source.close()
    finally:
        await runtime.stop()
    threshold = getattr(runtime.ingestion, "threshold", settings.anomaly_percentile)
    return collector.finish(float(threshold))


class _Collector:
    def __init__(self) -> None:
        self.lines: list[int] = []
        self.timestamps: list[float] = []
        self.clients: list[str] = []
        self.scores: list[float] = []
        self.raw: list[float] = []
        self.anomalous: list[bool] = []
        self.features: list[list[float]] = []
        self.decisions: list[Decision] = []
        self.rejected = 0

    def add(self, scored: list, decisions: list[Decision], rejected: int) -> None:
        for item in scored:
            event = item.event
            self.lines.append(event.line)
            self.timestamps.append(event.timestamp)
            self.clients.append(event.client)
            # A warming-up detector gives no score; count it as "not anomalous" (0).
            self.scores.append(item.score if item.score is not None else 0.0)
            self.raw.append(item.raw_score if item.raw_score is not None else 0.0)
            self.anomalous.append(item.anomalous)
            self.features.append([item.features[name] for name in MODEL_FEATURES])
        self.decisions.extend(decisions)
        self.rejected += rejected

    def finish(self, threshold: float) -> PipelineRun:
        return PipelineRun(
            lines=np.asarray(self.lines, dtype=np.int64),
            timestamps=np.asarray(self.timestamps, dtype=np.float64),
            clients=self.clients,
            scores=np.asarray(self.scores, dtype=np.float64),
            raw_scores=np.asarray(self.raw, dtype=np.float64),
            anomalous=np.asarray(self.anomalous, dtype=bool),
            features=np.asarray(self.features, dtype=np.float64).reshape(-1, len(MODEL_FEATURES)),
            decisions=self.decisions,
            rejected=self.rejected,
            threshold=threshold,
        )
