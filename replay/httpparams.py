"""Measure how well payloads of HttpParamsDataset stand out inside benign shop traffic.

The dataset (CSV `payload,length,attack_type,label`, label `norm` or `anom`)
contains values of single HTTP parameters. Each value is URL-encoded into the
`q=` parameter of a `/buscar` request of generated benign traffic, in the
request's place, and the log is replayed through the pipeline. ROC-AUC is
computed over those requests only: attack payloads against normal values.
"""

from __future__ import annotations

import csv
import re
import tempfile
from pathlib import Path
from urllib.parse import quote_plus

import numpy as np

from data.generate import generate
from replay.metrics import roc_auc
from replay.pipeline import run_log

SEARCH = re.compile(r'"GET /buscar\?q=[^ "]*')
BACKGROUND_EVENTS = 40_000
SEED = 11
PAYLOAD_FILE = "payload_test.csv"


class HttpParamsError(ValueError):
    """The dataset folder or file is missing or a row is malformed."""


def read_payloads(folder: Path) -> list[tuple[str, int]]:
    """Return (payload, 1 for an attack) rows of the dataset's test file."""
    path = folder / PAYLOAD_FILE
    if not path.is_file():
        raise HttpParamsError(f"{str(path)!r} not found; expected the HttpParamsDataset folder")
    rows: list[tuple[str, int]] = []
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        for row in reader:
            if row.get("label") not in ("norm", "anom"):
                raise HttpParamsError(f"{path.name} line {reader.line_num}: label {row.get('label')!r} "
                                      "is not norm or anom")
            rows.append((row["payload"], 1 if row["label"] == "anom" else 0))
    return rows


def build_log(payloads: list[tuple[str, int]], directory: Path) -> tuple[Path, dict[int, int]]:
    """Write benign traffic with payloads in its searches; return the log and {line: label} of those lines."""
    records = generate(BACKGROUND_EVENTS, SEED, benign_only=True)
    searches = [i for i, record in enumerate(records) if SEARCH.search(record.line)]
    # Spread the payloads evenly over the searches, in a fixed shuffled order of labels.
    order = np.random.default_rng(SEED).permutation(len(payloads))[: len(searches)]
    lines = [record.line for record in records]
    placed: dict[int, int] = {}
    for slot, index in zip(searches, order.tolist(), strict=False):
        payload, label = payloads[index]
        replacement = f'"GET /buscar?q={quote_plus(payload)}'
        lines[slot] = SEARCH.sub(lambda _match, text=replacement: text, lines[slot], count=1)
        placed[slot + 1] = label
    log = directory / "httpparams.log"
    log.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return log, placed


def measure(folder: Path, tuned: str | None = None) -> dict[str, float]:
    """Return the ROC-AUC of payload requests, unsupervised and (with `tuned`) tuned, and the counts."""
    payloads = read_payloads(folder)
    with tempfile.TemporaryDirectory(prefix="centinela-httpparams-") as tmp:
        log, placed = build_log(payloads, Path(tmp))
        result = {"payloads": float(len(placed)), "attacks": float(sum(placed.values()))}
        runs = {"unsupervised": {}} | ({"tuned": {"tuned_path": Path(tuned)}} if tuned else {})
        for name, overrides in runs.items():
            run = run_log(log, **overrides)
            mask = np.isin(run.lines, list(placed))
            labels = np.asarray([placed[line] for line in run.lines[mask].tolist()])
            result[name] = roc_auc(run.scores[mask], labels)
    return result


def httpparams_section(folder: Path, out: Path, tuned: str | None = None) -> str:
    result = measure(folder, tuned)
    lines = [
        "## HttpParamsDataset payloads in benign searches",
        "",
        f"{int(result['payloads'])} `/buscar?q=` values replaced, {int(result['attacks'])} of them attacks.",
        "",
        "| score | ROC-AUC, attack payloads against normal values |",
        "|---|---:|",
        f"| unsupervised | {result['unsupervised']:.3f} |",
    ]
    if "tuned" in result:
        lines.append(f"| tuned | {result['tuned']:.3f} |")
    return "\n".join(lines) + "\n"
