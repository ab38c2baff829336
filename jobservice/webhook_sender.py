"""Delivery of queued webhook events: signed POSTs, retried with backoff, rows in SQLite (survive restarts).

Each delivery runs on its own; nothing waits for a batch to finish. At most `per_receiver`
deliveries to one receiver (scheme, host, port) are in flight at once, and `max_concurrent` in all:
a receiver that answers slowly (or never, until the timeout) only delays its own queue. Its due
rows are left out of the next fetch (`busy_webhooks`), so they neither fill the batch nor make the
loop spin; a finished delivery wakes the loop to start the next one.

Delivery is at-least-once: a delivery cut short by a stop is still pending and is sent again. Each POST says which
attempt it is (X-Phonos-Attempt: the recorded attempts + 1), so one cut short is sent again under its number. A stop lets the
deliveries on the wire finish first (at most `STOP_GRACE_S`) and records them, so a restart does not send
again what a receiver has already accepted; only one still unanswered then is cut short.

A delivery whose answer cannot be recorded (the database's disk is full, PostgreSQL away) stays in flight, its
answer held in memory, and the record is tried again with backoff (`RECORD_RETRY_FIRST_S` doubling to
`RECORD_RETRY_MAX_S`) until it is stored: left due, it was POSTed again at once, hundreds of times a second, for
as long as the disk stayed full. Held, it keeps its receiver's slot, so a full disk costs one POST per
delivery in flight in this job service (with several job services on one PostgreSQL, another may send it again once
its claim lapses: at least once, under the same delivery id). A stop tries each held answer's record once more within its grace and logs how many it could
not record: those deliveries are sent again after the restart (under the same X-Phonos-Delivery id, which receivers
deduplicate by).

Finishing the deliveries of deleted webhooks (at start) is housekeeping: refused by an outage, it is one warning
and is tried again each round until it is done (`HOUSEKEEPING_RETRY_S` apart), never a traceback.

On a shared store (PostgreSQL) every job service runs a sender: each due delivery is claimed by one of them
(`claim_due_deliveries`, SKIP LOCKED) for as long as a send can take, so an event is sent once across
services; a claim whose sender died expires and the delivery is due again. On SQLite the one sender owns
every row and the same query only reads.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import Counter
from urllib.parse import urlsplit

import aiohttp
from aiohttp.abc import AbstractResolver

from jobservice import egress, metrics
from jobservice.db import now
from jobservice.errors import ServiceUnavailable
from jobservice.opaque_ids import PLAIN, IdCipher
from jobservice.store import Row, Store
from jobservice.webhook_events import TEST_EVENT
from jobservice.webhook_failure_log import WebhookFailureLog
from jobservice.webhooks import post_event_answer, signing_secrets
from phonos_common.ratelog import RateLimitedLog

log = logging.getLogger(__name__)

IDLE_WAIT_S = 3600.0
STOP_GRACE_S = 3.0  # a stop waits this long (at most the timeout) for the deliveries on the wire
MAX_BACKOFF_S = 3600.0
RECORD_RETRY_FIRST_S = 0.2  # a delivery's answer the database refused is recorded again after this, doubling
# At most 1 s: the delivery's claim lapses `timeout + 10` s after it was taken, and on a shared PostgreSQL another job
# service may then claim and POST it again; a held answer recorded within a second of space returning rarely loses
# that race (it can: across job services delivery is at least once, as it always was for a crash).
RECORD_RETRY_MAX_S = 1.0
HOUSEKEEPING_RETRY_S = 30.0  # finishing deleted webhooks' deliveries, refused by an outage, is tried again after this


def receiver_host(url: str) -> str:
    """The receiver's host, as a log line names it: never the URL, whose path or query may carry a token."""
    return (urlsplit(url).hostname or "").rstrip(".")


def receiver_of(url: str) -> str:
    """What concurrency is bounded by: one scheme, host and port."""
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        port = None
    return f"{parts.scheme}://{receiver_host(url)}:{port or ''}"


class WebhookSender:
    def __init__(self, db: Store, *, timeout_s: float, max_attempts: int, backoff_base_s: float,
                 allow_loopback: bool = False, per_receiver: int = 2, max_concurrent: int = 32,
                 resolver: AbstractResolver | None = None, owner: str = "",
                 networks: tuple[egress.Network, ...] = ()) -> None:
        if per_receiver < 1 or max_concurrent < 1:
            raise ValueError("webhook delivery concurrency limits must be at least 1")
        self._db = db
        self._owner = owner  # this service's name in delivery claims (shared store)
        self._timeout_s = timeout_s
        self._max_attempts = max_attempts
        self._backoff_base_s = backoff_base_s
        self._allow_loopback = allow_loopback
        self._networks = networks  # the operator's trusted private networks (egress)
        self._per_receiver = per_receiver
        self._max_concurrent = max_concurrent
        self._resolver = resolver
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._in_flight: dict[int, tuple[str, str]] = {}  # delivery id -> (webhook id, receiver)
        self._per_origin: Counter[str] = Counter()
        self._deliveries: set[asyncio.Task[None]] = set()
        self._failure_log = RateLimitedLog(log, 30)
        self._receivers_log = WebhookFailureLog(log)  # a failing receiver: one line as it starts, not one an attempt
        # Answers the database refused, held until recorded (delivery id -> row, status, error, retry_after_s).
        self._held: dict[int, tuple[Row, int, str | None, float | None]] = {}
        self._housekeeping_at: float | None = 0.0  # when to finish deleted webhooks' deliveries next; None: done
        self.session: aiohttp.ClientSession | None = None
        # X-Phonos-Delivery is the delivery's id as the API shows it (opaque_ids): the store's own once started.
        self.ids: IdCipher = PLAIN.deliveries

    def wake(self) -> None:
        self._wake.set()

    def start(self) -> None:
        self.session = egress.receiver_session(allow_loopback=self._allow_loopback, resolver=self._resolver,
                                               limit=self._max_concurrent + 8,  # + room for test sends
                                               networks=self._networks)
        self._task = asyncio.create_task(self._run(), name="webhook-sender")

    async def stop(self) -> None:
        loop = asyncio.get_running_loop()
        grace_ends = loop.time() + min(STOP_GRACE_S, self._timeout_s)
        if self._task is not None:  # no new deliveries; those on the wire get their answer and are recorded
            self._task.cancel()
        if self._deliveries:
            await asyncio.wait(set(self._deliveries), timeout=max(0.0, grace_ends - loop.time()))
        tasks = [t for t in (self._task, *self._deliveries) if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self._record_held(max(0.0, grace_ends - loop.time()))
        if self.session:
            await self.session.close()

    async def _record_held(self, within_s: float) -> None:
        """At a stop: try once more to record each answer the database refused (within `within_s`, at least one
        try each), and say how many could not be: those deliveries are sent again after the restart."""
        held, self._held = self._held, {}
        if not held:
            return
        left = len(held)
        try:
            async with asyncio.timeout(max(within_s, 1.0)):
                for row, status, error, retry_after_s in held.values():
                    try:
                        await self._record(row, status, error, retry_after_s)
                    except ServiceUnavailable:
                        continue
                    left -= 1
        except TimeoutError:
            pass
        if left:
            log.warning("stopping with %d of %d webhook deliveries' answers unrecorded (the database refused them); "
                        "they are sent again after the restart, under the same delivery id", left, len(held),
                        extra={"action": "webhook.unrecorded_at_stop", "deliveries": left})
        else:
            log.info("recorded the %d webhook deliveries' answers held for the database at the stop", len(held),
                     extra={"action": "webhook.recorded_at_stop", "deliveries": len(held)})

    async def _finish_deleted_webhooks(self) -> None:
        """Housekeeping: sending goes on regardless; an outage tries it again a little later, a bug logs once."""
        if self._housekeeping_at is None or now() < self._housekeeping_at:
            return
        try:
            async with self._db.transaction() as tx:
                await tx.execute("finish_deliveries_of_deleted_webhooks")
        except ServiceUnavailable as exc:  # a full disk, the database away: an outage, not a bug
            log.warning("finishing deleted webhooks' deliveries waits for the database (%s); trying again in %g s",
                        exc, HOUSEKEEPING_RETRY_S, extra={"action": "webhook.housekeeping_unavailable"})
            self._housekeeping_at = now() + HOUSEKEEPING_RETRY_S
            return
        except Exception:
            log.exception("finishing deleted webhooks' deliveries failed", extra={"action": "webhook.round_failed"})
        self._housekeeping_at = None

    async def _run(self) -> None:
        while True:
            await self._finish_deleted_webhooks()
            # Cleared before reading, so an event queued while we read wakes the next wait at once.
            self._wake.clear()
            try:
                next_at = await self.dispatch_due()
            except ServiceUnavailable as exc:  # a full disk (claims are writes on PostgreSQL), a database away
                self._failure_log.log(logging.WARNING, "webhook.round_unavailable",
                                      "webhook deliveries wait for the database: %s", exc)
                next_at = now() + 1.0
            except Exception:
                log.exception("webhook delivery round failed", extra={"action": "webhook.round_failed"})
                next_at = now() + 1.0
            if self._housekeeping_at is not None:  # still to do: wake for it
                next_at = self._housekeeping_at if next_at is None else min(next_at, self._housekeeping_at)
            delay = IDLE_WAIT_S if next_at is None else max(0.0, next_at - now())
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for loses a cancel (stop) that lands with a wake.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay):
                    await self._wake.wait()

    async def dispatch_due(self) -> float | None:
        """Start every due delivery there is room for; when the next one falls due (None: on a wake)."""
        skipped: set[str] = set()  # webhooks whose receiver is full, this round
        while True:
            if len(self._in_flight) >= self._max_concurrent:
                return None  # a finishing delivery wakes the loop
            async with self._db.transaction() as tx:
                rows = await tx.fetch_all("claim_due_deliveries", {
                    **self._exclusions(skipped, now=now(), limit=self._max_concurrent), "owner": self._owner,
                    # A send ends within its timeout; recording it takes a moment more.
                    "hold_s": self._timeout_s + 10.0})
            newly_skipped = False
            left: list[int] = []
            for row in rows:
                receiver = receiver_of(row["url"])
                if self._per_origin[receiver] >= self._per_receiver or len(self._in_flight) >= self._max_concurrent:
                    newly_skipped |= row["webhook_id"] not in skipped
                    skipped.add(row["webhook_id"])
                    left.append(int(row["id"]))
                    continue
                self._begin(row, receiver)
            if left:  # claimed but not started: free for the other services now, not when the claim ends
                async with self._db.transaction() as tx:
                    await tx.execute("release_deliveries", {"ids": json.dumps(left), "owner": self._owner})
            if not newly_skipped:
                break
        next_at = await self._db.read.scalar("next_delivery_time", self._exclusions(skipped))
        return None if next_at is None else float(next_at)

    def _exclusions(self, skipped: set[str], **params: float | int | str) -> dict[str, object]:
        busy = {webhook for webhook, receiver in self._in_flight.values()
                if self._per_origin[receiver] >= self._per_receiver}
        return {"in_flight": json.dumps(list(self._in_flight)), "busy_webhooks": json.dumps(sorted(busy | skipped)),
                **params}

    def _begin(self, row: Row, receiver: str) -> None:
        delivery_id = int(row["id"])
        self._in_flight[delivery_id] = (row["webhook_id"], receiver)
        self._per_origin[receiver] += 1
        task = asyncio.create_task(self._deliver(row), name=f"webhook-delivery-{delivery_id}")
        self._deliveries.add(task)

        def done(finished: asyncio.Task[None]) -> None:
            self._deliveries.discard(finished)
            self._in_flight.pop(delivery_id, None)
            self._per_origin[receiver] -= 1
            if self._per_origin[receiver] <= 0:
                del self._per_origin[receiver]
            self._wake.set()

        task.add_done_callback(done)

    async def _deliver(self, row: Row) -> None:
        assert self.session is not None
        try:
            answer = await post_event_answer(
                self.session, row["url"], signing_secrets(row, now()), row["payload"], row["event"], self.ids.text(int(row["id"])),
                self._timeout_s, allow_loopback=self._allow_loopback, networks=self._networks,
                attempt=int(row["attempts"]) + 1,  # those recorded, and this one
            )
            await self._record_until_stored(row, answer.status, answer.reason, answer.retry_after_s)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("webhook delivery failed", extra={"action": "webhook.delivery_error", "delivery": row["id"]})

    async def _record_until_stored(self, row: Row, status: int, error: str | None,
                                   retry_after_s: float | None) -> None:
        """Record a delivery's answer, again with backoff while the database cannot take it; meanwhile the delivery
        stays in flight (not fetched again, not POSTed again). A stop cancels the wait."""
        delay, failing_since = RECORD_RETRY_FIRST_S, None
        while True:
            try:
                await self._record(row, status, error, retry_after_s)
            except ServiceUnavailable as exc:
                self._held[int(row["id"])] = (row, status, error, retry_after_s)  # a stop tries it once more
                if failing_since is None:
                    failing_since = now()
                    log.warning("webhook delivery %s was answered HTTP %s but that cannot be stored (%s); "
                                "holding it until it can be, not sending it again", row["id"], status, exc,
                                extra={"action": "webhook.record_retry", "delivery": row["id"]})
                await asyncio.sleep(delay)
                delay = min(delay * 2, RECORD_RETRY_MAX_S)
                continue
            self._held.pop(int(row["id"]), None)
            if failing_since is not None:
                log.info("webhook delivery %s's answer was stored after %.1f s", row["id"], now() - failing_since,
                         extra={"action": "webhook.record_recovered", "delivery": row["id"]})
            return

    def _attempts_of(self, row: Row) -> int:
        """A test event is sent once: a copy an older release queued by redelivering one (jobservice/
        webhook_deliveries.py refuses that now) fails at its first refusal instead of being retried."""
        return 1 if row["event"] == TEST_EVENT else self._max_attempts

    async def _record(self, row: Row, status: int, error: str | None, retry_after_s: float | None = None) -> None:
        if error is None and 200 <= status < 300:
            async with self._db.transaction() as tx:
                await tx.execute("mark_delivered", {"id": row["id"], "last_status": status, "now": now()})
            metrics.webhook_delivery(row["event"], "delivered")  # once committed: a refused commit is tried again
            self._receivers_log.delivered(row["webhook_id"], receiver_host(row["url"]))
            return
        async with self._db.transaction() as tx:
            delay = self._backoff_base_s * (2 ** int(row["attempts"]))
            if retry_after_s is not None:  # a 429/503 that said when: not before then (still at most MAX_BACKOFF_S)
                delay = max(delay, retry_after_s)
            retried = await tx.execute(
                "mark_delivery_retry",
                {"id": row["id"], "last_status": status or None, "last_error": error or f"HTTP {status}", "now": now(),
                 "next_attempt_at": now() + min(delay, MAX_BACKOFF_S), "max_attempts": self._attempts_of(row)},
            )
        if not retried:  # its webhook was deleted while this attempt was on the wire: nothing more to send
            return
        gave_up = int(row["attempts"]) + 1 >= self._attempts_of(row)
        metrics.webhook_delivery(row["event"], "failed" if gave_up else "retry")
        # Which webhook and receiver, as the API and its owner know them (the webhook's id, the delivery log's id):
        # "webhook delivery 1 failed" left an operator to find both in the database.
        webhook, host, shown = row["webhook_id"], receiver_host(row["url"]), self.ids.text(int(row["id"]))
        self._receivers_log.failed(webhook, shown, host, error or f"HTTP {status}",
                                   extra={"delivery": row["id"], "delivery_id": shown, "webhook": webhook,
                                          "host": host, "status": status})
