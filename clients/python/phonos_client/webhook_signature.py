"""Checking a webhook delivery on the receiving side: that phonos sent it, recently, under its delivery id.

Each POST carries `X-Phonos-Signature: t=<unix seconds>,v1=<hex>,v2=<hex>` and `X-Phonos-Delivery: <id>`:
v1 is HMAC-SHA256(secret, "<t>.<raw body>"), v2 HMAC-SHA256(secret, "<t>.<delivery id>.<raw body>"). The key
is the webhook's secret exactly as `create_webhook` returned it (the text, `whsec_` included, as UTF-8: nothing
to strip or decode); the message is the timestamp, a dot, (for v2) the delivery id and a dot, and the request
body's raw bytes, before any JSON parsing. The server signs every attempt when it sends it, so a retry hours
later carries a fresh `t`: a receiver can hold every delivery to a short window (`tolerance_s`, 5 minutes) and
so refuse a recorded request replayed later. Within that window only v2 stops a replay: the delivery id is what
a receiver deduplicates on, and v1 leaves it out, so a captured delivery sent again under a made-up id passed
v1 and the dedup alike. Given the id (`delivery_id=`), v2 is required and checked, and the id it returns on the
event is signed. Several `v1=` (or `v2=`) entries are each tried (room for a rotated secret).
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import json
import re
import time
from typing import Any

SIGNATURE_HEADER = "X-Phonos-Signature"
DELIVERY_HEADER = "X-Phonos-Delivery"
DEFAULT_TOLERANCE_S = 300.0
# What the server sends as a delivery id (`dlv_<hex>`, `test-<hex>`, a number from before opaque ids): never a dot,
# so "<t>.<id>.<body>" splits one way only, and nothing a header could smuggle.
_DELIVERY_ID = re.compile(r"[A-Za-z0-9_-]{1,100}")


class WebhookSignatureError(ValueError):
    """A delivery whose signature header is missing or malformed, does not match, or is older than allowed."""


class WebhookEvent(dict[str, Any]):
    """A verified delivery's event (`{"event", "timestamp", "data"}`, a plain dict to read), and `delivery_id`:
    its X-Phonos-Delivery when `verify_webhook` checked it against v2 (deduplicate on that), None when it was not
    given (v1 alone: the id is then unchecked)."""

    delivery_id: str | None = None


class _Unset(enum.Enum):
    UNSET = 0  # delivery_id not passed at all: the call as it was before v2 (v1 checked); None is a missing header


def verify_webhook(body: bytes | str, signature: str | None, secret: str, *,
                   tolerance_s: float = DEFAULT_TOLERANCE_S, now: float | None = None,
                   delivery_id: str | None | _Unset = _Unset.UNSET) -> WebhookEvent:
    """The event of a delivery whose `X-Phonos-Signature` header is `signature`, once it is shown to be signed
    with `secret` within `tolerance_s` seconds of `now` (the clock, by default); otherwise `WebhookSignatureError`.
    `body` is the request body as received: bytes, or text decoded from them as UTF-8 (never a re-encoded JSON
    document: its bytes would differ).

    `delivery_id`: the request's `X-Phonos-Delivery` header (None when it had none: refused). Given, the v2
    signature over it must match (a header without v2 is refused: else cutting v2 off would let a made-up id
    through), and the event's `delivery_id` is that id, now signed: deduplicate on it. Not given, v1 is checked
    and the id is not (`delivery_id` None)."""
    raw = body.encode() if isinstance(body, str) else body
    if not signature:
        raise WebhookSignatureError(f"no {SIGNATURE_HEADER} header: not a phonos delivery")
    timestamp, digests = _parts(signature)
    if isinstance(delivery_id, _Unset):
        scheme, message, verified_id = "v1", str(timestamp).encode() + b"." + raw, None
    else:
        if not delivery_id:
            raise WebhookSignatureError(f"no {DELIVERY_HEADER} header: not a phonos delivery")
        if not _DELIVERY_ID.fullmatch(delivery_id):
            raise WebhookSignatureError(f"{DELIVERY_HEADER} is not a phonos delivery id: {_said(delivery_id)}")
        if not digests["v2"]:
            raise WebhookSignatureError(
                f"{SIGNATURE_HEADER} has no v2= (the signature over {DELIVERY_HEADER}): the header was cut, or the "
                "server predates v2 (upgrade it, or verify without delivery_id: v1 only, the id unchecked)")
        scheme, message, verified_id = "v2", f"{timestamp}.{delivery_id}.".encode() + raw, delivery_id
    if not digests[scheme]:
        raise WebhookSignatureError(f"{SIGNATURE_HEADER} is not t=<unix seconds>,v1=<hex>: {_said(signature)}")
    expected = hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()
    if not any(hmac.compare_digest(expected, digest) for digest in digests[scheme]):
        why = "another secret, or a body changed on the way"
        raise WebhookSignatureError("the signature does not match: " + (
            why if scheme == "v1" else f"{why}, or a delivery sent again under another {DELIVERY_HEADER}"))
    age = (time.time() if now is None else now) - timestamp
    if abs(age) > tolerance_s:
        raise WebhookSignatureError(f"the signature is {abs(age):.0f} s {'old' if age > 0 else 'in the future'}; "
                                    f"at most {tolerance_s:g} s is accepted (a replayed delivery, or a wrong clock)")
    event = WebhookEvent(json.loads(raw))
    event.delivery_id = verified_id
    return event


def _said(header: str) -> str:
    """A header's value as an error repeats it: its first 100 characters in JSON's quotes ("x"), as the `phonos` command
    and the API say a value back (Python's 'x' was the odd one out), control and non-ASCII characters escaped (the
    line goes to a receiver's log, and the value comes from anyone)."""
    return json.dumps(header[:100])


def _parts(signature: str) -> tuple[int, dict[str, list[str]]]:
    timestamp: int | None = None
    digests: dict[str, list[str]] = {"v1": [], "v2": []}
    for item in signature.split(","):
        key, _, value = item.strip().partition("=")
        if key == "t" and value.isdigit():
            timestamp = int(value)
        elif key in digests and value:
            digests[key].append(value)
    if timestamp is None or not (digests["v1"] or digests["v2"]):
        raise WebhookSignatureError(f"{SIGNATURE_HEADER} is not t=<unix seconds>,v1=<hex>: {_said(signature)}")
    return timestamp, digests
