"""Prometheus /metrics of the job service, scraped from its real listener, on the in-memory inference twin.

Counters are process-wide (several services run in one test process), so every check compares a scrape
taken before the action with one taken after it.
"""

from __future__ import annotations

import json
import re
import socket

import grpc
import pytest
import requests
from grpc_health.v1 import health_pb2, health_pb2_grpc

from jobservice.memory_inference import TWIN_ENDPOINT, Failure, Slow
from phonos.v1 import phonos_pb2 as pb
from phonos.v1 import phonos_pb2_grpc
from tests.support import REPO, InProcessService, WebhookReceiver, wait_until

pytestmark = pytest.mark.integration

Scrape = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def value(scrape: Scrape, name: str, **labels: str) -> float:
    return scrape.get((name, tuple(sorted(labels.items()))), 0.0)


def delta(before: Scrape, after: Scrape, name: str, **labels: str) -> float:
    return value(after, name, **labels) - value(before, name, **labels)


@pytest.fixture
def service(twin_factory: type) -> InProcessService:
    return twin_factory.start(PHONOS_WEBHOOK_BACKOFF_BASE_S="60", PHONOS_WEBHOOK_TIMEOUT_S="2")


def test_jobs_credits_and_model_server_calls_by_model_and_cause(service: InProcessService) -> None:
    client = service.client(service.new_key(credits=1000))
    before = service.scrape()
    service.inference.script("esmfold", Failure.MODEL_ERROR, Failure.INVALID_INPUT)
    ids = [client.predict().json()["job_id"] for _ in range(3)]
    outcomes = sorted(client.wait_for(job_id)["status"] for job_id in ids)
    assert outcomes == ["completed", "failed", "failed"]
    after = service.scrape()

    assert delta(before, after, "phonos_jobs_submitted_total", model="esmfold") == 3
    assert delta(before, after, "phonos_jobs_completed_total", model="esmfold") == 1
    assert delta(before, after, "phonos_jobs_failed_total", model="esmfold", cause="model_error") == 1
    assert delta(before, after, "phonos_jobs_failed_total", model="esmfold", cause="invalid_input") == 1
    # esmfold costs 10: three charged, the model error refunded, the refused input kept (failures.py).
    assert delta(before, after, "phonos_credits_charged_total", model="esmfold") == 30
    assert delta(before, after, "phonos_credits_refunded_total", model="esmfold") == 10
    assert delta(before, after, "phonos_job_wait_seconds_count", model="esmfold") == 3
    assert delta(before, after, "phonos_job_run_seconds_count", model="esmfold", status="completed") == 1
    assert delta(before, after, "phonos_job_run_seconds_count", model="esmfold", status="failed") == 2
    calls = {"endpoint": TWIN_ENDPOINT, "model": "esmfold"}
    assert delta(before, after, "phonos_triton_request_seconds_count", outcome="ok", **calls) == 1
    assert delta(before, after, "phonos_triton_request_seconds_count", outcome="model_error", **calls) == 1
    assert delta(before, after, "phonos_triton_request_errors_total", kind="model_error", **calls) == 1
    assert delta(before, after, "phonos_triton_request_errors_total", kind="invalid_input", **calls) == 1
    assert delta(before, after, "phonos_http_request_seconds_count", method="POST", route="/v1/predict",
                 status="200") == 3
    assert delta(before, after, "phonos_rpc_seconds_count", rpc="Predict", transport="rest", code="OK") == 3
    assert delta(before, after, "phonos_job_run_seconds_sum", model="esmfold", status="completed") > 0



def test_an_out_of_memory_counts_as_its_own_cause_while_the_job_stays_a_model_error(
        service: InProcessService) -> None:
    """The API's error code is fixed (model_error, refunded), but the alert for "give the model more memory or lower
    its length limit" (PhonosJobsOutOfMemory) must not fire for a model bug, nor the model-error one for memory."""
    client = service.client(service.new_key(credits=1000))
    before = service.scrape()
    service.inference.script("esmfold", Failure.OUT_OF_MEMORY, Failure.MODEL_ERROR)
    ids = [client.predict().json()["job_id"] for _ in range(2)]
    jobs = [client.wait_for(job_id) for job_id in ids]
    after = service.scrape()

    assert [(j["status"], j["error_code"], j["credits_used"]) for j in jobs] == [("failed", "model_error", 0)] * 2
    assert "out of memory" in jobs[0]["error"] and "were refunded" in jobs[0]["error"]
    assert delta(before, after, "phonos_jobs_failed_total", model="esmfold", cause="out_of_memory") == 1
    assert delta(before, after, "phonos_jobs_failed_total", model="esmfold", cause="model_error") == 1
    calls = {"endpoint": TWIN_ENDPOINT, "model": "esmfold"}
    assert delta(before, after, "phonos_triton_request_errors_total", kind="out_of_memory", **calls) == 1
    assert delta(before, after, "phonos_triton_request_errors_total", kind="model_error", **calls) == 1
    # Exported at 0 from the start for every model, as every other cause is (metrics.initialise).
    assert ("phonos_jobs_failed_total", (("cause", "out_of_memory"), ("model", "esmfold"))) in before


def test_queue_depth_and_age_are_read_at_scrape_time(twin_factory: type) -> None:
    service = twin_factory.start(PHONOS_MAX_INFLIGHT_PER_MODEL="1")
    client = service.client(service.new_key(credits=1000))
    service.inference.script("esmfold", Slow(60), Slow(60), Slow(60))
    ids = [client.predict().json()["job_id"] for _ in range(3)]
    wait_until(lambda: client.get(f"/v1/jobs/{ids[0]}").json()["status"] == "running", 10)
    scrape = wait_until(lambda: (s := service.scrape()) and value(s, "phonos_jobs_running", model="esmfold") == 1
                        and s, 10)
    assert value(scrape, "phonos_jobs_queued", model="esmfold") == 2
    assert value(scrape, "phonos_queue_oldest_age_seconds", model="esmfold") > 0
    # This service's own share: the one job it runs (the database's figure is every service's on PostgreSQL).
    assert value(scrape, "phonos_jobs_running_here", model="esmfold") == 1
    for job_id in ids:
        assert client.post(f"/v1/jobs/{job_id}/cancel").status_code == 200
    emptied = wait_until(lambda: (s := service.scrape()) and value(s, "phonos_jobs_running", model="esmfold") == 0
                         and s, 10)
    assert value(emptied, "phonos_jobs_queued", model="esmfold") == 0
    assert value(emptied, "phonos_queue_oldest_age_seconds", model="esmfold") == 0
    assert wait_until(lambda: value(service.scrape(), "phonos_jobs_running_here", model="esmfold") == 0, 10)


def test_rate_limit_rejections_and_error_statuses_are_counted(service: InProcessService) -> None:
    client = service.client(service.new_key(rate_limit=2))
    before = service.scrape()
    statuses = [client.get("/v1/account").status_code for _ in range(3)]
    assert statuses == [200, 200, 429]
    assert client.get("/v1/no-such-route").status_code == 404
    after = service.scrape()
    assert delta(before, after, "phonos_rate_limit_rejections_total", transport="rest") == 1
    assert delta(before, after, "phonos_http_request_seconds_count", method="GET", route="/v1/account",
                 status="429") == 1
    assert delta(before, after, "phonos_rpc_seconds_count", rpc="GetAccount", transport="rest",
                 code="RESOURCE_EXHAUSTED") == 1
    assert delta(before, after, "phonos_http_request_seconds_count", method="GET", route="unmatched",
                 status="404") == 1


def test_watch_streams_are_counted_like_other_calls(service: InProcessService) -> None:
    client = service.client(service.new_key(rate_limit=2))
    job_id = client.predict().json()["job_id"]
    before = service.scrape()
    opened = client.get(f"/v1/jobs/{job_id}/events", headers={"Accept": "text/event-stream"})
    assert opened.status_code in (200, 204)
    refused = client.get(f"/v1/jobs/{job_id}/events", headers={"Accept": "text/event-stream"})
    assert refused.status_code == 429
    after = service.scrape()
    assert delta(before, after, "phonos_rpc_seconds_count", rpc="WatchJob", transport="rest", code="OK") == 1
    assert delta(before, after, "phonos_rpc_seconds_count", rpc="WatchJob", transport="rest",
                 code="RESOURCE_EXHAUSTED") == 1
    assert delta(before, after, "phonos_rate_limit_rejections_total", transport="rest") == 1


def test_webhook_deliveries_and_backlog(service: InProcessService) -> None:
    client = service.client(service.new_key(credits=1000))
    with WebhookReceiver(statuses=[500] * 10) as receiver:
        hook = client.post("/v1/webhooks", json={"url": receiver.url, "events": ["job.started", "job.completed"]})
        before = service.scrape()
        client.wait_for(client.predict().json()["job_id"])
        # Both events were tried once, answered 500, and wait a minute for their retry.
        wait_until(lambda: len(receiver.requests) == 2, 10)
        after = wait_until(lambda: (s := service.scrape()) and value(s, "phonos_webhook_backlog") == 2 and s, 10)
        for event in ("job.started", "job.completed"):
            assert delta(before, after, "phonos_webhook_deliveries_total", event=event, outcome="retry") == 1
        assert value(after, "phonos_webhook_backlog_oldest_age_seconds") > 0
        assert client.delete(f"/v1/webhooks/{hook.json()['webhook']['webhook_id']}").status_code == 200
        assert value(service.scrape(), "phonos_webhook_backlog") == 0
    with WebhookReceiver() as receiver:
        client.post("/v1/webhooks", json={"url": receiver.url, "events": ["job.completed"]})
        before = service.scrape()
        client.wait_for(client.predict().json()["job_id"])
        wait_until(lambda: len(receiver.requests) == 1, 10)
        after = wait_until(lambda: (s := service.scrape()) and delta(
            before, s, "phonos_webhook_deliveries_total", event="job.completed", outcome="delivered") == 1, 10)
        assert after


def test_metrics_have_their_own_listener_and_can_be_turned_off(service: InProcessService,
                                                               twin_factory: type, tmp_path) -> None:
    public = requests.get(f"{service.base_url}/metrics", timeout=10)
    assert public.status_code == 404 and public.json()["error"] == "Not found"
    scraped = requests.get(f"http://127.0.0.1:{service.metrics_port}/metrics", timeout=10)
    assert scraped.status_code == 200 and scraped.headers["Content-Type"].startswith("text/plain")
    assert "process_cpu_seconds_total" in scraped.text  # prometheus_client's process collector
    off = twin_factory.start(data_dir=tmp_path / "off", PHONOS_METRICS_ENABLED="false")
    assert off.metrics_port is None


def test_an_unreachable_triton_metrics_endpoint_reads_as_down(twin_factory: type, tmp_path) -> None:
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        closed = sock.getsockname()[1]
    service = twin_factory.start(PHONOS_TRITON_METRICS_URLS=f"http://127.0.0.1:{closed}/metrics")
    assert value(service.scrape(), "phonos_triton_metrics_up", endpoint=f"127.0.0.1:{closed}") == 0
    # Named (as `phonos serve` names the Triton whose ports it picks afresh at each start): the label outlives them.
    named = twin_factory.start(data_dir=tmp_path / "named", PHONOS_TRITON_ENDPOINT_LABEL="local",
                               PHONOS_TRITON_METRICS_URLS=f"http://127.0.0.1:{closed}/metrics")
    scrape = named.scrape()
    assert value(scrape, "phonos_triton_metrics_up", endpoint="local") == 0
    assert not [labels for (name, labels) in scrape if name == "phonos_triton_metrics_up" and labels != (("endpoint", "local"),)]


def test_readiness_database_and_disk_gauges_move(twin_factory: type) -> None:
    """The gauges deploy/alerts.yml pages on: a model taken out of service reads 0 within the readiness
    monitor's second, and back; the database readable; the data directory's disk measured."""
    service = twin_factory.start()
    assert value(service.scrape(), "phonos_model_ready", model="esmfold") == 1
    service.inference.set_ready("esmfold", False)
    wait_until(lambda: value(service.scrape(), "phonos_model_ready", model="esmfold") == 0, 10)
    service.inference.set_ready("esmfold", True)
    scrape = wait_until(lambda: (s := service.scrape()) and value(s, "phonos_model_ready", model="esmfold") == 1
                        and s, 10)
    assert value(scrape, "phonos_database_up") == 1
    assert 0 < value(scrape, "phonos_data_dir_free_bytes") <= value(scrape, "phonos_data_dir_size_bytes")
    # Every served model's job counters exist from the start, at 0: rate() sees the first failure.
    assert ("phonos_jobs_failed_total", (("cause", "model_error"), ("model", "esmfold"))) in scrape
    # So do the other counters alerts and panels take rates of (were: a series only from its first increment).
    for series in [("phonos_credits_refunded_total", (("model", "esmfold"),)),
                   ("phonos_credits_charged_total", (("model", "esmfold"),)),
                   ("phonos_rate_limit_rejections_total", (("transport", "rest"),)),
                   ("phonos_rate_limit_rejections_total", (("transport", "grpc"),)),
                   ("phonos_webhook_deliveries_total", (("event", "job.completed"), ("outcome", "failed")))]:
        assert series in scrape, series


def test_a_model_servers_error_series_exist_from_its_first_call(twin_factory: type) -> None:
    """The first error after a restart must reach PhonosTritonCallErrors' rate(): the series exist at 0 from the
    first call of each endpoint and model (known then), not from the first error."""
    service = twin_factory.start()
    client = service.client(service.new_key())
    assert client.wait_for(client.predict().json()["job_id"])["status"] == "completed"
    model = service.specs["esmfold"].triton_model
    errors = {dict(labels)["kind"]: v for (name, labels), v in service.scrape().items()
              if name == "phonos_triton_request_errors_total" and dict(labels)["model"] == model}
    assert {"unavailable", "timeout", "model_error", "out_of_memory", "internal"} <= set(errors), errors


def dashboard_series() -> set[str]:
    dashboard = json.loads((REPO / "deploy" / "grafana" / "phonos-dashboard.json").read_text())
    return {name for panel in dashboard["panels"] for target in panel["targets"]
            for name in re.findall(r"\b((?:phonos|process|nv)_[a-z_]+)\b", target["expr"])}


def declared_series(service: InProcessService) -> set[str]:
    text = requests.get(f"http://127.0.0.1:{service.metrics_port}/metrics", timeout=10).text
    return set(re.findall(r"^# TYPE (\S+) ", text, re.MULTILINE))


def test_every_series_the_dashboard_reads_is_exported(service: InProcessService) -> None:
    """A typo in deploy/grafana would show an empty panel, not an error: check the names against a scrape."""
    wanted = {name for name in dashboard_series() if not name.startswith("nv_")}  # Triton's: tests/e2e
    declared = declared_series(service)
    suffixes = ("_bucket", "_count", "_sum")
    missing = {n for n in wanted if n not in declared and not any(
        n.endswith(s) and n.removesuffix(s) in declared for s in suffixes)}
    missing -= {"phonos_triton_metrics_up"}  # only with a Triton's metrics URL (tests/e2e)
    assert not missing, f"dashboard reads series nobody exports: {sorted(missing)}"


def test_every_phonos_series_has_a_dashboard_panel(service: InProcessService) -> None:
    """The converse: a counter added to jobservice/metrics.py without a panel is one an operator never sees."""
    shown = {re.sub(r"_(bucket|count|sum|total)$", "", name) for name in dashboard_series()}
    exported = {re.sub(r"_total$", "", name) for name in declared_series(service) if name.startswith("phonos_")}
    assert not exported - shown, f"series without a dashboard panel: {sorted(exported - shown)}"


def test_auth_throttle_rejections_are_counted(twin_factory: type) -> None:
    service = twin_factory.start(PHONOS_AUTH_FAILURES_PER_MINUTE="2")
    stranger = service.client("pk_not_a_key")
    before = service.scrape()
    statuses = [stranger.get("/v1/account").status_code for _ in range(4)]
    after = service.scrape()
    assert statuses[:2] == [401, 401] and statuses[-1] == 429
    assert delta(before, after, "phonos_auth_throttle_rejections_total") == statuses.count(429)
    assert delta(before, after, "phonos_http_request_seconds_count", method="GET", route="/v1/account",
                 status="401") == 2
    # The job service counts them among its calls too, though its admission refused them before the servicer.
    assert delta(before, after, "phonos_rpc_seconds_count", rpc="GetAccount", transport="rest",
                 code="UNAUTHENTICATED") == 2
    assert delta(before, after, "phonos_rpc_seconds_count", rpc="GetAccount", transport="rest",
                 code="RESOURCE_EXHAUSTED") == statuses.count(429)


def test_grpc_calls_refused_before_the_servicer_are_counted(service: InProcessService) -> None:
    """A bad key and a message that is not the rpc's, over gRPC: refused by the edge (jobservice/edge.py), each
    counted once under its code; health and reflection calls are no API calls."""
    before = service.scrape()
    with grpc.insecure_channel(service.grpc_target) as channel:
        with pytest.raises(grpc.RpcError) as bad_key:
            phonos_pb2_grpc.PhonosServiceStub(channel).GetAccount(
                pb.GetAccountRequest(), metadata=(("authorization", "Bearer pk_not_a_key"),), timeout=30)
        assert bad_key.value.code() == grpc.StatusCode.UNAUTHENTICATED
        raw = channel.unary_unary("/phonos.v1.PhonosService/Predict")  # bytes in, bytes out: no serializer
        with pytest.raises(grpc.RpcError) as garbled:
            raw(b"\xff\xff\xff", metadata=(("authorization", f"Bearer {service.new_key()}"),), timeout=30)
        assert garbled.value.code() == grpc.StatusCode.INVALID_ARGUMENT, garbled.value.details()
        health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=30)
    after = service.scrape()
    assert delta(before, after, "phonos_rpc_seconds_count", rpc="GetAccount", transport="grpc",
                 code="UNAUTHENTICATED") == 1
    assert delta(before, after, "phonos_rpc_seconds_count", rpc="Predict", transport="grpc",
                 code="INVALID_ARGUMENT") == 1
    assert not [labels for (name, labels) in after if name == "phonos_rpc_seconds_count" and ("rpc", "Check") in labels]

