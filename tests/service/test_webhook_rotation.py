"""POST /v1/webhooks/{id}/rotate-secret as an integrator uses it: a receiver on a loopback port verifies every
delivery with the SDK against the secrets it knows, through the overlap (both secrets sign test events, job
events and their retries), after it (the new one alone), and the refusals (unknown or another account's id,
an overlap out of range, a read-only key)."""

from __future__ import annotations

import contextlib
import re
import time
from datetime import UTC, datetime
from typing import Any

import pytest
from phonos_client import WebhookSignatureError, verify_webhook

from phonos.v1 import phonos_pb2 as pb
from tests.support import ALL_STORES, InProcessService, LoopbackServer, wait_until

pytestmark = pytest.mark.integration
STORES = ALL_STORES  # state: every test runs on SQLite and on PostgreSQL

FAST_RETRY = {"PHONOS_WEBHOOK_BACKOFF_BASE_S": "0.2", "PHONOS_WEBHOOK_TIMEOUT_S": "5"}


class VerifyingReceiver(LoopbackServer):
    """Checks each delivery with `verify_webhook` against every secret in `secrets` and records which accepted
    it; answers the scripted `statuses` (then 204), or 400 when no secret verifies (as docs/webhooks.md's does)."""

    path = "/hook"

    def __init__(self) -> None:
        super().__init__()
        self.secrets: list[str] = []
        self.seen: list[dict[str, Any]] = []
        self.statuses: list[int] = []

    def routes(self, app: Any) -> None:
        from aiohttp import web

        async def handle(request: web.Request) -> web.Response:
            body = await request.read()
            header = request.headers.get("X-Phonos-Signature", "")
            delivery = request.headers.get("X-Phonos-Delivery")
            accepted, signed_id = [], []
            for secret in self.secrets:
                try:
                    verify_webhook(body, header, secret)
                except WebhookSignatureError:
                    continue
                accepted.append(secret)
                with contextlib.suppress(WebhookSignatureError):  # v2: the delivery id signed too
                    signed_id.append(verify_webhook(body, header, secret, delivery_id=delivery).delivery_id)
            self.seen.append({"header": header, "accepted": accepted, "event": request.headers["X-Phonos-Event"],
                              "body": body, "signed_id": signed_id, "delivery": delivery})
            if not accepted:
                return web.Response(status=400, text="bad signature")
            return web.Response(status=self.statuses.pop(0) if self.statuses else 204)

        app.router.add_post(self.path, handle)


def epoch(text: str) -> float:
    assert text.endswith("Z")
    return datetime.fromisoformat(text).astimezone(UTC).timestamp()


def test_rotation_signs_with_both_secrets_during_the_overlap_and_the_new_one_after(twin_factory: type) -> None:
    service: InProcessService = twin_factory.start(**FAST_RETRY)
    client = service.client(service.new_key())
    with VerifyingReceiver() as receiver:
        created = client.post("/v1/webhooks", json={"url": receiver.url}).json()
        hook, old = created["webhook"], created["secret"]
        before = time.time()
        rotated = client.post(f"/v1/webhooks/{hook['webhook_id']}/rotate-secret")  # no body: a day's overlap
        assert rotated.status_code == 200, rotated.text
        body = rotated.json()
        new = body["secret"]
        assert set(body) == {"success", "webhook", "secret", "previous_secret_expires_at", "message"}
        # the webhook as listed after it: the same, with the overlap's end (absent before, as on any webhook not
        # rotated: test_the_listing_says_when_the_old_secret_stops_signing)
        assert body["success"] is True and body["webhook"] == {
            **hook, "previous_secret_expires_at": body["previous_secret_expires_at"]}
        assert new.startswith("whsec_") and new != old
        assert before + 86400 - 2 <= epoch(body["previous_secret_expires_at"]) <= time.time() + 86400 + 1
        assert "secret" not in client.get("/v1/webhooks").json()["webhooks"][0]  # shown once, never listed

        receiver.secrets = [new, old]
        assert client.post(f"/v1/webhooks/{hook['webhook_id']}/test").json()["status_code"] == 204
        receiver.statuses = [500]  # job.started's first attempt fails: its retry is signed with both secrets too
        client.wait_for(client.predict().json()["job_id"])
        wait_until(lambda: len(receiver.seen) >= 4, 20)  # test, job.started (500, then retried), job.completed
        # (no order between a retry and the next event: docs/webhooks.md)
        assert sorted(s["event"] for s in receiver.seen) == ["job.completed", "job.started", "job.started",
                                                            "webhook.test"]
        for seen in receiver.seen:
            assert seen["header"].count("v1=") == 2 and seen["header"].count("v2=") == 2
            assert seen["accepted"] == [new, old]  # a receiver on either secret accepts every delivery
            assert seen["signed_id"] == [seen["delivery"]] * 2  # and, given X-Phonos-Delivery, checks it (v2)
        # the new secret's signature comes first: a receiver reading only the first v1 moves with the rotation
        only_first = ",".join(receiver.seen[0]["header"].split(",")[:2])
        assert verify_webhook(receiver.seen[0]["body"], only_first, new)["event"] == "webhook.test"

        # a second rotation that ends the overlap at once: the newest secret alone, the others refused
        newest = client.post(f"/v1/webhooks/{hook['webhook_id']}/rotate-secret",
                             json={"expire_current_after_s": 0}).json()
        assert epoch(newest["previous_secret_expires_at"]) <= time.time() + 1
        receiver.secrets = [newest["secret"], new, old]
        client.post(f"/v1/webhooks/{hook['webhook_id']}/test")
        assert receiver.seen[-1]["header"].count("v1=") == 1 and receiver.seen[-1]["accepted"] == [newest["secret"]]
        assert receiver.seen[-1]["header"].count("v2=") == 1 and len(receiver.seen[-1]["signed_id"]) == 1

        # an overlap that runs out: two signatures within it, one after it
        last = client.post(f"/v1/webhooks/{hook['webhook_id']}/rotate-secret",
                           json={"expire_current_after_s": 1}).json()
        receiver.secrets = [last["secret"], newest["secret"]]
        client.post(f"/v1/webhooks/{hook['webhook_id']}/test")
        assert receiver.seen[-1]["accepted"] == [last["secret"], newest["secret"]]
        time.sleep(max(0.0, epoch(last["previous_secret_expires_at"]) + 1.05 - time.time()))
        client.post(f"/v1/webhooks/{hook['webhook_id']}/test")
        assert receiver.seen[-1]["header"].count("v1=") == 1 and receiver.seen[-1]["accepted"] == [last["secret"]]

    # the account's activity log says it happened, never the secret
    entries = client.get("/v1/account/activity", params={"action": "webhook.secret_rotated"}).json()["entries"]
    assert [e["details"] for e in entries] == [{"expire_current_after_s": 1}, {"expire_current_after_s": 0},
                                               {"expire_current_after_s": 86400}]
    assert all(e["target"] == {"webhook_id": hook["webhook_id"]} for e in entries)


@pytest.mark.parametrize(("path_id", "body", "status", "needle"), [
    ("unknown", {}, 404, "not found"),
    ("strangers", {}, 404, "not found"),
    ("own", {"expire_current_after_s": -1}, 400, "between 0 (at once) and 604800"),
    ("own", {"expire_current_after_s": 604801}, 400, "between 0 (at once) and 604800"),
    ("own", {"expire_current_after_s": "a day"}, 400, "expire_current_after_s"),
    ("own", {"expire_after": 10}, 400, "expire_after"),
])
def test_rotation_refusals(twin_service: InProcessService, path_id: str, body: dict, status: int,
                           needle: str) -> None:
    owner = twin_service.client(twin_service.new_key())
    own = owner.post("/v1/webhooks", json={"url": "https://example.org/hook"}).json()
    strangers = twin_service.client(twin_service.new_key()).post(
        "/v1/webhooks", json={"url": "https://example.org/other"}).json()
    hook_id = {"unknown": "wh_" + "0" * 32, "strangers": strangers["webhook"]["webhook_id"],
               "own": own["webhook"]["webhook_id"]}[path_id]
    response = owner.post(f"/v1/webhooks/{hook_id}/rotate-secret", json=body)
    assert response.status_code == status, response.text
    answer = response.json()
    assert set(answer) == {"error", "message"} and needle in answer["message"].lower()


def test_a_read_only_key_cannot_rotate(twin_service: InProcessService) -> None:
    full = twin_service.client(twin_service.new_key())
    hook_id = full.post("/v1/webhooks", json={"url": "https://example.org/hook"}).json()["webhook"]["webhook_id"]
    read_only = twin_service.client(full.post("/v1/keys", json={"scope": "read_only"}).json()["api_key"])
    response = read_only.post(f"/v1/webhooks/{hook_id}/rotate-secret")
    assert response.status_code == 403 and "read-only" in response.json()["message"].lower()


def test_a_retried_rotation_with_its_idempotency_key_returns_the_same_secret(twin_service: InProcessService) -> None:
    """The SDK sends a key on this POST and retries it after a lost answer: the retry must not rotate again (the
    secret the caller never saw would become the overlapping one, and the one it gets back would never sign)."""
    client = twin_service.client(twin_service.new_key())
    hook_id = client.post("/v1/webhooks", json={"url": "https://example.org/hook"}).json()["webhook"]["webhook_id"]
    headers = {"Idempotency-Key": "rotate-once"}
    first = client.post(f"/v1/webhooks/{hook_id}/rotate-secret", json={"expire_current_after_s": 60}, headers=headers)
    again = client.post(f"/v1/webhooks/{hook_id}/rotate-secret", json={"expire_current_after_s": 60}, headers=headers)
    assert first.status_code == again.status_code == 200 and first.json() == again.json()
    other = client.post(f"/v1/webhooks/{hook_id}/rotate-secret", json={"expire_current_after_s": 60})
    assert other.json()["secret"] != first.json()["secret"]  # without the key: a rotation of its own


TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")  # as every webhook's created_at


def test_the_listing_says_when_the_old_secret_stops_signing(twin_service: InProcessService) -> None:
    """GET /v1/webhooks (and gRPC ListWebhooks) carries previous_secret_expires_at only while the replaced secret
    still signs: after a rotation with an overlap, not before one, not after one stopped at once, not once the
    overlap has run out (the secret then signs nothing: test above), and only on the webhook rotated."""
    key = twin_service.new_key()
    client = twin_service.client(key)
    hook_id = client.post("/v1/webhooks", json={"url": "https://example.org/hook"}).json()["webhook"]["webhook_id"]
    other = client.post("/v1/webhooks", json={"url": "https://example.org/other"}).json()["webhook"]

    def listed() -> dict[str, dict]:
        return {h["webhook_id"]: h for h in client.get("/v1/webhooks").json()["webhooks"]}

    assert "previous_secret_expires_at" not in listed()[hook_id]  # never rotated
    rotated = client.post(f"/v1/webhooks/{hook_id}/rotate-secret", json={"expire_current_after_s": 3600}).json()
    shown = listed()
    until = shown[hook_id]["previous_secret_expires_at"]
    assert until == rotated["previous_secret_expires_at"] == rotated["webhook"]["previous_secret_expires_at"]
    assert TIMESTAMP.match(until) and TIMESTAMP.match(shown[hook_id]["created_at"])
    assert abs(epoch(until) - (time.time() + 3600)) < 5
    assert shown[other["webhook_id"]] == other  # the webhook not rotated: as created, no field

    channel, stub = twin_service.grpc_stub()  # gRPC says the same, as a Timestamp set only then
    with channel:
        reply = stub.ListWebhooks(pb.ListWebhooksRequest(), metadata=(("authorization", f"Bearer {key}"),))
    by_id = {h.webhook_id: h for h in reply.webhooks}
    assert by_id[hook_id].HasField("previous_secret_expires_at")
    assert abs(by_id[hook_id].previous_secret_expires_at.ToDatetime(UTC).timestamp() - epoch(until)) < 0.01
    assert not by_id[other["webhook_id"]].HasField("previous_secret_expires_at")

    # stopped at once: one secret signs, so none is listed (the rotation's answer says when it stopped)
    stopped = client.post(f"/v1/webhooks/{hook_id}/rotate-secret", json={"expire_current_after_s": 0}).json()
    assert "previous_secret_expires_at" not in stopped["webhook"] and "previous_secret_expires_at" in stopped
    assert "previous_secret_expires_at" not in listed()[hook_id]

    # an overlap that runs out: listed during it, gone after it with no write (decided at each read)
    short = client.post(f"/v1/webhooks/{hook_id}/rotate-secret", json={"expire_current_after_s": 1}).json()
    assert listed()[hook_id]["previous_secret_expires_at"] == short["previous_secret_expires_at"]
    time.sleep(max(0.0, epoch(short["previous_secret_expires_at"]) + 0.05 - time.time()))
    assert "previous_secret_expires_at" not in listed()[hook_id]
