"""Result retention (PHONOS_RESULT_RETENTION_DAYS): a completed job's files go a set time after it completed;
the job, its scores and metadata stay, and its downloads answer 410 Gone in the documented error shape."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime
from pathlib import Path

import grpc
import pytest
from phonos_client import Client, GoneError
from prometheus_client import REGISTRY

from jobservice import result_retention
from jobservice.errors import ServiceUnavailable
from jobservice.periodic import Periodic
from jobservice.result_retention import DAY_S
from phonos.v1 import phonos_pb2 as pb
from phonos_config.service import ServiceSettings
from tests.support import ALL_STORES, InProcessService, wait_until

pytestmark = pytest.mark.integration
STORES = ALL_STORES  # the sweep's queries run on SQLite and on PostgreSQL


def _files(data_dir: Path, job_id: str) -> list[Path]:
    return sorted((data_dir / "results" / job_id[:2]).glob(f"{job_id}.*"))


def _metric(name: str) -> float:
    """A counter of this process's job services (the in-process twin's), as /metrics would show it."""
    return REGISTRY.get_sample_value(name) or 0.0


def _completed_at(job: dict) -> float:
    return datetime.fromisoformat(job["completed_at"]).timestamp()


def test_files_past_retention_go_and_their_downloads_answer_410(twin_factory: type, tmp_path: Path) -> None:
    data_dir = tmp_path / "var"
    service = twin_factory.start(data_dir, PHONOS_RESULT_RETENTION_DAYS="30", PHONOS_MODELS="esmfold,diffdock")
    key = service.new_key()
    client = service.client(key)
    old = client.wait_for(client.predict(name="old").json()["job_id"])
    new = client.wait_for(client.predict(name="new").json()["job_id"])
    assert _files(data_dir, old["job_id"]) and _files(data_dir, new["job_id"])
    old_end, new_end = _completed_at(old), _completed_at(new)
    assert old_end < new_end

    retention = service.running.service.retention
    assert service.call(retention.sweep(at=old_end + 29 * DAY_S)) == 0  # 29 days on, nothing is due
    # 30 days after the first job completed and before the second one's 30 days are up.
    swept_before = _metric("phonos_result_retention_jobs_total")
    assert service.call(retention.sweep(at=(old_end + new_end) / 2 + 30 * DAY_S)) == 1
    assert _metric("phonos_result_retention_jobs_total") == swept_before + 1
    assert _files(data_dir, old["job_id"]) == [] and _files(data_dir, new["job_id"])

    job = client.get(f"/v1/jobs/{old['job_id']}").json()
    assert job["status"] == "completed" and job["metrics"] == old["metrics"] and "results_deleted_at" in job
    assert "results_deleted_at" not in client.get(f"/v1/jobs/{new['job_id']}").json()
    gone = client.get(old["download_url"], params={"format": "json"})
    assert gone.status_code == 410, gone.text
    body = gone.json()
    assert body["error"] == "Gone" and f"result files of job {old['job_id']} were deleted on " in body["message"]
    assert "keeps results for 30 days after a job completes" in body["message"]
    assert client.get(new["download_url"]).status_code == 200
    # Docking into the structure of a job whose files went is the submission's mistake: a 400 that says why.
    dock = client.post("/v1/predict", json={"model": "diffdock", "sequence": "CCO",
                                            "params": {"protein_pdb": old["job_id"]}})
    assert dock.status_code == 400 and "has no structure to dock into any more" in dock.json()["message"], dock.text

    channel, stub = service.grpc_stub()
    with channel, pytest.raises(grpc.RpcError) as refused:
        stub.DownloadJobOutput(pb.DownloadJobOutputRequest(job_id=old["job_id"]),
                               metadata=(("authorization", f"Bearer {key}"),))
    assert refused.value.code() == grpc.StatusCode.NOT_FOUND and "were deleted on" in refused.value.details()
    # The SDK gives the same typed error over either transport, and the job says when the files went.
    for url in (service.base_url, f"grpc://{service.grpc_target}"):
        with Client(url, key) as sdk:
            assert sdk.get_job(old["job_id"]).results_deleted_at == job["results_deleted_at"]
            with pytest.raises(GoneError) as sdk_refused:
                sdk.download(old["job_id"])
            assert sdk_refused.value.status == 410 and sdk_refused.value.error == "Gone", url

    assert service.call(retention.sweep(at=new_end + 365 * DAY_S)) == 1  # the second one in its turn
    assert service.call(retention.sweep(at=new_end + 365 * DAY_S)) == 0  # and nothing twice


def test_a_service_sweeps_when_it_starts_and_keeps_everything_when_retention_is_off(twin_factory: type,
                                                                                    tmp_path: Path) -> None:
    data_dir = tmp_path / "var"
    kept_for_ever = twin_factory.start(data_dir)  # PHONOS_RESULT_RETENTION_DAYS unset: 0, keep for ever
    client = kept_for_ever.client(kept_for_ever.new_key())
    job = client.wait_for(client.predict().json()["job_id"])
    assert kept_for_ever.call(kept_for_ever.running.service.retention.sweep(at=time.time() + 3650 * DAY_S)) == 0
    assert _files(data_dir, job["job_id"])
    kept_for_ever.stop()

    time.sleep(0.2)
    # Retention of 0.1 s: the next service's first sweep, at its start, finds the job past it.
    swept = twin_factory.start(data_dir, PHONOS_RESULT_RETENTION_DAYS=str(0.1 / DAY_S))
    wait_until(lambda: _files(data_dir, job["job_id"]) == [], timeout_s=30)
    restarted = swept.client(client.session.headers["Authorization"].removeprefix("Bearer "))
    assert wait_until(lambda: restarted.get(job["download_url"]).status_code == 410, timeout_s=30)


def test_a_backlog_larger_than_one_batch_is_swept_in_rounds(twin_factory: type, tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(result_retention, "SWEEP_BATCH", 2)
    data_dir = tmp_path / "var"
    service = twin_factory.start(data_dir, PHONOS_RESULT_RETENTION_DAYS="1")
    client = service.client(service.new_key())
    jobs = [client.wait_for(client.predict(name=f"job {n}").json()["job_id"]) for n in range(5)]
    assert service.call(service.running.service.retention.sweep(at=time.time() + 2 * DAY_S)) == 5
    assert all(_files(data_dir, job["job_id"]) == [] for job in jobs)
    assert all("results_deleted_at" in client.get(f"/v1/jobs/{job['job_id']}").json() for job in jobs)


def test_a_missing_result_file_is_a_410_that_says_so_not_a_500(twin_service: InProcessService) -> None:
    client = twin_service.client(twin_service.new_key())
    job = client.wait_for(client.predict().json()["job_id"])
    for path in _files(twin_service.settings.data_dir, job["job_id"]):
        if path.suffix == ".pdb":
            path.unlink()  # removed by hand, lost with a disk, a restore without its results
    missing_before = _metric("phonos_result_files_missing_total")
    missing = client.get(job["download_url"])
    assert _metric("phonos_result_files_missing_total") == missing_before + 1  # an operator's alarm
    assert missing.status_code == 410 and missing.json()["error"] == "Gone"
    assert missing.json()["message"] == (f"The result file {job['job_id']}.pdb of job {job['job_id']} is missing "
                                         "from this server's storage; ask the server's operator")
    assert client.get(job["download_url"], params={"format": "json"}).status_code == 200  # the others are there


@pytest.mark.parametrize("value", ["-1", "nan", "soon"])
def test_a_retention_that_cannot_work_is_refused_naming_its_variable(value: str) -> None:
    with pytest.raises(ValueError, match="PHONOS_RESULT_RETENTION_DAYS"):
        ServiceSettings.from_env({"PHONOS_RESULT_RETENTION_DAYS": value})


def test_a_chore_that_meets_an_outage_logs_one_warning_without_a_traceback_and_goes_on(
        caplog: pytest.LogCaptureFixture) -> None:
    rounds: list[int] = []
    second_round = asyncio.Event()

    async def work() -> None:
        rounds.append(1)
        if len(rounds) >= 2:  # the next round came: the chore outlived the outage
            second_round.set()
        raise ServiceUnavailable("The service cannot store anything right now: its disk is full. Try again later.")

    async def run() -> None:
        chore = Periodic("result-orphans", 0.01, work, "results.orphan_sweep_failed")
        chore.start()
        await asyncio.wait_for(second_round.wait(), 30)
        await chore.stop()

    asyncio.run(run())
    said = [r for r in caplog.records if getattr(r, "action", "") == "results.orphan_sweep_failed"]
    assert said and all(r.levelname == "WARNING" and not r.exc_info for r in said)
    assert "result-orphans waits for the database (The service cannot store anything" in said[0].getMessage()
