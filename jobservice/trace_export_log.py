"""One log line a minute while the OTLP collector cannot be reached, instead of the SDK's every few seconds.

With PHONOS_TRACING_EXPORTER=otlp and no collector listening, OpenTelemetry's exporter logs a warning for each
retry of each batch ("Transient error ... retrying in 1.00s", then "Failed to export span batch ..."): a line
every second or two for as long as the collector is away, burying everything else the process logs. This filter,
on the exporter's own loggers, lets the first failure through, rewritten to say once which endpoint is
unreachable, then one line a minute with the count of the failures it held back. Records below WARNING pass
unchanged; spans are dropped by the SDK as before (tracing is best effort, never in a request's way).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

WINDOW_S = 60.0
# The loggers the OTLP/HTTP span exporter writes its failures to (opentelemetry-exporter-otlp-proto-http 1.4x:
# the exporter hands its own logger to the shared HTTP client; the client's module logger is the fallback).
EXPORTER_LOGGERS = (
    "opentelemetry.exporter.otlp.proto.http.trace_exporter",
    "opentelemetry.exporter.otlp.common.http",
)


class ExportFailureFilter(logging.Filter):
    """The first export failure (naming the endpoint), then at most one line per WINDOW_S with a count."""

    def __init__(self, endpoint: str, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.endpoint = endpoint
        self._clock = clock
        self._lock = threading.Lock()  # the batch processor exports from its own thread
        self._last: float | None = None  # when a failure was last let through
        self._held = 0  # failures held back since then

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING:
            return True
        with self._lock:
            now = self._clock()
            first = self._last is None
            if not first and now - self._last < WINDOW_S:  # type: ignore[operator]
                self._held += 1
                return False
            held, self._held, self._last = self._held, 0, now
        original = record.getMessage()
        if first:
            record.msg = ("traces: cannot export spans to the OTLP endpoint %s (PHONOS_TRACING_OTLP_ENDPOINT): %s; "
                          "spans are dropped while it is unreachable, and this is logged once a minute")
            record.args = (self.endpoint, original)
        else:
            record.msg = "traces: still cannot export spans (%d more failures in the last minute): %s"
            record.args = (held + 1, original)
        return True


_installed: list[tuple[logging.Logger, ExportFailureFilter]] = []


def install(endpoint: str, clock: Callable[[], float] = time.monotonic) -> ExportFailureFilter:
    """Put one filter on the exporter's loggers (replacing a previous one: `tracing.configure` runs again)."""
    uninstall()
    failures = ExportFailureFilter(endpoint, clock)
    for name in EXPORTER_LOGGERS:
        logger = logging.getLogger(name)
        logger.addFilter(failures)
        _installed.append((logger, failures))
    return failures


def uninstall() -> None:
    while _installed:
        logger, failures = _installed.pop()
        logger.removeFilter(failures)
