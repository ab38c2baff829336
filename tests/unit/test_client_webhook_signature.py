"""The SDK's check of a webhook delivery (phonos_client.verify_webhook) against the server's signing
(jobservice.webhooks.sign): what a receiver accepts and what it refuses."""

from __future__ import annotations

import hashlib
import hmac
import json
import time

import pytest
from phonos_client import WebhookEvent, WebhookSignatureError, verify_webhook

from jobservice.webhooks import sign

pytestmark = pytest.mark.unit

SECRET = "whsec_AksXN8OBvQA7bQ7dFbTr2Qtm8nejhpoWEPIsi_OvV9k"
BODY = json.dumps({"event": "job.completed", "timestamp": "2026-12-01T03:33:43Z",
                   "data": {"job_id": "j1", "status": "completed", "model": "esmfold", "name": "Å ß"}},
                  ensure_ascii=False, separators=(",", ":"))


def test_a_delivery_signed_by_the_server_is_accepted_as_bytes_or_text() -> None:
    header = sign(SECRET, int(time.time()), BODY)
    assert verify_webhook(BODY.encode(), header, SECRET) == json.loads(BODY)
    assert verify_webhook(BODY, header, SECRET)["data"]["name"] == "Å ß"
    # a delivery retried later is signed again when sent: its fresh t passes a tight window
    assert verify_webhook(BODY, sign(SECRET, int(time.time()), BODY), SECRET, tolerance_s=5)


@pytest.mark.parametrize(("header", "body", "secret", "says"), [
    (None, BODY, SECRET, "no X-Phonos-Signature header"),
    ("v1=abc", BODY, SECRET, "is not t=<unix seconds>,v1=<hex>"),
    ("t=now,v1=abc", BODY, SECRET, "is not t=<unix seconds>,v1=<hex>"),
    ("SIGNED", BODY.replace("completed", "failed", 1), SECRET, "does not match"),  # the body changed
    ("SIGNED", BODY, SECRET.removeprefix("whsec_"), "does not match"),  # the key is the secret whole
    ("SIGNED", json.dumps(json.loads(BODY)), SECRET, "does not match"),  # re-encoded JSON is other bytes
    ("OLD", BODY, SECRET, "s old; at most 300 s is accepted"),  # replayed
])
def test_what_a_receiver_refuses(header: str | None, body: str, secret: str, says: str) -> None:
    now = int(time.time())
    if header == "SIGNED":
        header = sign(SECRET, now, BODY)
    elif header == "OLD":
        header = sign(SECRET, now - 3600, BODY)
    with pytest.raises(WebhookSignatureError, match=says.replace("(", r"\(").replace(")", r"\)")):
        verify_webhook(body, header, secret)


def test_during_a_rotation_either_secret_verifies_the_two_signature_header() -> None:
    """A rotation's overlap signs with the new secret and the old one (`t=…,v1=<new>,v1=<old>`): a receiver
    still on the old secret, and one already on the new, both accept; a third secret does not."""
    old, new = SECRET, "whsec_" + "n" * 43
    header = sign((new, old), int(time.time()), BODY)
    assert header.count(",v1=") == 2 and header.split(",")[1] == sign(new, int(header[2:12]), BODY).split(",")[1]
    assert verify_webhook(BODY, header, old) == verify_webhook(BODY, header, new) == json.loads(BODY)
    with pytest.raises(WebhookSignatureError, match="does not match"):
        verify_webhook(BODY, header, "whsec_" + "x" * 43)


DELIVERY = "dlv_3f9a0c1d2e4b5a67"


def test_v2_signs_the_delivery_id_after_the_v1s() -> None:
    """Beside v1 (unchanged: verifiers written to date keep working) each attempt carries a v2= over
    "<t>.<X-Phonos-Delivery>.<raw body>", after the v1s (a verifier reading only the first v1 still finds it)."""
    t = 1700000000
    header = sign(SECRET, t, BODY, DELIVERY)
    v1 = hmac.new(SECRET.encode(), f"{t}.{BODY}".encode(), hashlib.sha256).hexdigest()
    v2 = hmac.new(SECRET.encode(), f"{t}.{DELIVERY}.{BODY}".encode(), hashlib.sha256).hexdigest()
    assert header == f"t={t},v1={v1},v2={v2}"
    with pytest.raises(ValueError, match="dot"):
        sign(SECRET, t, BODY, "dlv_1.2")


def test_given_the_delivery_header_a_replay_under_another_id_is_refused() -> None:
    """A delivery captured and sent again within the tolerance under a fresh X-Phonos-Delivery passed v1 and so
    the receiver's dedup (the job.completed acted on twice): checked with its delivery header, v2 refuses it."""
    header = sign(SECRET, int(time.time()), BODY, DELIVERY)
    event = verify_webhook(BODY.encode(), header, SECRET, delivery_id=DELIVERY)
    assert event == json.loads(BODY) and isinstance(event, WebhookEvent) and event.delivery_id == DELIVERY
    for forged in ("dlv_0000000000000001", "test-0123456789abcdef", "42"):
        with pytest.raises(WebhookSignatureError, match="sent again under another X-Phonos-Delivery"):
            verify_webhook(BODY.encode(), header, SECRET, delivery_id=forged)
    # the v2s cut off the header (v1 still matches): refused, not checked as v1 alone
    v1_only = ",".join(part for part in header.split(",") if not part.startswith("v2="))
    with pytest.raises(WebhookSignatureError, match="has no v2="):
        verify_webhook(BODY.encode(), v1_only, SECRET, delivery_id="dlv_0000000000000001")
    # no delivery header, or one no server sends (a dot would make "<t>.<id>.<body>" ambiguous)
    with pytest.raises(WebhookSignatureError, match="no X-Phonos-Delivery header"):
        verify_webhook(BODY.encode(), header, SECRET, delivery_id=None)
    with pytest.raises(WebhookSignatureError, match="is not a phonos delivery id"):
        verify_webhook(BODY.encode(), header, SECRET, delivery_id="dlv_1.x")
    # the timestamp window holds for v2 as for v1
    with pytest.raises(WebhookSignatureError, match="s old"):
        verify_webhook(BODY, sign(SECRET, int(time.time()) - 3600, BODY, DELIVERY), SECRET, delivery_id=DELIVERY)


def test_the_old_call_still_checks_v1_alone() -> None:
    """Without delivery_id, verify_webhook checks v1 as before, whether the header has v2s or not; the event's
    delivery_id then says the id went unchecked."""
    now = int(time.time())
    for header in (sign(SECRET, now, BODY), sign(SECRET, now, BODY, DELIVERY)):
        event = verify_webhook(BODY, header, SECRET)
        assert event == json.loads(BODY) and event.delivery_id is None


def test_during_a_rotation_there_is_a_v2_per_secret_and_either_verifies() -> None:
    old, new = SECRET, "whsec_" + "n" * 43
    now = int(time.time())
    header = sign((new, old), now, BODY, DELIVERY)
    keys = [part.partition("=")[0] for part in header.split(",")]
    assert keys == ["t", "v1", "v1", "v2", "v2"]
    assert header.split(",")[3] == sign(new, now, BODY, DELIVERY).split(",")[2]  # the new secret's first
    for secret in (old, new):
        assert verify_webhook(BODY, header, secret, delivery_id=DELIVERY).delivery_id == DELIVERY
    with pytest.raises(WebhookSignatureError, match="does not match"):
        verify_webhook(BODY, header, "whsec_" + "x" * 43, delivery_id=DELIVERY)
