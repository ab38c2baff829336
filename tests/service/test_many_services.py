"""Several job services on one PostgreSQL (in process, on the inference twin): work submitted to one runs on
all, a cancel reaches the service running the job, a key's rate limit holds in total, each webhook event
is sent once, and a stopping service hands its running jobs back. Killed processes: tests/e2e/test_chaos.py."""

from __future__ import annotations

import collections
import concurrent.futures

import pytest

from jobservice.memory_inference import Slow
from tests.support import ApiClient, WebhookReceiver, wait_until

pytestmark = pytest.mark.integration
STORES = ("postgres",)  # many services need the shared store

FAST = {"PHONOS_JOB_LEASE_S": "1", "PHONOS_USAGE_FLUSH_INTERVAL_S": "0.1"}


def key_of(client: ApiClient) -> str:
    return str(client.session.headers["Authorization"]).removeprefix("Bearer ")


def test_work_submitted_to_one_service_runs_on_all(twin_factory: type) -> None:
    a = twin_factory.start(PHONOS_MAX_INFLIGHT_PER_MODEL="2", **FAST)
    b = twin_factory.start(PHONOS_MAX_INFLIGHT_PER_MODEL="2", **FAST)
    for twin in (a.inference, b.inference):
        twin.script("esmfold", *[Slow(0.3)] * 10)
    client = a.client(a.new_key(credits=1000))
    ids = [client.predict().json()["job_id"] for _ in range(8)]
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        final = list(pool.map(lambda j: client.wait_for(j, timeout_s=30), ids))
    assert [j["status"] for j in final] == ["completed"] * 8
    runs = collections.Counter(c.request_id for twin in (a.inference, b.inference) for c in twin.calls)
    assert set(runs) == set(ids) and set(runs.values()) == {1}  # each job ran once
    assert b.inference.calls  # the idle service took work it never saw submitted
    assert client.balance() == 1000 - 80
    other = b.client(key_of(client))
    assert other.get(f"/v1/jobs/{ids[0]}").json()["status"] == "completed"  # any service answers for any job
    assert other.get(f"/v1/jobs/{ids[0]}/download").status_code == 200  # result files on the shared directory


def test_a_cancel_reaches_the_service_running_the_job(twin_factory: type) -> None:
    services = [twin_factory.start(PHONOS_MAX_INFLIGHT_PER_MODEL="1", **FAST) for _ in range(2)]
    for service in services:
        service.inference.script("esmfold", Slow(60))
    key = services[0].new_key(credits=100)
    job_id = services[0].client(key).predict().json()["job_id"]
    services[0].client(key).wait_for(job_id, ("running",))
    # "running" is stored before the model call starts: under load the call is a moment behind the status.
    wait_until(lambda: any(c.request_id == job_id for s in services for c in s.inference.calls), 10)
    [runner] = [s for s in services if any(c.request_id == job_id for c in s.inference.calls)]
    [other] = [s for s in services if s is not runner]
    cancelled = other.client(key).post(f"/v1/jobs/{job_id}/cancel").json()  # through the service not running it
    assert cancelled["status"] == "cancelled" and cancelled["credits_refunded"] == 0
    # The cancel reaches the runner by a notification or its next poll: seconds on a loaded host.
    wait_until(lambda: job_id in runner.inference.cancelled, 30)  # the runner's model call was stopped
    assert runner.client(key).get(f"/v1/jobs/{job_id}").json()["status"] == "cancelled"


def test_a_keys_rate_limit_holds_across_services(twin_factory: type) -> None:
    a, b = twin_factory.start(**FAST), twin_factory.start(**FAST)
    key = a.new_key(rate_limit=10)
    codes = [svc.client(key).get("/v1/account").status_code for _ in range(6) for svc in (a, b)]
    assert codes.count(200) == 10 and codes.count(429) == 2
    limited = b.client(key).get("/v1/account")
    assert limited.status_code == 429 and limited.headers["X-RateLimit-Limit"] == "10"


def test_each_webhook_event_is_sent_once_across_services(twin_factory: type) -> None:
    services = [twin_factory.start(PHONOS_WEBHOOK_ALLOW_HTTP_LOOPBACK="true", **FAST) for _ in range(3)]
    client = services[0].client(services[0].new_key(credits=1000))
    with WebhookReceiver() as receiver:
        client.post("/v1/webhooks", json={"url": receiver.url, "events": ["job.started", "job.completed"]})
        ids = [services[i % 3].client(key_of(client)).predict().json()["job_id"] for i in range(12)]
        for job_id in ids:
            client.wait_for(job_id)
        wait_until(lambda: len(receiver.requests) >= 24, 20)
        deliveries = [r["headers"]["X-Phonos-Delivery"] for r in receiver.requests]
    assert len(deliveries) == len(set(deliveries)) == 24  # 2 events x 12 jobs, none sent twice
    assert sorted(receiver.events()) == ["job.completed"] * 12 + ["job.started"] * 12


def test_a_stopping_service_hands_its_running_jobs_to_the_others(twin_factory: type) -> None:
    a = twin_factory.start(PHONOS_MAX_INFLIGHT_PER_MODEL="1", **FAST)
    a.inference.script("esmfold", Slow(60))
    client = a.client(a.new_key(credits=100))
    job_id = client.predict().json()["job_id"]
    client.wait_for(job_id, ("running",))
    b = twin_factory.start(**FAST)
    a.stop()  # graceful: its job goes back to pending at once, not after the lease
    job = b.client(key_of(client)).wait_for(job_id, timeout_s=10)
    assert job["status"] == "completed"
    assert b.sql("SELECT attempts FROM jobs WHERE id = ?", job_id) == [(1,)]  # the stopped run did not count
