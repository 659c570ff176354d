"""A supervised score learned from a labelled sample, used in place of the HST score when loaded.

`python -m replay tune` trains River's `linear_model.LogisticRegression` on
the features of a labelled sample of a log plus the calibrated HST score of
each event, picks a threshold, and pickles a `TunedModel`. `trained_on`
records how the sample was drawn (`replay.sampling`), so the held-out events
can be rebuilt. When the setting `tuned_path` names that file, the ingestion
agent reports as `score`

    (P(attack | features, hst_score) + hst_score) / 2

which stays in 0..1, and flags `anomalous` at the tuned threshold. The HST
half stays because a sample contains only the attacks it happened to catch.
On the default generated mix the first 10% in time order contained only
injection, credential stuffing and scanning: the logistic model alone ranked
the held-out tail at ROC-AUC 0.57, while the average kept 0.98.
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from river import linear_model, optim

from stream.features import MODEL_FEATURES

HST_FEATURE = "hst_score"
FORMAT_VERSION = 1


class TunedModelError(ValueError):
    """The tuned-model file is missing, unreadable or made for other features."""


@dataclass(slots=True)
class TunedModel:
    """The supervised model, the threshold it was tuned for, and how it was tuned."""

    model: linear_model.LogisticRegression
    threshold: float
    features: tuple[str, ...]
    trained_on: dict[str, object]
    version: int = FORMAT_VERSION

    def score(self, rows: np.ndarray, hst_scores: np.ndarray) -> np.ndarray:
        """Return the tuned score in 0..1 of each feature row given its calibrated HST score."""
        names = (*self.features, HST_FEATURE)
        probabilities = np.empty(len(rows))
        for i, row in enumerate(np.c_[rows, hst_scores].tolist()):
            probabilities[i] = self.model.predict_proba_one(dict(zip(names, row, strict=True))).get(True, 0.0)
        return (probabilities + np.asarray(hst_scores, dtype=np.float64)) / 2


def train(rows: np.ndarray, hst_scores: np.ndarray, labels: np.ndarray, epochs: int = 5) -> TunedModel:
    """Fit a logistic regression on feature rows plus the HST score; the threshold is set by the caller."""
    model = linear_model.LogisticRegression(optimizer=optim.SGD(0.1))
    names = (*MODEL_FEATURES, HST_FEATURE)
    samples = [dict(zip(names, row, strict=True)) for row in np.c_[rows, hst_scores].tolist()]
    targets = np.asarray(labels, dtype=bool).tolist()
    # Several passes in a fixed order: one pass of SGD over ~10,000 rows leaves the weights short.
    for _ in range(epochs):
        for x, y in zip(samples, targets, strict=True):
            model.learn_one(x, y)
    info: dict[str, object] = {"events": len(targets), "attacks": int(sum(targets)), "epochs": epochs}
    return TunedModel(model, 0.5, MODEL_FEATURES, info)


def save(tuned: TunedModel, path: str | Path) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pickle.dumps(tuned))


def load(path: str | Path) -> TunedModel:
    """Read a tuned model written by `save` and check it matches the current features.

    Only load files you wrote yourself: unpickling runs code from the file.
    """
    path = Path(path)
    try:
        tuned = pickle.loads(path.read_bytes())
    except (OSError, pickle.UnpicklingError, EOFError, AttributeError, ImportError) as exc:
        raise TunedModelError(f"cannot read tuned model {str(path)!r}: {exc}") from exc
    if not isinstance(tuned, TunedModel):
        raise TunedModelError(f"{str(path)!r} contains a {type(tuned).__name__}, expected a TunedModel")
    if tuned.features != MODEL_FEATURES:
        raise TunedModelError(
            f"{str(path)!r} was tuned on features {list(tuned.features)}, but this version computes "
            f"{list(MODEL_FEATURES)}; run `python -m replay tune` again"
        )
    return tuned
