"""Timestamp parsing for log formats, normalised to UTC epoch seconds.

Logs repeat the same second many times, so each parser caches whole strings
and the costly calendar step (date plus offset) is cached on its own.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from functools import lru_cache

from stream.parsers.base import ParseError

MONTHS = {name: number for number, name in enumerate(
    ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), start=1
)}
CLF_ACCEPTED = "expected dd/Mon/yyyy:HH:MM:SS +hhmm, for example 10/Oct/2000:13:55:36 -0700"
ISO_ACCEPTED = (
    "expected ISO-8601 (2024-05-01T12:00:00.123+02:00, Z or an offset; none means UTC), "
    "epoch seconds or milliseconds, or dd/Mon/yyyy:HH:MM:SS +hhmm"
)
CLF_TIME_RE = re.compile(
    r"(\d{1,2})/([A-Za-z]{3})/(\d{4}):(\d{2}):(\d{2}):(\d{2})(\.\d{1,9})? ([+-])(\d{2}):?(\d{2})"
)
# Epochs above this are milliseconds: 1e11 seconds is in the year 5138.
EPOCH_MS_THRESHOLD = 1e11


@lru_cache(maxsize=4096)
def _day_start(day: int, month: str, year: int, sign: str, off_h: int, off_m: int) -> float:
    """Return the UTC epoch of local midnight for a CLF date and offset."""
    number = MONTHS.get(month.lower())
    if number is None:
        raise ParseError(f"invalid month {month!r}; {CLF_ACCEPTED}")
    if off_h > 23 or off_m > 59:
        raise ParseError(f"invalid UTC offset {sign}{off_h:02d}{off_m:02d}; {CLF_ACCEPTED}")
    offset = timedelta(hours=off_h, minutes=off_m) * (-1 if sign == "-" else 1)
    try:
        return datetime(year, number, day, tzinfo=timezone(offset)).timestamp()
    except ValueError as exc:
        raise ParseError(f"invalid date {day:02d}/{month}/{year} ({exc}); {CLF_ACCEPTED}") from None


@lru_cache(maxsize=65_536)
def parse_clf_time(text: str) -> float:
    """Convert `10/Oct/2000:13:55:36 -0700` to UTC epoch seconds."""
    match = CLF_TIME_RE.fullmatch(text)
    if match is None:
        raise ParseError(f"invalid timestamp {text!r}; {CLF_ACCEPTED}")
    day, month, year, hour, minute, second, fraction, sign, off_h, off_m = match.groups()
    hour_i, minute_i, second_i = int(hour), int(minute), int(second)
    if hour_i > 23 or minute_i > 59 or second_i > 60:  # 60 is a leap second
        raise ParseError(f"invalid time of day in {text!r}; {CLF_ACCEPTED}")
    start = _day_start(int(day), month, int(year), sign, int(off_h), int(off_m))
    return start + hour_i * 3600 + minute_i * 60 + second_i + (float(fraction) if fraction else 0.0)


@lru_cache(maxsize=65_536)
def parse_clf_time_fixed(text: str) -> float:
    """Convert a time already checked to be `dd/Mon/yyyy:HH:MM:SS +hhmm` (no fraction) to UTC epoch seconds.

    The same result and errors as `parse_clf_time`, read by slicing instead of a regex.
    """
    hour, minute, second = int(text[12:14]), int(text[15:17]), int(text[18:20])
    if hour > 23 or minute > 59 or second > 60:  # 60 is a leap second
        raise ParseError(f"invalid time of day in {text!r}; {CLF_ACCEPTED}")
    start = _day_start(int(text[0:2]), text[3:6], int(text[7:11]), text[21], int(text[22:24]), int(text[24:26]))
    return start + hour * 3600 + minute * 60 + second + 0.0


@lru_cache(maxsize=65_536)
def parse_iso_time(text: str) -> float:
    """Convert an ISO-8601 string (or a CLF one, or digits of an epoch) to UTC epoch seconds.

    A string without an offset is read as UTC, as Elasticsearch does for `@timestamp`.
    """
    stripped = text.strip()
    if stripped.replace(".", "", 1).isdigit():
        return parse_epoch(float(stripped))
    try:
        moment = datetime.fromisoformat(stripped)
    except ValueError:
        if CLF_TIME_RE.fullmatch(stripped):
            return parse_clf_time(stripped)
        raise ParseError(f"invalid timestamp {text!r}; {ISO_ACCEPTED}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def parse_epoch(value: float) -> float:
    """Return epoch seconds from seconds or milliseconds since the epoch."""
    if value != value or value < 0 or value >= EPOCH_MS_THRESHOLD * 1000:  # NaN, negative, absurd
        raise ParseError(f"invalid epoch timestamp {value!r}; {ISO_ACCEPTED}")
    return value / 1000 if value >= EPOCH_MS_THRESHOLD else value


def parse_any_time(value: object) -> float:
    """Convert a JSON or CSV timestamp value (number or string) to UTC epoch seconds."""
    if isinstance(value, bool):
        raise ParseError(f"invalid timestamp {value!r}; {ISO_ACCEPTED}")
    if isinstance(value, int | float):
        try:
            return parse_epoch(float(value))
        except OverflowError:
            raise ParseError(f"invalid epoch timestamp {value!r}; {ISO_ACCEPTED}") from None
    if isinstance(value, str):
        return parse_iso_time(value)
    raise ParseError(f"invalid timestamp of type {type(value).__name__}; {ISO_ACCEPTED}")
