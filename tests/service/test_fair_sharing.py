"""Fair sharing of a model between accounts (jobservice/fairness.py), on both stores: accounts take turns at
a model however many jobs one of them queued, an optional cap on one account's jobs in flight, and a limit
on the jobs one account may have waiting (429 "Too many jobs")."""

from __future__ import annotations

import json
import time
from pathlib import Path

import grpc
import pytest
from phonos_client import cli

from jobservice.memory_inference import Slow
from phonos.v1 import phonos_pb2 as pb
from tests.support import ALL_STORES, ApiClient, InProcessService

pytestmark = pytest.mark.integration
STORES = ALL_STORES  # the SQLite mode's in-memory queues and the shared store's claim query alike

SEQ = "MKTVRQERLKSIVRILERSKEPV"


def flood(client: ApiClient, count: int) -> list[str]:
    answer = client.post("/v1/batch", json={"jobs": [{"model": "esmfold", "sequence": SEQ}] * count})
    assert answer.status_code == 200, answer.text
    return [r["job_id"] for r in answer.json()["results"]]


def start_order(service: InProcessService) -> list[str]:
    return [row[0] for row in service.sql("SELECT id FROM jobs WHERE started_at IS NOT NULL ORDER BY started_at")]


def statuses(client: ApiClient, ids: list[str]) -> list[str]:
    return [client.get(f"/v1/jobs/{job_id}").json()["status"] for job_id in ids]


def test_accounts_take_turns_at_a_model_however_many_jobs_one_of_them_queued(twin_factory: type) -> None:
    service = twin_factory.start(PHONOS_MAX_INFLIGHT_PER_MODEL="1")
    # The first call runs until cancelled: the other account's two jobs must be queued while it runs (a 0.3 s
    # call can end first on a loaded host, and the flooder's second job then rightly starts before them).
    service.inference.script("esmfold", Slow(60), *[Slow(0.3)] * 6)
    flooder, other = (service.client(service.new_key(credits=1000)) for _ in range(2))
    a = flood(flooder, 5)
    flooder.wait_for(a[0], ("running",))
    b = [other.predict().json()["job_id"] for _ in range(2)]  # queued behind four of the flooder's
    assert flooder.post(f"/v1/jobs/{a[0]}/cancel").status_code == 200  # its slot is free: the turns begin
    for job_id in a + b:
        (flooder if job_id in a else other).wait_for(job_id, timeout_s=30)
    # The other account's job runs next, not after the flooder's whole backlog; then they alternate.
    assert start_order(service) == [a[0], b[0], a[1], b[1], a[2], a[3], a[4]]


def test_a_cap_on_one_accounts_jobs_in_flight_keeps_slots_for_the_others(twin_factory: type) -> None:
    service = twin_factory.start(PHONOS_MAX_INFLIGHT_PER_MODEL="2", PHONOS_MAX_RUNNING_PER_ACCOUNT="1")
    # The flooder's first call and the other account's run until cancelled: a 1 s call can end on a loaded host
    # before the checks below have looked (the flooder's second job running then, or the other's 0.9 s wait over).
    service.inference.script("esmfold", Slow(60), Slow(60))
    flooder, other = (service.client(service.new_key(credits=1000)) for _ in range(2))
    a = flood(flooder, 3)
    flooder.wait_for(a[0], ("running",))
    time.sleep(0.5)
    assert statuses(flooder, a) == ["running", "pending", "pending"]  # a slot is free, but not for this account
    b = other.predict().json()["job_id"]
    other.wait_for(b, ("running",), timeout_s=30)  # while the flooder's first still runs (it runs until cancelled)
    assert flooder.get(f"/v1/jobs/{a[0]}").json()["status"] == "running"
    assert statuses(flooder, a[1:]) == ["pending", "pending"]
    assert other.post(f"/v1/jobs/{b}/cancel").status_code == 200
    assert flooder.post(f"/v1/jobs/{a[0]}/cancel").status_code == 200
    for job_id in a[1:]:
        assert flooder.wait_for(job_id, timeout_s=30)["status"] == "completed"


def test_an_account_with_a_full_queue_gets_429_and_nothing_is_charged(twin_factory: type) -> None:
    service = twin_factory.start(PHONOS_MAX_INFLIGHT_PER_MODEL="1", PHONOS_MAX_QUEUED_PER_ACCOUNT="3")
    service.inference.script("esmfold", Slow(60))
    key = service.new_key(credits=1000)
    client = service.client(key)
    running = client.predict().json()["job_id"]
    client.wait_for(running, ("running",))
    queued = flood(client, 3)  # three waiting: the most this account may have
    refused = client.predict()
    assert refused.status_code == 429
    assert refused.json()["error"] == "Too many jobs"
    assert "3 jobs waiting" in refused.json()["message"] and "at most 3" in refused.json()["message"]
    assert refused.headers["Retry-After"] == "30"
    assert refused.headers["X-Phonos-Queue-Limit"] == "3" and refused.headers["X-Phonos-Queue-Waiting"] == "3"
    batch = client.post("/v1/batch", json={"jobs": [{"model": "esmfold", "sequence": SEQ}]})
    assert batch.status_code == 429 and batch.json()["error"] == "Too many jobs"
    channel, stub = service.grpc_stub()
    with channel, pytest.raises(grpc.RpcError) as over:
        stub.Predict(pb.PredictRequest(model="esmfold", sequence=SEQ), metadata=(("authorization", f"Bearer {key}"),))
    assert over.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    trailers = dict(over.value.trailing_metadata())
    assert trailers["x-phonos-queue-limit"] == "3" and trailers["x-phonos-queue-waiting"] == "3"
    assert client.balance() == 1000 - 4 * 10  # refused submissions cost nothing
    # Another account is not held back by this one's queue; a cancelled job makes room again.
    assert service.client(service.new_key(credits=100)).predict().status_code == 200
    assert client.post(f"/v1/jobs/{queued[0]}/cancel").status_code == 200
    assert client.predict().status_code == 200
    assert client.predict().status_code == 429


def test_a_batch_larger_than_the_queue_limit_is_a_400_that_says_to_split_it(twin_factory: type) -> None:
    """4 jobs against a cap of 3 waiting can never fit: a 429 would have clients wait in vain. A 400 (gRPC
    INVALID_ARGUMENT) names both numbers, even with nothing waiting; a batch that fits still goes through."""
    service = twin_factory.start(PHONOS_MAX_INFLIGHT_PER_MODEL="1", PHONOS_MAX_QUEUED_PER_ACCOUNT="3")
    service.inference.script("esmfold", Slow(60))
    key = service.new_key(credits=1000)
    client = service.client(key)
    message = ("This submission has 4 jobs, but an account may have at most 3 jobs waiting to run on this server, "
               "so it can never be accepted whole. Split it into batches of at most 3 jobs and submit each once "
               "the previous ones have started.")
    refused = client.post("/v1/batch", json={"jobs": [{"model": "esmfold", "sequence": SEQ}] * 4})
    assert refused.status_code == 400, refused.text
    assert refused.json() == {"error": "Invalid request", "message": message}
    assert refused.headers["X-Phonos-Queue-Limit"] == "3" and "Retry-After" not in refused.headers
    channel, stub = service.grpc_stub()
    batch = pb.SubmitBatchRequest(jobs=[pb.BatchJob(model="esmfold", sequence=SEQ)] * 4)
    with channel, pytest.raises(grpc.RpcError) as over:
        stub.SubmitBatch(batch, metadata=(("authorization", f"Bearer {key}"),))
    assert over.value.code() == grpc.StatusCode.INVALID_ARGUMENT and over.value.details() == message
    assert dict(over.value.trailing_metadata())["x-phonos-queue-limit"] == "3"
    assert client.balance() == 1000 and client.get("/v1/jobs").json()["pagination"]["total"] == 0
    mixed = client.post("/v1/batch", json={"jobs": [{"model": "esmfold", "sequence": SEQ}] * 3
                                          + [{"model": "esmfold", "sequence": "B*"}]})
    assert mixed.status_code == 200  # the invalid item fails alone; the 3 valid ones fit
    assert [r["success"] for r in mixed.json()["results"]] == [True, True, True, False]


@pytest.mark.sqlite_only  # the client's reaction to the server's answer, the same on both stores (tested above)
@pytest.mark.parametrize("transport", ["rest", "grpc"])
def test_phonos_fold_submits_a_batch_larger_than_the_queue_limit_in_parts(
        twin_factory: type, transport: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """`phonos fold` sends up to 10 records per batch; against a cap of 3 waiting jobs the server refuses 5 as a
    400 (never a 429 to wait out), and the command submits them in parts of 3, saying why."""
    service = twin_factory.start(PHONOS_MAX_INFLIGHT_PER_MODEL="4", PHONOS_MAX_QUEUED_PER_ACCOUNT="3")
    key = service.new_key(credits=1000)
    fasta = tmp_path / "five.fasta"
    fasta.write_text("".join(f">p{i}\n{SEQ}\n" for i in range(5)))
    monkeypatch.setenv("PHONOS_CONFIG", str(tmp_path / "none.toml"))
    monkeypatch.setenv("PHONOS_URL", service.url_for(transport))
    monkeypatch.setenv("PHONOS_API_KEY", key)
    assert cli.main(["fold", str(fasta), "--model", "esmfold", "--no-wait", "--json"]) == 0
    captured = capsys.readouterr()
    outcomes = json.loads(captured.out)["jobs"]
    assert [o["name"] for o in outcomes] == [f"p{i}" for i in range(5)]
    assert all(o["job_id"] and o["status"] == "pending" for o in outcomes), outcomes
    assert ("this server lets an account have at most 3 jobs waiting: submitting these 5 in parts of 3"
            in captured.err)
    assert service.client(key).get("/v1/jobs").json()["pagination"]["total"] == 5
