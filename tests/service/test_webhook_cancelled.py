"""job.cancelled (opt-in), a URL with a #fragment, which webhook a failure line names, and redelivery's `success`,
on both stores.

A cancelled job sent no webhook event, so a pipeline that waited for a terminal event after job.started waited for
ever (found by a tester). job.cancelled is sent only to a webhook that lists it: one created with the seed's
default events sees nothing new.
"""

from __future__ import annotations

import json
import logging

import pytest
from phonos_client import verify_webhook

from jobservice.memory_inference import Slow
from tests.service.test_webhook_deliveries import deliveries
from tests.support import ALL_STORES, InProcessService, WebhookReceiver, wait_until

pytestmark = pytest.mark.integration
STORES = ALL_STORES  # state: every test runs on SQLite and on PostgreSQL

# One job of the model at a time: a job submitted behind a slow one stays pending until it is cancelled.
SETTINGS = {"PHONOS_WEBHOOK_BACKOFF_BASE_S": "0.2", "PHONOS_WEBHOOK_TIMEOUT_S": "2",
            "PHONOS_MAX_INFLIGHT_PER_MODEL": "1"}


@pytest.fixture
def service(twin_factory: type) -> InProcessService:
    return twin_factory.start(**SETTINGS)


def test_a_cancelled_job_is_one_signed_event_to_the_webhooks_that_list_it(service: InProcessService) -> None:
    client = service.client(service.new_key())
    service.inference.script("esmfold", Slow(60))
    with WebhookReceiver() as opted_in, WebhookReceiver() as by_default:
        created = client.post("/v1/webhooks", json={"url": opted_in.url, "events": ["job.cancelled"]})
        assert created.status_code == 200, created.text
        opted, secret = created.json()["webhook"], created.json()["secret"]
        assert opted["events"] == ["job.cancelled"]
        plain = client.post("/v1/webhooks", json={"url": by_default.url}).json()["webhook"]
        assert plain["events"] == ["job.started", "job.completed", "job.failed"]  # the seed's three, not job.cancelled

        running = client.predict().json()["job_id"]
        client.wait_for(running, ("running",))
        pending = client.predict().json()["job_id"]
        assert client.get(f"/v1/jobs/{pending}").json()["status"] == "pending"
        assert client.post(f"/v1/jobs/{pending}/cancel").status_code == 200
        assert client.post(f"/v1/jobs/{running}/cancel").status_code == 200
        wait_until(lambda: deliveries(client, opted["webhook_id"], status="delivered")["pagination"]["total"] == 2, 20)
        wait_until(lambda: deliveries(client, plain["webhook_id"], status="delivered")["pagination"]["total"] == 1, 20)

    # Exactly one delivery per cancelled job, its body as the other job events' (no download_url, no error).
    assert sorted(opted_in.events()) == ["job.cancelled", "job.cancelled"]
    bodies = {json.loads(r["body"])["data"]["job_id"]: json.loads(r["body"]) for r in opted_in.requests}
    assert set(bodies) == {pending, running}
    for job_id, body in bodies.items():
        assert set(body) == {"event", "timestamp", "data"} and body["timestamp"].endswith("Z")
        assert body["data"] == {"job_id": job_id, "status": "cancelled", "model": "esmfold"}
    # Signed like the others (v1 and v2, over the delivery id), with its event in the header.
    for request in opted_in.requests:
        assert request["headers"]["X-Phonos-Event"] == "job.cancelled"
        delivery = request["headers"]["X-Phonos-Delivery"]
        verified = verify_webhook(request["body"].encode(), request["headers"]["X-Phonos-Signature"], secret,
                                  delivery_id=delivery)
        assert verified == json.loads(request["body"]) and verified.delivery_id == delivery

    # The log lists them, by the event filter too; the default webhook got the running job's job.started only.
    logged = deliveries(client, opted["webhook_id"], event="job.cancelled")["deliveries"]
    assert {(d["job_id"], d["event"], d["status"]) for d in logged} == {
        (pending, "job.cancelled", "delivered"), (running, "job.cancelled", "delivered")}
    assert {d["delivery_id"] for d in logged} == {r["headers"]["X-Phonos-Delivery"] for r in opted_in.requests}
    assert by_default.events() == ["job.started"]
    assert deliveries(client, plain["webhook_id"], event="job.cancelled")["pagination"]["total"] == 0
    assert [d["event"] for d in deliveries(client, plain["webhook_id"])["deliveries"]] == ["job.started"]
    listed = {h["webhook_id"]: h for h in client.get("/v1/webhooks").json()["webhooks"]}
    assert listed[opted["webhook_id"]]["last_delivery"]["event"] == "job.cancelled"

    # A redelivery answers `success: true`, as every other POST does (it had no `success`).
    again = client.post(f"/v1/webhooks/{opted['webhook_id']}/deliveries/{logged[0]['delivery_id']}/redeliver")
    assert again.status_code == 200, again.text
    assert again.json()["success"] is True and again.json()["delivery"]["event"] == "job.cancelled"


def test_job_cancelled_is_chosen_by_name_and_an_unknown_event_is_still_refused(service: InProcessService) -> None:
    client = service.client(service.new_key())
    every = ["job.started", "job.completed", "job.failed", "job.cancelled"]
    both = client.post("/v1/webhooks", json={"url": "https://example.org/all", "events": list(reversed(every))})
    assert both.status_code == 200 and both.json()["webhook"]["events"] == every
    refused = client.post("/v1/webhooks", json={"url": "https://example.org/h",
                                                "events": ["job.cancelled", "job.canceled"]})
    assert refused.status_code == 400
    message = refused.json()["message"]
    assert "unknown event(s) job.canceled" in message and "job.cancelled" in message.split("choose from")[1]


@pytest.mark.parametrize("url", ["https://example.org/x#frag", "https://example.org/x?a=1#", "https://example.org#top"])
def test_a_url_with_a_fragment_is_refused(service: InProcessService, url: str) -> None:
    """A fragment is never sent over HTTP, so the receiver was not the URL shown; it was accepted."""
    client = service.client(service.new_key())
    response = client.post("/v1/webhooks", json={"url": url})
    assert response.status_code == 400
    body = response.json()
    assert set(body) >= {"error", "message"} and isinstance(body["error"], str)
    sent = url.split("#")[0]
    assert body["message"] == (f'url "{url}" has a fragment (\'#\' and what follows), which is never sent over '
                               f'HTTP: the receiver would get "{sent}"; remove it, or write a \'#\' that belongs to '
                               "the path or query as %23")
    assert client.get("/v1/webhooks").json()["webhooks"] == []
    # Percent-encoded, a '#' is part of the path or query and goes out as it is
    assert client.post("/v1/webhooks", json={"url": "https://example.org/x?tag=%23frag"}).status_code == 200


def test_a_failed_delivery_s_log_line_names_its_webhook_and_host_but_not_its_url(
        service: InProcessService, caplog: pytest.LogCaptureFixture) -> None:
    """It said "webhook delivery 1 failed: HTTP 500": which webhook, and which receiver, was left to the database."""
    caplog.set_level(logging.WARNING, logger="jobservice.webhook_sender")
    client = service.client(service.new_key())
    with WebhookReceiver(statuses=[500]) as receiver:
        url = receiver.url + "?token=s3cret-token"
        hook_id = client.post("/v1/webhooks", json={"url": url, "events": ["job.completed"]}).json()[
            "webhook"]["webhook_id"]
        client.wait_for(client.predict().json()["job_id"])
        wait_until(lambda: any(r.__dict__.get("action") == "webhook.retry" for r in caplog.records), 20)
    [line] = [r for r in caplog.records if r.__dict__.get("action") == "webhook.retry"]
    [delivery] = deliveries(client, hook_id)["deliveries"]
    fields = line.__dict__
    assert (fields["webhook"], fields["host"], fields["delivery_id"], fields["status"]) == (
        hook_id, "127.0.0.1", delivery["delivery_id"], 500)
    assert line.getMessage() == (f"webhook {hook_id} delivery {delivery['delivery_id']} to 127.0.0.1 failed: HTTP 500 "
                                 "(said again every 10 min while it keeps failing)")
    said = line.getMessage() + " " + " ".join(str(v) for v in fields.values())
    assert "s3cret-token" not in said and receiver.url not in said
