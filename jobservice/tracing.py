"""OpenTelemetry traces across gateway → job service → model server call. Off by default.

One trace per API request: the gateway's HTTP span (gateway/observe.py, continuing a caller's W3C
`traceparent` header) → the rpc span here (continuing the `traceparent` the gateway put in the gRPC
metadata, or a gRPC caller's) → for a submission, the job's run (`job.run`, started later by dispatch;
a child that outlives its parent, as asynchronous work does) → the model server call (`triton.infer`),
whose `traceparent` goes to Triton in the request headers, so a Triton started with
`--trace-config mode=opentelemetry` adds its own spans (queue, compute) to the same trace.

Settings (phonos_config.service): PHONOS_TRACING_EXPORTER = none | otlp | console,
PHONOS_TRACING_OTLP_ENDPOINT (OTLP over HTTP/protobuf, e.g. a Collector, Jaeger or Tempo on :4318),
PHONOS_TRACING_SERVICE_NAME. The SDK's own OTEL_* variables apply as well (OTEL_BSP_SCHEDULE_DELAY,
OTEL_EXPORTER_OTLP_HEADERS, ...). Off, every hook is one check of a module variable.
"""

from __future__ import annotations

import collections
import sys
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from jobservice import trace_export_log
from phonos_config.service import TRACING_EXPORTERS as EXPORTERS

SERVICE = "phonos.v1.PhonosService"
# Submissions whose run has not started yet keep their trace context here; bounded, so a backlog of
# queued jobs (or jobs cancelled before they ran) cannot grow it without end. A job past the bound
# starts a trace of its own.
MAX_WAITING_JOBS = 100_000

_PROPAGATOR = TraceContextTextMapPropagator()
_tracer: trace.Tracer | None = None
_provider: Any = None  # opentelemetry.sdk.trace.TracerProvider when on
_waiting: collections.OrderedDict[str, otel_context.Context] = collections.OrderedDict()
_OFF: AbstractContextManager[None] = nullcontext()


def configure(exporter: str, otlp_endpoint: str, service_name: str) -> bool:
    """Install the exporter for this process (once; later calls replace it). True when tracing is on."""
    global _tracer, _provider
    if exporter not in EXPORTERS:
        raise ValueError(f"PHONOS_TRACING_EXPORTER must be one of {', '.join(EXPORTERS)}, got {exporter!r}")
    shutdown()
    if exporter == "none":
        return False
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter

    span_exporter: SpanExporter
    if exporter == "otlp":
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        span_exporter = OTLPSpanExporter(endpoint=otlp_endpoint)
        trace_export_log.install(otlp_endpoint)  # a collector away: one line a minute, not one per retry
    else:
        # stderr, as documented: stdout is the job service's ready-line channel, which `phonos serve` reads and
        # then discards (spans written there were never seen, and could be read as the ready line).
        span_exporter = ConsoleSpanExporter(out=sys.stderr)
    provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
    provider.add_span_processor(BatchSpanProcessor(span_exporter))
    # The global provider too, so the gateway (which does not import the job service) finds it.
    trace.set_tracer_provider(provider)
    _provider = provider
    _tracer = provider.get_tracer("phonos.jobservice")
    return True


def shutdown() -> None:
    """Flush and stop the exporter (spans still queued are sent)."""
    global _tracer, _provider
    if _provider is not None:
        _provider.shutdown()
    trace_export_log.uninstall()  # after the last flush: its failures are held to the same rate
    _tracer = None
    _provider = None
    _waiting.clear()


def enabled() -> bool:
    return _tracer is not None


def rpc_span(method: str, route: str, metadata: Mapping[str, Any]) -> AbstractContextManager[None]:
    """The span of one rpc, continuing the caller's trace from its `traceparent` metadata."""
    if _tracer is None:
        return _OFF  # per request: a shared no-op, not a generator
    return _rpc_span(_tracer, method, route, metadata)


@contextmanager
def _rpc_span(tracer: trace.Tracer, method: str, route: str, metadata: Mapping[str, Any]) -> Iterator[None]:
    parent = _PROPAGATOR.extract({k: v for k, v in metadata.items() if isinstance(v, str)})
    attributes = {"rpc.system": "grpc", "rpc.service": SERVICE, "rpc.method": method, "http.route": route}
    with tracer.start_as_current_span(f"{SERVICE}/{method}", context=parent, kind=SpanKind.SERVER,
                                      attributes=attributes):
        yield


def set_rpc_outcome(code: str, account_id: int | None) -> None:
    span = trace.get_current_span()
    if not span.is_recording():
        return
    span.set_attribute("rpc.grpc.status_code", code)
    if account_id is not None:
        span.set_attribute("phonos.account_id", account_id)
    if code not in ("OK", "INVALID_ARGUMENT", "NOT_FOUND", "UNAUTHENTICATED", "FAILED_PRECONDITION",
                    "RESOURCE_EXHAUSTED"):
        span.set_status(Status(StatusCode.ERROR, code))


def remember_submission(job_id: str) -> None:
    """Called where a job is queued, inside the submitting rpc: its run will continue this trace."""
    if _tracer is None:
        return
    _waiting[job_id] = otel_context.get_current()
    while len(_waiting) > MAX_WAITING_JOBS:
        _waiting.popitem(last=False)


@contextmanager
def job_span(job_id: str, model: str, attempt: int) -> Iterator[None]:
    """The span of one run of a job (claim → outcome stored), in the trace of its submission."""
    if _tracer is None:
        yield
        return
    parent = _waiting.pop(job_id, None)
    attributes: dict[str, str | int] = {"phonos.job_id": job_id, "phonos.model": model, "phonos.attempt": attempt}
    with _tracer.start_as_current_span("job.run", context=parent, kind=SpanKind.INTERNAL, attributes=attributes):
        yield


def set_job_outcome(status: str, error_code: str | None = None) -> None:
    span = trace.get_current_span()
    if not span.is_recording():
        return
    span.set_attribute("phonos.job_status", status)
    if error_code:
        span.set_attribute("phonos.error_code", error_code)
        span.set_status(Status(StatusCode.ERROR, error_code))


@contextmanager
def client_span(name: str, attributes: Mapping[str, str | int]) -> Iterator[dict[str, str]]:
    """A client span around a call to another server; yields the headers that carry the trace to it."""
    if _tracer is None:
        yield {}
        return
    with _tracer.start_as_current_span(name, kind=SpanKind.CLIENT, attributes=dict(attributes)):
        headers: dict[str, str] = {}
        _PROPAGATOR.inject(headers)
        yield headers
