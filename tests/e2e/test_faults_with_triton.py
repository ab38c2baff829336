"""Cancellation that stops compute, and the two fault cases: SIGKILL of the job service, Triton going away."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest

from launcher.triton import TritonProcess
from tests.support import ApiClient, TritonFixture

pytestmark = pytest.mark.e2e

SHORT = "MKTVRQERLKSIVRILERSKEPV"
# Long enough on the tiny model to still be running seconds after it starts (25 trunk passes at 400 aa).
LONG = {"sequence": "M" * 400, "params": {"num_recycles": 24}}


def wait_status(client: ApiClient, job_id: str, status: str, timeout_s: float = 60) -> dict:
    return client.wait_for(job_id, (status,), timeout_s)


def test_cancel_pending_refunds_and_cancel_running_stops_compute(shared_triton: TritonFixture,
                                                                 service_factory: type) -> None:
    # One long job on every ESMFold instance, and the job service sends no more than that.
    instances = shared_triton.instance_count("esmfold")
    service = service_factory.start(shared_triton.grpc_url, PHONOS_MAX_INFLIGHT_PER_MODEL=str(instances))
    client = service.client(service.new_key(credits=100))
    running = []
    for _ in range(instances):
        running.append(client.predict(**LONG).json()["job_id"])
        wait_status(client, running[-1], "running")
        time.sleep(0.5)  # in an instance's forward pass, so the next one goes to a free instance
    queued = client.predict(SHORT).json()["job_id"]
    assert client.get(f"/v1/jobs/{queued}").json()["status"] == "pending"
    assert client.balance() == 100 - 10 * (instances + 1)

    cancelled = client.post(f"/v1/jobs/{queued}/cancel")
    assert cancelled.status_code == 200
    assert cancelled.json() == {"success": True, "job_id": queued, "status": "cancelled",
                                "message": "Job cancelled successfully", "credits_refunded": 10}
    assert client.balance() == 100 - 10 * instances  # never ran: refunded

    for job_id in running:
        stop = client.post(f"/v1/jobs/{job_id}/cancel").json()
        assert stop["status"] == "cancelled" and stop["credits_refunded"] == 0  # compute was spent
    # Every ESMFold instance held a long job (25 passes at 400 aa: minutes): a new job can only finish
    # quickly if a cancelled one stopped.
    started = time.monotonic()
    follow_up = client.predict(SHORT).json()["job_id"]
    assert client.wait_for(follow_up, timeout_s=60)["status"] == "completed"
    assert time.monotonic() - started < 60
    for job_id in running:
        assert client.get(f"/v1/jobs/{job_id}").json()["status"] == "cancelled"  # never flips back
        assert client.post(f"/v1/jobs/{job_id}/cancel").status_code == 400


def test_sigkill_loses_no_job_and_no_credit(shared_triton: TritonFixture, service_factory: type,
                                            tmp_path: Path) -> None:
    data_dir = tmp_path / "crash"
    first = service_factory.start(shared_triton.grpc_url, data_dir=data_dir, PHONOS_MAX_INFLIGHT_PER_MODEL="1")
    key = first.new_key(credits=1000)
    client = first.client(key)
    long_job = client.predict(**LONG).json()["job_id"]
    wait_status(client, long_job, "running")
    short_jobs = [client.predict(SHORT).json()["job_id"] for _ in range(3)]
    assert client.balance() == 960
    first.kill()

    second = service_factory.start(shared_triton.grpc_url, data_dir=data_dir, PHONOS_MAX_INFLIGHT_PER_MODEL="1")
    client = second.client(key)
    # The interrupted job was requeued and runs again; cancel it so the test need not wait for 25 passes.
    assert client.get(f"/v1/jobs/{long_job}").json()["status"] in ("pending", "running")
    client.post(f"/v1/jobs/{long_job}/cancel")
    for job_id in short_jobs:
        assert client.wait_for(job_id, timeout_s=90)["status"] == "completed"
    final = {j: client.get(f"/v1/jobs/{j}").json() for j in [long_job, *short_jobs]}
    assert final[long_job]["status"] == "cancelled"
    charged = sum(job["credits_used"] for job in final.values())
    assert client.balance() == 1000 - charged  # each job charged once, refunds applied once
    with sqlite3.connect(data_dir / "phonos.sqlite3") as conn:
        attempts = dict(conn.execute("SELECT id, attempts FROM jobs").fetchall())
    assert attempts[long_job] >= 1 and all(attempts[j] == 1 for j in short_jobs)


def test_sigterm_hands_the_running_job_back_without_counting_its_run(shared_triton: TritonFixture,
                                                                     service_factory: type, tmp_path: Path) -> None:
    data_dir = tmp_path / "stop"
    # One run allowed: had SIGTERM counted the interrupted run, the next start would give the job up.
    first = service_factory.start(shared_triton.grpc_url, data_dir=data_dir, PHONOS_MAX_ATTEMPTS="1")
    key = first.new_key(credits=100)
    job_id = first.client(key).predict(**LONG).json()["job_id"]
    wait_status(first.client(key), job_id, "running")
    first.stop()  # SIGTERM to the process group
    assert first.popen.returncode == 0
    with sqlite3.connect(data_dir / "phonos.sqlite3") as conn:
        assert conn.execute("SELECT status, attempts FROM jobs WHERE id = ?", (job_id,)).fetchone() == ("pending", 0)

    second = service_factory.start(shared_triton.grpc_url, data_dir=data_dir, PHONOS_MAX_ATTEMPTS="1")
    client = second.client(key)
    assert wait_status(client, job_id, "running")["status"] == "running"  # run again, not given up
    assert client.post(f"/v1/jobs/{job_id}/cancel").json()["status"] == "cancelled"  # spare the 25 passes


# The two tests below start (and kill, or stop and restart) a tritonserver of their own. It serves the echo model
# (`!sleep S` computes for S seconds): what they check is the job service's side of Triton going away, the same
# for every model, and echo's server is ready in ~1.5 s where ESMFold's loads torch into two stubs (~8 s).
ECHO_LONG = {"model": "echo", "sequence": "!sleep 600"}  # still running when Triton is killed
ECHO_SHORT = {"model": "echo", "sequence": "hello"}


def test_triton_outage_retries_then_fails_with_refund(service_factory: type, tmp_path: Path) -> None:
    triton = TritonProcess.start(models=["echo"], log_path=tmp_path / "triton.log")
    try:
        triton.wait_ready(300)
        service = service_factory.start(triton.grpc_url, PHONOS_MODELS="echo", PHONOS_TRITON_RETRY_WINDOW_S="3")
        client = service.client(service.new_key(credits=100))
        job_id = client.post("/v1/predict", json=ECHO_LONG).json()["job_id"]
        wait_status(client, job_id, "running")
        triton.kill()
        failed = client.wait_for(job_id, timeout_s=60)
        assert failed["status"] == "failed"
        assert "unavailable" in failed["error"] and "refunded" in failed["error"]
        assert client.balance() == 100
        # The API keeps answering and says what is wrong.
        health = client.get("/v1/health").json()
        assert health["status"] == "degraded" and health["components"]["triton"] == "unavailable"
        late = client.post("/v1/predict", json=ECHO_SHORT).json()["job_id"]
        assert client.wait_for(late, timeout_s=60)["status"] == "failed"
        assert client.balance() == 100
        assert client.get("/v1/account").json()["jobs"]["failed"] == 2
    finally:
        triton.reap()


def test_jobs_wait_for_triton_to_come_back(service_factory: type, tmp_path: Path) -> None:
    triton = TritonProcess.start(models=["echo"], log_path=tmp_path / "triton.log")
    ports = triton.ports
    try:
        triton.wait_ready(300)
        service = service_factory.start(triton.grpc_url, PHONOS_MODELS="echo", PHONOS_TRITON_RETRY_WINDOW_S="240")
        client = service.client(service.new_key(credits=100))
        triton.stop()  # gracefully, as an operator's restart would
        job_id = client.post("/v1/predict", json=ECHO_SHORT).json()["job_id"]
        time.sleep(1.0)
        assert client.get(f"/v1/jobs/{job_id}").json()["status"] == "pending"  # waiting, using no attempt
        triton = TritonProcess.start(models=["echo"], ports=ports, log_path=tmp_path / "triton2.log")
        triton.wait_ready(300)
        back = time.monotonic()
        job = client.wait_for(job_id, timeout_s=120)
        assert job["status"] == "completed"
        # Noticed at the next health probe (gRPC reconnects within 2 s), not after a per-job backoff.
        assert time.monotonic() - back < 10
        assert client.balance() == 100 - job["credits_used"] == 99  # charged once
        with sqlite3.connect(service.data_dir / "phonos.sqlite3") as conn:
            assert conn.execute("SELECT attempts FROM jobs WHERE id = ?", (job_id,)).fetchone() == (1,)
    finally:
        triton.reap()
