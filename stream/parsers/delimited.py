"""CSV and TSV with a header row: the first item of a batch names the columns.

Columns are mapped to event fields by the same ECS and common names as JSON
(see `stream.parsers.fields`). The delimiter is sniffed from the header unless
the `delimiter` option is given.
"""

from __future__ import annotations

import csv
from typing import Any

from stream.events import AccessEvent
from stream.parsers.base import BaseParser, Item, ParseError, register
from stream.parsers.client import TrustedProxies
from stream.parsers.fields import NAMES, accepted, build_event

DELIMITERS = (",", "\t", ";", "|")
KNOWN_NAMES = frozenset(name for names in NAMES.values() for name in names)


def split_row(text: str, delimiter: str) -> list[str]:
    try:
        return next(csv.reader([text], delimiter=delimiter), [])
    except csv.Error as exc:
        raise ParseError(f"invalid CSV row ({exc})") from None


def sniff_delimiter(header: str) -> str:
    """Return the delimiter that splits `header` into the most known column names."""
    def score(delimiter: str) -> tuple[int, int]:
        names = [name.strip().lower() for name in split_row(header, delimiter)]
        return sum(name in KNOWN_NAMES for name in names), len(names)

    return max(DELIMITERS, key=score)


@register("csv", "tsv")
class CsvParser(BaseParser):
    name = "csv"
    header_lines = 1

    def __init__(self, trusted_proxies: TrustedProxies | None = None, delimiter: str | None = None, **_: Any):
        if delimiter is not None and len(delimiter) != 1:
            raise ParseError(f"delimiter must be one character, got {delimiter!r}")
        self.proxies = trusted_proxies or TrustedProxies()
        self.delimiter = delimiter
        self.columns: list[str] | None = None
        self.header_line = 0

    def read_header(self, item: Item, line: int) -> None:
        if not isinstance(item, str):
            raise ParseError(f"expected a CSV header line, got a {type(item).__name__}")
        delimiter = self.delimiter or sniff_delimiter(item)
        columns = [name.strip().lower() for name in split_row(item, delimiter)]
        for kind in ("timestamp", "address"):
            if not any(name in columns for name in NAMES[kind]):
                raise ParseError(
                    f"CSV header has no {kind} column; the first line must name the columns, {accepted(kind)}"
                )
        self.delimiter, self.columns, self.header_line = delimiter, columns, line

    def sniff(self, sample: list[Item]) -> float:
        if not sample or not isinstance(sample[0], str):
            return 0.0
        probe = CsvParser(delimiter=self.delimiter)
        try:
            probe.read_header(sample[0], 1)
        except ParseError:
            return 0.0
        rows = [item for item in sample[1:] if isinstance(item, str)]
        if not rows:
            return 1.0
        width = len(probe.columns or ())
        return sum(len(split_row(row, probe.delimiter or ",")) == width for row in rows) / len(rows)

    def parse(self, item: Item, line: int) -> AccessEvent:
        if self.columns is None or self.delimiter is None:
            raise ParseError("no CSV header was read; the first line of a CSV batch must name the columns")
        if not isinstance(item, str):
            raise ParseError(f"expected a CSV line, got a {type(item).__name__}")
        if not item.strip():
            raise ParseError("empty line; expected a CSV row")
        row = split_row(item, self.delimiter)
        if len(row) != len(self.columns):
            raise ParseError(
                f"row has {len(row)} fields but the header (line {self.header_line}) "
                f"names {len(self.columns)}"
            )
        return build_event(dict(zip(self.columns, row, strict=True)), line, self.proxies)
