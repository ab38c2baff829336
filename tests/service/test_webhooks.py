"""Webhooks: registration rules, signed deliveries of job events, retries, persistence, test events."""

from __future__ import annotations

import hashlib
import hmac
import json

import pytest
from phonos_client import WebhookSignatureError, verify_webhook

from tests.support import ALL_STORES, InProcessService, WebhookReceiver, wait_until

pytestmark = pytest.mark.integration
STORES = ALL_STORES  # state: every test runs on SQLite and on PostgreSQL

FAST_RETRY = {"PHONOS_WEBHOOK_BACKOFF_BASE_S": "0.2", "PHONOS_WEBHOOK_TIMEOUT_S": "2"}


@pytest.fixture
def service(twin_factory: type) -> InProcessService:
    return twin_factory.start(**FAST_RETRY)


def verify_signature(secret: str, request: dict) -> bool:
    header = request["headers"]["X-Phonos-Signature"]
    parts = dict(item.split("=", 1) for item in header.split(","))
    expected = hmac.new(secret.encode(), f"{parts['t']}.{request['body']}".encode(), hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, parts["v1"])


def test_create_list_delete(service: InProcessService) -> None:
    client = service.client(service.new_key())
    created = client.post("/v1/webhooks", json={"url": "https://example.org/hook", "events": ["job.completed"]})
    assert created.status_code == 200
    body = created.json()
    assert body["success"] is True and body["secret"].startswith("whsec_")
    hook = body["webhook"]
    assert hook["url"] == "https://example.org/hook" and hook["events"] == ["job.completed"]
    assert hook["created_at"].endswith("Z")
    default = client.post("/v1/webhooks", json={"url": "https://example.org/all"}).json()["webhook"]
    assert default["events"] == ["job.started", "job.completed", "job.failed"]
    listed = client.get("/v1/webhooks").json()["webhooks"]
    assert [h["webhook_id"] for h in listed] == [hook["webhook_id"], default["webhook_id"]]
    assert all("secret" not in h for h in listed)
    deleted = client.delete(f"/v1/webhooks/{hook['webhook_id']}")
    assert deleted.status_code == 200 and deleted.json()["success"] is True
    assert client.delete(f"/v1/webhooks/{hook['webhook_id']}").status_code == 404
    assert len(client.get("/v1/webhooks").json()["webhooks"]) == 1
    stranger = service.client(service.new_key())
    assert stranger.delete(f"/v1/webhooks/{default['webhook_id']}").status_code == 404
    assert stranger.post(f"/v1/webhooks/{default['webhook_id']}/test").status_code == 404


@pytest.mark.parametrize(("body", "needle"), [
    ({"url": "http://example.org/hook"}, "https"),
    ({"url": "ftp://example.org/hook"}, "https"),
    ({"url": ""}, "required"),
    ({"url": "https://"}, "no host"),
    ({"url": "https://example.org:0/hook"}, "port 0"),  # nothing can listen there
    ({"url": "https://example.org:65536/hook"}, "not a valid url"),
    ({"url": "https://example.org/h", "events": ["job.exploded"]}, "unknown event"),
    ({"url": "https://example.org/h", "secret": "mine"}, "secret"),
])
def test_invalid_webhooks_are_400(service: InProcessService, body: dict, needle: str) -> None:
    response = service.client(service.new_key()).post("/v1/webhooks", json=body)
    assert response.status_code == 400
    assert needle in response.json()["message"].lower()


def test_http_to_loopback_needs_the_development_setting(twin_factory: type, tmp_path) -> None:
    strict = twin_factory.start(data_dir=tmp_path / "strict", PHONOS_WEBHOOK_ALLOW_HTTP_LOOPBACK="false")
    response = strict.client(strict.new_key()).post("/v1/webhooks", json={"url": "http://127.0.0.1:9/hook"})
    assert response.status_code == 400


def test_a_loopback_receiver_after_a_restart_without_the_setting_is_said_as_such(twin_factory: type, tmp_path) -> None:
    """Made under PHONOS_WEBHOOK_ALLOW_HTTP_LOOPBACK=true (docs/webhooks.md's walkthrough), then the server restarted
    without it: the test event, the delivery log and the webhook's last delivery said "could not be reached (no
    HTTP answer)" of a receiver that was up, and people looked for a fault in it."""
    data_dir = tmp_path / "var"
    first = twin_factory.start(data_dir=data_dir, PHONOS_WEBHOOK_ALLOW_HTTP_LOOPBACK="true", **FAST_RETRY)
    key = first.new_key()
    with WebhookReceiver() as receiver:
        hook_id = first.client(key).post("/v1/webhooks", json={"url": receiver.url}).json()["webhook"]["webhook_id"]
        assert first.client(key).post(f"/v1/webhooks/{hook_id}/test").json()["success"] is True
        first.stop()
        again = twin_factory.start(data_dir=data_dir, PHONOS_WEBHOOK_ALLOW_HTTP_LOOPBACK="false", **FAST_RETRY)
        client = again.client(key)
        tested = client.post(f"/v1/webhooks/{hook_id}/test").json()
        assert tested["success"] is False and tested["status_code"] == 0
        assert tested["message"].startswith("The receiver is on this machine (loopback), which this server sends to "
                                            "only when it sets PHONOS_WEBHOOK_ALLOW_HTTP_LOOPBACK=true"), tested
        job_id = client.predict().json()["job_id"]
        client.wait_for(job_id)

        def logged() -> list[dict]:
            return [d for d in client.get(f"/v1/webhooks/{hook_id}/deliveries").json()["deliveries"]
                    if d.get("last_error")]

        wait_until(logged, timeout_s=30)
        assert all(d["last_error"].startswith("the receiver is on this machine (loopback)") for d in logged())
        assert len(receiver.requests) == 1  # the first server's test alone: nothing was sent after the restart


def test_at_most_five_per_account(service: InProcessService) -> None:
    client = service.client(service.new_key())
    for i in range(5):
        assert client.post("/v1/webhooks", json={"url": f"https://example.org/{i}"}).status_code == 200
    sixth = client.post("/v1/webhooks", json={"url": "https://example.org/6"})
    assert sixth.status_code == 400
    assert "at most 5" in sixth.json()["message"]


def test_test_event_reports_receiver_status_and_is_signed(service: InProcessService) -> None:
    client = service.client(service.new_key())
    with WebhookReceiver(statuses=[204, 503]) as receiver:
        created = client.post("/v1/webhooks", json={"url": receiver.url}).json()
        hook_id, secret = created["webhook"]["webhook_id"], created["secret"]
        ok = client.post(f"/v1/webhooks/{hook_id}/test").json()
        assert ok == {"success": True, "webhook_id": hook_id, "status_code": 204, "message": ok["message"]}
        failing = client.post(f"/v1/webhooks/{hook_id}/test").json()
        assert failing["success"] is False and failing["status_code"] == 503
        assert receiver.events() == ["webhook.test", "webhook.test"]
        assert verify_signature(secret, receiver.requests[0])
        # each test is its own delivery: a receiver that drops repeated delivery ids still sees the second
        ids = [r["headers"]["X-Phonos-Delivery"] for r in receiver.requests]
        assert len(set(ids)) == 2 and all(i.startswith("test-") for i in ids)
        assert [r["headers"]["X-Phonos-Attempt"] for r in receiver.requests] == ["1", "1"]  # never retried
    unreachable = client.post(f"/v1/webhooks/{hook_id}/test").json()
    assert unreachable["success"] is False and unreachable["status_code"] == 0


def test_a_delivery_requests_the_url_exactly_as_registered(service: InProcessService) -> None:
    """A signed or token query string went out re-encoded (`?sig=a%2Fb` arrived as `?sig=a/b`): the receiver was
    not the URL shown (found by a tester)."""
    client = service.client(service.new_key())
    with WebhookReceiver() as receiver:
        url = receiver.url + "?sig=a%2Fb&token=x%3D%3D&caf%C3%A9=1"
        created = client.post("/v1/webhooks", json={"url": url}).json()
        assert created["webhook"]["url"] == url
        assert client.post(f"/v1/webhooks/{created['webhook']['webhook_id']}/test").json()["status_code"] == 200
        assert receiver.requests[0]["target"] == "/hook?sig=a%2Fb&token=x%3D%3D&caf%C3%A9=1"


def test_job_events_are_delivered_signed_with_seed_payload(service: InProcessService) -> None:
    client = service.client(service.new_key())
    with WebhookReceiver() as receiver:
        secret = client.post("/v1/webhooks", json={"url": receiver.url}).json()["secret"]
        job_id = client.predict().json()["job_id"]
        client.wait_for(job_id)
        wait_until(lambda: len(receiver.requests) >= 2, 15)
    # Two deliveries to one receiver run at once (docs/webhooks.md: "No order"): either may arrive first.
    assert sorted(receiver.events()) == ["job.completed", "job.started"]
    [completed_request] = [r for r in receiver.requests if json.loads(r["body"])["event"] == "job.completed"]
    completed = json.loads(completed_request["body"])
    assert set(completed) == {"event", "timestamp", "data"}
    assert completed["timestamp"].endswith("Z")
    assert completed["data"] == {"job_id": job_id, "status": "completed", "model": "esmfold",
                                 "download_url": f"/v1/jobs/{job_id}/download"}
    assert all(verify_signature(secret, r) for r in receiver.requests)
    assert completed_request["headers"]["X-Phonos-Event"] == "job.completed"
    # the SDK's check for receivers takes them too (and the body as received, bytes or text)
    assert [verify_webhook(r["body"].encode(), r["headers"]["X-Phonos-Signature"], secret)
            for r in receiver.requests] == [json.loads(r["body"]) for r in receiver.requests]
    # v2 signs the delivery id too ("<t>.<X-Phonos-Delivery>.<body>"), and the SDK given that header checks it: the
    # id a receiver deduplicates on is signed, so one delivery replayed under another id is refused
    for request in receiver.requests:
        header, delivery = request["headers"]["X-Phonos-Signature"], request["headers"]["X-Phonos-Delivery"]
        parts = dict(item.split("=", 1) for item in header.split(","))
        v2 = hmac.new(secret.encode(), f"{parts['t']}.{delivery}.{request['body']}".encode(), hashlib.sha256)
        assert hmac.compare_digest(v2.hexdigest(), parts["v2"])
        assert verify_webhook(request["body"].encode(), header, secret, delivery_id=delivery).delivery_id == delivery
    first, second = receiver.requests
    with pytest.raises(WebhookSignatureError, match="sent again under another X-Phonos-Delivery"):
        verify_webhook(first["body"].encode(), first["headers"]["X-Phonos-Signature"], secret,
                       delivery_id=second["headers"]["X-Phonos-Delivery"])


def test_failed_deliveries_are_retried_with_backoff(service: InProcessService) -> None:
    client = service.client(service.new_key())
    with WebhookReceiver(statuses=[500, 502]) as receiver:
        client.post("/v1/webhooks", json={"url": receiver.url, "events": ["job.completed"]})
        client.wait_for(client.predict().json()["job_id"])
        wait_until(lambda: len(receiver.requests) >= 3, 20)
    assert receiver.events() == ["job.completed"] * 3
    assert len({r["headers"]["X-Phonos-Delivery"] for r in receiver.requests}) == 1  # same delivery, retried
    # Each POST says which attempt it is (was: nothing told a retry from a first delivery); the body, the event as
    # queued, is the same bytes on every attempt.
    assert [r["headers"]["X-Phonos-Attempt"] for r in receiver.requests] == ["1", "2", "3"]
    assert len({r["body"] for r in receiver.requests}) == 1


def test_undelivered_events_survive_a_restart(twin_factory: type, tmp_path) -> None:
    data_dir = tmp_path / "persist"
    first = twin_factory.start(data_dir=data_dir, PHONOS_WEBHOOK_BACKOFF_BASE_S="30", PHONOS_WEBHOOK_TIMEOUT_S="1")
    key = first.new_key()
    client = first.client(key)
    with WebhookReceiver(statuses=[500]) as receiver:
        client.post("/v1/webhooks", json={"url": receiver.url, "events": ["job.completed"]})
        job_id = client.predict().json()["job_id"]
        client.wait_for(job_id)
        wait_until(lambda: len(receiver.requests) >= 1, 15)  # first attempt refused; next one is 30 s away
        first.stop()
        # The due time is persisted (30 s away); make it due now so the restarted sender sends at start-up.
        assert first.sql("SELECT COUNT(*) FROM webhook_deliveries WHERE status = 'pending'") == [(1,)]
        first.sql("UPDATE webhook_deliveries SET next_attempt_at = 0 WHERE status = 'pending'")
        twin_factory.start(data_dir=data_dir)
        wait_until(lambda: len(receiver.requests) >= 2, 40)
    assert receiver.events() == ["job.completed", "job.completed"]
    assert json.loads(receiver.requests[1]["body"])["data"]["job_id"] == job_id
    # The restarted sender counts on from the attempts the store recorded
    assert [r["headers"]["X-Phonos-Attempt"] for r in receiver.requests] == ["1", "2"]
