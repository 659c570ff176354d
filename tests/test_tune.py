"""Tuning with a labelled sample: the command, the samples, the model file and the held-out gain."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from config.settings import Settings
from data.generate import generate, write
from replay.evaluate import main as evaluate_main
from replay.labels import read_labels
from replay.metrics import counts_at, threshold_for_best_f1
from replay.pipeline import PipelineRun, run_log
from replay.sampling import SampleError, labelled_mask, mask_from_tuning, subset
from replay.tune import main as tune_main
from replay.tune import tune
from stream.supervised import TunedModelError, load, save

SMALL = {"hst_trees": 10, "hst_window": 500, "history_max_events": 6000}


@pytest.fixture(scope="module")
def small_mix(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    # Scenarios that recur through the log, so the labelled head contains examples of each.
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
    assert tuned.trained_on["sample"] == "random"
    report = (tmp_path / "report.md").read_text()
    assert "## Before (unsupervised), held-out set" in report
    assert "## After (tuned), held-out set" in report
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
    mask = labelled_mask(before, "head", 0.3, seed=0)
    tuned = tune(before, labels, mask, None, epochs=5)
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


def fake_run(clients: list[str]) -> PipelineRun:
    n = len(clients)
    return PipelineRun(
        lines=np.arange(1, n + 1), timestamps=np.arange(n, dtype=float), clients=clients,
        scores=np.zeros(n), raw_scores=np.zeros(n), anomalous=np.zeros(n, dtype=bool), features=np.zeros((n, 18)),
    )


def test_sample_head_takes_first_events() -> None:
    mask = labelled_mask(fake_run(["a"] * 100), "head", 0.1, seed=0)
    assert mask[:10].all()
    assert not mask[10:].any()


def test_sample_random_spans_log_and_is_seeded() -> None:
    run = fake_run(["a"] * 1000)
    mask = labelled_mask(run, "random", 0.1, seed=3)
    assert mask.sum() == 100
    assert mask[500:].any()
    assert mask[:500].any()
    assert np.array_equal(mask, labelled_mask(run, "random", 0.1, seed=3))
    assert not np.array_equal(mask, labelled_mask(run, "random", 0.1, seed=4))


def test_sample_clients_keeps_all_their_lines() -> None:
    clients = [f"192.0.2.{i % 50}" for i in range(1000)]
    mask = labelled_mask(fake_run(clients), "clients", 0.1, seed=1)
    picked = {c for c, m in zip(clients, mask, strict=True) if m}
    assert len(picked) == 5
    assert all(m == (c in picked) for c, m in zip(clients, mask, strict=True))


def test_sample_subset_rows_match_mask() -> None:
    run = fake_run([f"c{i}" for i in range(20)])
    mask = labelled_mask(run, "random", 0.25, seed=0)
    held_out = subset(run, ~mask)
    assert len(held_out.lines) == 15
    assert held_out.clients == [f"c{line - 1}" for line in held_out.lines.tolist()]


def test_sample_rebuild_rejects_other_log() -> None:
    with pytest.raises(SampleError, match="trained on a log of 50 events and this log has 20"):
        mask_from_tuning(fake_run(["a"] * 20), {"log_events": 50, "sample": "random", "fraction": 0.1, "seed": 0})


def test_evaluate_tuned_reports_held_out_set(
    small_mix: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name, value in SMALL.items():
        monkeypatch.setenv(f"CENTINELA_{name.upper()}", str(value))
    log, labels = small_mix
    model = tmp_path / "tuned.pkl"
    tune_args = [str(log), "--labels", str(labels), "--sample", "clients", "--fraction", "0.3", "--out", str(model)]
    assert tune_main(tune_args) == 0
    out = tmp_path / "eval"
    assert evaluate_main([str(log), "--labels", str(labels), "--out", str(out), "--tuned", str(model)]) == 0
    report = (out / "report.md").read_text()
    held_out = int(re.search(r"held-out set \((\d+) events outside the clients sample\)", report).group(1))
    trained = load(model).trained_on
    assert held_out == trained["log_events"] - trained["events"]
    assert (out / "eval-heldout-roc.png").exists()
