"""`python -m replay tune LOG --labels LABELS --fraction 0.1 --out var/tuned.json`: tune with labels.

The labelled sample is the head of the log in time order (the first
`--fraction` of its events); the rest is held out. The log is replayed once
unsupervised, a logistic regression is trained on the head's features plus
its HST scores, and the threshold is set on the head for a target precision
(`--target-precision`) or the best F1 (`--best-f1`, the default). The tuned
model is pickled to `--out` (load it with the `tuned_path` setting); the log
is then replayed again with it loaded, and the report compares both runs on
the held-out tail with the same metrics as `evaluate`.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from replay.labels import Labels, LabelsError, read_labels
from replay.metrics import threshold_for_best_f1, threshold_for_precision
from replay.pipeline import PipelineRun, run_log
from replay.report import markdown, plot_curves
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
    parser.add_argument("--fraction", type=_fraction, default=0.1, help="labelled head share of events (0.1)")
    goal = parser.add_mutually_exclusive_group()
    goal.add_argument("--target-precision", type=float, help="lowest threshold reaching this precision on the head")
    goal.add_argument("--best-f1", action="store_true", help="threshold with the best F1 on the head (default)")
    parser.add_argument("--out", default=DEFAULT_OUT, help=f"tuned model file to write (default {DEFAULT_OUT})")
    parser.add_argument("--report", help="directory for report.md and plots (default: next to --out)")
    parser.add_argument("--epochs", type=int, default=5, help="training passes over the head (5)")


def tune(run: PipelineRun, labels: Labels, head: int, target_precision: float | None, epochs: int) -> TunedModel:
    """Train on the first `head` events of `run` and set the threshold on them."""
    y = labels.label_of(run.lines[:head])
    if not y.any() or y.all():
        raise LabelsError(f"the labelled head ({head} events) needs both attacks and benign events; "
                          "raise --fraction")
    tuned = train(run.features[:head], run.scores[:head], y, epochs)
    scores = tuned.score(run.features[:head], run.scores[:head])
    if target_precision is None:
        tuned.threshold = threshold_for_best_f1(scores, y)
    else:
        threshold = threshold_for_precision(scores, y, target_precision)
        if threshold is None:
            raise LabelsError(f"no threshold reaches precision {target_precision} on the labelled head")
        tuned.threshold = threshold
    tuned.trained_on.update(head_events=head, target_precision=target_precision)
    return tuned


def run(args: argparse.Namespace) -> int:
    out = Path(args.out)
    report_dir = Path(args.report) if args.report else out.parent
    try:
        labels = read_labels(args.labels)
        before = run_log(args.log)
        head = int(len(before.lines) * args.fraction)
        tuned = tune(before, labels, head, args.target_precision, args.epochs)
        save(tuned, out)
        after = run_log(args.log, tuned_path=out)
    except (LabelsError, SourceError, FileNotFoundError) as exc:
        print(f"tune: {exc}")
        return 2
    text = report(before, after, labels, head, tuned, report_dir)
    report_dir.mkdir(parents=True, exist_ok=True)
    (report_dir / "report.md").write_text(text, encoding="utf-8")
    print(text)
    print(f"written: {out} and {report_dir / 'report.md'}")
    return 0


def report(before: PipelineRun, after: PipelineRun, labels: Labels, head: int, tuned: TunedModel, out: Path) -> str:
    goal = tuned.trained_on.get("target_precision")
    lines = [
        f"# Tuning on the first {head} events, held-out tail of {len(before.lines) - head}",
        "",
        f"Threshold {tuned.threshold:.3f} set for "
        + (f"precision {goal}" if goal is not None else "the best F1") + " on the labelled head.",
        "",
        markdown(evaluate(before, labels, head), "Before (unsupervised), held-out tail"),
        markdown(evaluate(after, labels, head), "After (tuned), held-out tail"),
    ]
    for prefix, run_ in (("tune-before-", before), ("tune-after-", after)):
        plot_curves(out, prefix, run_.scores[head:], labels.label_of(run_.lines[head:]))
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m replay.tune", description=__doc__)
    _add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())


