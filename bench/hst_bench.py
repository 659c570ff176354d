"""Throughput of River's HalfSpaceTrees one event at a time versus FastHST on batches.

Run from the project root with `python -m bench.hst_bench`. Both sides get the same uniform random
rows in [0, 1). Each configuration also checks that the two produce identical scores, because a
faster wrong result is no use.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from river.anomaly import HalfSpaceTrees

from stream.fasthst import FastHST

N_FEATURES = 20
BATCH_SIZE = 1_000
CONFIGURATIONS = [
    {"n_trees": 10, "height": 8, "window_size": 250},
    {"n_trees": 25, "height": 8, "window_size": 1_000},
]


def run_river(model: HalfSpaceTrees, rows: list[dict[str, float]]) -> tuple[list[float], float]:
    """Score then learn each row with River and return the scores and the elapsed seconds."""
    scores = []
    start = time.perf_counter()
    for x in rows:
        scores.append(model.score_one(x))
        model.learn_one(x)
    return scores, time.perf_counter() - start


def run_fast(fast: FastHST, X: np.ndarray) -> tuple[np.ndarray, float]:
    """Score then learn the rows with FastHST in batches, sync River, return scores and seconds."""
    start = time.perf_counter()
    parts = [fast.score_learn_many(X[i : i + BATCH_SIZE]) for i in range(0, len(X), BATCH_SIZE)]
    fast.sync_to_river()
    return np.concatenate(parts), time.perf_counter() - start


def make_model(params: dict[str, int], seed: int) -> HalfSpaceTrees:
    return HalfSpaceTrees(
        n_trees=params["n_trees"], height=params["height"], window_size=params["window_size"], seed=seed
    )


def bench_configuration(params: dict[str, int], n_events: int, seed: int) -> None:
    """Print events/s for the first batch (trees are built there) and for the rest of the stream."""
    features = [f"f{i:02d}" for i in range(N_FEATURES)]
    X = np.random.default_rng(seed).random((n_events, N_FEATURES))
    rows = [dict(zip(features, row, strict=True)) for row in X.tolist()]
    river_model = make_model(params, seed)
    fast = FastHST(make_model(params, seed), features)

    first_river, first_river_seconds = run_river(river_model, rows[:BATCH_SIZE])
    first_fast, first_fast_seconds = run_fast(fast, X[:BATCH_SIZE])
    rest_river, rest_river_seconds = run_river(river_model, rows[BATCH_SIZE:])
    rest_fast, rest_fast_seconds = run_fast(fast, X[BATCH_SIZE:])

    river_scores = np.asarray(first_river + rest_river, dtype=np.float64)
    identical = bool(np.array_equal(river_scores, np.concatenate([first_fast, rest_fast])))
    print(
        f"n_trees={params['n_trees']} height={params['height']} window_size={params['window_size']}, "
        f"{n_events} events, identical scores: {identical}"
    )
    report("first batch (builds the trees)", BATCH_SIZE, first_river_seconds, first_fast_seconds)
    report("after the first batch", n_events - BATCH_SIZE, rest_river_seconds, rest_fast_seconds)
    report(
        "whole stream",
        n_events,
        first_river_seconds + rest_river_seconds,
        first_fast_seconds + rest_fast_seconds,
    )


def report(phase: str, n_events: int, river_seconds: float, fast_seconds: float) -> None:
    river_rate = n_events / river_seconds
    fast_rate = n_events / fast_seconds
    print(
        f"  {phase:<31} River {river_rate:>9,.0f} events/s   FastHST {fast_rate:>11,.0f} events/s"
        f"   ratio {fast_rate / river_rate:5.1f}x"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000, help="events per configuration")
    parser.add_argument("--seed", type=int, default=42, help="seed for the data and the trees")
    args = parser.parse_args()
    print(f"{N_FEATURES} features, FastHST batches of {BATCH_SIZE}; score then learn every event")
    for params in CONFIGURATIONS:
        bench_configuration(params, args.events, args.seed)


if __name__ == "__main__":
    main()
