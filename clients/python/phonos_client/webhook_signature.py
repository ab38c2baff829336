"""Checking a webhook delivery on the receiving side: that phonos sent it, and recently.

Each POST carries `X-Phonos-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>`. The
key is the webhook's secret exactly as `create_webhook` returned it (the text, `whsec_` included, as UTF-8:
nothing to strip or decode); the message is the timestamp, a dot and the request body's raw bytes, before
any JSON parsing. The server signs every attempt when it sends it, so a retry hours later carries a fresh
`t`: a receiver can hold every delivery to a short window (`tolerance_s`, 5 minutes) and so refuse a
recorded request replayed later. Several `v1=` entries are each tried (room for a rotated secret).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any

SIGNATURE_HEADER = "X-Phonos-Signature"
DEFAULT_TOLERANCE_S = 300.0


class WebhookSignatureError(ValueError):
    """A delivery whose signature header is missing or malformed, does not match, or is older than allowed."""


def verify_webhook(body: bytes | str, signature: str | None, secret: str, *,
                   tolerance_s: float = DEFAULT_TOLERANCE_S, now: float | None = None) -> dict[str, Any]:
    """The event (`{"event", "timestamp", "data"}`) of a delivery whose `X-Phonos-Signature` header is
    `signature`, once it is shown to be signed with `secret` within `tolerance_s` seconds of `now` (the clock,
    by default); otherwise `WebhookSignatureError`. `body` is the request body as received: bytes, or text
    decoded from them as UTF-8 (never a re-encoded JSON document: its bytes would differ)."""
    raw = body.encode() if isinstance(body, str) else body
    if not signature:
        raise WebhookSignatureError(f"no {SIGNATURE_HEADER} header: not a phonos delivery")
    timestamp, digests = _parts(signature)
    expected = hmac.new(secret.encode(), str(timestamp).encode() + b"." + raw, hashlib.sha256).hexdigest()
    if not any(hmac.compare_digest(expected, digest) for digest in digests):
        raise WebhookSignatureError("the signature does not match: another secret, or a body changed on the way")
    age = (time.time() if now is None else now) - timestamp
    if abs(age) > tolerance_s:
        raise WebhookSignatureError(f"the signature is {abs(age):.0f} s {'old' if age > 0 else 'in the future'}; "
                                    f"at most {tolerance_s:g} s is accepted (a replayed delivery, or a wrong clock)")
    event: dict[str, Any] = json.loads(raw)
    return event


def _parts(signature: str) -> tuple[int, list[str]]:
    timestamp: int | None = None
    digests: list[str] = []
    for item in signature.split(","):
        key, _, value = item.strip().partition("=")
        if key == "t" and value.isdigit():
            timestamp = int(value)
        elif key == "v1" and value:
            digests.append(value)
    if timestamp is None or not digests:
        raise WebhookSignatureError(f"{SIGNATURE_HEADER} is not t=<unix seconds>,v1=<hex>: {signature[:100]!r}")
    return timestamp, digests
