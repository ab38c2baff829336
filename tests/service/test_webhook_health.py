"""A webhook's listing says how its deliveries go (last_delivery, failing_since), over REST, gRPC and the SDK, on
both stores, against a real loopback receiver that fails and then recovers. Test events are left out of both."""

from __future__ import annotations

import pytest
from phonos_client import Client

from tests.support import ALL_STORES, InProcessService, WebhookReceiver, wait_until

pytestmark = pytest.mark.integration
STORES = ALL_STORES

# Two attempts, 0.2 s apart: a receiver that answers 500 twice makes a failed delivery within a second.
SETTINGS = {"PHONOS_WEBHOOK_BACKOFF_BASE_S": "0.2", "PHONOS_WEBHOOK_TIMEOUT_S": "2", "PHONOS_WEBHOOK_MAX_ATTEMPTS": "2"}


def listed(client, hook_id: str) -> dict:
    response = client.get("/v1/webhooks")
    assert response.status_code == 200, response.text
    return next(h for h in response.json()["webhooks"] if h["webhook_id"] == hook_id)


def log(client, hook_id: str) -> list[dict]:
    return client.get(f"/v1/webhooks/{hook_id}/deliveries").json()["deliveries"]


def test_the_listing_shows_the_last_delivery_and_since_when_it_fails(twin_factory: type) -> None:
    service: InProcessService = twin_factory.start(**SETTINGS)
    key = service.new_key()
    client = service.client(key)
    # The test event's 500, the job event's two 500s, then 200 for everything after.
    with WebhookReceiver(statuses=[500, 500, 500]) as receiver:
        hook_id = client.post("/v1/webhooks", json={"url": receiver.url, "events": ["job.completed"]}).json()[
            "webhook"]["webhook_id"]
        quiet = listed(client, hook_id)
        assert "last_delivery" not in quiet and "failing_since" not in quiet  # nothing sent yet
        # A failed test event neither makes a last delivery nor a failing state: it is a probe, not an event.
        assert client.post(f"/v1/webhooks/{hook_id}/test").json()["status_code"] == 500
        assert "last_delivery" not in listed(client, hook_id) and "failing_since" not in listed(client, hook_id)

        client.wait_for(client.predict().json()["job_id"])  # job.completed: 500, 500, given up
        wait_until(lambda: listed(client, hook_id).get("last_delivery", {}).get("status") == "failed", 20)
        failing = listed(client, hook_id)
        failed = next(d for d in log(client, hook_id) if d["event"] == "job.completed")
        assert failing["last_delivery"] == {
            "delivery_id": failed["delivery_id"], "event": "job.completed", "status": "failed",
            "at": failed["last_attempt_at"], "status_code": 500,
            "error": "the receiver answered HTTP 500 (expected 2xx)"}
        assert failing["failing_since"] == failed["created_at"]
        # The same over gRPC, through the SDK's model.
        with Client(service.url_for("grpc"), key) as sdk:
            hook = next(h for h in sdk.list_webhooks() if h.webhook_id == hook_id)
        assert hook.failing_since == failed["created_at"] and hook.last_delivery is not None
        assert (hook.last_delivery.delivery_id, hook.last_delivery.status, hook.last_delivery.status_code) == (
            failed["delivery_id"], "failed", 500)

        # A passing test does not clear it: real events still failed last.
        assert client.post(f"/v1/webhooks/{hook_id}/test").json()["success"] is True
        assert listed(client, hook_id)["failing_since"] == failed["created_at"]

        second = client.predict().json()["job_id"]
        client.wait_for(second)  # delivered at once: the next success clears the failing state
        wait_until(lambda: listed(client, hook_id)["last_delivery"]["status"] == "delivered", 20)
    healthy = listed(client, hook_id)
    assert "failing_since" not in healthy
    delivered = log(client, hook_id)[0]
    assert delivered["job_id"] == second
    assert healthy["last_delivery"] == {"delivery_id": delivered["delivery_id"], "event": "job.completed",
                                        "status": "delivered", "at": delivered["last_attempt_at"], "status_code": 200}


def test_a_delivery_waiting_for_its_retry_already_counts_as_failing(twin_factory: type) -> None:
    # An hour's backoff: the delivery stays pending after its first refused attempt. A broken receiver must show
    # at once, not after the hours the retries last.
    service: InProcessService = twin_factory.start(PHONOS_WEBHOOK_BACKOFF_BASE_S="3600", PHONOS_WEBHOOK_TIMEOUT_S="2")
    client = service.client(service.new_key())
    with WebhookReceiver(statuses=[500]) as receiver:
        hook_id = client.post("/v1/webhooks", json={"url": receiver.url, "events": ["job.completed"]}).json()[
            "webhook"]["webhook_id"]
        client.wait_for(client.predict().json()["job_id"])
        wait_until(lambda: listed(client, hook_id).get("last_delivery", {}).get("status_code") == 500, 15)
    hook = listed(client, hook_id)
    retrying = log(client, hook_id)[0]
    assert retrying["status"] == "pending" and retrying["attempts"] == 1
    assert hook["last_delivery"]["status"] == "pending" and hook["last_delivery"]["at"] == retrying["last_attempt_at"]
    assert hook["failing_since"] == retrying["created_at"]
