"""DELETE /v1/jobs/{id}: the owner deletes a finished job; its results and inputs go, it is gone from the API,
and what it was charged stays. On SQLite and on PostgreSQL."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from phonos_client import Client, NotFoundError

from jobservice.memory_inference import Slow
from phonos.v1 import phonos_pb2 as pb
from tests.support import ALL_STORES, WebhookReceiver, wait_until

pytestmark = pytest.mark.integration
STORES = ALL_STORES


def _files(data_dir: Path, job_id: str) -> list[Path]:
    return sorted((data_dir / "results" / job_id[:2]).glob(f"{job_id}.*"))


def test_a_deleted_job_is_gone_with_its_files_and_inputs_and_its_charge_stays(twin_factory: type, tmp_path: Path,
                                                                             store: str) -> None:
    data_dir = tmp_path / "var"
    service = twin_factory.start(data_dir)
    key = service.new_key(credits=100)
    client = service.client(key)
    kept = client.wait_for(client.predict(name="keep me").json()["job_id"])
    gone = client.wait_for(client.predict(name="secret target 7").json()["job_id"])
    assert _files(data_dir, gone["job_id"]) and client.balance() == 80

    deleted = client.delete(f"/v1/jobs/{gone['job_id']}")
    assert deleted.status_code == 200, deleted.text
    assert deleted.json() == {"success": True, "job_id": gone["job_id"],
                              "message": "Job deleted: its results and inputs are gone"}
    assert _files(data_dir, gone["job_id"]) == [] and _files(data_dir, kept["job_id"])
    assert client.get(f"/v1/jobs/{gone['job_id']}").status_code == 404
    assert client.get(gone["download_url"]).status_code == 404
    listing = client.get("/v1/jobs").json()
    assert [j["job_id"] for j in listing["jobs"]] == [kept["job_id"]] and listing["pagination"]["total"] == 1
    assert client.get("/v1/account").json()["jobs"]["total"] == 1
    assert client.balance() == 80  # what it was charged stays charged
    assert client.delete(f"/v1/jobs/{gone['job_id']}").status_code == 404  # once

    # Watching the account from the start replays the kept job's events and none of the deleted one's. A job
    # finished after the delete has the newest event: once it has come, the replay has been read whole (the stream
    # read for a fixed 2 s could end before a loaded host had replayed the kept job's events).
    after = client.wait_for(client.predict(name="after the delete").json()["job_id"])["job_id"]
    channel, stub = service.grpc_stub()
    seen: list[str] = []
    with channel:
        stream = stub.WatchJobs(pb.WatchJobsRequest(last_event_id="0"), metadata=(("authorization", f"Bearer {key}"),),
                                timeout=60)
        for message in stream:
            seen.append(message.event.job_id)
            if message.event.job_id == after and message.event.job.status == "completed":
                break
        stream.cancel()
    assert kept["job_id"] in seen and gone["job_id"] not in seen and seen[-1] == after

    if store == "sqlite":  # what is left of it in the database: the row for the charge, nothing the user sent
        db = sqlite3.connect(data_dir / "phonos.sqlite3")
        row = db.execute("SELECT name, result_json, credits_used, deleted_at FROM jobs WHERE id = ?",
                         (gone["job_id"],)).fetchone()
        assert row[:3] == (None, None, 10) and row[3] is not None
        assert db.execute("SELECT COUNT(*) FROM job_inputs WHERE job_id = ?", (gone["job_id"],)).fetchone()[0] == 0
        db.close()


def test_a_deleted_jobs_webhook_deliveries_go_with_it(twin_factory: type, tmp_path: Path) -> None:
    from jobservice.memory_inference import Failure

    service = twin_factory.start(tmp_path / "var")
    client = service.client(service.new_key())
    with WebhookReceiver() as receiver:
        hook_id = client.post("/v1/webhooks", json={"url": receiver.url, "events": ["job.completed", "job.failed"]}
                              ).json()["webhook"]["webhook_id"]
        kept = client.wait_for(client.predict().json()["job_id"])["job_id"]
        service.inference.script("esmfold", Failure.MODEL_ERROR)
        failed = client.wait_for(client.predict().json()["job_id"])
        assert failed["status"] == "failed" and failed["error"]
        log = f"/v1/webhooks/{hook_id}/deliveries"
        wait_until(lambda: client.get(log, params={"status": "delivered"}).json()["pagination"]["total"] == 2, 15)
    assert client.delete(f"/v1/jobs/{failed['job_id']}").status_code == 200
    # The delivery's body repeated the job's error: the log shows only the kept job's delivery now
    assert [d["job_id"] for d in client.get(log).json()["deliveries"]] == [kept]


def test_only_finished_jobs_of_ones_own_can_be_deleted(twin_factory: type, tmp_path: Path) -> None:
    service = twin_factory.start(tmp_path / "var")
    owner_key = service.new_key()
    owner = service.client(owner_key)
    service.inference.script("esmfold", Slow(30))
    running = owner.predict().json()["job_id"]
    owner.wait_for(running, statuses=("running",))
    refused = owner.delete(f"/v1/jobs/{running}")
    assert refused.status_code == 400 and refused.json()["message"] == (
        f"Job {running} is running; cancel it first, then delete it")
    assert owner.post(f"/v1/jobs/{running}/cancel").status_code == 200
    stranger = service.client(service.new_key())
    assert stranger.delete(f"/v1/jobs/{running}").status_code == 404
    assert owner.get(f"/v1/jobs/{running}").json()["status"] == "cancelled"

    with Client(f"grpc://{service.grpc_target}", owner_key) as sdk:  # the SDK, over gRPC
        assert sdk.delete_job(running).raw == {"success": True, "job_id": running,
                                               "message": "Job deleted: its results and inputs are gone"}
        with pytest.raises(NotFoundError):
            sdk.get_job(running)
