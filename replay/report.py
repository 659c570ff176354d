"""Write an evaluation as markdown and PNG plots (score over time, ROC, PR)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from replay.metrics import pr_curve, roc_curve
from replay.scoring import Evaluation

MAX_POINTS = 20_000  # benign points drawn in the time plot; attacks are always drawn


def _percentile(values: list[float], q: float) -> str:
    return f"{np.percentile(values, q):.0f}" if values else "-"


def markdown(evaluation: Evaluation, title: str) -> str:
    """Return the evaluation as a markdown section."""
    e = evaluation
    c = e.counts
    lines = [
        f"## {title}",
        "",
        f"{e.events} events, {e.attacks} attacks ({e.attacks / max(e.events, 1):.1%}).",
        "",
        "| metric | value |",
        "|---|---:|",
        f"| event ROC-AUC | {e.roc_auc:.3f} |",
        f"| event PR-AUC (average precision) | {e.pr_auc:.3f} |",
        f"| operating threshold | {e.threshold:.3f} |",
        f"| precision / recall / F1 at it | {c.precision:.3f} / {c.recall:.3f} / {c.f1:.3f} |",
        f"| flagged events (true / false positives) | {c.tp} / {c.fp} |",
        f"| decisions | {e.decisions} |",
        f"| benign clients acted on | {e.benign_clients} |",
        "",
        "| scenario | attackers | caught | recall | seconds to first flag, median / p90 "
        "| events to first flag, median / p90 |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for s in e.scenarios:
        lines.append(
            f"| {s.scenario} | {s.attackers} | {s.caught} | {s.recall:.3f} "
            f"| {_percentile(s.seconds, 50)} / {_percentile(s.seconds, 90)} "
            f"| {_percentile(s.events, 50)} / {_percentile(s.events, 90)} |"
        )
    lines += ["", "Benign clients acted on, by action: "
              + (", ".join(f"{a} {n}" for a, n in sorted(e.benign_actions.items())) or "none") + "."]
    return "\n".join(lines) + "\n"


def plot_scores(path: Path, times: np.ndarray, scores: np.ndarray, labels: np.ndarray, threshold: float) -> None:
    hours = (times - times.min()) / 3600 if len(times) else times
    benign = np.flatnonzero(~labels)
    if len(benign) > MAX_POINTS:
        benign = benign[:: len(benign) // MAX_POINTS]
    attack = np.flatnonzero(labels)
    fig, ax = plt.subplots(figsize=(10, 3.5))
    ax.scatter(hours[benign], scores[benign], s=1, c="tab:blue", alpha=0.3, label="benign")
    ax.scatter(hours[attack], scores[attack], s=2, c="tab:red", alpha=0.6, label="attack")
    ax.axhline(threshold, color="black", linewidth=0.8, linestyle="--", label=f"threshold {threshold:.3f}")
    ax.set(xlabel="hours since the first event", ylabel="score", ylim=(-0.02, 1.02))
    ax.legend(loc="lower right", markerscale=6)
    _save(fig, path)


def plot_curves(directory: Path, prefix: str, scores: np.ndarray, labels: np.ndarray) -> None:
    fpr, tpr = roc_curve(scores, labels)
    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    ax.plot(fpr, tpr)
    ax.plot([0, 1], [0, 1], color="grey", linewidth=0.6)
    ax.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC")
    _save(fig, directory / f"{prefix}roc.png")

    recall, precision, _ = pr_curve(scores, labels)
    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    ax.plot(recall, precision)
    ax.set(xlabel="recall", ylabel="precision", title="precision-recall", ylim=(0, 1.02))
    _save(fig, directory / f"{prefix}pr.png")


def _save(fig: plt.Figure, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
