"""Webhooks as an integrator meets them: a receiver on a loopback port that verifies with the SDK, against a
running job service, through the corners the happy path does not reach (a webhook deleted while its delivery
is on the wire, a receiver that redirects)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import requests
from phonos_client import WebhookEvent, WebhookSignatureError, verify_webhook

from jobservice.memory_inference import Failure
from jobservice.webhooks import sign
from launcher.ports import can_listen, free_port
from tests.support import ALL_STORES, InProcessService, LoopbackServer, wait_until

pytestmark = pytest.mark.integration
STORES = ALL_STORES  # state: every test runs on SQLite and on PostgreSQL

FAST_RETRY = {"PHONOS_WEBHOOK_BACKOFF_BASE_S": "0.2", "PHONOS_WEBHOOK_TIMEOUT_S": "5"}


class HeldReceiver(LoopbackServer):
    """Verifies each delivery with the SDK, then holds its answer until `release` (then answers `status`)."""

    path = "/hook"

    def __init__(self, status: int = 500) -> None:
        super().__init__()
        self.secret = ""
        self.status = status
        self.events: list[dict[str, Any]] = []
        self.answered = 0
        self.gate = threading.Event()

    def routes(self, app: Any) -> None:
        from aiohttp import web

        async def handle(request: web.Request) -> web.Response:
            body = await request.read()
            self.events.append(verify_webhook(body, request.headers.get("X-Phonos-Signature"), self.secret))
            await asyncio.to_thread(self.gate.wait, 10)
            self.answered += 1
            return web.Response(status=self.status, text="no")

        app.router.add_post(self.path, handle)


def count_sender_rounds(service: InProcessService) -> list[int]:
    """How many rounds the service's webhook sender has run (a one-item list the test reads as it goes)."""
    sender = service.running.service.sender
    rounds = [0]
    dispatch_due = sender.dispatch_due

    async def counted() -> float | None:
        rounds[0] += 1
        return await dispatch_due()

    sender.dispatch_due = counted  # type: ignore[method-assign]
    return rounds


def test_a_webhook_deleted_while_its_delivery_is_on_the_wire_stays_deleted(twin_factory: type) -> None:
    # The delete marks the webhook's pending deliveries failed; the attempt in flight then came back with a 500
    # and its retry bookkeeping set the row pending again: a delivery no claim would ever pick (its webhook is
    # deleted) but that the sender's "next due" query still saw, due at once, for ever, so its loop spun.
    service: InProcessService = twin_factory.start(**FAST_RETRY)
    rounds = count_sender_rounds(service)
    client = service.client(service.new_key())
    with HeldReceiver(status=500) as receiver:
        created = client.post("/v1/webhooks", json={"url": receiver.url, "events": ["job.completed"]}).json()
        receiver.secret, hook_id = created["secret"], created["webhook"]["webhook_id"]
        client.wait_for(client.predict().json()["job_id"])
        wait_until(lambda: receiver.events, 15)  # the delivery is on the wire, its answer held
        assert client.delete(f"/v1/webhooks/{hook_id}").status_code == 200
        receiver.gate.set()
        wait_until(lambda: receiver.answered == 1, 10)
        time.sleep(1.0)  # the sender records the 500 (and, before the fix, would have retried after 0.2 s)
        before = rounds[0]
        time.sleep(0.5)
        assert rounds[0] - before <= 2  # the sender waits (it spun: hundreds of rounds a second)
        rows = service.sql("SELECT status, last_error FROM webhook_deliveries WHERE webhook_id = ?", hook_id)
        assert rows == [("failed", "webhook deleted")]
        assert len(receiver.events) == 1  # nothing sent for a deleted webhook
        backlog = service.sql("SELECT COUNT(*) FROM webhook_deliveries WHERE status = 'pending'")
        assert backlog == [(0,)]
    assert json.loads(json.dumps(receiver.events[0]))["event"] == "job.completed"


class AckThenStall(LoopbackServer):
    """Answers 200 at once, then sends its body slower than the sender waits (a receiver that acknowledges first
    and works while the connection is open, or a proxy that streams)."""

    path = "/hook"

    def __init__(self) -> None:
        super().__init__()
        self.deliveries: list[str] = []

    def routes(self, app: Any) -> None:
        from aiohttp import web

        async def handle(request: web.Request) -> web.StreamResponse:
            await request.read()
            self.deliveries.append(request.headers["X-Phonos-Delivery"])
            response = web.StreamResponse(status=200, headers={"Content-Length": "100"})
            await response.prepare(request)  # the status line and headers; the body comes later
            await asyncio.sleep(1.5)  # past the sender's 1 s
            with contextlib.suppress(ConnectionError):  # the sender has hung up by now
                await response.write(b"accepted")
            return response

        app.router.add_post(self.path, handle)


@pytest.mark.sqlite_only  # the sender's HTTP side: nothing in it depends on the store
def test_an_answer_whose_body_is_slow_still_counts_as_its_status(twin_factory: type) -> None:
    # Only the status matters; the body is read (at most 1 KiB) and dropped. A body slower than the timeout made
    # a 200 a "did not answer in time": retried (the receiver saw the event again) and at last failed.
    service: InProcessService = twin_factory.start(PHONOS_WEBHOOK_BACKOFF_BASE_S="0.2", PHONOS_WEBHOOK_TIMEOUT_S="1",
                                                   PHONOS_WEBHOOK_MAX_ATTEMPTS="2")
    client = service.client(service.new_key())
    with AckThenStall() as receiver:
        hook_id = client.post("/v1/webhooks", json={"url": receiver.url, "events": ["job.completed"]}).json()[
            "webhook"]["webhook_id"]
        test = client.post(f"/v1/webhooks/{hook_id}/test").json()
        assert (test["success"], test["status_code"]) == (True, 200)
        client.wait_for(client.predict().json()["job_id"])
        # The job's delivery (the test event is in the log too, delivered at once: not the one waited for here).
        log = wait_until(lambda: [d for d in client.get(f"/v1/webhooks/{hook_id}/deliveries",
                                                        params={"event": "job.completed"}).json()["deliveries"]
                                  if d["status"] != "pending"], 15)
    assert [(d["status"], d["attempts"], d["last_status_code"]) for d in log] == [("delivered", 1, 200)]
    assert len(receiver.deliveries) == 2  # the test event and the job's one delivery, not retried


class SlowAck(LoopbackServer):
    """Answers 200 after `delay_s`; keeps each delivery's id as it arrives."""

    path = "/hook"

    def __init__(self, delay_s: float) -> None:
        super().__init__()
        self.delay_s = delay_s
        self.deliveries: list[str] = []

    def routes(self, app: Any) -> None:
        from aiohttp import web

        async def handle(request: web.Request) -> web.Response:
            await request.read()
            self.deliveries.append(request.headers["X-Phonos-Delivery"])
            await asyncio.sleep(self.delay_s)
            return web.Response(status=200)

        app.router.add_post(self.path, handle)


def test_a_stop_with_a_delivery_on_the_wire_neither_loses_nor_doubles_it(twin_factory: type, tmp_path) -> None:
    # The stop cancelled the delivery while its receiver was answering 200: still pending, it was sent again by
    # the next start. Now the stop waits (a little) for the answer and records it.
    data_dir = tmp_path / "restart"
    first: InProcessService = twin_factory.start(data_dir=data_dir, **FAST_RETRY)
    key = first.new_key()
    client = first.client(key)
    with SlowAck(delay_s=0.8) as receiver:
        client.post("/v1/webhooks", json={"url": receiver.url, "events": ["job.completed"]})
        client.wait_for(client.predict().json()["job_id"])
        wait_until(lambda: receiver.deliveries, 15)  # on the wire, its 200 0.8 s away
        first.stop()
        assert first.sql("SELECT status, attempts FROM webhook_deliveries") == [("delivered", 1)]
        twin_factory.start(data_dir=data_dir, **FAST_RETRY)
        time.sleep(1.0)  # the restarted sender's first round
    assert len(receiver.deliveries) == 1


class SlashRedirect(LoopbackServer):
    """A framework that redirects /hook to /hook/ (Django's APPEND_SLASH, an nginx directory): 308, never 2xx."""

    path = "/hook"

    def __init__(self) -> None:
        super().__init__()
        self.paths: list[str] = []

    def routes(self, app: Any) -> None:
        from aiohttp import web

        async def handle(request: web.Request) -> web.Response:
            self.paths.append(request.path)
            if request.path == "/hook/":
                return web.Response(status=200)
            return web.Response(status=308, headers={"Location": "/hook/"})

        app.router.add_post("/hook", handle)
        app.router.add_post("/hook/", handle)


@pytest.mark.sqlite_only  # the wording of an answer: nothing in it depends on the store
def test_a_redirecting_receiver_is_told_to_register_where_it_redirects(twin_factory: type) -> None:
    service: InProcessService = twin_factory.start(PHONOS_WEBHOOK_MAX_ATTEMPTS="1", PHONOS_WEBHOOK_TIMEOUT_S="5")
    client = service.client(service.new_key())
    with SlashRedirect() as receiver:
        hook_id = client.post("/v1/webhooks", json={"url": receiver.url, "events": ["job.completed"]}).json()[
            "webhook"]["webhook_id"]
        test = client.post(f"/v1/webhooks/{hook_id}/test").json()
        client.wait_for(client.predict().json()["job_id"])
        failed = wait_until(lambda: client.get(f"/v1/webhooks/{hook_id}/deliveries",
                                               params={"status": "failed"}).json()["deliveries"], 15)
    advice = "redirects are not followed: register the address it redirects to"
    assert (test["success"], test["status_code"]) == (False, 308) and advice in test["message"]
    assert failed[0]["last_status_code"] == 308 and advice in failed[0]["last_error"]
    assert receiver.paths == ["/hook", "/hook"]  # the redirect was not followed


DOC = Path(__file__).resolve().parents[2] / "docs" / "webhooks.md"


def doc_blocks() -> list[str]:
    """The ```python blocks of docs/webhooks.md, in order: the receiver, the check without the SDK, and the check
    against either secret during a rotation."""
    return re.findall(r"```python\n(.*?)```", DOC.read_text(), re.S)


@pytest.mark.sqlite_only  # the receiver's side: nothing in it depends on the store
def test_the_documented_receiver_works_as_printed(twin_factory: type, tmp_path: Path) -> None:
    receiver_code, plain_check, either_check = doc_blocks()
    service: InProcessService = twin_factory.start(**FAST_RETRY)
    client = service.client(service.new_key())
    port = free_port()
    url = f"http://127.0.0.1:{port}/hooks"
    created = client.post("/v1/webhooks", json={"url": url}).json()
    secret, hook_id = created["secret"], created["webhook"]["webhook_id"]
    script = tmp_path / "receiver.py"
    script.write_text(receiver_code)
    env = {**os.environ, "PORT": str(port), "PHONOS_WEBHOOK_SECRET": secret,
           "PYTHONPATH": str(Path(__file__).resolve().parents[2] / "clients" / "python")}
    process = subprocess.Popen([sys.executable, str(script)], env=env, stdout=subprocess.PIPE, text=True)
    lines: list[str] = []
    threading.Thread(target=lambda: lines.extend(line.rstrip() for line in process.stdout or ()), daemon=True).start()
    try:
        wait_until(lambda: not can_listen("127.0.0.1", port), 15)
        test = client.post(f"/v1/webhooks/{hook_id}/test").json()
        assert (test["success"], test["status_code"]) == (True, 204)
        done = client.predict().json()["job_id"]
        client.wait_for(done)
        service.inference.script("esmfold", Failure.MODEL_ERROR)
        failed = client.predict().json()["job_id"]
        client.wait_for(failed)
        wait_until(lambda: len(lines) >= 5, 15)
        assert sorted(lines) == sorted([
            "webhook.test", f"job.started {done}", f"completed {done} /v1/jobs/{done}/download",
            f"job.started {failed}", f"failed {failed} esmfold failed: RuntimeError: scripted model failure; "
                                     "credits were refunded."])
        # What it refuses: another secret, a stale signature (a recorded request replayed), no signature at all.
        body = json.dumps({"event": "job.completed", "timestamp": "2026-01-01T00:00:00Z",
                           "data": {"job_id": "forged", "status": "completed", "model": "esmfold"}})
        for header in (sign("whsec_another", int(time.time()), body), sign(secret, int(time.time()) - 600, body), None):
            answer = requests.post(url, data=body.encode(), timeout=5,
                                   headers={"X-Phonos-Delivery": "1", **({"X-Phonos-Signature": header} if header else {})})
            assert answer.status_code == 400, header
        # A delivery sent again (same X-Phonos-Delivery: its first answer was lost) is answered but not redone.
        delivered = client.get(f"/v1/webhooks/{hook_id}/deliveries", params={"status": "delivered"}).json()
        again = delivered["deliveries"][0]
        text = json.dumps(again["payload"])
        signature = sign(secret, int(time.time()), text, again["delivery_id"])
        answer = requests.post(url, data=text.encode(), timeout=5, headers={
            "X-Phonos-Delivery": again["delivery_id"], "X-Phonos-Signature": signature})
        assert answer.status_code == 204
        # The same delivery captured and replayed within the tolerance under a fresh id (which the dedup has not
        # seen) is refused: v2 signs the id; and so is the replay with its v2 cut off (v1 alone still matched).
        v1_only = ",".join(part for part in signature.split(",") if not part.startswith("v2="))
        for replayed in (signature, v1_only):
            answer = requests.post(url, data=text.encode(), timeout=5, headers={
                "X-Phonos-Delivery": "dlv_00000000deadbeef", "X-Phonos-Signature": replayed})
            assert answer.status_code == 400 and answer.text.startswith(
                "the signature does not match" if replayed == signature else "X-Phonos-Signature has no v2="), \
                answer.text
        time.sleep(0.3)
        assert len(lines) == 5
    finally:
        process.terminate()
        process.wait(10)
    # The check without the SDK takes what the server signs, and nothing else.
    namespace: dict[str, Any] = {}
    exec(plain_check, namespace)  # noqa: S102 - the documented snippet, run as printed
    verify = namespace["verify"]
    now_s, dlv = int(time.time()), "dlv_0123456789abcdef"
    assert verify(b'{"a":1}', sign(secret, now_s, '{"a":1}', dlv), dlv, secret)
    assert not verify(b'{"a":2}', sign(secret, now_s, '{"a":1}', dlv), dlv, secret)
    assert not verify(b'{"a":1}', sign(secret, now_s - 600, '{"a":1}', dlv), dlv, secret)
    assert not verify(b'{"a":1}', sign(secret, now_s, '{"a":1}', dlv), "dlv_00000000deadbeef", secret)  # replayed
    assert not verify(b'{"a":1}', sign(secret, now_s, '{"a":1}'), dlv, secret)  # v1 alone: the id unsigned
    assert not verify(b'{"a":1}', "v1=00", dlv, secret)
    # During a rotation (two v2=, the new secret's first) it takes either secret; so does the rotation snippet.
    new = "whsec_new"
    assert verify(b'{"a":1}', sign((new, secret), now_s, '{"a":1}', dlv), dlv, secret)
    assert verify(b'{"a":1}', sign((new, secret), now_s, '{"a":1}', dlv), dlv, new)
    namespace = {"verify_webhook": verify_webhook, "WebhookSignatureError": WebhookSignatureError,
                 "WebhookEvent": WebhookEvent}
    exec(either_check, namespace)  # noqa: S102 - the documented snippet, run as printed
    verify_either = namespace["verify_either"]
    body = '{"event":"webhook.test"}'
    both = verify_either(body.encode(), sign((new, secret), now_s, body, dlv), dlv, [secret, new])
    assert both == {"event": "webhook.test"} and both.delivery_id == dlv
    assert verify_either(body.encode(), sign(new, now_s, body, dlv), dlv, [secret, new]) == {"event": "webhook.test"}
    with pytest.raises(WebhookSignatureError, match="does not match"):
        verify_either(body.encode(), sign("whsec_other", now_s, body, dlv), dlv, [secret, new])
    with pytest.raises(WebhookSignatureError, match="does not match"):  # replayed under another id
        verify_either(body.encode(), sign((new, secret), now_s, body, dlv), "dlv_00000000deadbeef", [secret, new])


def test_a_start_finishes_what_a_deleted_webhook_left_pending(twin_factory: type, tmp_path: Path) -> None:
    # Rows the race above left behind in a database (pending, their webhook deleted) held the backlog gauge for ever
    # and were never purged (only finished rows are): the sender's start finishes them as the delete would have.
    data_dir = tmp_path / "leftover"
    first: InProcessService = twin_factory.start(data_dir=data_dir)
    client = first.client(first.new_key())
    hook_id = client.post("/v1/webhooks", json={"url": "https://example.org/hook"}).json()["webhook"]["webhook_id"]
    assert client.delete(f"/v1/webhooks/{hook_id}").status_code == 200
    first.stop()
    first.sql("INSERT INTO webhook_deliveries (webhook_id, event, payload, status, next_attempt_at, created_at) "
              "VALUES (?, 'job.completed', '{}', 'pending', ?, ?)", hook_id, time.time(), time.time())
    twin_factory.start(data_dir=data_dir)
    wait_until(lambda: first.sql("SELECT status, last_error FROM webhook_deliveries") == [("failed", "webhook deleted")],
               10)
