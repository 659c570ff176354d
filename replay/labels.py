"""Read the labels CSV that `data.generate` writes next to a log (one row per log line).

Header: `line,timestamp,label,scenario,client`. `label` is 0 or 1 and
`scenario` is `benign` or the attack's name. A malformed row raises
`LabelsError` naming the file, the row's line number and what is accepted.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np

REQUIRED = ("line", "label", "scenario", "client")
BENIGN = "benign"


class LabelsError(ValueError):
    """The labels file is missing, has no expected header, or a row is malformed."""


@dataclass(slots=True)
class Labels:
    """Labels indexed by log line number (index 0 unused)."""

    label: np.ndarray
    scenario: np.ndarray
    client: np.ndarray

    def label_of(self, lines: np.ndarray) -> np.ndarray:
        return self._take(self.label, lines).astype(bool)

    def scenario_of(self, lines: np.ndarray) -> np.ndarray:
        return self._take(self.scenario, lines)

    def _take(self, column: np.ndarray, lines: np.ndarray) -> np.ndarray:
        lines = np.asarray(lines, dtype=np.int64)
        if len(lines) and (lines.min() < 1 or lines.max() >= len(column)):
            raise LabelsError(
                f"log line {int(lines.max())} has no label: the labels file covers lines 1-{len(column) - 1}"
            )
        return column[lines]

    def attackers(self) -> dict[str, str]:
        """Return each attacking client with its scenario."""
        mask = self.label == 1
        return dict(zip(self.client[mask].tolist(), self.scenario[mask].tolist(), strict=True))


def read_labels(path: str | Path) -> Labels:
    path = Path(path)
    try:
        handle = path.open(newline="", encoding="utf-8")
    except OSError as exc:
        raise LabelsError(f"cannot read labels file {str(path)!r}: {exc}") from exc
    with handle:
        reader = csv.DictReader(handle)
        missing = [name for name in REQUIRED if name not in (reader.fieldnames or ())]
        if missing:
            raise LabelsError(f"{path.name}: header lacks {missing}; expected columns {', '.join(REQUIRED)}")
        rows = [_parse_row(row, reader.line_num, path.name) for row in reader]
    if not rows:
        raise LabelsError(f"{path.name}: no label rows after the header")
    size = max(row[0] for row in rows) + 1
    label = np.full(size, -1, dtype=np.int8)
    scenario = np.full(size, BENIGN, dtype=object)
    client = np.full(size, "", dtype=object)
    for number, value, name, client_name in rows:
        label[number], scenario[number], client[number] = value, name, client_name
    return Labels(label, scenario, client)


def _parse_row(row: dict[str, str], line_num: int, name: str) -> tuple[int, int, str, str]:
    try:
        number = int(row["line"])
    except (TypeError, ValueError):
        raise LabelsError(f"{name} line {line_num}: line {row['line']!r} is not a positive integer") from None
    if number < 1:
        raise LabelsError(f"{name} line {line_num}: line {number} is not a positive integer")
    if row["label"] not in ("0", "1"):
        raise LabelsError(f"{name} line {line_num}: label {row['label']!r} is not 0 or 1")
    return number, int(row["label"]), row["scenario"] or BENIGN, row["client"] or ""
