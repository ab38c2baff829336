"""Webhooks: registration, signed delivery with persisted retries, and the test event.

Signature: `X-Phonos-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`.
Receivers recompute the HMAC over the timestamp, a dot and the raw body, compare
in constant time, and reject old timestamps to stop replays.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import ipaddress
import json
import logging
import secrets
import time
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from jobservice import metrics
from jobservice.db import Database, Row, now
from jobservice.errors import InvalidArgument, LimitReached, NotFound
from jobservice.webhook_events import JOB_EVENTS, TEST_EVENT, encode_payload, rfc3339

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Phonos-Signature"
MAX_URL_LENGTH = 2048


@dataclass(frozen=True)
class WebhookRecord:
    id: str
    url: str
    events: tuple[str, ...]
    created_at: float

    @classmethod
    def from_row(cls, row: Row) -> WebhookRecord:
        return cls(row["id"], row["url"], tuple(json.loads(row["events"])), float(row["created_at"]))


@dataclass(frozen=True)
class TestResult:
    delivered: bool
    status_code: int  # 0 when the receiver could not be reached
    message: str


def sign(secret: str, timestamp: int, body: str) -> str:
    digest = hmac.new(secret.encode(), f"{timestamp}.{body}".encode(), hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _is_internal_literal(host: str) -> bool:
    """localhost or an IP literal that is not globally routable (loopback, private, link-local, ...)."""
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return not ipaddress.ip_address(host).is_global
    except ValueError:
        return False


def validate_url(url: str, *, allow_http_loopback: bool) -> str:
    url = url.strip()
    if not url:
        raise InvalidArgument("url is required: the HTTPS address that receives webhook events")
    if len(url) > MAX_URL_LENGTH:
        raise InvalidArgument(f"url is longer than {MAX_URL_LENGTH} characters")
    parts = urlsplit(url)
    if not parts.hostname:
        raise InvalidArgument(f"url {url!r} has no host; use e.g. https://example.org/phonos-hook")
    if allow_http_loopback and parts.scheme in ("http", "https") and _is_loopback(parts.hostname):
        return url
    if parts.scheme == "https":
        # Not a way to probe the server's own network (the test route reports status codes).
        if _is_internal_literal(parts.hostname):
            raise InvalidArgument("url must point to a public host, not localhost or a private address")
        return url
    raise InvalidArgument("url must use https:// (plain http is only allowed to loopback when the server enables it)")


def validate_events(events: list[str]) -> tuple[str, ...]:
    if not events:
        return JOB_EVENTS
    unknown = sorted(set(events) - set(JOB_EVENTS))
    if unknown:
        raise InvalidArgument(f"unknown event(s) {', '.join(unknown)}; choose from {', '.join(JOB_EVENTS)}")
    return tuple(e for e in JOB_EVENTS if e in events)


class Webhooks:
    """CRUD for an account's webhooks; delivery is `WebhookSender`."""

    def __init__(self, db: Database, *, max_per_account: int, allow_http_loopback: bool, timeout_s: float) -> None:
        self._db = db
        self._max = max_per_account
        self._allow_http_loopback = allow_http_loopback
        self._timeout_s = timeout_s

    async def create(self, account_id: int, url: str, events: list[str]) -> tuple[WebhookRecord, str]:
        url = validate_url(url, allow_http_loopback=self._allow_http_loopback)
        chosen = validate_events(events)
        secret = "whsec_" + secrets.token_urlsafe(32)
        hook_id = "wh_" + uuid.uuid4().hex
        stamp = now()
        async with self._db.transaction() as tx:
            count = await tx.scalar("count_webhooks", {"account_id": account_id})
            if int(count) >= self._max:
                raise LimitReached(f"An account can have at most {self._max} webhooks; delete one first")
            await tx.execute(
                "insert_webhook",
                {"id": hook_id, "account_id": account_id, "url": url, "events": json.dumps(list(chosen)),
                 "secret": secret, "now": stamp},
            )
        return WebhookRecord(hook_id, url, chosen, stamp), secret

    async def for_account(self, account_id: int) -> list[WebhookRecord]:
        rows = await self._db.read.fetch_all("list_webhooks", {"account_id": account_id})
        return [WebhookRecord.from_row(r) for r in rows]

    async def delete(self, account_id: int, webhook_id: str) -> None:
        async with self._db.transaction() as tx:
            deleted = await tx.fetch_one("delete_webhook", {"id": webhook_id, "account_id": account_id, "now": now()})
            if deleted is None:
                raise NotFound(f"Webhook {webhook_id} not found")
            await tx.execute("drop_deliveries_of_webhook", {"webhook_id": webhook_id})

    async def send_test(self, account_id: int, webhook_id: str, session: aiohttp.ClientSession) -> TestResult:
        row = await self._db.read.fetch_one("get_webhook", {"id": webhook_id, "account_id": account_id})
        if row is None:
            raise NotFound(f"Webhook {webhook_id} not found")
        payload: dict[str, Any] = {
            "event": TEST_EVENT,
            "timestamp": rfc3339(now()),
            "data": {"webhook_id": webhook_id, "message": "This is a test event from phonos"},
        }
        status, error = await post_event(
            session, row["url"], row["secret"], encode_payload(payload), TEST_EVENT, "test", self._timeout_s
        )
        if error:
            return TestResult(False, 0, f"Could not reach {row['url']}: {error}")
        ok = 200 <= status < 300
        return TestResult(ok, status, f"Receiver answered HTTP {status}" + ("" if ok else " (expected 2xx)"))


async def post_event(
    session: aiohttp.ClientSession, url: str, secret: str, body: str, event: str, delivery_id: str, timeout_s: float
) -> tuple[int, str | None]:
    """POST one signed event; (status, None) on any HTTP answer, (0, reason) when unreachable."""
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "phonos-webhooks/1",
        "X-Phonos-Event": event,
        "X-Phonos-Delivery": delivery_id,
        SIGNATURE_HEADER: sign(secret, int(time.time()), body),
    }
    try:
        async with session.post(
            url, data=body.encode(), headers=headers, timeout=aiohttp.ClientTimeout(total=timeout_s),
            allow_redirects=False,
        ) as response:
            await response.read()
            return response.status, None
    except (aiohttp.ClientError, TimeoutError, OSError) as exc:
        return 0, f"{type(exc).__name__}: {exc}"[:300]


class WebhookSender:
    """Delivers queued events; retries with exponential backoff; survives restarts (rows in SQLite)."""

    def __init__(self, db: Database, *, timeout_s: float, max_attempts: int, backoff_base_s: float) -> None:
        self._db = db
        self._timeout_s = timeout_s
        self._max_attempts = max_attempts
        self._backoff_base_s = backoff_base_s
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.session: aiohttp.ClientSession | None = None

    def wake(self) -> None:
        self._wake.set()

    def start(self) -> None:
        self.session = aiohttp.ClientSession()
        self._task = asyncio.create_task(self._run(), name="webhook-sender")

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self.session:
            await self.session.close()

    async def _run(self) -> None:
        while True:
            # Cleared before reading, so an event queued while we read wakes the next wait at once.
            self._wake.clear()
            try:
                await self.deliver_due()
                next_at = await self._db.read.scalar("next_delivery_time")
            except Exception:
                log.exception("webhook delivery round failed", extra={"action": "webhook.round_failed"})
                next_at = now() + 1.0
            delay = 3600.0 if next_at is None else max(0.0, float(next_at) - now())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=delay)

    async def deliver_due(self) -> int:
        rows = await self._db.read.fetch_all("due_deliveries", {"now": now(), "limit": 64})
        if rows:
            await asyncio.gather(*(self._deliver(r) for r in rows))
        return len(rows)

    async def _deliver(self, row: Row) -> None:
        assert self.session is not None
        status, error = await post_event(
            self.session, row["url"], row["secret"], row["payload"], row["event"], str(row["id"]), self._timeout_s
        )
        async with self._db.transaction() as tx:
            if error is None and 200 <= status < 300:
                await tx.execute("mark_delivered", {"id": row["id"], "last_status": status})
                metrics.webhook_delivery(row["event"], "delivered")
                return
            delay = self._backoff_base_s * (2 ** int(row["attempts"]))
            await tx.execute(
                "mark_delivery_retry",
                {"id": row["id"], "last_status": status or None, "last_error": error or f"HTTP {status}",
                 "next_attempt_at": now() + min(delay, 3600.0), "max_attempts": self._max_attempts},
            )
        gave_up = int(row["attempts"]) + 1 >= self._max_attempts
        metrics.webhook_delivery(row["event"], "failed" if gave_up else "retry")
        log.warning("webhook delivery failed", extra={"action": "webhook.retry", "delivery": row["id"],
                                                       "status": status, "error": error})
