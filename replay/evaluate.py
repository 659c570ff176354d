"""`python -m replay evaluate LOG --labels LABELS [--out DIR]`: measure detection on a labelled log.

The log goes through the service's own pipeline (a `Runtime` warm-started
from the shipped history in a temporary state directory), in file order,
each event scored before the model learns it. Labels are read only
afterwards. The report is printed and written to DIR/report.md with the
plots DIR/eval-scores.png, DIR/eval-roc.png and DIR/eval-pr.png.

With `--tuned FILE` the report adds a section on the held-out set only: the
events outside the labelled sample the model was tuned on, rebuilt from the
sample description stored in FILE (`replay.sampling`). Scores on the
labelled sample are in-sample and would flatter the model.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from replay.httpparams import httpparams_section
from replay.labels import LabelsError, read_labels
from replay.pipeline import PipelineRun, run_log
from replay.report import markdown, plot_curves, plot_scores
from replay.sampling import SampleError, mask_from_tuning, subset
from replay.scoring import evaluate
from replay.source import SourceError
from stream.supervised import TunedModelError, load

DEFAULT_OUT = "var/eval"


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:  # type: ignore[type-arg]
    parser = subparsers.add_parser("evaluate", help="measure detection on a labelled log", description=__doc__)
    _add_arguments(parser)
    parser.set_defaults(handler=run)
    return parser


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("log", help="access log to replay (.gz allowed)")
    parser.add_argument("--labels", required=True, help="labels CSV, one row per log line (data.generate)")
    parser.add_argument("--out", default=DEFAULT_OUT, help=f"directory for report.md and plots (default {DEFAULT_OUT})")
    parser.add_argument("--tuned", help="tuned model to load, as the tuned_path setting does")
    parser.add_argument("--httpparams", help="HttpParamsDataset folder: also measure payloads against normal values")


def write_run(run: PipelineRun, labels_path: str, out: Path, title: str, prefix: str = "eval-") -> str:
    """Evaluate `run`, write its plots under `out` and return its markdown section."""
    labels = read_labels(labels_path)
    evaluation = evaluate(run, labels)
    y = labels.label_of(run.lines)
    plot_scores(out / f"{prefix}scores.png", run.timestamps, run.scores, y, run.threshold)
    plot_curves(out, prefix, run.scores, y)
    return markdown(evaluation, title)


def held_out_section(run_: PipelineRun, labels_path: str, tuned_path: Path, out: Path) -> str:
    """Return the report section on the events the tuned model was not trained on."""
    trained_on = load(tuned_path).trained_on
    try:
        labelled = mask_from_tuning(run_, trained_on)
    except SampleError as exc:
        return f"## Held-out set\n\nNot measured: {exc}.\n"
    sample = trained_on.get("sample", "head")
    title = f"Detection, held-out set ({int((~labelled).sum())} events outside the {sample} sample)"
    text = write_run(subset(run_, ~labelled), labels_path, out, title, prefix="eval-heldout-")
    return text + "\nPlots: ![ROC](eval-heldout-roc.png) ![PR](eval-heldout-pr.png)\n"


def run(args: argparse.Namespace) -> int:
    out = Path(args.out)
    try:
        overrides = {"tuned_path": Path(args.tuned)} if args.tuned else {}
        pipeline = run_log(args.log, **overrides)
        text = f"# Evaluation of {Path(args.log).name}\n\n" + write_run(pipeline, args.labels, out, "Detection")
        text += "\nPlots: ![scores](eval-scores.png) ![ROC](eval-roc.png) ![PR](eval-pr.png)\n"
        if args.tuned:
            text += "\n" + held_out_section(pipeline, args.labels, Path(args.tuned), out)
        if args.httpparams:
            text += "\n" + httpparams_section(Path(args.httpparams), out, args.tuned)
    except (LabelsError, SourceError, TunedModelError, FileNotFoundError) as exc:
        print(f"evaluate: {exc}")
        return 2
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.md").write_text(text, encoding="utf-8")
    print(text)
    print(f"written: {out / 'report.md'}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m replay.evaluate", description=__doc__)
    _add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
