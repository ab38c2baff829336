"""Every way a dispatch can end, on the in-memory inference twin: the failure kind a job gets, the one
charge rule (jobservice/failures.py), model-server outages (jobservice/outage.py), storage errors, a
graceful stop and recovery after a crash."""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest

from jobservice.memory_inference import Failure, Slow
from jobservice.modelspecs.esmfold import FORMATS as ESMFOLD_FORMATS
from tests.conftest import store_env
from tests.support import ALL_STORES, ApiClient, InProcessService, wait_until

pytestmark = pytest.mark.integration
STORES = ALL_STORES  # state: every test runs on SQLite and on PostgreSQL

SEQ = "MKTVRQERLKSIVRILERSKEPV"
PDB = (Path(__file__).parents[1] / "diffdock" / "data" / "receptor_small.pdb").read_text()


def submit(service: InProcessService, credits: int = 100, model: str = "esmfold", sequence: str = SEQ,
           **params: object) -> tuple[ApiClient, str]:
    client = service.client(service.new_key(credits=credits))
    response = client.post("/v1/predict", json={"model": model, "sequence": sequence, "params": params})
    assert response.status_code == 200, response.text
    return client, response.json()["job_id"]


def key_of(client: ApiClient) -> str:
    return str(client.session.headers["Authorization"]).removeprefix("Bearer ")


def attempts(service: InProcessService, job_id: str) -> int:
    return int(service.sql("SELECT attempts FROM jobs WHERE id = ?", job_id)[0][0])


def epoch(timestamp: str) -> float:
    return datetime.fromisoformat(timestamp.replace("Z", "+00:00")).timestamp()


def leave_running_as_a_killed_process(service: InProcessService, job_id: str) -> None:
    """The row as a SIGKILL leaves it: claimed (the run counted), never finished; on PostgreSQL its lease lapsed.
    (A process killed for real: tests/e2e/test_faults_with_triton.py.)"""
    service.sql("UPDATE jobs SET status = 'running', attempts = attempts + 1 WHERE id = ?", job_id)
    if service.shared:
        service.sql("UPDATE jobs SET lease_owner = 'killed', lease_expires = 0 WHERE id = ?", job_id)


@pytest.fixture(scope="module")
def quick_to_fail(tmp_path_factory: pytest.TempPathFactory, store: str,
                  request: pytest.FixtureRequest) -> Iterator[InProcessService]:
    """One job service (per store) for the failure kinds below, shared: each case scripts the one call its own
    job makes and reads only its own account, so seven cases need not pay seven start-ups (~0.5 s each on
    SQLite, ~1.5 s with a fresh PostgreSQL database). A retry window of 0: an unavailable server fails the job
    at the first refusal."""
    running = InProcessService(tmp_path_factory.mktemp("failures") / "var", {
        **store_env(store, request), "PHONOS_TRITON_TIMEOUT_S": "0.3", "PHONOS_TRITON_RETRY_WINDOW_S": "0"})
    yield running
    running.stop()


@pytest.mark.parametrize(("outcome", "code", "charged"), [
    (Failure.INVALID_INPUT, "invalid_input", True),
    (Failure.COMPUTE_LIMIT, "compute_limit", True),
    (Failure.MODEL_ERROR, "model_error", False),
    (Failure.OUT_OF_MEMORY, "model_error", False),  # the API's code; the metrics count it as out_of_memory
    (Failure.BROKEN_RESULT, "model_error", False),
    (Failure.TIMEOUT, "timeout", False),
    (Failure.UNAVAILABLE, "model_unavailable", False),
    (Failure.CANCELLED_BY_SERVER, "model_unavailable", False),
])
def test_each_failure_has_its_code_and_only_the_inputs_fault_is_charged(
    quick_to_fail: InProcessService, outcome: Failure, code: str, charged: bool
) -> None:
    service = quick_to_fail
    service.inference.script("esmfold", outcome)
    client, job_id = submit(service)
    job = client.wait_for(job_id)
    assert job["status"] == "failed" and job["error_code"] == code
    assert job["credits_used"] == (10 if charged else 0)
    assert client.balance() == (90 if charged else 100)
    assert ("not refunded" in job["error"]) == charged and ("were refunded" in job["error"]) != charged
    assert client.get("/v1/account").json()["jobs"]["failed"] == 1
    # One call, which took this case's scripted outcome (the service is shared: no earlier case left one behind).
    assert [c.request_id for c in service.inference.calls].count(job_id) == 1


def test_a_model_failure_says_which_model_failed_once(twin_factory: type) -> None:
    service = twin_factory.start()
    service.inference.script("esmfold", Failure.MODEL_ERROR)
    client, job_id = submit(service)
    error = client.wait_for(job_id)["error"]
    assert error.startswith("esmfold failed: RuntimeError: scripted model failure") and error.count("esmfold") == 1


def test_time_queued_is_never_charged_and_compute_past_the_models_limit_is(
        twin_factory: type, monkeypatch: pytest.MonkeyPatch) -> None:
    # Deadline 3 s (queueing included: refunded); ESMFold's compute limit 1 s (the model's own clock: charged).
    monkeypatch.setenv("PHONOS_ESMFOLD_TIMEOUT_S", "1")  # the spec's setting, read where the spec is built
    service = twin_factory.start(PHONOS_TRITON_TIMEOUT_S="3")
    service.inference.script("esmfold", Failure.TIMEOUT, Slow(30))  # stuck in the server's queue; then heavy
    client = service.client(service.new_key(credits=100))
    queued, heavy = (client.predict().json()["job_id"] for _ in range(2))
    stuck, spent = client.wait_for(queued), client.wait_for(heavy)
    assert stuck["error_code"] == "timeout" and "queued at the model server" in stuck["error"]
    assert stuck["credits_used"] == 0 and "were refunded" in stuck["error"]
    assert spent["error_code"] == "compute_limit" and "limit of 1 s" in spent["error"]
    assert spent["credits_used"] == 10 and "not refunded" in spent["error"] and client.balance() == 90
    assert spent["error"].endswith("submit a smaller input (a shorter sequence, fewer num_recycles, or relax none).")
    # What each call carried: the model's compute limit, and the longer client-side deadline.
    assert {(c.compute_limit_s, c.timeout_s) for c in service.inference.calls} == {(1.0, 3.0)}


def test_unavailable_and_dropped_calls_wait_for_the_server_and_cost_no_attempt(twin_factory: type) -> None:
    service = twin_factory.start(PHONOS_TRITON_RETRY_WINDOW_S="30")
    service.inference.script("esmfold", Failure.UNAVAILABLE, Failure.CANCELLED_BY_SERVER)
    client, job_id = submit(service)
    assert client.wait_for(job_id)["status"] == "completed"
    assert [c.request_id for c in service.inference.calls].count(job_id) == 3
    assert client.balance() == 90 and attempts(service, job_id) == 1  # the two refused calls were not runs


def test_while_the_model_server_is_down_jobs_wait_pending_and_resume_within_seconds_of_its_return(
        twin_factory: type) -> None:
    service = twin_factory.start(PHONOS_TRITON_RETRY_WINDOW_S="120", PHONOS_MAX_INFLIGHT_PER_MODEL="2")
    client = service.client(service.new_key(credits=110))
    # Served once: what follows is an outage (a model never served yet is not called at all: test_job_attempts).
    assert client.wait_for(client.predict().json()["job_id"])["status"] == "completed"
    service.inference.available = False
    served = len(service.inference.calls)
    ids = [client.predict().json()["job_id"] for _ in range(5)]
    wait_until(lambda: len(service.inference.calls) > served, 10)
    time.sleep(1.5)  # three outage probes
    # Waiting, not running: no job uses an attempt, and calls stopped at the first refusal(s), none per job.
    assert {client.get(f"/v1/jobs/{j}").json()["status"] for j in ids} == {"pending"}
    assert [attempts(service, j) for j in ids] == [0] * 5 and len(service.inference.calls) - served <= 2
    service.inference.available = True
    back = time.monotonic()
    for job_id in ids:
        assert client.wait_for(job_id, timeout_s=5)["status"] == "completed"
    assert time.monotonic() - back < 5  # noticed at the next probe (every 0.5 s), not after a backoff
    assert [attempts(service, j) for j in ids] == [1] * 5 and client.balance() == 50


def test_a_server_down_for_the_whole_window_fails_every_waiting_job_together_refunded(twin_factory: type) -> None:
    service = twin_factory.start(PHONOS_TRITON_RETRY_WINDOW_S="1.5", PHONOS_MAX_INFLIGHT_PER_MODEL="1")
    service.inference.available = False
    client = service.client(service.new_key(credits=100))
    submitted = time.time()
    batch = client.post("/v1/batch", json={"jobs": [{"model": "esmfold", "sequence": SEQ}] * 6}).json()
    jobs = [client.wait_for(r["job_id"], timeout_s=20) for r in batch["results"]]
    assert {(j["status"], j["error_code"]) for j in jobs} == {("failed", "model_unavailable")}
    assert all("unavailable for 1.5 s" in j["error"] and "refunded" in j["error"] for j in jobs)
    ended = sorted(epoch(j["completed_at"]) for j in jobs)
    # One window from the start of the outage, then all at once: not one window per job, one at a time.
    assert ended[0] - submitted >= 1.4 and ended[-1] - ended[0] < 1.0
    assert client.balance() == 100 and [attempts(service, j["job_id"]) for j in jobs] == [0] * 6
    # While the outage goes on, a new job fails at the next probe instead of waiting another window.
    late = client.predict().json()["job_id"]
    started = time.monotonic()
    assert client.wait_for(late, timeout_s=10)["error_code"] == "model_unavailable"
    assert time.monotonic() - started < 1.4
    service.inference.available = True  # back: jobs run again
    assert client.wait_for(client.predict().json()["job_id"], timeout_s=10)["status"] == "completed"


def test_a_server_that_looks_ready_but_refuses_every_call_fails_its_jobs_after_the_window(twin_factory: type) -> None:
    service = twin_factory.start(PHONOS_TRITON_RETRY_WINDOW_S="1")
    service.inference.script("esmfold", *[Failure.UNAVAILABLE] * 100)  # health keeps saying ready
    client, job_id = submit(service)
    job = client.wait_for(job_id, timeout_s=20)
    assert job["error_code"] == "model_unavailable" and "unavailable for 1 s" in job["error"]
    assert len(service.inference.calls) >= 2 and client.balance() == 100


def test_a_storage_error_fails_the_job_refunded_after_its_window_and_the_worker_carries_on(
        twin_factory: type) -> None:
    service = twin_factory.start(PHONOS_MAX_INFLIGHT_PER_MODEL="1", PHONOS_STORAGE_RETRY_WINDOW_S="0.5")
    results = service.data_dir / "results"
    shutil.rmtree(results, ignore_errors=True)
    results.write_text("a file where the results directory should be")
    client, broken = submit(service)
    job = client.wait_for(broken)
    assert job["error_code"] == "internal" and "NotADirectoryError" in job["error"] and client.balance() == 100
    results.unlink()
    assert client.wait_for(client.predict(SEQ).json()["job_id"])["status"] == "completed"  # same single worker


def test_storage_unusable_for_a_few_seconds_delays_the_result_but_loses_nothing(twin_factory: type) -> None:
    service = twin_factory.start()  # the default storage window (60 s)
    results = service.data_dir / "results"
    shutil.rmtree(results, ignore_errors=True)
    results.write_text("a plain file where the shard directories go")  # as root, chmod would not stop a write
    client, job_id = submit(service)
    wait_until(lambda: service.inference.calls, 10)
    time.sleep(2.0)
    assert client.get(f"/v1/jobs/{job_id}").json()["status"] == "running"  # computed, its files not yet written
    results.unlink()
    job = client.wait_for(job_id, timeout_s=20)
    assert job["status"] == "completed" and client.balance() == 90
    files = list((results / job_id[:2]).iterdir())
    assert sorted(f.name for f in files) == sorted(f"{job_id}.{fmt}" for fmt in ESMFOLD_FORMATS)  # no temporaries


def test_result_files_are_private_and_leave_no_temporaries(twin_factory: type) -> None:
    service = twin_factory.start()
    client, job_id = submit(service)
    job = client.wait_for(job_id)
    files = sorted((service.data_dir / "results" / job_id[:2]).iterdir())
    assert [f.name for f in files] == sorted(f"{job_id}.{fmt}" for fmt in ESMFOLD_FORMATS)
    assert {f.stat().st_mode & 0o777 for f in files} == {0o600}
    assert job["formats"] == list(ESMFOLD_FORMATS)


def test_the_model_result_and_the_service_provenance_reach_the_job(twin_factory: type) -> None:
    service = twin_factory.start(PHONOS_MODELS="diffdock")
    client, job_id = submit(service, model="diffdock", sequence="CCO", protein_pdb=PDB, random_seed=7)
    job = client.wait_for(job_id)
    assert job["metrics"] == {"twin": 1}  # what the model sent
    metadata = job["metadata"]
    assert metadata["weights"].startswith("none: in-memory inference twin")
    assert metadata["protein_source"] == "inline" and metadata["random_seed"] == 7  # what only the service knows
    assert metadata["timings"]["triton_call_s"] >= 0 and metadata["timings"]["service_total_s"] >= 0


def test_a_graceful_stop_hands_running_jobs_back_without_counting_the_run(twin_factory: type, tmp_path: Path,
                                                                          caplog: pytest.LogCaptureFixture) -> None:
    first = twin_factory.start(data_dir=tmp_path / "var", PHONOS_MAX_ATTEMPTS="1")
    first.inference.script("esmfold", Slow(60))
    client, job_id = submit(first)
    client.wait_for(job_id, ("running",))
    caplog.set_level(logging.INFO, logger="jobservice.server")
    first.stop()  # SIGTERM's path: the job goes back to pending, its run not counted
    assert first.sql("SELECT status, attempts FROM jobs WHERE id = ?", job_id) == [("pending", 0)]
    # The stop says how long each phase took (where a slow stop waited).
    stopped = [r.getMessage() for r in caplog.records if r.getMessage().startswith("job service stopped:")]
    assert len(stopped) == 1 and all(f"{phase} " in stopped[0] for phase in ("grpc", "service", "database"))

    # With one attempt allowed, a counted stop would have given the job up; it runs instead.
    second = twin_factory.start(data_dir=tmp_path / "var", PHONOS_MAX_ATTEMPTS="1")
    assert second.client(key_of(client)).wait_for(job_id)["status"] == "completed"
    assert attempts(second, job_id) == 1


def test_a_job_killed_too_often_is_given_up_and_refunded(twin_factory: type, tmp_path: Path) -> None:
    first = twin_factory.start(data_dir=tmp_path / "var", PHONOS_MAX_ATTEMPTS="1")
    first.inference.script("esmfold", Slow(60))
    client, job_id = submit(first)
    client.wait_for(job_id, ("running",))
    first.stop()
    leave_running_as_a_killed_process(first, job_id)  # a SIGKILL counts its run

    second = twin_factory.start(data_dir=tmp_path / "var", PHONOS_MAX_ATTEMPTS="1", PHONOS_JOB_LEASE_S="0.5")
    again = second.client(key_of(client))
    job = again.wait_for(job_id)
    assert job["status"] == "failed" and job["error_code"] == "interrupted" and again.balance() == 100


@pytest.mark.sqlite_only  # on PostgreSQL another job service may serve the model: its jobs wait for it
def test_pending_jobs_of_a_model_no_longer_served_fail_refunded(twin_factory: type, tmp_path: Path) -> None:
    first = twin_factory.start(data_dir=tmp_path / "var", PHONOS_MODELS="esmfold,echo",
                               PHONOS_MAX_INFLIGHT_PER_MODEL="1")
    first.inference.script("echo", Slow(60))
    client, running = submit(first, model="echo", sequence="hello")
    client.wait_for(running, ("running",))
    queued = client.post("/v1/predict", json={"model": "echo", "sequence": "queued"}).json()["job_id"]
    assert client.get(f"/v1/jobs/{queued}").json()["status"] == "pending"
    first.stop()

    second = twin_factory.start(data_dir=tmp_path / "var", PHONOS_MODELS="esmfold")
    again = second.client(key_of(client))
    for job_id in (running, queued):
        job = again.wait_for(job_id)
        assert job["status"] == "failed" and job["error_code"] == "model_removed"
    assert again.balance() == 100


def test_cancelling_a_running_job_cancels_the_call_and_keeps_the_charge(twin_factory: type) -> None:
    service = twin_factory.start()
    service.inference.script("esmfold", Slow(60))
    client, job_id = submit(service)
    client.wait_for(job_id, ("running",))
    cancelled = client.post(f"/v1/jobs/{job_id}/cancel").json()
    assert cancelled["status"] == "cancelled" and cancelled["credits_refunded"] == 0
    wait_until(lambda: job_id in service.inference.cancelled, 10)
    assert client.get(f"/v1/jobs/{job_id}").json()["status"] == "cancelled" and client.balance() == 90
