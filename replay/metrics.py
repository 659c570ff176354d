"""Detection metrics over labelled events: ROC and PR curves, thresholded counts, attacker catches.

Everything works on NumPy arrays of scores (high = attack) and 0/1 labels.
Ties are handled the standard way: ROC-AUC is the Mann-Whitney statistic
with average ranks, and average precision (PR-AUC) steps once per distinct
score, so the figures match scikit-learn's `roc_auc_score` and
`average_precision_score`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, slots=True)
class Counts:
    """Confusion counts at one threshold and the rates derived from them."""

    tp: int
    fp: int
    fn: int
    tn: int

    @property
    def precision(self) -> float:
        flagged = self.tp + self.fp
        return self.tp / flagged if flagged else 0.0

    @property
    def recall(self) -> float:
        attacks = self.tp + self.fn
        return self.tp / attacks if attacks else 0.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0


def _check(scores: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    scores = np.asarray(scores, dtype=np.float64)
    labels = np.asarray(labels).astype(bool)
    if scores.shape != labels.shape:
        raise ValueError(f"expected scores and labels of the same shape, got {scores.shape} and {labels.shape}")
    return scores, labels


def roc_auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """Return the ROC-AUC (probability an attack outscores a benign event, ties count half); NaN if one class."""
    scores, labels = _check(scores, labels)
    positives = int(labels.sum())
    negatives = len(labels) - positives
    if positives == 0 or negatives == 0:
        return math.nan
    ranks = _average_ranks(scores)
    rank_sum = float(ranks[labels].sum())
    return (rank_sum - positives * (positives + 1) / 2) / (positives * negatives)


def _average_ranks(values: np.ndarray) -> np.ndarray:
    order = np.argsort(values, kind="mergesort")
    sorted_values = values[order]
    # Each run of equal values gets the mean of the ranks it spans (1-based).
    starts = np.r_[0, np.flatnonzero(np.diff(sorted_values)) + 1]
    ends = np.r_[starts[1:], len(values)]
    mean_rank = (starts + ends + 1) / 2.0
    ranks = np.empty(len(values))
    ranks[order] = np.repeat(mean_rank, ends - starts)
    return ranks


def _descending_counts(scores: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return the distinct thresholds (descending) and the TP and FP counts at `score >= threshold`."""
    order = np.argsort(-scores, kind="mergesort")
    sorted_scores = scores[order]
    sorted_labels = labels[order]
    last_of_run = np.r_[np.flatnonzero(np.diff(sorted_scores)), len(scores) - 1]
    tp = np.cumsum(sorted_labels)[last_of_run]
    fp = (last_of_run + 1) - tp
    return sorted_scores[last_of_run], tp, fp


def roc_curve(scores: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return false-positive and true-positive rates, from (0, 0) to (1, 1)."""
    scores, labels = _check(scores, labels)
    _, tp, fp = _descending_counts(scores, labels)
    positives = max(int(labels.sum()), 1)
    negatives = max(len(labels) - int(labels.sum()), 1)
    return np.r_[0.0, fp / negatives], np.r_[0.0, tp / positives]


def pr_curve(scores: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return recall, precision and the threshold of each point, from the highest threshold down."""
    scores, labels = _check(scores, labels)
    thresholds, tp, fp = _descending_counts(scores, labels)
    positives = max(int(labels.sum()), 1)
    return tp / positives, tp / (tp + fp), thresholds


def average_precision(scores: np.ndarray, labels: np.ndarray) -> float:
    """Return the PR-AUC as average precision: precision summed over each recall step."""
    scores, labels = _check(scores, labels)
    if not labels.any():
        return math.nan
    recall, precision, _ = pr_curve(scores, labels)
    steps = np.diff(np.r_[0.0, recall])
    return float(np.sum(steps * precision))


def counts_at(scores: np.ndarray, labels: np.ndarray, threshold: float) -> Counts:
    """Return the confusion counts when every event with `score >= threshold` is flagged."""
    scores, labels = _check(scores, labels)
    return counts_of(scores >= threshold, labels)


def counts_of(flagged: np.ndarray, labels: np.ndarray) -> Counts:
    flagged = np.asarray(flagged, dtype=bool)
    labels = np.asarray(labels, dtype=bool)
    tp = int(np.sum(flagged & labels))
    fp = int(np.sum(flagged & ~labels))
    fn = int(np.sum(~flagged & labels))
    return Counts(tp, fp, fn, len(labels) - tp - fp - fn)


def threshold_for_precision(scores: np.ndarray, labels: np.ndarray, target: float) -> float | None:
    """Return the lowest threshold whose precision reaches `target` (most recall), or None if none does."""
    _, precision, thresholds = pr_curve(scores, labels)
    reaching = np.flatnonzero(precision >= target)
    if len(reaching) == 0:
        return None
    return float(thresholds[reaching[-1]])


def threshold_for_best_f1(scores: np.ndarray, labels: np.ndarray) -> float:
    """Return the threshold with the highest F1 (the highest such threshold on ties)."""
    recall, precision, thresholds = pr_curve(scores, labels)
    total = precision + recall
    f1 = np.divide(2 * precision * recall, total, out=np.zeros_like(total), where=total > 0)
    return float(thresholds[int(np.argmax(f1))])
