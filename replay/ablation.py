"""Measure which features and HST parameters separate attacks, on a labelled log.

    python -m replay.ablation LOG --labels LABELS [--trees 25 --height 8 --window 1000]

Prints markdown tables. The first gives each feature's own ROC-AUC (attack
against benign, either direction, since HST flags rare values on both sides)
and the detector's ROC-AUC with each feature dropped in turn. With `--grid`,
the second gives the ROC-AUC over a grid of (n_trees, height, window_size). Every run warms a fresh
detector on the shipped history, then scores and learns the log in order, as
the service does; features are computed once and reused.
"""

from __future__ import annotations

import argparse
import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from config.settings import Settings
from replay.labels import read_labels
from replay.metrics import roc_auc
from replay.source import LineSource
from stream.detector import Detector
from stream.features import MODEL_FEATURES, FeatureExtractor
from stream.parsers import parse_batch
from stream.warmstart import read_lines


@dataclass(slots=True)
class Matrices:
    history: np.ndarray
    log: np.ndarray
    labels: np.ndarray


def feature_matrix(lines: Sequence[bytes], settings: Settings) -> tuple[np.ndarray, np.ndarray]:
    """Return the feature rows of the parsed lines and their 1-based line numbers."""
    extractor = FeatureExtractor(settings.window_seconds, settings.max_clients, settings.client_idle_seconds)
    parsed = parse_batch(list(lines), max_line_bytes=settings.max_line_bytes)
    rows, _ = extractor.extract_batch(parsed.events)
    return rows, np.asarray([event.line for event in parsed.events], dtype=np.int64)


def load_matrices(log: str, labels_path: str, settings: Settings) -> Matrices:
    history_lines = list(read_lines(settings.history_path))[: settings.history_max_events]
    history, _ = feature_matrix(history_lines, settings)
    source = LineSource(log)
    source.open()
    try:
        lines = source.read(10**9)
    finally:
        source.close()
    rows, numbers = feature_matrix(lines, settings)
    labels = read_labels(labels_path)
    return Matrices(history, rows, labels.label_of(numbers))


def detector_auc(data: Matrices, columns: Sequence[int], trees: int, height: int, window: int) -> float:
    """Return the ROC-AUC of raw HST scores on the log after warming on the history."""
    names = tuple(MODEL_FEATURES[i] for i in columns)
    detector = Detector(n_trees=trees, height=height, window_size=window, features=names)
    detector.score_learn(data.history[:, columns])
    raw = detector.score_learn(data.log[:, columns])
    return roc_auc(raw, data.labels)


def feature_table(data: Matrices, trees: int, height: int, window: int) -> list[str]:
    all_columns = list(range(len(MODEL_FEATURES)))
    full = detector_auc(data, all_columns, trees, height, window)
    rows = [f"all features: detector ROC-AUC {full:.3f}", "",
            "| feature | own ROC-AUC | detector ROC-AUC without it | change |", "|---|---:|---:|---:|"]
    for i, name in enumerate(MODEL_FEATURES):
        own = roc_auc(data.log[:, i], data.labels)
        without = detector_auc(data, [c for c in all_columns if c != i], trees, height, window)
        rows.append(f"| {name} | {max(own, 1 - own):.3f}{'' if own >= 0.5 else ' (low side)'} "
                    f"| {without:.3f} | {without - full:+.3f} |")
    return rows


def grid_table(data: Matrices, trees: Sequence[int], heights: Sequence[int], windows: Sequence[int]) -> list[str]:
    rows = ["| n_trees | height | window_size | ROC-AUC |", "|---:|---:|---:|---:|"]
    columns = list(range(len(MODEL_FEATURES)))
    for t, h, w in itertools.product(trees, heights, windows):
        rows.append(f"| {t} | {h} | {w} | {detector_auc(data, columns, t, h, w):.3f} |")
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m replay.ablation", description=__doc__.splitlines()[0])
    parser.add_argument("log", help="log file (.gz allowed)")
    parser.add_argument("--labels", required=True, help="labels CSV written by data.generate")
    parser.add_argument("--grid", action="store_true", help="also run the (n_trees, height, window_size) grid")
    args = parser.parse_args(argv)
    settings = Settings()
    data = load_matrices(args.log, args.labels, settings)
    print("\n".join(feature_table(data, settings.hst_trees, settings.hst_height, settings.hst_window)))
    if args.grid:
        print()
        print("\n".join(grid_table(data, (10, 25, 50), (6, 8, 10), (250, 1000, 4000))))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
