"""The labelled sample of a replay for tuning, and the held-out rest it is measured on.

Three ways to choose which events count as labelled, by row of a `PipelineRun`
(parsed events in log order):

- head: the first `fraction` of the events in time order;
- random: a uniformly random `fraction` of the events across the whole log,
  drawn with NumPy's `default_rng(seed)`;
- clients: a random `fraction` of the distinct clients, with all their events.

The held-out set is every other event. Features and HST scores are computed
over the whole stream in order, before any label is read, so sampling picks
rows of one replay and never changes what the model saw.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from replay.pipeline import PipelineRun

SAMPLES = ("head", "random", "clients")
DEFAULT_SAMPLE = "random"


class SampleError(ValueError):
    """A sample description does not fit the replay it is applied to."""


def labelled_mask(run: PipelineRun, sample: str, fraction: float, seed: int) -> np.ndarray:
    """Return a boolean array over `run`'s rows, True for the labelled sample."""
    n = len(run.lines)
    mask = np.zeros(n, dtype=bool)
    if sample == "head":
        mask[: int(n * fraction)] = True
    elif sample == "random":
        rng = np.random.default_rng(seed)
        mask[rng.choice(n, size=int(n * fraction), replace=False)] = True
    elif sample == "clients":
        clients = sorted(set(run.clients))
        rng = np.random.default_rng(seed)
        picked = {clients[i] for i in rng.choice(len(clients), size=int(len(clients) * fraction), replace=False)}
        mask[:] = [client in picked for client in run.clients]
    else:
        raise SampleError(f"unknown sample {sample!r}; expected one of {', '.join(SAMPLES)}")
    return mask


def mask_from_tuning(run: PipelineRun, trained_on: dict[str, object]) -> np.ndarray:
    """Rebuild the labelled mask a tuned model recorded, checking it was tuned on a log this size."""
    events = trained_on.get("log_events")
    if events != len(run.lines):
        raise SampleError(
            f"the tuned model was trained on a log of {events} events and this log has {len(run.lines)}; "
            "the held-out part can only be rebuilt on the same log"
        )
    sample = str(trained_on.get("sample", "head"))
    fraction = float(trained_on.get("fraction", 0.0))  # type: ignore[arg-type]
    seed = int(trained_on.get("seed", 0))  # type: ignore[call-overload]
    return labelled_mask(run, sample, fraction, seed)


def subset(run: PipelineRun, mask: np.ndarray) -> PipelineRun:
    """Return the rows of `run` where `mask` is True; decisions and threshold are kept whole."""
    index = np.flatnonzero(mask)
    return replace(
        run,
        lines=run.lines[index],
        timestamps=run.timestamps[index],
        clients=[run.clients[i] for i in index.tolist()],
        scores=run.scores[index],
        raw_scores=run.raw_scores[index],
        anomalous=run.anomalous[index],
        features=run.features[index],
    )
