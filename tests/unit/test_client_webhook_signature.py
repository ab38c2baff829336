"""The SDK's check of a webhook delivery (phonos_client.verify_webhook) against the server's signing
(jobservice.webhooks.sign): what a receiver accepts and what it refuses."""

from __future__ import annotations

import json
import time

import pytest
from phonos_client import WebhookSignatureError, verify_webhook

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
