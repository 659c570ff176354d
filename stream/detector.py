"""Anomaly detector: River's HalfSpaceTrees with calibrated, readable scores.

Half-space trees (Tan, Ting and Liu, "Fast Anomaly Detection for Streaming
Data", IJCAI 2011) score a point by how little reference mass sits around it.
They assume features in [0,1] (see `stream.features`) and they miss anomalies
that arrive packed together: once a brute-force burst fills a window, its
events look normal. The per-client window features exist for that reason,
since they make a burst stand out even when the trees have seen it.

Raw HST scores are compressed (normal traffic sits in a narrow band), so each
raw score is calibrated against a reference of recent raw scores (see
`stream.calibration`). The calibrated score is the share of reference scores
strictly below it. An event is anomalous when that share reaches the
configured percentile.

Example:
    >>> det = Detector(n_trees=5, height=4, window_size=10, reference_size=100, reference_every=1)
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> _ = det.score_learn(rng.uniform(0.4, 0.6, size=(200, 3)))
    >>> det.warming_up
    False
"""

from __future__ import annotations

import numpy as np
from river.anomaly import HalfSpaceTrees

from stream.calibration import ScoreCalibrator
from stream.features import MODEL_FEATURES


class Detector:
    def __init__(
        self,
        n_trees: int = 25,
        height: int = 8,
        window_size: int = 4000,
        seed: int = 42,
        reference_size: int = 5000,
        features: tuple[str, ...] = MODEL_FEATURES,
        reference_every: int = 10,
    ) -> None:
        self.features = features
        self.model = HalfSpaceTrees(n_trees=n_trees, height=height, window_size=window_size, seed=seed)
        self.calibrator = ScoreCalibrator(reference_size, reference_every)
        self.events_seen = 0
        self._engine = _make_engine(self.model, features)

    @property
    def reference_fill(self) -> int:
        """Raw scores currently in the calibration reference."""
        return self.calibrator.fill

    @property
    def warming_up(self) -> bool:
        """True until the trees have a complete reference window and some scores to calibrate with."""
        first_window = getattr(self._engine, "first_window", self.model._first_window)
        return bool(first_window) or self.reference_fill < min(100, len(self.calibrator.reference))

    def score_learn(self, rows: np.ndarray) -> np.ndarray:
        """Score each row, then learn it, in order; return raw HST scores (high = anomalous)."""
        if len(rows) == 0:
            return np.empty(0)
        raw = self._engine.score_learn_many(rows)
        self.events_seen += len(rows)
        return raw

    def calibrate(self, raw: np.ndarray) -> np.ndarray:
        """Return, for each raw score, the share of reference scores strictly below it."""
        return self.calibrator.calibrate(raw)

    def remember(self, raw: np.ndarray) -> None:
        """Add scored events to the calibration reference (a sampled ring of recent raw scores)."""
        self.calibrator.remember(raw)

    def __getstate__(self) -> dict[str, object]:
        # The fast engine keeps the masses in arrays; River's nodes must hold them before pickling.
        sync = getattr(self._engine, "sync_to_river", None)
        if sync is not None:
            sync()
        state = self.__dict__.copy()
        state["_engine"] = None
        return state

    def __setstate__(self, state: dict[str, object]) -> None:
        if "calibrator" not in state:
            # Snapshots from before `stream.calibration` kept the ring on the detector itself.
            calibrator = ScoreCalibrator(len(state["reference"]), 1)  # type: ignore[arg-type]
            calibrator.remember(np.asarray(state["reference"])[: state["reference_fill"]])  # type: ignore[index]
            state = {key: value for key, value in state.items() if not key.startswith(("reference", "_sorted"))}
            state["calibrator"] = calibrator
        self.__dict__.update(state)
        self._engine = _make_engine(self.model, self.features)


class _RiverEngine:
    """Score-then-learn one event at a time through River itself."""

    def __init__(self, model: HalfSpaceTrees, features: tuple[str, ...]) -> None:
        self.model = model
        self.features = features

    def score_learn_many(self, rows: np.ndarray) -> np.ndarray:
        out = np.empty(len(rows))
        names = self.features
        model = self.model
        for i, row in enumerate(rows.tolist()):
            x = dict(zip(names, row, strict=True))
            out[i] = model.score_one(x)
            model.learn_one(x)
        return out


def _make_engine(model: HalfSpaceTrees, features: tuple[str, ...]) -> object:
    try:
        from stream.fasthst import FastHST
    except ImportError:
        return _RiverEngine(model, features)
    return FastHST(model, features)
