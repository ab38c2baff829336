"""Traces and metrics across real processes: `python -m jobservice` exporting OTLP to a real receiver,
calling a real tritonserver, and its /metrics re-exporting Triton's own."""

from __future__ import annotations

from typing import Any

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from tests.service.test_metrics import dashboard_series
from tests.support import LoopbackServer, TritonFixture, wait_until

pytestmark = pytest.mark.e2e

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
CALLER_SPAN = "00f067aa0ba902b7"


class OtlpReceiver(LoopbackServer):
    """An OTLP/HTTP trace receiver: decodes each ExportTraceServiceRequest it gets."""

    path = "/v1/traces"

    def __init__(self) -> None:
        super().__init__()
        self.spans: list[Any] = []

    def routes(self, app: Any) -> None:
        from aiohttp import web

        async def handle(request: web.Request) -> web.Response:
            message = ExportTraceServiceRequest.FromString(await request.read())
            for resource in message.resource_spans:
                for scope in resource.scope_spans:
                    self.spans.extend(scope.spans)
            return web.Response(status=200, content_type="application/x-protobuf")

        app.router.add_post(self.path, handle)


def test_one_trace_from_the_http_request_to_the_triton_call(shared_triton: TritonFixture,
                                                            service_factory: type) -> None:
    with OtlpReceiver() as receiver:
        service = service_factory.start(
            shared_triton.grpc_url, PHONOS_TRACING_EXPORTER="otlp", PHONOS_TRACING_OTLP_ENDPOINT=receiver.url,
            OTEL_BSP_SCHEDULE_DELAY="100",
        )
        client = service.client(service.new_key())
        caller = {"traceparent": f"00-{TRACE_ID}-{CALLER_SPAN}-01"}
        job_id = client.post("/v1/predict", json={"model": "esmfold", "sequence": "MKTVRQERLK"},
                             headers=caller).json()["job_id"]
        assert client.wait_for(job_id)["status"] == "completed"
        service.stop()  # flushes the exporter
        spans = {span.name: span for span in receiver.spans if span.trace_id.hex() == TRACE_ID}

    http = spans["POST /v1/predict"]
    rpc = spans["phonos.v1.PhonosService/Predict"]
    run = spans["job.run"]
    call = spans["triton.infer esmfold"]
    assert http.parent_span_id.hex() == CALLER_SPAN  # the caller's trace continues
    assert rpc.parent_span_id == http.span_id
    assert run.parent_span_id == rpc.span_id  # dispatch runs the job later, in the submission's trace
    assert call.parent_span_id == run.span_id
    attributes = {a.key: a.value for a in call.attributes}
    assert attributes["server.address"].string_value == shared_triton.grpc_url
    run_attributes = {a.key: a.value for a in run.attributes}
    assert run_attributes["phonos.job_id"].string_value == job_id
    assert run_attributes["phonos.job_status"].string_value == "completed"
    assert call.end_time_unix_nano <= run.end_time_unix_nano


def test_metrics_count_triton_calls_per_endpoint_and_re_export_tritons_own(shared_triton: TritonFixture,
                                                                         service_factory: type) -> None:
    service = service_factory.start(shared_triton.grpc_url,
                                    PHONOS_TRITON_METRICS_URLS=shared_triton.process.metrics_url)
    client = service.client(service.new_key())
    assert client.wait_for(client.predict("MKTVRQERLK").json()["job_id"])["status"] == "completed"
    endpoint = shared_triton.process.metrics_url.split("/")[2]
    scrape = wait_until(lambda: (s := service.scrape()) and any(
        name.startswith("nv_inference_request_success") and ("endpoint", endpoint) in labels and ("model", "esmfold") in labels
        and value >= 1 for (name, labels), value in s.items()) and s, 30)
    ours = {labels: value for (name, labels), value in scrape.items() if name == "phonos_triton_request_seconds_count"}
    key = (("endpoint", shared_triton.grpc_url), ("model", "esmfold"), ("outcome", "ok"))
    assert ours[key] >= 1
    assert scrape[("phonos_triton_metrics_up", (("endpoint", endpoint),))] == 1
    # deploy/alerts.yml pages on these: a real Triton's model reads ready through the readiness monitor.
    assert scrape[("phonos_model_ready", (("model", "esmfold"),))] == 1
    assert scrape[("phonos_database_up", ())] == 1
    # deploy/grafana reads Triton's own series by Triton's names: each must be one this Triton exports (the
    # GPU-only nv_gpu_* exist on a GPU server alone; tests/service checks the phonos_ names).
    exported = {name.removesuffix("_total") for name, _ in scrape}  # the parser names Triton's counters *_total
    wanted = {name for name in dashboard_series() if name.startswith("nv_") and not name.startswith("nv_gpu_")}
    assert wanted and not wanted - exported, f"dashboard reads Triton series nobody exports: {sorted(wanted - exported)}"
