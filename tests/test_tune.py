"""Tuning with a labelled head: the command, the tuned model file, and the gain on a held-out tail."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from config.settings import Settings
from data.generate import generate, write
from replay.labels import read_labels
from replay.metrics import counts_at, threshold_for_best_f1
from replay.pipeline import run_log
from replay.tune import main as tune_main
from replay.tune import tune
from stream.supervised import TunedModelError, load, save

SMALL = {"hst_trees": 10, "hst_window": 500, "history_max_events": 6000}


@pytest.fixture(scope="module")
def small_mix(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    # Scenarios that recur through the log, so the labelled head holds examples of each.
    folder = tmp_path_factory.mktemp("mix")
    log, labels = folder / "mix.log", folder / "mix.labels.csv"
    write(generate(8000, seed=5, attack_rate=0.1, scenarios=["scanner_ua", "credential_stuffing"]), log, labels)
    return log, labels


def test_tune_writes_model_and_report(
    small_mix: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name, value in SMALL.items():
        monkeypatch.setenv(f"CENTINELA_{name.upper()}", str(value))
    log, labels = small_mix
    out = tmp_path / "tuned.pkl"
    args = [str(log), "--labels", str(labels), "--fraction", "0.3", "--best-f1", "--out", str(out)]
    assert tune_main(args) == 0
    tuned = load(out)
    assert 0.0 <= tuned.threshold <= 1.0
    report = (tmp_path / "report.md").read_text()
    assert "## Before (unsupervised), held-out tail" in report
    assert "## After (tuned), held-out tail" in report
    after = report.split("## After")[1]
    assert float(re.search(r"\| operating threshold \| ([0-9.]+) \|", after).group(1)) == pytest.approx(
        tuned.threshold, abs=1e-3
    )
    assert (tmp_path / "tune-after-roc.png").exists()


def test_tuned_model_improves_held_out_f1(small_mix: tuple[Path, Path], tmp_path: Path) -> None:
    log, labels_path = small_mix
    labels = read_labels(labels_path)
    base = Settings(**SMALL)
    before = run_log(log, base)
    head = int(len(before.lines) * 0.3)
    tuned = tune(before, labels, head, None, epochs=5)
    y_head = labels.label_of(before.lines[:head])
    y_tail = labels.label_of(before.lines[head:])

    # Unsupervised at its own best-F1 threshold on the same head, for a fair comparison.
    unsupervised = counts_at(before.scores[head:], y_tail, threshold_for_best_f1(before.scores[:head], y_head))
    path = tmp_path / "tuned.pkl"
    save(tuned, path)
    after = run_log(log, base, tuned_path=path)
    supervised = counts_at(after.scores[head:], y_tail, tuned.threshold)
    assert supervised.f1 > unsupervised.f1
    assert np.array_equal(after.lines, before.lines)


def test_tuned_model_rejects_other_file(tmp_path: Path) -> None:
    path = tmp_path / "tuned.pkl"
    path.write_bytes(b"not a pickle")
    with pytest.raises(TunedModelError, match="cannot read tuned model"):
        load(path)
