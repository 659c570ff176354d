"""`python -m replay tune LOG --labels LABELS --fraction 0.1 --out var/tuned.pkl`: tune with labels.

The labelled sample is `--fraction` of the log's events, chosen by
`--sample` (see `replay.sampling`): `random` (default) draws that share of
events uniformly over the whole log with `--seed`, `clients` takes that share
of the clients with all their events, and `head` takes the first events in
time order. The held-out set is every other event.

The log is replayed once unsupervised. Features and HST scores come from
that replay, computed in order over the full stream, and no label is used as
a feature. A logistic regression is trained on the sample's features plus its
HST scores, and the threshold is set on the sample for a target precision
(`--target-precision`) or the best F1 (`--best-f1`, the default). The tuned
model is pickled to `--out` with the sample description (load it with the
`tuned_path` setting). The log is then replayed again with it loaded, and the
report compares both runs on the held-out set with the same metrics as
`evaluate`.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from replay.labels import Labels, LabelsError, read_labels
from replay.metrics import threshold_for_best_f1, threshold_for_precision
from replay.pipeline import PipelineRun, run_log
from replay.report import markdown, plot_curves
from replay.sampling import DEFAULT_SAMPLE, SAMPLES, SampleError, labelled_mask, subset
from replay.scoring import evaluate
from replay.source import SourceError
from stream.supervised import TunedModel, save, train

DEFAULT_OUT = "var/tuned.pkl"


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:  # type: ignore[type-arg]
    parser = subparsers.add_parser("tune", help="tune the score and threshold on a labelled head", description=__doc__)
    _add_arguments(parser)
    parser.set_defaults(handler=run)
    return parser


def _fraction(text: str) -> float:
    value = float(text)
    if not 0.0 < value < 1.0:
        raise argparse.ArgumentTypeError(f"expected a fraction between 0 and 1 (exclusive), got {text}")
    return value


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("log", help="access log to replay (.gz allowed)")
    parser.add_argument("--labels", required=True, help="labels CSV, one row per log line (data.generate)")
    parser.add_argument("--fraction", type=_fraction, default=0.1, help="labelled share of events or clients (0.1)")
    parser.add_argument("--sample", choices=SAMPLES, default=DEFAULT_SAMPLE,
                        help=f"how the labelled share is chosen (default {DEFAULT_SAMPLE})")
    parser.add_argument("--seed", type=int, default=0, help="random seed of the random and clients samples (0)")
    goal = parser.add_mutually_exclusive_group()
    goal.add_argument("--target-precision", type=float, help="lowest threshold reaching this precision on the sample")
    goal.add_argument("--best-f1", action="store_true", help="threshold with the best F1 on the sample (default)")
    parser.add_argument("--out", default=DEFAULT_OUT, help=f"tuned model file to write (default {DEFAULT_OUT})")
    parser.add_argument("--report", help="directory for report.md and plots (default: next to --out)")
    parser.add_argument("--epochs", type=int, default=5, help="training passes over the sample (5)")


def tune(
    run: PipelineRun, labels: Labels, labelled: np.ndarray, target_precision: float | None, epochs: int
) -> TunedModel:
    """Train on the rows of `run` where `labelled` is True and set the threshold on them."""
    sample = subset(run, labelled)
    y = labels.label_of(sample.lines)
    if not y.any() or y.all():
        raise LabelsError(f"the labelled sample ({len(y)} events) needs both attacks and benign events; "
                          "raise --fraction or change --sample")
    tuned = train(sample.features, sample.scores, y, epochs)
    scores = tuned.score(sample.features, sample.scores)
    if target_precision is None:
        tuned.threshold = threshold_for_best_f1(scores, y)
    else:
        threshold = threshold_for_precision(scores, y, target_precision)
        if threshold is None:
            raise LabelsError(f"no threshold reaches precision {target_precision} on the labelled sample")
        tuned.threshold = threshold
    tuned.trained_on.update(log_events=len(run.lines), target_precision=target_precision)
    return tuned


def run(args: argparse.Namespace) -> int:
    out = Path(args.out)
    report_dir = Path(args.report) if args.report else out.parent
    try:
        labels = read_labels(args.labels)
        before = run_log(args.log)
        labelled = labelled_mask(before, args.sample, args.fraction, args.seed)
        tuned = tune(before, labels, labelled, args.target_precision, args.epochs)
        tuned.trained_on.update(sample=args.sample, fraction=args.fraction, seed=args.seed)
        save(tuned, out)
        after = run_log(args.log, tuned_path=out)
    except (LabelsError, SampleError, SourceError, FileNotFoundError) as exc:
        print(f"tune: {exc}")
        return 2
    text = report(before, after, labels, labelled, tuned, report_dir)
    report_dir.mkdir(parents=True, exist_ok=True)
    (report_dir / "report.md").write_text(text, encoding="utf-8")
    print(text)
    print(f"written: {out} and {report_dir / 'report.md'}")
    return 0


def report(
    before: PipelineRun, after: PipelineRun, labels: Labels, labelled: np.ndarray, tuned: TunedModel, out: Path
) -> str:
    goal = tuned.trained_on.get("target_precision")
    sample = tuned.trained_on.get("sample", "head")
    held_out = ~labelled
    lines = [
        f"# Tuning on a {sample} sample of {int(labelled.sum())} events, held-out set of {int(held_out.sum())}",
        "",
        f"Threshold {tuned.threshold:.3f} set for "
        + (f"precision {goal}" if goal is not None else "the best F1") + " on the labelled sample.",
        "",
        markdown(evaluate(subset(before, held_out), labels), "Before (unsupervised), held-out set"),
        markdown(evaluate(subset(after, held_out), labels), "After (tuned), held-out set"),
    ]
    for prefix, run_ in (("tune-before-", before), ("tune-after-", after)):
        plot_curves(out, prefix, run_.scores[held_out], labels.label_of(run_.lines[held_out]))
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m replay.tune", description=__doc__)
    _add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())


