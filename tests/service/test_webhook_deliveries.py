"""A webhook's delivery log (GET /v1/webhooks/{id}/deliveries) and redelivery, over REST and gRPC, on both stores."""

from __future__ import annotations

import json
import time
from datetime import datetime

import grpc
import pytest

from jobservice import webhook_deliveries
from phonos.v1 import phonos_pb2 as pb
from phonos.v1 import phonos_pb2_grpc
from tests.support import ALL_STORES, InProcessService, WebhookReceiver, wait_until

pytestmark = pytest.mark.integration
STORES = ALL_STORES  # state: every test runs on SQLite and on PostgreSQL

# Two attempts, 0.2 s apart: a receiver that answers 500 twice makes a failed delivery within a second.
SETTINGS = {"PHONOS_WEBHOOK_BACKOFF_BASE_S": "0.2", "PHONOS_WEBHOOK_TIMEOUT_S": "2", "PHONOS_WEBHOOK_MAX_ATTEMPTS": "2"}


@pytest.fixture
def service(twin_factory: type) -> InProcessService:
    return twin_factory.start(**SETTINGS)


def deliveries(client, hook_id: str, **params) -> dict:
    response = client.get(f"/v1/webhooks/{hook_id}/deliveries", params=params)
    assert response.status_code == 200, response.text
    return response.json()


def test_the_log_shows_what_was_sent_and_what_the_receiver_answered(service: InProcessService) -> None:
    client = service.client(service.new_key())
    with WebhookReceiver(statuses=[500, 503]) as receiver:
        hook_id = client.post("/v1/webhooks", json={"url": receiver.url, "events": ["job.completed"]}).json()[
            "webhook"]["webhook_id"]
        first = client.predict().json()["job_id"]
        client.wait_for(first)  # its job.completed: 500 then 503, given up after 2 attempts
        wait_until(lambda: deliveries(client, hook_id, status="failed")["pagination"]["total"] == 1, 20)
        second = client.predict().json()["job_id"]
        client.wait_for(second)  # delivered at the first attempt
        wait_until(lambda: deliveries(client, hook_id, status="delivered")["pagination"]["total"] == 1, 20)
    page = deliveries(client, hook_id)
    assert page["pagination"] == {"total": 2, "limit": 20, "offset": 0, "has_more": False}
    completed, started = page["deliveries"]  # newest first
    assert completed["event"] == "job.completed" and completed["status"] == "delivered"
    assert completed["attempts"] == 1 and completed["last_status_code"] == 200 and "last_error" not in completed
    assert completed["job_id"] == second and "next_attempt_at" not in completed
    assert completed["payload"]["data"] == {"job_id": second, "status": "completed", "model": "esmfold",
                                            "download_url": f"/v1/jobs/{second}/download"}
    assert started["job_id"] == first and started["status"] == "failed" and started["attempts"] == 2
    assert started["last_status_code"] == 503 and started["last_error"] == "the receiver answered HTTP 503 (expected 2xx)"
    # As times, not as text: a whole second is written without a fraction ("...:22Z" sorts after "...:22.209Z")
    assert instant(started["created_at"]) <= instant(started["last_attempt_at"])
    # The id is the one the receiver saw in X-Phonos-Delivery; the body is byte for byte what was signed
    sent = {r["headers"]["X-Phonos-Delivery"]: json.loads(r["body"]) for r in receiver.requests}
    assert sent[completed["delivery_id"]] == completed["payload"] and sent[started["delivery_id"]] == started["payload"]
    assert [d["job_id"] for d in deliveries(client, hook_id, status="failed")["deliveries"]] == [first]
    assert deliveries(client, hook_id, limit=1, offset=1)["deliveries"][0]["delivery_id"] == started["delivery_id"]


def test_a_failed_delivery_can_be_sent_again(service: InProcessService) -> None:
    client = service.client(service.new_key())
    with WebhookReceiver(statuses=[500, 500]) as receiver:
        hook = client.post("/v1/webhooks", json={"url": receiver.url, "events": ["job.completed"]}).json()["webhook"]
        client.wait_for(client.predict().json()["job_id"])
        wait_until(lambda: deliveries(client, hook["webhook_id"], status="failed")["pagination"]["total"] == 1, 20)
        failed = deliveries(client, hook["webhook_id"])["deliveries"][0]
        path = f"/v1/webhooks/{hook['webhook_id']}/deliveries/{failed['delivery_id']}/redeliver"
        again = client.post(path, headers={"Idempotency-Key": "redeliver-1"})
        assert again.status_code == 200, again.text
        queued = again.json()["delivery"]
        assert queued["delivery_id"] != failed["delivery_id"] and queued["payload"] == failed["payload"]
        assert queued["status"] == "pending" and queued["attempts"] == 0
        # The same Idempotency-Key replays the answer instead of queueing a third delivery
        assert client.post(path, headers={"Idempotency-Key": "redeliver-1"}).json()["delivery"] == queued
        wait_until(lambda: len(receiver.requests) == 3, 15)
        assert receiver.requests[2]["headers"]["X-Phonos-Delivery"] == queued["delivery_id"]
        # A redelivery is a delivery of its own: its first attempt (the original's were 1 and 2)
        assert [r["headers"]["X-Phonos-Attempt"] for r in receiver.requests] == ["1", "2", "1"]
        assert receiver.requests[2]["body"] == receiver.requests[0]["body"]
        wait_until(lambda: deliveries(client, hook["webhook_id"], status="delivered")["pagination"]["total"] == 1, 15)
    assert deliveries(client, hook["webhook_id"])["pagination"]["total"] == 2


def test_bad_requests_are_clear_errors(twin_factory: type) -> None:
    # An hour's backoff: the delivery stays pending after its first refused attempt
    service = twin_factory.start(PHONOS_WEBHOOK_BACKOFF_BASE_S="3600", PHONOS_WEBHOOK_TIMEOUT_S="2")
    owner = service.client(service.new_key())
    other = service.client(service.new_key())
    with WebhookReceiver(statuses=[500]) as receiver:
        hook_id = owner.post("/v1/webhooks", json={"url": receiver.url, "events": ["job.completed"]}).json()[
            "webhook"]["webhook_id"]
        owner.wait_for(owner.predict().json()["job_id"])
        wait_until(lambda: deliveries(owner, hook_id)["deliveries"][0]["attempts"] == 1, 15)
        pending = deliveries(owner, hook_id)["deliveries"][0]
        assert pending["status"] == "pending" and pending["last_status_code"] == 500 and "next_attempt_at" in pending
        still = owner.post(f"/v1/webhooks/{hook_id}/deliveries/{pending['delivery_id']}/redeliver")
        assert still.status_code == 400 and "is still pending" in still.json()["message"]
        # the hint names the field and where the CLI shows it
        assert "(its next_attempt_at, the NEXT TRY column of `phonos webhooks deliveries`)" in still.json()["message"]
    for response, status, needle in [
        (other.get(f"/v1/webhooks/{hook_id}/deliveries"), 404, "not found"),  # another account's webhook
        (other.post(f"/v1/webhooks/{hook_id}/deliveries/{pending['delivery_id']}/redeliver"), 404, "not found"),
        (owner.post(f"/v1/webhooks/{hook_id}/deliveries/999999/redeliver"), 404, "Delivery 999999"),
        (owner.post(f"/v1/webhooks/{hook_id}/deliveries/not-a-number/redeliver"), 404, "not-a-number"),
        (owner.get("/v1/webhooks/wh_missing/deliveries"), 404, "wh_missing"),
        (owner.get(f"/v1/webhooks/{hook_id}/deliveries", params={"status": "sent"}), 400, 'got "sent"'),
        (owner.get(f"/v1/webhooks/{hook_id}/deliveries", params={"limit": 101}), 400, "between 1 and 100"),
        (owner.get(f"/v1/webhooks/{hook_id}/deliveries", params={"offset": -1}), 400, "0 or more"),
        (owner.get(f"/v1/webhooks/{hook_id}/deliveries", params={"page": 2}), 400, "page"),
    ]:
        assert response.status_code == status, response.text
        assert set(response.json()) == {"error", "message"} and needle in response.json()["message"], response.json()
    owner.delete(f"/v1/webhooks/{hook_id}")
    assert owner.get(f"/v1/webhooks/{hook_id}/deliveries").status_code == 404  # a deleted webhook's log goes with it


def test_unreachable_receivers_are_worded_without_the_network_reason(service: InProcessService) -> None:
    client = service.client(service.new_key())
    with WebhookReceiver() as receiver:
        url = receiver.url
    hook_id = client.post("/v1/webhooks", json={"url": url, "events": ["job.completed"]}).json()["webhook"]["webhook_id"]
    client.wait_for(client.predict().json()["job_id"])  # the receiver is gone: connection refused
    wait_until(lambda: deliveries(client, hook_id, status="failed")["pagination"]["total"] == 1, 20)
    failed = deliveries(client, hook_id)["deliveries"][0]
    assert failed["last_error"] == "the receiver could not be reached (no HTTP answer)"
    assert "last_status_code" not in failed
    stored = service.sql("SELECT last_error FROM webhook_deliveries")
    assert stored != [(failed["last_error"],)]  # the operator's log keeps the reason; the API does not say it


def test_finished_deliveries_are_purged_after_the_log_retention(twin_factory: type,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(webhook_deliveries, "PURGE_BATCH", 2)  # several batches for a few rows
    service = twin_factory.start(**SETTINGS, PHONOS_WEBHOOK_DELIVERY_LOG_DAYS="1")
    client = service.client(service.new_key())
    with WebhookReceiver() as receiver:
        hook_id = client.post("/v1/webhooks", json={"url": receiver.url}).json()["webhook"]["webhook_id"]
        client.wait_for(client.predict().json()["job_id"])
        wait_until(lambda: deliveries(client, hook_id, status="delivered")["pagination"]["total"] == 2, 15)
    old = time.time() - 2 * 86400
    service.sql(f"UPDATE webhook_deliveries SET created_at = {old} WHERE event = 'job.started'")
    service.sql(f"INSERT INTO webhook_deliveries (webhook_id, event, payload, status, next_attempt_at, created_at) "
                f"VALUES ('{hook_id}', 'job.failed', '{{}}', 'pending', {time.time() + 3600}, {old})")
    for _ in range(4):
        service.sql(f"INSERT INTO webhook_deliveries (webhook_id, event, payload, status, next_attempt_at, "
                    f"created_at) VALUES ('{hook_id}', 'job.failed', '{{}}', 'failed', 0, {old})")
    # the old delivered one and the four old failed ones, two at a time; pending ones stay
    assert service.call(service.running.service.deliveries.purge()) == 5
    assert [d["event"] for d in deliveries(client, hook_id)["deliveries"]] == ["job.failed", "job.completed"]


def test_grpc_clients_read_the_log_too(service: InProcessService) -> None:
    key = service.new_key()
    client = service.client(key)
    with WebhookReceiver() as receiver:
        hook_id = client.post("/v1/webhooks", json={"url": receiver.url}).json()["webhook"]["webhook_id"]
        client.wait_for(client.predict().json()["job_id"])
        wait_until(lambda: len(receiver.requests) == 2, 15)
    with grpc.insecure_channel(service.grpc_target) as channel:
        stub = phonos_pb2_grpc.PhonosServiceStub(channel)
        metadata = (("authorization", f"Bearer {key}"),)
        reply = stub.ListWebhookDeliveries(pb.ListWebhookDeliveriesRequest(webhook_id=hook_id), metadata=metadata)
        assert [d.event for d in reply.deliveries] == ["job.completed", "job.started"]
        assert reply.deliveries[0].last_status_code == 200 and reply.pagination.total == 2
        with pytest.raises(grpc.RpcError) as missing:
            stub.RedeliverWebhookDelivery(pb.RedeliverWebhookDeliveryRequest(webhook_id=hook_id, delivery_id="0"),
                                          metadata=metadata)
        assert missing.value.code() == grpc.StatusCode.NOT_FOUND


def instant(stamp: str) -> datetime:
    """An RFC 3339 timestamp of the API's (`...Z`, with or without a fraction) as a time to compare."""
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))
