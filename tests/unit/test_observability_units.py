"""Pure parts of the metrics and timing code: timestamp precision, Triton metrics relabelling."""

from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path
from types import SimpleNamespace
from typing import cast

import pytest
from prometheus_client.parser import text_string_to_metric_families

from jobservice import tracing
from jobservice.inference import (
    ComputeLimitExceeded,
    InferenceTimeout,
    InferenceUnavailable,
    InvalidModelInput,
    ModelFailure,
)
from jobservice.messages import timestamp
from jobservice.metrics import error_kind
from jobservice.metrics_server import (
    MetricsEndpoint,
    disk_families,
    endpoint_label,
    readiness_families,
    relabel,
)
from jobservice.store import Store

pytestmark = pytest.mark.unit

TRITON_TEXT = """# HELP nv_inference_request_success Number of successful inference requests, all batch sizes
# TYPE nv_inference_request_success counter
nv_inference_request_success{model="esmfold",version="1"} 7
# HELP nv_cpu_utilization CPU utilization rate [0.0 - 1.0]
# TYPE nv_cpu_utilization gauge
nv_cpu_utilization 0.25
"""


@pytest.mark.parametrize(("epoch", "text"), [
    (1765967400.0, "2025-12-17T10:30:00Z"),  # the seed's example: a whole second has no fraction
    (1765967400.125, "2025-12-17T10:30:00.125Z"),
    (1765967400.9996, "2025-12-17T10:30:01Z"),  # rounds to the millisecond, carrying into the second
    (1765967400.0004, "2025-12-17T10:30:00Z"),
])
def test_timestamps_have_millisecond_precision(epoch: float, text: str) -> None:
    assert timestamp(epoch).ToJsonString() == text


def test_triton_metrics_from_several_servers_merge_into_one_family_each() -> None:
    text = relabel([("10.0.0.1:8002", TRITON_TEXT), ("10.0.0.2:8002", TRITON_TEXT.replace(" 7", " 9"))])
    assert text.count("# TYPE nv_inference_request_success counter") == 1
    assert text.count("# HELP nv_cpu_utilization") == 1
    # Triton's own names, untouched (no `_total` added), and each sample says which server it came from.
    assert 'nv_inference_request_success{endpoint="10.0.0.2:8002",model="esmfold",version="1"} 9' in text
    assert 'nv_cpu_utilization{endpoint="10.0.0.1:8002"} 0.25' in text
    families = {f.name: f for f in text_string_to_metric_families(text)}  # still valid text format
    assert [s.labels["endpoint"] for s in families["nv_cpu_utilization"].samples] == ["10.0.0.1:8002",
                                                                                     "10.0.0.2:8002"]
    assert relabel([]) == ""


def test_endpoint_label_is_host_and_port() -> None:
    assert endpoint_label("http://127.0.0.1:8002/metrics") == "127.0.0.1:8002"


def test_the_tracing_exporter_is_checked_and_none_leaves_tracing_off() -> None:
    with pytest.raises(ValueError, match="PHONOS_TRACING_EXPORTER"):
        tracing.configure("jaeger", "http://127.0.0.1:4318/v1/traces", "phonos")
    assert tracing.configure("none", "http://127.0.0.1:4318/v1/traces", "phonos") is False
    assert not tracing.enabled()
    with tracing.client_span("triton.infer esmfold", {}) as headers:
        assert headers == {}  # nothing to propagate when off


def test_the_console_exporter_writes_spans_to_stderr_not_the_ready_line_channel(
        capsys: pytest.CaptureFixture[str]) -> None:
    """`phonos serve` reads the job service's stdout for its ready line and discards the rest: console spans
    written there were never seen by anyone."""
    try:
        assert tracing.configure("console", "http://127.0.0.1:4318/v1/traces", "phonos") is True
        with tracing.client_span("triton.infer esmfold", {"server.address": "127.0.0.1:8001"}):
            pass
    finally:
        tracing.shutdown()  # flushes the batch
    out, err = capsys.readouterr()
    assert '"name": "triton.infer esmfold"' in err
    assert out == ""


@pytest.mark.parametrize(("error", "kind"), [
    (InferenceUnavailable("down"), "unavailable"),
    (InferenceTimeout("late"), "timeout"),
    (InvalidModelInput("bad"), "invalid_input"),
    (ComputeLimitExceeded("long"), "compute_limit"),  # the input's cost, told apart from a crash or a bug
    (ModelFailure("crash"), "model_error"),
    (RuntimeError("bug"), "internal"),
])
def test_each_failed_call_is_counted_under_its_jobs_error_code(error: Exception, kind: str) -> None:
    assert error_kind(error) == kind


def test_a_share_links_token_never_reaches_a_trace() -> None:
    from gateway.observe import traced_path

    token = "-Ls5ozLsyGLL_AXWJgctZM6IFzsZS4a7QLjQOPg_fN8"
    assert traced_path(f"/shared/{token}") == "/shared/{token}"
    assert traced_path(f"/shared/{token}/download") == "/shared/{token}/download"
    assert traced_path(f"/shared/{token}/job") == "/shared/{token}/job"
    assert traced_path("/v1/jobs/abc/download") == "/v1/jobs/abc/download"  # an owner's path holds no secret


def test_a_scrape_while_the_database_is_unreachable_serves_everything_else(caplog: pytest.LogCaptureFixture) -> None:
    """Was a 500 (PostgreSQL stopped): Prometheus marked the target down and lost every counter, the process and
    Triton's own metrics too, during the outage an operator wants to see."""
    class Unreachable:
        async def fetch_all(self, *args: object) -> list[object]:
            raise ConnectionRefusedError(111, "Connect call failed ('127.0.0.1', 5432)")

        fetch_one = fetch_all

    endpoint = MetricsEndpoint(cast(Store, SimpleNamespace(read=Unreachable())), ["esmfold"], [])
    with caplog.at_level(logging.WARNING, logger="jobservice.metrics_server"):
        body = asyncio.run(endpoint.render()).decode()
        asyncio.run(endpoint.render())  # a second scrape within the minute logs nothing more
    names = {family.name for family in text_string_to_metric_families(body)}
    assert {"phonos_jobs_submitted", "process_cpu_seconds"} <= names
    assert "phonos_jobs_queued" not in names  # read from the database: left out, not a guess
    # An explicit 0 an alert can match (deploy/alerts.yml PhonosDatabaseUnavailable), not only an absence.
    [database_up] = [f for f in text_string_to_metric_families(body) if f.name == "phonos_database_up"]
    assert [s.value for s in database_up.samples] == [0.0]
    [warning] = [r for r in caplog.records if r.name == "jobservice.metrics_server"]
    assert "database could not be read" in warning.getMessage()


def test_model_readiness_comes_from_the_last_health_check_without_asking_the_servers() -> None:
    """A scrape reads the readiness monitor's last components: a Triton that hangs never slows /metrics."""
    [family] = readiness_families(["esmfold", "diffdock"], {"esmfold": "ready", "diffdock": "not_ready",
                                                            "diffdock@h:8001": "ready", "database": "ready"})
    assert {s.labels["model"]: s.value for s in family.samples} == {"esmfold": 1.0, "diffdock": 0.0}
    assert readiness_families(["esmfold"], None) == []  # no check ran yet: left out, not a guess


def test_the_data_directorys_free_space_is_the_file_systems(tmp_path: Path) -> None:
    free, size = disk_families(tmp_path)
    stat = os.statvfs(tmp_path)
    assert size.samples[0].value == stat.f_blocks * stat.f_frsize
    assert 0 < free.samples[0].value <= size.samples[0].value
    assert disk_families(tmp_path / "gone") == []  # a scrape never fails for it
    assert disk_families(None) == []


def test_readiness_logs_real_transitions_and_not_its_first_state_as_a_change(caplog: pytest.LogCaptureFixture) -> None:
    """`phonos serve` showed "readiness changed: ... not ready: ..." among its start lines (the job service starts
    beside a Triton still loading its models), which read as a failure to a newcomer: the first state is no change."""
    from grpc_health.v1 import health

    from jobservice.readiness import NOT_SERVING, SERVING, ReadinessMonitor
    from jobservice.service import JobService

    class Health:  # JobService.health's answers, in turn
        def __init__(self) -> None:
            self.answers = [("degraded", "PHONOS API is running, but these are not ready: esmfold, triton", {}),
                            ("degraded", "PHONOS API is running, but these are not ready: esmfold", {}),
                            ("operational", "PHONOS API is running", {}),
                            ("degraded", "PHONOS API is running, but these are not ready: triton", {})]

        async def health(self) -> tuple[str, str, dict[str, str]]:
            return self.answers.pop(0)

    async def run() -> list[int]:
        servicer = health.aio.HealthServicer()
        monitor = ReadinessMonitor(cast(JobService, Health()), servicer, "phonos.v1.PhonosService")
        statuses = []
        for _ in range(4):
            await monitor.check()
            statuses.append((await servicer.Check(SimpleNamespace(service="phonos.v1.PhonosService"),
                                                  None)).status)
        return statuses

    with caplog.at_level(logging.DEBUG, logger="jobservice.readiness"):
        assert asyncio.run(run()) == [NOT_SERVING, NOT_SERVING, SERVING, NOT_SERVING]
    said = [(r.levelno, r.getMessage()) for r in caplog.records if r.name == "jobservice.readiness"]
    assert said == [(logging.DEBUG, "readiness at start: PHONOS API is running, but these are not ready: esmfold, "
                                    "triton"),
                    (logging.INFO, "readiness changed: PHONOS API is running"),
                    (logging.WARNING, "readiness changed: PHONOS API is running, but these are not ready: triton")]
