"""The job service's and gateway's log lines carry each record's structured context (jobservice/log_format.py):
was "%(asctime)s %(levelname)s %(name)s %(message)s", which dropped every `extra` field (action, job_id, model,
reason, count), so "model server unavailable; jobs of the model wait" named no model, and the action names the docs
tell operators to look for (`metrics.store_failed`, `pg.schema_too_new`) never appeared."""

from __future__ import annotations

import contextlib
import io
import json
import logging
import sys
from collections.abc import Iterator

import pytest

from jobservice.log_format import JsonFormatter, TextFormatter, configure_logging
from phonos_config.service import ServiceSettings

pytestmark = pytest.mark.unit


def record(message: str, *args: object, extra: dict[str, object] | None = None, level: int = logging.WARNING,
           exc_info: object = None) -> logging.LogRecord:
    logger = logging.getLogger("jobservice.test")
    return logger.makeRecord(logger.name, level, __file__, 1, message, args, exc_info,  # type: ignore[arg-type]
                             extra=extra)


def test_text_lines_carry_the_extra_fields_action_first() -> None:
    line = TextFormatter().format(record("deleted the result files of jobs past their retention",
                                         extra={"count": 3, "model": "esmfold", "action": "results.retention"}))
    assert line.endswith("WARNING jobservice.test deleted the result files of jobs past their retention "
                         "action=results.retention count=3 model=esmfold")


def test_text_values_that_could_forge_a_line_or_a_field_are_quoted_and_escaped() -> None:
    name = 'my job\n2026-01-01 00:00:00,000 WARNING jobservice.pg forged action=pg.schema_too_new "x"'
    line = TextFormatter().format(record("job %s failed\r\nagain", name, extra={"action": "dispatch.failed",
                                                                              "job_name": name, "empty": ""}))
    assert "\n" not in line and "\r" not in line
    assert line.count("action=") == 3  # the message's text, inside job_name's quotes, then the one real field
    assert ('job_name="my job\\n2026-01-01 00:00:00,000 WARNING jobservice.pg forged action=pg.schema_too_new '
            '\\"x\\""') in line
    assert 'empty=""' in line and " action=dispatch.failed " in line
    assert "failed\\r\\nagain" in line


def test_a_traceback_still_follows_on_its_own_lines() -> None:
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        line = TextFormatter().format(record("job dispatch failed", extra={"action": "dispatch.worker_error",
                                                                          "job_id": "j1"}, exc_info=sys.exc_info()))
    first, *rest = line.splitlines()
    assert first.endswith("job dispatch failed action=dispatch.worker_error job_id=j1")
    assert rest[-1] == "RuntimeError: boom"


def test_json_format_is_one_object_per_line() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    for item in (record("metrics scrape failed", extra={"action": "metrics.store_failed", "level": "x"}),
                 record("job %s", "a\nb\u2028c", extra={"action": "dispatch.failed", "job_id": "j1",
                                                         "files": ["a", "b"]})):
        handler.handle(item)
    lines = stream.getvalue().split("\n")
    assert lines[-1] == "" and len(lines) == 3
    first, second = (json.loads(line) for line in lines[:2])
    assert first["action"] == "metrics.store_failed" and first["level"] == "WARNING" and first["extra_level"] == "x"
    assert first["logger"] == "jobservice.test" and first["message"] == "metrics scrape failed"
    assert first["time"].endswith("+00:00")
    assert second["message"] == "job a\nb\u2028c" and second["job_id"] == "j1" and second["files"] == ["a", "b"]
    assert len(stream.getvalue().splitlines()) == 2  # U+2028 escaped too


def test_the_log_format_setting_is_read_and_checked() -> None:
    assert ServiceSettings.from_env({}).log_format == "text"
    assert ServiceSettings.from_env({"PHONOS_LOG_FORMAT": "json"}).log_format == "json"
    with pytest.raises(ValueError, match="PHONOS_LOG_FORMAT must be one of text, json"):
        ServiceSettings.from_env({"PHONOS_LOG_FORMAT": "xml"})


@contextlib.contextmanager
def bare_root() -> Iterator[logging.Logger]:
    """The root logger without the test run's handlers, as in `python -m jobservice`; restored after."""
    root = logging.getLogger()
    saved, level = list(root.handlers), root.level
    root.handlers = []
    try:
        yield root
    finally:
        root.handlers = saved
        root.setLevel(level)


def test_configure_logging_replaces_its_own_handler() -> None:
    first, second = io.StringIO(), io.StringIO()
    with bare_root() as root:
        configure_logging("text", first)
        configure_logging("json", second)
        logging.getLogger("jobservice.pg").warning("schema too new", extra={"action": "pg.schema_too_new"})
        assert len(root.handlers) == 1
    assert first.getvalue() == ""
    assert json.loads(second.getvalue())["action"] == "pg.schema_too_new"


def test_configure_logging_leaves_someone_elses_handlers_alone() -> None:
    theirs = logging.NullHandler()
    with bare_root() as root:
        root.addHandler(theirs)
        configure_logging("text", io.StringIO())
        assert root.handlers == [theirs]
