"""Idempotency-Key on the POST routes and the gRPC metadata key (in-process service, real SQLite, twin)."""

from __future__ import annotations

import asyncio
import http.client
import json
import socket
import time
from typing import Any
from urllib.parse import urlsplit

import grpc
import pytest

from jobservice.memory_inference import Slow
from phonos.v1 import phonos_pb2 as pb
from tests.support import ALL_STORES, InProcessService, WebhookReceiver, wait_until

pytestmark = pytest.mark.integration
STORES = ALL_STORES  # state: every test runs on SQLite and on PostgreSQL

BODY = {"model": "esmfold", "sequence": "MKTVRQERLKSIVRILERSKEPV"}


@pytest.fixture(scope="module")
def service(twin_service: InProcessService) -> InProcessService:
    return twin_service


def jobs_of(service: InProcessService, key: str) -> list[str]:
    return [j["job_id"] for j in service.client(key).get("/v1/jobs").json()["jobs"]]


def test_a_retry_with_the_same_key_returns_the_first_response_and_charges_once(service: InProcessService) -> None:
    key = service.new_key(credits=100)
    client = service.client(key)
    first = client.post("/v1/predict", json=BODY, headers={"Idempotency-Key": "order-1"})
    again = client.post("/v1/predict", json=BODY, headers={"Idempotency-Key": "order-1"})
    assert first.status_code == again.status_code == 200
    assert again.json() == first.json() and again.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert client.balance() == 90 and jobs_of(service, key) == [first.json()["job_id"]]
    other = client.post("/v1/predict", json=BODY, headers={"Idempotency-Key": "order-2"})
    assert other.json()["job_id"] != first.json()["job_id"] and client.balance() == 80
    plain = client.post("/v1/predict", json=BODY)  # no key: every POST is a new job
    assert plain.json()["job_id"] not in {first.json()["job_id"], other.json()["job_id"]}


def test_the_same_key_with_another_body_is_a_422(service: InProcessService) -> None:
    client = service.client(service.new_key(credits=100))
    assert client.post("/v1/predict", json=BODY, headers={"Idempotency-Key": "k"}).status_code == 200
    changed = client.post("/v1/predict", json={**BODY, "name": "other"}, headers={"Idempotency-Key": "k"})
    assert changed.status_code == 422
    assert changed.json()["error"] == "Idempotency key reused" and "different request" in changed.json()["message"]
    elsewhere = client.post("/v1/batch", json={"jobs": [BODY]}, headers={"Idempotency-Key": "k"})
    assert elsewhere.status_code == 422  # one key, one request, whatever the route
    reordered = client.post("/v1/predict", data=json.dumps({"sequence": BODY["sequence"], "model": "esmfold"}),
                            headers={"Idempotency-Key": "k"})
    assert reordered.status_code == 200 and reordered.headers["Idempotent-Replayed"] == "true"  # same request
    # `"name": ""` is no name (README): the same request as one without it, in a batch's jobs too. Was: a 422.
    unnamed = client.post("/v1/predict", json={**BODY, "name": ""}, headers={"Idempotency-Key": "k"})
    assert unnamed.status_code == 200 and unnamed.headers["Idempotent-Replayed"] == "true", unnamed.text
    assert client.post("/v1/batch", json={"jobs": [BODY, {**BODY, "name": "b"}]},
                       headers={"Idempotency-Key": "kb"}).status_code == 200
    again = client.post("/v1/batch", json={"jobs": [{**BODY, "name": ""}, {**BODY, "name": "b"}]},
                        headers={"Idempotency-Key": "kb"})
    assert again.status_code == 200 and again.headers["Idempotent-Replayed"] == "true", again.text
    named = client.post("/v1/batch", json={"jobs": [{**BODY, "name": " "}, {**BODY, "name": "b"}]},
                        headers={"Idempotency-Key": "kb"})
    assert named.status_code == 422  # a name of one space is a name
    # `"params": {}` is no params (the model's defaults either way), alone and in a batch's jobs. Was: a 422.
    empty = client.post("/v1/predict", json={**BODY, "params": {}}, headers={"Idempotency-Key": "k"})
    assert empty.status_code == 200 and empty.headers["Idempotent-Replayed"] == "true", empty.text
    again = client.post("/v1/batch", json={"jobs": [{**BODY, "params": {}}, {**BODY, "name": "b", "params": {}}]},
                        headers={"Idempotency-Key": "kb"})
    assert again.status_code == 200 and again.headers["Idempotent-Replayed"] == "true", again.text
    tuned = client.post("/v1/predict", json={**BODY, "params": {"num_recycles": 2}}, headers={"Idempotency-Key": "k"})
    assert tuned.status_code == 422  # params that say something are another request
    assert client.balance() == 70


def test_keys_are_per_account(service: InProcessService) -> None:
    alice, bob = service.client(service.new_key()), service.client(service.new_key())
    a = alice.post("/v1/predict", json=BODY, headers={"Idempotency-Key": "shared"}).json()
    b = bob.post("/v1/predict", json=BODY, headers={"Idempotency-Key": "shared"}).json()
    assert a["job_id"] != b["job_id"]


def test_batch_cancel_and_webhook_posts_replay_too(service: InProcessService) -> None:
    client = service.client(service.new_key(credits=1000))
    batch = {"jobs": [BODY, {"model": "esmfold", "sequence": "MKT*"}]}
    first = client.post("/v1/batch", json=batch, headers={"Idempotency-Key": "b1"})
    again = client.post("/v1/batch", json=batch, headers={"Idempotency-Key": "b1"})
    assert again.json() == first.json() and first.json()["summary"]["successful"] == 1
    assert client.balance() == 990
    service.settle()  # the slow call must be this job's, not one still queued before it
    service.inference.script("esmfold", Slow(5))
    running = client.post("/v1/predict", json={**BODY, "name": "to cancel"}).json()["job_id"]
    cancel = client.post(f"/v1/jobs/{running}/cancel", headers={"Idempotency-Key": "c1"})
    again_cancel = client.post(f"/v1/jobs/{running}/cancel", headers={"Idempotency-Key": "c1"})
    assert cancel.status_code == again_cancel.status_code == 200 and again_cancel.json() == cancel.json()
    assert client.post(f"/v1/jobs/{running}/cancel", headers={"Idempotency-Key": "c2"}).status_code == 400
    hook = {"url": "http://127.0.0.1:9/hook", "events": ["job.completed"]}
    created = client.post("/v1/webhooks", json=hook, headers={"Idempotency-Key": "w1"})
    replayed = client.post("/v1/webhooks", json=hook, headers={"Idempotency-Key": "w1"})
    assert created.status_code == 200 and replayed.json() == created.json()  # the same secret, once
    assert len(client.get("/v1/webhooks").json()["webhooks"]) == 1


def test_a_bad_key_is_a_400(service: InProcessService) -> None:
    client = service.client(service.new_key())
    for bad in ("x" * 256, ""):
        response = client.post("/v1/predict", json=BODY, headers={"Idempotency-Key": bad})
        assert response.status_code == 400 and "Idempotency-Key" in response.json()["message"]


def test_two_key_headers_are_a_400_and_charge_nothing(service: InProcessService) -> None:
    """Which key guards the submission? A proxy may read the last where the gateway would read the first."""
    key = service.new_key(credits=100)
    connection = http.client.HTTPConnection(urlsplit(service.base_url).netloc, timeout=30)
    body = json.dumps(BODY).encode()
    connection.putrequest("POST", "/v1/predict")
    for header, value in (("Authorization", f"Bearer {key}"), ("Content-Type", "application/json"),
                          ("Content-Length", str(len(body))), ("Idempotency-Key", "a"), ("Idempotency-Key", "b")):
        connection.putheader(header, value)
    connection.endheaders(body)
    response = connection.getresponse()
    assert response.status == 400
    assert json.loads(response.read()) == {"error": "Invalid request",
                                           "message": "more than one Idempotency-Key header: send exactly one"}
    connection.close()
    assert service.client(key).balance() == 100 and jobs_of(service, key) == []


def test_a_retry_after_the_connection_died_charges_once(service: InProcessService) -> None:
    """The client sends the POST and hangs up without reading: the job is stored all the same, with its
    key's response in the same transaction, so the retry gets it back instead of a second job."""
    key = service.new_key(credits=100)
    body = json.dumps(BODY).encode()
    with socket.create_connection(("127.0.0.1", service.http_port)) as raw:
        raw.sendall(b"POST /v1/predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                    + f"Authorization: Bearer {key}\r\nIdempotency-Key: dropped-1\r\n".encode()
                    + f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
        stored = wait_until(lambda: jobs_of(service, key), 10)  # the job is stored...
    # ...and the client hangs up without reading the answer
    client = service.client(key)
    retry = client.post("/v1/predict", json=BODY, headers={"Idempotency-Key": "dropped-1"})
    assert retry.status_code == 200 and retry.json()["job_id"] == stored[0]
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert client.balance() == 90 and len(jobs_of(service, key)) == 1


def test_grpc_metadata_key_and_a_cancelled_call_charge_once(service: InProcessService) -> None:
    key = service.new_key(credits=100)
    channel, stub = service.grpc_stub()
    metadata = (("authorization", f"Bearer {key}"), ("idempotency-key", "grpc-1"))
    request = pb.PredictRequest(model="esmfold", sequence=BODY["sequence"])
    with channel:
        abandoned = stub.Predict.future(request, metadata=metadata)
        abandoned.cancel()  # gone before (or after) the job was stored: either way, one charge in the end
        time.sleep(0.3)
        first = stub.Predict(request, metadata=metadata)
        again, call = stub.Predict.with_call(request, metadata=metadata)
        assert again == first and ("idempotent-replayed", "true") in call.initial_metadata()
        with pytest.raises(grpc.RpcError) as reused:
            stub.Predict(pb.PredictRequest(model="esmfold", sequence="MKV"), metadata=metadata)
        assert reused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert dict(reused.value.trailing_metadata())["phonos-error-reason"] == "IDEMPOTENCY_KEY_REUSED"
    assert service.client(key).balance() == 90 and jobs_of(service, key) == [first.job_id]


def test_keys_expire_after_their_time_to_live(twin_factory: type) -> None:
    service = twin_factory.start(PHONOS_IDEMPOTENCY_TTL_S="0.5")
    client = service.client(service.new_key(credits=100))
    first = client.post("/v1/predict", json=BODY, headers={"Idempotency-Key": "short"}).json()
    time.sleep(0.7)
    later = client.post("/v1/predict", json=BODY, headers={"Idempotency-Key": "short"})
    assert later.status_code == 200 and later.json()["job_id"] != first["job_id"]
    assert "Idempotent-Replayed" not in later.headers


class SlowReceiver(WebhookReceiver):
    """Answers each delivery after a second: a test event's call outlives a short client deadline."""

    def routes(self, app: Any) -> None:
        from aiohttp import web

        async def handle(request: web.Request) -> web.Response:
            self.requests.append({"headers": dict(request.headers), "body": (await request.read()).decode()})
            await asyncio.sleep(1.0)
            return web.Response(text="ok")

        app.router.add_post(self.path, handle)


def test_a_retry_while_the_cut_call_still_runs_waits_for_it_and_replays(service: InProcessService) -> None:
    """A call cut by its deadline goes on at the server (the work is shielded), but the key's lock went with the
    caller: the retry with the same key ran the work a second time (CI: a 1 ms Predict and its retry made two jobs,
    both charged). The retry now waits for the first and gets its response; the receiver sees one test event."""
    key = service.new_key()
    auth = (("authorization", f"Bearer {key}"), ("idempotency-key", "test-once"))
    with SlowReceiver() as receiver:
        made = service.client(key).post("/v1/webhooks", json={"url": receiver.url})
        assert made.status_code == 200, made.text
        hook = made.json()["webhook"]
        channel, stub = service.grpc_stub()
        with channel:
            with pytest.raises(grpc.RpcError) as cut:
                stub.TestWebhook(pb.TestWebhookRequest(webhook_id=hook["webhook_id"]), metadata=auth, timeout=0.3)
            assert cut.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
            retried, call = stub.TestWebhook.with_call(pb.TestWebhookRequest(webhook_id=hook["webhook_id"]),
                                                       metadata=auth, timeout=30)
        assert dict(call.initial_metadata()).get("idempotent-replayed") == "true"
        time.sleep(1.5)  # a second test event, had one been sent, would have reached the receiver by now
        assert len(receiver.requests) == 1 and retried.success


@pytest.mark.sqlite_only  # one process uses the file; on PostgreSQL a claim is taken over after its lease
def test_a_claim_a_killed_process_left_in_the_file_does_not_hold_its_key(service: InProcessService) -> None:
    """The claim of a key that a process killed mid-work left in the SQLite file (jobservice/idempotency.py): the
    service restarted on the file is the only one using it, so the claim is a dead one's and the retry runs at once,
    not after the lease (or, as left here, an hour)."""
    key = service.new_key(credits=100, username="stale-claim")
    [(account_id,)] = service.sql("SELECT id FROM accounts WHERE username = ?", "stale-claim")
    service.sql("INSERT INTO idempotency_claims (account_id, key, owner, expires_at) VALUES (?, ?, ?, ?)",
                account_id, "left-behind", "killed-host:1:dead#1", time.time() + 3600)
    client = service.client(key)
    answer = client.post("/v1/predict", json=BODY, headers={"Idempotency-Key": "left-behind"})
    assert answer.status_code == 200 and "Idempotent-Replayed" not in answer.headers
    assert client.balance() == 90
    assert service.sql("SELECT owner FROM idempotency_claims WHERE key = ?", "left-behind") == []  # released
