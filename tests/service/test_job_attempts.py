"""A job that went back from running to pending says why and which run this is (`attempt`, `max_attempts`,
`requeue_reason` in the job object, its state events and the SDK's Job). Was: a job whose job service stopped or
died mid-run went running -> pending -> running and nothing said why, nor that this was its second run.

Each case stops an in-process job service mid-job and starts another on the same store (SQLite: the same data
directory; PostgreSQL: the same database, where a dead service's job is taken over once its lease lapsed)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from phonos_client.models import Job

from jobservice.memory_inference import Failure, InMemoryInference, Slow
from phonos.v1 import phonos_pb2 as pb
from tests.support import ALL_STORES, DEFAULT_MODEL_REPOSITORY, ApiClient, InProcessService, wait_until

pytestmark = pytest.mark.integration
STORES = ALL_STORES  # the hand-back is a store's transition: both stores

ATTEMPT_FIELDS = ("attempt", "max_attempts", "requeue_reason")


def key_of(client: ApiClient) -> str:
    return str(client.session.headers["Authorization"]).removeprefix("Bearer ")


def running_first_time(twin_factory: type, data_dir: Path) -> tuple[InProcessService, ApiClient, str]:
    """A job running (for a minute) on a first job service allowing 3 attempts."""
    first = twin_factory.start(data_dir=data_dir, PHONOS_MAX_ATTEMPTS="3")
    first.inference.script("esmfold", Slow(60))
    client = first.client(first.new_key(credits=100))
    job_id = client.predict().json()["job_id"]
    client.wait_for(job_id, ("running",))
    # "running" is stored before the model call starts: stop the service once the call is under way.
    wait_until(lambda: any(c.request_id == job_id for c in first.inference.calls), 10)
    return first, client, job_id


def second_service(twin_factory: type, first: InProcessService, data_dir: Path) -> InProcessService:
    """Another job service on the same store whose model holds the job (its twin scripted before it starts, so the
    job cannot finish before the test reads it)."""
    twin = InMemoryInference.for_specs(first.specs, DEFAULT_MODEL_REPOSITORY)
    twin.script("esmfold", Slow(60))
    return twin_factory.start(data_dir=data_dir, inference=twin, PHONOS_MAX_ATTEMPTS="3")


def state_events(service: InProcessService, key: str, job_id: str, count: int) -> list[dict[str, Any]]:
    """The job's first `count` state events (replayed from its start) over gRPC, as the job object of each."""
    channel, stub = service.grpc_stub()
    with channel:
        call = stub.WatchJob(pb.WatchJobRequest(job_id=job_id, last_event_id="0"),
                             metadata=(("authorization", f"Bearer {key}"),), timeout=20)
        seen: list[dict[str, Any]] = []
        for message in call:
            if message.event.type == "state":
                job = message.event.job
                seen.append({"status": job.status, **{f: getattr(job, f) for f in ATTEMPT_FIELDS if job.HasField(f)}})
                if len(seen) == count:
                    call.cancel()
                    break
    return seen


def test_a_job_handed_back_by_a_stopping_service_says_so_and_keeps_its_attempt(twin_factory: type,
                                                                              tmp_path: Path) -> None:
    first, client, job_id = running_first_time(twin_factory, tmp_path / "var")
    before = client.get(f"/v1/jobs/{job_id}").json()
    assert not set(ATTEMPT_FIELDS) & set(before), before  # a first run says nothing of attempts
    first.stop()  # graceful: handed back at once, its run not counted

    second = second_service(twin_factory, first, tmp_path / "var")
    again = second.client(key_of(client))
    job = again.wait_for(job_id, ("running",), timeout_s=30)
    assert (job["attempt"], job["max_attempts"], job["requeue_reason"]) == (1, 3, "service_stopped"), job
    sdk = Job.from_dict(job)
    assert (sdk.attempt, sdk.max_attempts, sdk.requeue_reason) == (1, 3, "service_stopped")
    # Its events: the submission's pending says nothing, the hand-back's pending says why, and the run after it.
    events = state_events(second, key_of(client), job_id, 4)
    assert events == [
        {"status": "pending"},
        {"status": "running"},
        {"status": "pending", "attempt": 1, "max_attempts": 3, "requeue_reason": "service_stopped"},
        {"status": "running", "attempt": 1, "max_attempts": 3, "requeue_reason": "service_stopped"},
    ], events
    assert again.post(f"/v1/jobs/{job_id}/cancel").json()["status"] == "cancelled"


def test_a_job_whose_service_died_runs_again_as_attempt_two_saying_why(twin_factory: type, tmp_path: Path) -> None:
    first, client, job_id = running_first_time(twin_factory, tmp_path / "var")
    first.stop()
    # The row as a SIGKILL leaves it: still running, the run counted; on PostgreSQL its lease lapsed.
    first.sql("UPDATE jobs SET status = 'running', attempts = 1, requeue_reason = NULL, requeued_at = NULL, "
              "max_attempts = NULL WHERE id = ?", job_id)
    if first.shared:
        first.sql("UPDATE jobs SET lease_owner = 'killed', lease_expires = 0 WHERE id = ?", job_id)

    second = second_service(twin_factory, first, tmp_path / "var")
    again = second.client(key_of(client))
    job = wait_until(lambda: _running_again(again, job_id), 30)
    # SQLite: the restarted service found it at its start; PostgreSQL: another service took over its lapsed lease.
    reason = "service_lost" if first.shared else "service_restarted"
    assert (job["attempt"], job["max_attempts"], job["requeue_reason"]) == (2, 3, reason), job

    channel, stub = second.grpc_stub()
    with channel:
        over_grpc = stub.GetJob(pb.GetJobRequest(job_id=job_id),
                                metadata=(("authorization", f"Bearer {key_of(client)}"),)).job
    assert (over_grpc.attempt, over_grpc.max_attempts, over_grpc.requeue_reason) == (2, 3, reason)
    assert again.post(f"/v1/jobs/{job_id}/cancel").json()["status"] == "cancelled"
    cancelled = again.get(f"/v1/jobs/{job_id}").json()  # it stays on the job once it ended: its last run was the 2nd
    assert (cancelled["attempt"], cancelled["requeue_reason"]) == (2, reason), cancelled


def _running_again(client: ApiClient, job_id: str) -> dict[str, Any] | None:
    job: dict[str, Any] = client.get(f"/v1/jobs/{job_id}").json()
    return job if job["status"] == "running" and job.get("attempt") == 2 else None


def test_unknown_reason_written_by_a_newer_service_reads_as_none(twin_factory: type, tmp_path: Path) -> None:
    """A code this version does not know (a newer job service on the same PostgreSQL wrote it): the job is still
    read, without a reason, rather than a 500."""
    service = twin_factory.start(data_dir=tmp_path / "var")
    client = service.client(service.new_key(credits=100))
    job_id = client.wait_for(client.predict().json()["job_id"])["job_id"]
    service.sql("UPDATE jobs SET requeue_reason = 'a_future_reason', attempts = 2 WHERE id = ?", job_id)
    job = client.get(f"/v1/jobs/{job_id}").json()
    assert job["status"] == "completed" and job["attempt"] == 2 and "requeue_reason" not in job, job


def test_a_job_handed_back_waits_while_triton_loads_the_model_and_keeps_why(twin_factory: type,
                                                                            tmp_path: Path) -> None:
    """The restart's own start: the model still loading at the model server. Was: dispatch claimed the job before it
    found the model not ready, so it went running (a `job.started` webhook for a run that never happened) and
    back to pending with `requeue_reason` model_unavailable, hiding the service_stopped that requeued it."""
    first, client, job_id = running_first_time(twin_factory, tmp_path / "var")
    first.stop()

    twin = InMemoryInference.for_specs(first.specs, DEFAULT_MODEL_REPOSITORY)
    loading = first.specs["esmfold"].triton_model
    twin.set_ready(loading, False)  # Triton has not loaded it yet
    twin.script("esmfold", Slow(60))
    second = twin_factory.start(data_dir=tmp_path / "var", inference=twin, PHONOS_MAX_ATTEMPTS="3")
    again = second.client(key_of(client))
    wait_until(lambda: second.sql("SELECT 1 FROM jobs WHERE id = ? AND status = 'pending'", job_id), 10)
    time.sleep(1.5)  # three of the outage watcher's probes: long enough for a claim to have been made
    waiting = again.get(f"/v1/jobs/{job_id}").json()
    assert (waiting["status"], waiting.get("requeue_reason")) == ("pending", "service_stopped"), waiting
    assert not [c for c in twin.calls if c.request_id == job_id], "called while the model was not loaded"

    twin.set_ready(loading, True)  # loaded: the job runs, once, still saying why it was requeued
    job = again.wait_for(job_id, ("running",), timeout_s=30)
    assert (job["attempt"], job["requeue_reason"]) == (1, "service_stopped"), job
    events = state_events(second, key_of(client), job_id, 4)
    assert [e["status"] for e in events] == ["pending", "running", "pending", "running"], events
    assert [c.request_id for c in twin.calls].count(job_id) == 1
    assert again.post(f"/v1/jobs/{job_id}/cancel").json()["status"] == "cancelled"
    history = again.get(f"/v1/jobs/{job_id}").json()
    assert history.get("requeue_reason") == "service_stopped", history


def test_a_model_loading_longer_than_the_window_fails_no_job_that_came_after_the_start(twin_factory: type,
                                                                                       tmp_path: Path) -> None:
    """The outage window runs from when a job waits for the loading model, not from the service's start: real
    weights can take minutes to load, and a job submitted then waits its own window, as it did before the health
    check before a claim."""
    service = twin_factory.start(data_dir=tmp_path / "var", PHONOS_TRITON_RETRY_WINDOW_S="1.5")
    twin, loading = service.inference, service.specs["esmfold"].triton_model
    twin.set_ready(loading, False)  # loading from the start: no job has asked yet
    time.sleep(2)  # longer than the window, with nothing to run
    client = service.client(service.new_key(credits=100))
    job_id = client.predict().json()["job_id"]
    time.sleep(0.6)  # the next probes: a window counted from the start would have failed it by now
    assert client.get(f"/v1/jobs/{job_id}").json()["status"] == "pending"
    twin.set_ready(loading, True)
    assert client.wait_for(job_id, timeout_s=30)["status"] == "completed"


def test_a_job_whose_model_process_stopped_runs_again_counted_saying_why(twin_factory: type, tmp_path: Path) -> None:
    """Triton's known segfault failed the job in flight at once as a model error ("diffdock failed: Stub process
    'diffdock_0_0' is not healthy.; credits were refunded."), though the README says the restart reruns what Triton
    held (a tester's job): it runs again, the run counted, saying why; one whose model process stops on every run
    fails after its last, refunded, instead of looping."""
    service = twin_factory.start(data_dir=tmp_path / "var", PHONOS_MAX_ATTEMPTS="3")
    client = service.client(service.new_key(credits=100))
    service.inference.script("esmfold", Failure.PROCESS_STOPPED)
    job = client.wait_for(client.predict().json()["job_id"])
    assert job["status"] == "completed", job
    assert (job["attempt"], job["max_attempts"], job["requeue_reason"]) == (2, 3, "model_restarted"), job

    service.inference.script("esmfold", *[Failure.PROCESS_STOPPED] * 3)
    balance = client.get("/v1/account").json()["credits"]["balance"]
    gone = client.wait_for(client.predict().json()["job_id"])
    assert (gone["status"], gone["error_code"], gone["attempt"]) == ("failed", "interrupted", 3), gone
    assert gone["error"] == ("The model's process stopped during each of the job's 3 runs, so it was given up; submit "
                             "it again, and tell the operator if it happens again (the model server's log says why); "
                             "credits were refunded.")
    assert client.get("/v1/account").json()["credits"]["balance"] == balance
