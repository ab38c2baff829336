"""The log lines of `python -m jobservice` and `python -m gateway` (stderr), structured context included.

Every log call names what happened in `extra={"action": ..., "job_id": ..., "model": ...}`; a plain
"%(message)s" format dropped all of it ("model server unavailable; jobs of the model wait": which model?), and
the action names the docs tell operators to look for (`metrics.store_failed`, `pg.schema_too_new`, ...) never
appeared. Two formats, PHONOS_LOG_FORMAT:

* `text` (default): `2026-01-02 03:04:05,678 WARNING jobservice.outage <message> action=dispatch.outage
  model=esmfold reason="..."`: the record's extra fields as key=value pairs after the message, `action` first.
  A value with a space, a quote, a backslash, an `=` or any control or non-printable character is written as a
  double-quoted string with those escaped, and so is the message's own control characters: one record is one
  line (a traceback follows on its own lines, as always), and a user's text cannot forge a line. The message
  itself is written as it reads, so text quoted in it (a receiver's error) could look like ` key=value`: match
  fields at the end of the line, or use `json`, where every field is its own.
* `json`: one JSON object per line: time (UTC, RFC 3339), level, logger, message, the extra fields, and
  `exception` (the traceback's text) when there is one.

No extra field carries a secret: API keys, passwords, tokens and database URLs are never passed in `extra`.
"""

from __future__ import annotations

import datetime
import json
import logging
import sys
from collections.abc import Iterator
from typing import Any, TextIO

from phonos_config.service import LOG_FORMATS

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"

# A LogRecord's own attributes; everything else on a record came from `extra`.
_STANDARD = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "taskName"}
_ESCAPES = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def extra_fields(record: logging.LogRecord) -> Iterator[tuple[str, Any]]:
    """The record's extra fields, `action` first, the rest in the order they were given."""
    if "action" in record.__dict__:
        yield "action", record.__dict__["action"]
    for key, value in record.__dict__.items():
        if key not in _STANDARD and key != "action" and not key.startswith("_"):
            yield key, value


def escaped(text: str) -> str:
    """`text` with quotes, backslashes and every control or non-printable character escaped (no line breaks)."""
    if text.isprintable() and '"' not in text and "\\" not in text:
        return text
    return "".join(_ESCAPES.get(ch) or (ch if ch.isprintable() else f"\\u{ord(ch):04x}") for ch in text)


def one_line(text: str) -> str:
    """`text` with its control and non-printable characters escaped (a message: quotes and backslashes kept)."""
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else _ESCAPES.get(ch, f"\\u{ord(ch):04x}") for ch in text)


def text_value(value: Any) -> str:
    """A field's value as written after `key=`: bare when it cannot be misread, else quoted and escaped."""
    if isinstance(value, str):
        text = value
    elif value is None or isinstance(value, bool | int | float):
        text = str(value)
    else:
        try:
            text = json.dumps(value, default=str, ensure_ascii=False, separators=(",", ":"))
        except ValueError:  # e.g. a circular structure
            text = str(value)
    if text and text.isprintable() and not any(ch in text for ch in ' "=\\'):
        return text
    return f'"{escaped(text)}"'


class TextFormatter(logging.Formatter):
    """TEXT_FORMAT, the message kept on one line, then the record's extra fields as key=value pairs."""

    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 (logging's name)
        message = record.message
        record.message = one_line(message)
        try:
            line = super().formatMessage(record)
        finally:
            record.message = message
        fields = "".join(f" {escaped(str(key))}={text_value(value)}" for key, value in extra_fields(record))
        return line + fields


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.datetime.fromtimestamp(record.created, datetime.UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in extra_fields(record):
            entry[key if key not in entry else f"extra_{key}"] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        # ensure_ascii: every line break a reader may split on (U+2028 too) is escaped
        return json.dumps(entry, default=str, separators=(",", ":"))


def formatter(log_format: str) -> logging.Formatter:
    if log_format == "json":
        return JsonFormatter()
    if log_format == "text":
        return TextFormatter()
    raise ValueError(f"PHONOS_LOG_FORMAT must be one of {', '.join(LOG_FORMATS)}, got {log_format!r}")


class _Handler(logging.StreamHandler):  # type: ignore[type-arg]
    """The handler configure_logging installs (and replaces when called again)."""


def configure_logging(log_format: str = "text", stream: TextIO | None = None, level: int = logging.INFO) -> None:
    """The root logger writes `log_format` lines to `stream` (stderr): called once with the default before the
    settings are read, and again with PHONOS_LOG_FORMAT, replacing its own handler. As logging.basicConfig, it
    leaves a root logger that has handlers of someone else's alone (a test run's, an embedding program's)."""
    root = logging.getLogger()
    ours = [handler for handler in root.handlers if isinstance(handler, _Handler)]
    if len(ours) < len(root.handlers):
        return
    for old in ours:
        root.removeHandler(old)
    handler = _Handler(sys.stderr if stream is None else stream)
    handler.setFormatter(formatter(log_format))
    root.addHandler(handler)
    root.setLevel(level)
