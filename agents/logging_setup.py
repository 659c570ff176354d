"""Logging configuration: text lines with control characters escaped, or one JSON object per line.

Log messages carry attacker-controlled strings (paths, user agents, user
names). In the text format a CR, LF or ANSI escape sequence in such a string
could start a fake log line or repaint a terminal. `EscapingFormatter` therefore
rewrites every control character of the message as a visible escape (`\\r`,
`\\n`, `\\x1b`, `\\u2028`). Tracebacks keep their line breaks, but each
of their lines starts with `    | ` so no text can pose as a new record. In the
JSON format (`CENTINELA_LOG_FORMAT=json`) each record is one `orjson` object,
whose encoding escapes control characters by construction.
"""

from __future__ import annotations

import logging
import re
import sys
from datetime import UTC, datetime
from typing import Any

import orjson

from config.settings import Settings

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"
CONTINUATION = "    | "

# C0 controls, DEL, C1 controls and the Unicode line and paragraph separators.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
QUERY_KEY = "api_key="
_QUERY_KEY_VALUE = re.compile(r"api_key=[^&\s\"']*")
# Standard record attributes, and uvicorn's ANSI-coloured copy of its message; the rest are `extra` fields.
_RECORD_FIELDS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {
    "message",
    "asctime",
    "color_message",
}


def _escape_char(match: re.Match[str]) -> str:
    char = match.group()
    named = _NAMED.get(char)
    if named is not None:
        return named
    code = ord(char)
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def escape_control(text: str) -> str:
    """Return `text` with every control character written as a visible backslash escape."""
    return _CONTROL.sub(_escape_char, text)


class EscapingFormatter(logging.Formatter):
    """A text formatter whose output is one line per record, whatever the message holds."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        # Escape for this output only: other handlers get the record unchanged.
        original = record.message
        record.message = escape_control(original)
        try:
            return super().formatMessage(record)
        finally:
            record.message = original

    def formatException(self, ei: Any) -> str:
        return self._indent(super().formatException(ei))

    def formatStack(self, stack_info: str) -> str:
        return self._indent(super().formatStack(stack_info))

    @staticmethod
    def _indent(text: str) -> str:
        return "\n".join(CONTINUATION + escape_control(line) for line in text.splitlines())


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time (UTC), level, logger, message, extra fields, exception."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name, value in vars(record).items():
            if name not in _RECORD_FIELDS and not name.startswith("_"):
                entry[name] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return orjson.dumps(entry, default=repr).decode()


class RedactApiKeys(logging.Filter):
    """Replace the value of an `api_key=` query parameter (websocket URLs in access lines) with REDACTED."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if QUERY_KEY in message:
            record.msg = _QUERY_KEY_VALUE.sub(QUERY_KEY + "REDACTED", message)
            record.args = None
        return True


def make_formatter(log_format: str) -> logging.Formatter:
    if log_format == "json":
        return JsonFormatter()
    return EscapingFormatter(TEXT_FORMAT)


def configure_logging(settings: Settings, stream: Any = None) -> None:
    """Send every logger, uvicorn's included, to one stderr handler in the configured format."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(make_formatter(settings.log_format))
    handler.addFilter(RedactApiKeys())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(settings.log_level.upper())

    # uvicorn's own loggers would otherwise keep handlers of their own in their own format.
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
