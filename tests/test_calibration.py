"""Calibration: the readable score is a monotone percentile against a sampled reference."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stream.calibration import ScoreCalibrator
from stream.detector import Detector

scores = st.lists(st.floats(0, 1000, allow_nan=False), min_size=1, max_size=300)


@settings(max_examples=60, deadline=None)
@given(reference=scores, queries=scores, every=st.integers(1, 5))
def test_calibration_monotone(reference: list[float], queries: list[float], every: int) -> None:
    calibrator = ScoreCalibrator(size=50, sample_every=every)
    calibrator.remember(np.asarray(reference))
    raw = np.sort(np.asarray(queries))
    calibrated = calibrator.calibrate(raw)
    assert np.all(np.diff(calibrated) >= 0)
    assert np.all((calibrated >= 0) & (calibrated <= 1))


def test_calibration_share_strictly_below() -> None:
    calibrator = ScoreCalibrator(size=10, sample_every=1)
    calibrator.remember(np.arange(10, dtype=float))
    assert calibrator.calibrate(np.array([-1.0, 0.0, 4.5, 9.0, 99.0])).tolist() == [0.0, 0.0, 0.5, 0.9, 1.0]


def test_calibration_samples_every_nth_across_batches() -> None:
    calibrator = ScoreCalibrator(size=100, sample_every=3)
    calibrator.remember(np.arange(4, dtype=float))
    calibrator.remember(np.arange(4, 10, dtype=float))
    assert sorted(calibrator.sorted_reference().tolist()) == [0.0, 3.0, 6.0, 9.0]


def test_calibration_ring_keeps_latest() -> None:
    calibrator = ScoreCalibrator(size=4, sample_every=1)
    calibrator.remember(np.arange(3, dtype=float))
    calibrator.remember(np.arange(10, 13, dtype=float))
    assert calibrator.sorted_reference().tolist() == [2.0, 10.0, 11.0, 12.0]
    assert calibrator.fill == 4


def test_calibration_empty_reference_scores_zero() -> None:
    assert ScoreCalibrator().calibrate(np.array([1.0, 2.0])).tolist() == [0.0, 0.0]


@pytest.mark.parametrize(("size", "every"), [(0, 1), (10, 0)])
def test_calibration_rejects_bad_sizes(size: int, every: int) -> None:
    with pytest.raises(ValueError, match="at least 1"):
        ScoreCalibrator(size, every)


def test_calibration_survives_detector_pickle() -> None:
    detector = Detector(n_trees=3, height=3, window_size=20, reference_size=50, reference_every=2)
    rows = np.random.default_rng(1).uniform(size=(100, len(detector.features)))
    detector.remember(detector.score_learn(rows))
    restored = pickle.loads(pickle.dumps(detector))
    probe = np.linspace(0, 30, 7)
    assert restored.calibrate(probe).tolist() == detector.calibrate(probe).tolist()
    assert restored.reference_fill == detector.reference_fill == 50
