"""Usage is net of refunds (jobservice/usage.py): after a refunded pending cancel and a refunded failure, the
report's credits (totals, daily, by_endpoint, by_model) equal what the balance lost and what the jobs show
they used; each refund counts under the route that submitted its job (/v1/predict or /v1/batch, REST or gRPC)
and its model, and is not a request."""

from __future__ import annotations

import time
from typing import Any

import pytest

from jobservice.memory_inference import Failure, Slow
from phonos.v1 import phonos_pb2 as pb
from tests.support import ALL_STORES, ApiClient, InProcessService, wait_until

pytestmark = pytest.mark.integration
STORES = ALL_STORES  # state: every test runs on SQLite and on PostgreSQL

SEQ = "MKTVRQERLKSIVRILERSKEPV"


@pytest.fixture
def service(twin_factory: type) -> InProcessService:
    # One call per model at a time: a job submitted behind a slow one waits pending.
    return twin_factory.start(PHONOS_MODELS="esmfold,echo", PHONOS_MAX_INFLIGHT_PER_MODEL="1")


def statuses(service: InProcessService, *job_ids: str) -> list[str]:
    """Read under the hood, so waiting makes no request that would count in usage."""
    return [str(service.sql("SELECT status FROM jobs WHERE id = ?", job_id)[0][0]) for job_id in job_ids]


def credits(report: dict[str, Any], section: str, key: str) -> dict[str, int]:
    return {row[key]: row["credits_used"] for row in report[section]}


def requests_of(report: dict[str, Any], section: str, key: str) -> dict[str, int]:
    return {row[key]: row["requests"] for row in report[section]}


def timed_usage(client: ApiClient) -> tuple[dict[str, Any], float]:
    started = time.perf_counter()
    report = client.get("/v1/usage").json()
    return report, (time.perf_counter() - started) * 1000


def test_refunds_come_off_usage_under_the_route_and_model_that_charged_them(service: InProcessService) -> None:
    key = service.new_key(credits=1000)
    auth = (("authorization", f"Bearer {key}"),)
    client = service.client(key)
    before = client.balance()
    service.inference.script("esmfold", Slow(60))
    service.inference.script("echo", Slow(60), Failure.MODEL_ERROR)  # then the next echo call succeeds

    # REST: a slow esmfold job (10 credits) and a slow echo job (1) hold their models' one call each.
    slow_fold = client.predict(SEQ).json()["job_id"]
    slow_echo = client.post("/v1/predict", json={"model": "echo", "sequence": SEQ}).json()["job_id"]
    wait_until(lambda: statuses(service, slow_fold, slow_echo) == ["running", "running"], 20)
    channel, stub = service.grpc_stub()
    with channel:
        # gRPC: an esmfold job waits behind the slow one, and a batch of two echo jobs behind the other.
        waiting = stub.Predict(pb.PredictRequest(model="esmfold", sequence=SEQ), metadata=auth).job_id
        batch = stub.SubmitBatch(pb.SubmitBatchRequest(jobs=[pb.BatchJob(model="echo", sequence=SEQ)] * 2),
                                 metadata=auth)
    failing, succeeding = (r.job_id for r in batch.results)
    assert client.post(f"/v1/jobs/{waiting}/cancel").json()["credits_refunded"] == 10  # pending: refunded
    assert client.post(f"/v1/jobs/{slow_fold}/cancel").json()["credits_refunded"] == 0  # running: charged

    first, first_ms = timed_usage(client)
    # The waiting job's refund: under /v1/predict (it came by gRPC) and esmfold, no request of its own.
    assert first["totals"]["credits_used"] == 10 + 1 + 10 - 10 + 2
    assert credits(first, "by_endpoint", "endpoint")["/v1/predict"] == 11
    assert first["by_model"] == [{"model": "echo", "requests": 3, "credits_used": 3},
                                 {"model": "esmfold", "requests": 2, "credits_used": 10}]

    # No request from here to the next report: the slow echo job is cancelled inside the service (running:
    # charged), then the batch's first job fails with a model error (refunded) and its second completes.
    account_id = int(service.sql("SELECT account_id FROM jobs WHERE id = ?", slow_echo)[0][0])
    service.call(service.running.service.cancel(account_id, slow_echo))
    wait_until(lambda: statuses(service, failing, succeeding) == ["failed", "completed"], 20)
    second = client.get("/v1/usage").json()

    jobs = [client.get(f"/v1/jobs/{j}").json() for j in (slow_fold, slow_echo, waiting, failing, succeeding)]
    assert [j["credits_used"] for j in jobs] == [10, 1, 0, 0, 1]
    spent = before - client.balance()
    assert spent == sum(j["credits_used"] for j in jobs) == 12
    assert second["totals"]["credits_used"] == spent
    assert sum(d["credits_used"] for d in second["daily"]) == spent
    assert sum(credits(second, "by_endpoint", "endpoint").values()) == spent
    assert sum(credits(second, "by_model", "model").values()) == spent
    # The failed batch job's refund: under /v1/batch (its route), and echo.
    assert credits(second, "by_endpoint", "endpoint")["/v1/predict"] == 11
    assert credits(second, "by_endpoint", "endpoint")["/v1/batch"] == 1
    assert second["by_model"] == [{"model": "echo", "requests": 3, "credits_used": 2},
                                  {"model": "esmfold", "requests": 2, "credits_used": 10}]

    # A refund is not a request: the one request between the reports is the first report's own.
    assert second["totals"]["requests"] == first["totals"]["requests"] + 1
    grown = requests_of(first, "by_endpoint", "endpoint")
    grown["/v1/usage"] = grown.get("/v1/usage", 0) + 1
    assert requests_of(second, "by_endpoint", "endpoint") == grown
    assert requests_of(second, "by_model", "model") == requests_of(first, "by_model", "model")
    assert sum(d["requests"] for d in second["daily"]) == sum(d["requests"] for d in first["daily"]) + 1
    # ...and takes no time: the summed response time grew by that request's alone (at most its round trip).
    added_ms = (second["totals"]["avg_response_time_ms"] * second["totals"]["requests"]
                - first["totals"]["avg_response_time_ms"] * first["totals"]["requests"])
    rounding_ms = 0.01 * second["totals"]["requests"]  # each average is rounded to 0.01 ms
    assert -rounding_ms < added_ms <= first_ms + rounding_ms
