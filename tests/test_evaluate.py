"""The evaluate command and the metrics behind it, on a small generated mix."""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pytest

from data.generate import generate, write
from replay.evaluate import main as evaluate_main
from replay.httpparams import build_log, read_payloads
from replay.labels import LabelsError, read_labels
from replay.metrics import average_precision, counts_at, roc_auc, threshold_for_best_f1, threshold_for_precision
from tests.conftest import dataset

SMALL_MODEL = {
    "CENTINELA_HST_TREES": "10",
    "CENTINELA_HST_WINDOW": "500",
    "CENTINELA_HISTORY_MAX_EVENTS": "6000",
}


@pytest.fixture(scope="module")
def small_mix(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("mix")
    log, labels = folder / "mix.log", folder / "mix.labels.csv"
    write(generate(8000, seed=3), log, labels)
    return log, labels


@pytest.fixture
def small_model(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in SMALL_MODEL.items():
        monkeypatch.setenv(name, value)


def test_roc_auc_counts_ties_half() -> None:
    scores = np.array([0.1, 0.4, 0.4, 0.8])
    labels = np.array([0, 0, 1, 1])
    # Pairs (attack, benign): 0.4>0.1, 0.4=0.4 (half), 0.8>0.1, 0.8>0.4 -> 3.5 of 4.
    assert roc_auc(scores, labels) == pytest.approx(0.875)


def test_roc_auc_one_class_is_nan() -> None:
    assert math.isnan(roc_auc(np.array([0.1, 0.2]), np.array([0, 0])))


def test_average_precision_perfect_and_reversed() -> None:
    labels = np.array([0, 0, 1, 1])
    assert average_precision(np.array([0.1, 0.2, 0.8, 0.9]), labels) == pytest.approx(1.0)
    # Attacks ranked last: precision 1/3 at the first recall step, 2/4 at the second.
    assert average_precision(np.array([0.9, 0.8, 0.2, 0.1]), labels) == pytest.approx((1 / 3 + 2 / 4) / 2)


def test_thresholds_for_precision_and_f1() -> None:
    scores = np.array([0.1, 0.2, 0.3, 0.6, 0.7, 0.9])
    labels = np.array([0, 0, 1, 0, 1, 1])
    assert threshold_for_precision(scores, labels, 1.0) == pytest.approx(0.7)
    assert threshold_for_precision(scores, labels, 1.1) is None
    best = threshold_for_best_f1(scores, labels)
    # At 0.3: three attacks and one benign event flagged, precision 0.75, recall 1.
    assert best == pytest.approx(0.3)
    assert counts_at(scores, labels, best).f1 == pytest.approx(6 / 7)


def test_labels_bad_row_names_line(tmp_path: Path) -> None:
    path = tmp_path / "labels.csv"
    path.write_text("line,timestamp,label,scenario,client\n1,t,0,benign,a\n2,t,yes,benign,b\n")
    with pytest.raises(LabelsError, match="line 3: label 'yes' is not 0 or 1"):
        read_labels(path)


def test_evaluate_writes_report_and_plots(
    small_mix: tuple[Path, Path], small_model: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log, labels = small_mix
    out = tmp_path / "eval"
    assert evaluate_main([str(log), "--labels", str(labels), "--out", str(out)]) == 0
    report = (out / "report.md").read_text()
    for plot in ("eval-scores.png", "eval-roc.png", "eval-pr.png"):
        assert (out / plot).stat().st_size > 1000
    auc = float(re.search(r"\| event ROC-AUC \| ([0-9.]+) \|", report).group(1))
    assert auc > 0.8
    assert "| scanner_ua |" in report
    assert "written:" in capsys.readouterr().out


def test_evaluate_missing_labels_exit_2(small_mix: tuple[Path, Path], tmp_path: Path) -> None:
    log, _ = small_mix
    assert evaluate_main([str(log), "--labels", str(tmp_path / "none.csv"), "--out", str(tmp_path)]) == 2


def test_httpparams_payloads_placed_in_searches(tmp_path: Path) -> None:
    payloads = read_payloads(dataset("httpparams_dataset"))
    assert len(payloads) == 10_355
    log, placed = build_log(payloads, tmp_path)
    lines = log.read_text().splitlines()
    assert len(placed) > 300
    assert 0 < sum(placed.values()) < len(placed)
    for number in list(placed)[:50]:
        assert '"GET /buscar?q=' in lines[number - 1]
