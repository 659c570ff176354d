"""Warm start: load the model snapshot, or learn from historical logs and write one."""

from __future__ import annotations

import gzip
import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from config.settings import Settings
from stream.detector import Detector
from stream.features import FeatureExtractor
from stream.parsers import parse_batch
from stream.snapshot import SnapshotError, read_snapshot, write_snapshot

log = logging.getLogger("centinela.warmstart")

MODEL_SNAPSHOT = "model.pkl"
CHUNK = 5000


def new_detector(settings: Settings) -> Detector:
    return Detector(
        n_trees=settings.hst_trees,
        height=settings.hst_height,
        window_size=settings.hst_window,
        seed=settings.hst_seed,
        reference_size=settings.reference_size,
    )


def read_lines(path: Path) -> Iterator[bytes]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as handle:
        yield from handle


def learn_history(detector: Detector, settings: Settings, path: Path) -> int:
    """Score-then-learn the history file through the detector; return events learned."""
    extractor = FeatureExtractor(settings.window_seconds, settings.max_clients, settings.client_idle_seconds)
    learned = 0
    chunk: list[bytes] = []
    limit = settings.history_max_events

    def flush() -> None:
        nonlocal learned
        parsed = parse_batch(chunk, max_line_bytes=settings.max_line_bytes)
        events = parsed.events[: limit - learned]
        if events:
            rows, _ = extractor.extract_batch(events)
            detector.remember(detector.score_learn(rows))
            learned += len(events)
        chunk.clear()

    for line in read_lines(path):
        chunk.append(line)
        if len(chunk) >= CHUNK:
            flush()
            if learned >= limit:
                break
    if chunk and learned < limit:
        flush()
    return learned


def snapshot_key(settings: Settings) -> bytes | None:
    """Return the snapshot signing key from the settings, or None when none is set."""
    if settings.snapshot_key is None or not settings.snapshot_key.get_secret_value():
        return None
    return settings.snapshot_key.get_secret_value().encode()


def load_snapshot(settings: Settings) -> dict[str, Any] | None:
    """Return the checked snapshot payload from the state directory, or None (logging why) if unusable."""
    snapshot = settings.state_dir / MODEL_SNAPSHOT
    if not (snapshot.exists() or snapshot.is_symlink()):
        return None
    try:
        payload = read_snapshot(snapshot, settings.state_dir, snapshot_key(settings))
    except SnapshotError as exc:
        log.warning("ignoring snapshot: %s; warming from history instead", exc)
        return None
    if not isinstance(payload.get("detector"), Detector):
        log.warning("ignoring snapshot %s: it holds no detector; warming from history instead", snapshot)
        return None
    return payload


def load_or_warm(settings: Settings) -> Detector:
    """Return a warm detector: from the snapshot if there is one, else from the history."""
    return warm_detector(settings, load_snapshot(settings))


def warm_detector(settings: Settings, payload: dict[str, Any] | None) -> Detector:
    """Return the snapshot's detector when `payload` has one, else learn the history and snapshot it."""
    snapshot = settings.state_dir / MODEL_SNAPSHOT
    if payload is not None:
        detector: Detector = payload["detector"]
        log.info("model loaded from snapshot %s (%d events seen)", snapshot, detector.events_seen)
        return detector

    detector = new_detector(settings)
    if not settings.history_path.exists():
        log.warning("no history at %s: the model starts cold and reports warming_up", settings.history_path)
        return detector
    started = time.perf_counter()
    learned = learn_history(detector, settings, settings.history_path)
    log.info(
        "model warmed on %d historical events from %s in %.1f s",
        learned, settings.history_path, time.perf_counter() - started,
    )
    write_snapshot(snapshot, {"detector": detector}, snapshot_key(settings))
    return detector
