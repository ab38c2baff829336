"""What the HTTP edge reports: REST latency per route and status (Prometheus) and the request's span.

The histogram lives in prometheus_client's process registry; in `python -m jobservice` (gateway in
process) the job service's `/metrics` serves it with everything else. Tracing is on when the process
installed an OpenTelemetry tracer provider (jobservice/tracing.py does, from PHONOS_TRACING_*): the span
continues a caller's W3C `traceparent` and hands its own to the job service in the gRPC metadata.
Requests the gateway answers itself (no route, malformed JSON) count under route `unmatched` or their
route, with the status they got. A file download whose client did not take it whole (it left mid-response, or
read too slowly and was cut off after PHONOS_DOWNLOAD_SEND_TIMEOUT_S: gateway/downloads.py) counts as
`CLIENT_CLOSED` (499), not as the 200 its status line said: the client never had the file.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from contextlib import AbstractContextManager, nullcontext
from typing import Any

from aiohttp import web
from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from prometheus_client import Histogram

HTTP_SECONDS_NAME = "phonos_http_request_seconds"  # the family the separate gateway's /metrics serves (metrics.py)
HTTP_SECONDS = Histogram(
    HTTP_SECONDS_NAME, "REST requests at the gateway, by method, route template and HTTP status",
    ["method", "route", "status"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
UNMATCHED = "unmatched"
# Methods are labels as they are; anything else is "other", so labels stay few (aiohttp refuses most
# invented methods before any middleware; this holds whatever the parser lets through).
METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})
ROUTE_KEY = web.RequestKey("phonos_route", str)
# nginx's "client closed request", the code gateway/errors.py gives a call its caller cancelled: here, a response
# that began (its status line sent) but was not taken whole. Set by whoever saw it cut short (`cut_short`).
CLIENT_CLOSED = 499
COUNTED_STATUS_KEY = web.RequestKey("phonos_counted_status", int)

_PROPAGATOR = TraceContextTextMapPropagator()
_tracer = trace.get_tracer("phonos.gateway")
# Labelled children kept: `labels()` validates and locks on every call (label sets are few).
_children: dict[tuple[str, str, str], Any] = {}

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


_installed: bool | None = None


def _tracing_on() -> bool:
    """Whether the process installed a tracer provider. A process does that at start-up, before it
    serves (jobservice/__main__.py), so the first request's answer is kept: asking the API costs an
    environment lookup per request."""
    global _installed
    if _installed is None:
        _installed = not isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider)
    return _installed


def trace_metadata() -> list[tuple[str, str]]:
    """The current span's `traceparent` (and `tracestate`) as gRPC metadata; empty when tracing is off."""
    if not trace.get_current_span().is_recording():
        return []
    carrier: dict[str, str] = {}
    _PROPAGATOR.inject(carrier)
    return list(carrier.items())


SHARED_PREFIX = "/shared/"


def traced_path(path: str) -> str:
    """A request path as a span records it: a share link's token (its path's secret, which the database keeps only
    as a hash, jobservice/shares.py) is replaced by `{token}`, so that a trace backend never holds a working link."""
    if not path.startswith(SHARED_PREFIX):
        return path
    _, _, rest = path[len(SHARED_PREFIX):].partition("/")
    return SHARED_PREFIX + "{token}" + (f"/{rest}" if rest else "")


def _span(request: web.Request) -> AbstractContextManager[object]:
    if not _tracing_on():
        return nullcontext()
    parent = _PROPAGATOR.extract(dict(request.headers))
    return _tracer.start_as_current_span(
        f"{request.method}", context=parent, kind=SpanKind.SERVER,
        attributes={"http.request.method": request.method, "url.path": traced_path(request.path)},
    )


def cut_short(request: web.Request) -> None:
    """The request's response was not taken whole by its client: count it as `CLIENT_CLOSED`."""
    request[COUNTED_STATUS_KEY] = CLIENT_CLOSED


@web.middleware
async def observe_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Outermost middleware: it sees the status the error middleware settled on."""
    started = time.perf_counter()
    status = 500
    with _span(request):
        try:
            response = await handler(request)
            status = request.get(COUNTED_STATUS_KEY, response.status)
            return response
        except web.HTTPException as exc:
            status = exc.status
            raise
        finally:
            route = request.get(ROUTE_KEY, UNMATCHED)
            method = request.method if request.method in METHODS else "other"
            key = (method, route, str(status))
            child = _children.get(key)
            if child is None:
                child = _children[key] = HTTP_SECONDS.labels(*key)
            child.observe(time.perf_counter() - started)
            span = trace.get_current_span()
            if span.is_recording():
                span.update_name(f"{method} {route}")
                span.set_attribute("http.route", route)
                span.set_attribute("http.response.status_code", status)
                if status >= 500:
                    span.set_status(Status(StatusCode.ERROR))
