"""Every way a dispatch can end, on the in-memory inference twin: the failure kind a job gets, the one
refund rule (jobservice/failures.py), retries, storage errors, and recovery after a restart."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from jobservice.memory_inference import Failure, Slow
from jobservice.modelspecs.esmfold import FORMATS as ESMFOLD_FORMATS
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


@pytest.mark.parametrize(("outcome", "code", "charged"), [
    (Failure.INVALID_INPUT, "invalid_input", True),
    (Failure.MODEL_ERROR, "model_error", False),
    (Failure.BROKEN_RESULT, "model_error", False),
    (Failure.TIMEOUT, "timeout", False),
    (Failure.UNAVAILABLE, "model_unavailable", False),
    (Failure.CANCELLED_BY_SERVER, "model_unavailable", False),
])
def test_each_failure_has_its_code_and_only_the_inputs_fault_is_charged(
    twin_factory: type, outcome: Failure, code: str, charged: bool
) -> None:
    # A retry window of 0: an unavailable server fails the job at the first refusal.
    service = twin_factory.start(PHONOS_TRITON_TIMEOUT_S="0.3", PHONOS_TRITON_RETRY_WINDOW_S="0")
    service.inference.script("esmfold", outcome)
    client, job_id = submit(service)
    job = client.wait_for(job_id)
    assert job["status"] == "failed" and job["error_code"] == code
    assert job["credits_used"] == (10 if charged else 0)
    assert client.balance() == (90 if charged else 100)
    assert ("not refunded" in job["error"]) == charged and ("were refunded" in job["error"]) != charged
    assert client.get("/v1/account").json()["jobs"]["failed"] == 1


def test_unavailable_and_dropped_calls_are_retried_until_the_server_answers(twin_factory: type) -> None:
    service = twin_factory.start(PHONOS_TRITON_RETRY_WINDOW_S="30")
    service.inference.script("esmfold", Failure.UNAVAILABLE, Failure.CANCELLED_BY_SERVER)
    client, job_id = submit(service)
    assert client.wait_for(job_id)["status"] == "completed"
    assert [c.request_id for c in service.inference.calls].count(job_id) == 3
    assert client.balance() == 90


def test_a_server_down_for_the_whole_window_fails_the_job_refunded(twin_factory: type) -> None:
    service = twin_factory.start(PHONOS_TRITON_RETRY_WINDOW_S="0.5")
    service.inference.available = False
    client, job_id = submit(service)
    job = client.wait_for(job_id)
    assert job["error_code"] == "model_unavailable" and "unavailable for 0.5 s" in job["error"]
    assert len(service.inference.calls) >= 2 and client.balance() == 100


def test_a_storage_error_fails_the_job_refunded_and_the_worker_carries_on(twin_factory: type) -> None:
    service = twin_factory.start(PHONOS_MAX_INFLIGHT_PER_MODEL="1")
    results = service.data_dir / "results"
    shutil.rmtree(results, ignore_errors=True)
    results.write_text("a file where the results directory should be")
    client, broken = submit(service)
    job = client.wait_for(broken)
    assert job["error_code"] == "internal" and "NotADirectoryError" in job["error"] and client.balance() == 100
    results.unlink()
    assert client.wait_for(client.predict(SEQ).json()["job_id"])["status"] == "completed"  # same single worker


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


def test_a_job_left_running_by_a_stopped_service_runs_again_after_a_restart(twin_factory: type, tmp_path: Path) -> None:
    first = twin_factory.start(data_dir=tmp_path / "var")
    first.inference.script("esmfold", Slow(60))
    client, job_id = submit(first)
    client.wait_for(job_id, ("running",))
    first.stop()  # the job stays running in the database: its process is gone

    second = twin_factory.start(data_dir=tmp_path / "var")
    assert second.client(key_of(client)).wait_for(job_id)["status"] == "completed"
    assert attempts(second, job_id) == 2


def test_a_job_interrupted_too_often_is_given_up_and_refunded(twin_factory: type, tmp_path: Path) -> None:
    first = twin_factory.start(data_dir=tmp_path / "var", PHONOS_MAX_ATTEMPTS="1")
    first.inference.script("esmfold", Slow(60))
    client, job_id = submit(first)
    client.wait_for(job_id, ("running",))
    first.stop()

    second = twin_factory.start(data_dir=tmp_path / "var", PHONOS_MAX_ATTEMPTS="1")
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
