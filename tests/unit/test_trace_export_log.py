"""With PHONOS_TRACING_EXPORTER=otlp and no collector listening, the exporter's failures are one log line a minute:
the first failure at once, naming the unreachable endpoint, then a count. Was: a warning for every retry of every
batch, a line every second or two for as long as the collector was away."""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
import textwrap

import pytest

from jobservice import trace_export_log
from jobservice.trace_export_log import ExportFailureFilter
from tests.support import REPO

pytestmark = pytest.mark.unit

ENDPOINT = "http://127.0.0.1:9/v1/traces"


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_a_process_whose_collector_is_away_logs_one_line_naming_it() -> None:
    """Three batches, each retried until the export timeout: about six lines from the SDK, one from phonos."""
    endpoint = f"http://127.0.0.1:{closed_port()}/v1/traces"
    script = textwrap.dedent(f"""
        import logging, sys
        logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="LOG %(levelname)s %(name)s %(message)s")
        from jobservice import tracing
        assert tracing.configure("otlp", {endpoint!r}, "phonos-test")
        for batch in range(3):
            with tracing.client_span("triton.infer", {{"batch": batch}}):
                pass
            tracing._provider.force_flush(10_000)
        tracing.shutdown()
    """)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PHONOS_", "OTEL_"))}
    env.update({"PYTHONPATH": os.environ.get("PYTHONPATH", str(REPO)), "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT": "2.5"})
    done = subprocess.run([sys.executable, "-c", script], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.startswith("LOG ") and "opentelemetry" in line]
    assert len(lines) == 1, "\n".join(lines)
    [line] = lines
    assert endpoint in line and "PHONOS_TRACING_OTLP_ENDPOINT" in line and "once a minute" in line
    assert line.startswith("LOG WARNING")  # the first failure is not hidden


def record(message: str, level: int = logging.WARNING) -> logging.LogRecord:
    return logging.LogRecord("opentelemetry.exporter.otlp.common.http", level, __file__, 1, message, (), None)


def test_after_a_minute_one_line_says_how_many_failures_it_held_back() -> None:
    now = [100.0]
    failures = ExportFailureFilter(ENDPOINT, clock=lambda: now[0])
    first = record("Transient error refused encountered while exporting spans batch, retrying in 1.00s.")
    assert failures.filter(first) and ENDPOINT in first.getMessage()
    for _ in range(20):
        now[0] += 2
        assert not failures.filter(record("Failed to export spans batch due to timeout"))
    assert failures.filter(record("debug detail", logging.INFO))  # below WARNING: untouched
    now[0] = 100.0 + 61
    later = record("Failed to export spans batch due to timeout")
    assert failures.filter(later)
    message = later.getMessage()
    assert "21 more failures in the last minute" in message and ENDPOINT not in message  # named once
    assert not failures.filter(record("again"))


def test_configure_installs_it_on_the_exporters_loggers_and_shutdown_removes_it() -> None:
    installed = trace_export_log.install(ENDPOINT)
    try:
        for name in trace_export_log.EXPORTER_LOGGERS:
            assert installed in logging.getLogger(name).filters
        again = trace_export_log.install(ENDPOINT)  # configure run twice: one filter, not two
        assert all(logging.getLogger(name).filters.count(again) == 1 and installed not in logging.getLogger(name).filters
                   for name in trace_export_log.EXPORTER_LOGGERS)
    finally:
        trace_export_log.uninstall()
    assert not any(isinstance(f, ExportFailureFilter) for name in trace_export_log.EXPORTER_LOGGERS
                   for f in logging.getLogger(name).filters)
