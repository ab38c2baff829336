"""Job timing in the API: started_at and completed_at, millisecond timestamps, per-stage timings."""

from __future__ import annotations

from datetime import datetime

import pytest

from jobservice.memory_inference import Failure, Slow
from phonos.v1 import phonos_pb2 as pb
from tests.support import InProcessService, wait_until

pytestmark = pytest.mark.integration


def parsed(stamp: str) -> datetime:
    assert stamp.endswith("Z")
    return datetime.fromisoformat(stamp)  # what the seed's Python client would use


def test_a_job_reports_when_it_started_and_completed(twin_service: InProcessService) -> None:
    client = twin_service.client(twin_service.new_key())
    twin_service.settle()
    # 1 s: the 0.1 s polls below must see it running (a 0.3 s run could fall between two polls on a loaded host).
    twin_service.inference.script("esmfold", Slow(1.0))
    job_id = client.predict().json()["job_id"]
    pending_or_running = client.get(f"/v1/jobs/{job_id}").json()
    assert "completed_at" not in pending_or_running
    running = wait_until(lambda: (j := client.get(f"/v1/jobs/{job_id}").json())["status"] == "running" and j, 10)
    assert "started_at" in running and "completed_at" not in running
    done = client.wait_for(job_id)
    assert done["status"] == "completed"
    created, started, completed = (parsed(done[k]) for k in ("created_at", "started_at", "completed_at"))
    assert created <= started <= completed
    assert (completed - started).total_seconds() >= 1.0  # the twin's run took 1 s
    # Sub-second precision: the three stamps of a job cannot all be whole seconds apart.
    assert any("." in done[k] for k in ("created_at", "started_at", "completed_at"))
    timings = done["metadata"]["timings"]
    assert set(timings) >= {"queued_s", "triton_call_s", "store_s", "service_total_s"}
    assert timings["triton_call_s"] >= 1.0 and timings["service_total_s"] >= timings["triton_call_s"]
    assert abs(timings["queued_s"] - (started - created).total_seconds()) < 0.002


def test_failed_and_cancelled_jobs_have_completed_at(twin_service: InProcessService) -> None:
    client = twin_service.client(twin_service.new_key())
    twin_service.settle()
    twin_service.inference.script("esmfold", Failure.MODEL_ERROR)
    failed = client.wait_for(client.predict().json()["job_id"])
    assert failed["status"] == "failed" and parsed(failed["completed_at"]) >= parsed(failed["started_at"])
    twin_service.inference.script("esmfold", Slow(60))
    job_id = client.predict().json()["job_id"]
    wait_until(lambda: client.get(f"/v1/jobs/{job_id}").json()["status"] == "running", 10)
    client.post(f"/v1/jobs/{job_id}/cancel")
    cancelled = client.get(f"/v1/jobs/{job_id}").json()
    assert cancelled["status"] == "cancelled" and "completed_at" in cancelled and "started_at" in cancelled


def test_grpc_jobs_carry_the_same_timestamps(twin_service: InProcessService) -> None:
    key = twin_service.new_key()
    client = twin_service.client(key)
    job_id = client.predict().json()["job_id"]
    rest = client.wait_for(job_id)
    channel, stub = twin_service.grpc_stub()
    with channel:
        job = stub.GetJob(pb.GetJobRequest(job_id=job_id), metadata=(("authorization", f"Bearer {key}"),)).job
    assert job.HasField("started_at") and job.HasField("completed_at")
    assert job.completed_at.ToJsonString() == rest["completed_at"]
    assert job.started_at.nanos % 1_000_000 == 0  # milliseconds, as over REST
