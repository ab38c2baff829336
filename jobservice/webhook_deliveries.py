"""A webhook's delivery log: what was queued for it, what became of it, and sending an event again.

When a receiver misses events (it was down longer than the retries last, it answered 500, it dropped a
body), its owner needs to see which deliveries failed and why, and to send them again without waiting
for the job to change. The log is the `webhook_deliveries` table the sender works from; finished rows
older than `PHONOS_WEBHOOK_DELIVERY_LOG_DAYS` are purged hourly (the table grew for ever before).

What the log says about a failed attempt is coarse on purpose, as the test route's answer is: the
receiver's HTTP status, a timeout, or "could not be reached", never the network's reason (refused,
closed port, DNS), which would let a caller map what the server can reach.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from jobservice.db import now
from jobservice.errors import Conflict, InvalidArgument, NotFound, echoed_id, json_value_text
from jobservice.opaque_ids import PLAIN, IdCipher
from jobservice.paging import PageInfo, check_page, cursor, read_page
from jobservice.periodic import PurgedLog
from jobservice.store import Guard, Row, Store
from jobservice.webhook_events import JOB_EVENTS, TEST_EVENT

PURGE_BATCH = 5000  # rows per transaction: other writers wait at most one batch
DEFAULT_LIMIT = 20  # a log is read from its top
STATUSES = ("pending", "delivered", "failed")
ALL = "all"
EVENTS = (*JOB_EVENTS, TEST_EVENT)  # what the log holds: job events, and the test route's events

# The sender's own reasons (jobservice/webhook_sender.py, webhooks.post_event) as the log words them.
UNREACHABLE = "the receiver could not be reached (no HTTP answer)"
# A 3xx is an answer, not followed (egress): a URL missing its trailing slash or still on http:// fails for ever.
NOT_FOLLOWED = "; redirects are not followed: register the address it redirects to"
# A URL naming this machine (127.0.0.1, localhost) on a server restarted without the setting that allows it.
LOOPBACK_REFUSED = "loopback refused"
OWN_REASONS = {"timeout": "the receiver did not answer in time", "webhook deleted": "the webhook was deleted",
               LOOPBACK_REFUSED: "the receiver is on this machine (loopback), which this server sends to only when "
                                 "it sets PHONOS_WEBHOOK_ALLOW_HTTP_LOOPBACK=true"}


@dataclass(frozen=True)
class DeliveryRecord:
    id: int
    event: str
    status: str
    attempts: int
    last_status_code: int | None
    last_error: str | None
    created_at: float
    last_attempt_at: float | None
    next_attempt_at: float | None  # only while pending
    job_id: str | None
    payload: dict[str, Any]

    @classmethod
    def from_row(cls, row: Row) -> DeliveryRecord:
        payload = json.loads(row["payload"])
        data = payload.get("data") if isinstance(payload, dict) else None
        job_id = data.get("job_id") if isinstance(data, dict) else None
        status = str(row["status"])
        code = int(row["last_status"]) if row["last_status"] else None
        return cls(
            id=int(row["id"]), event=str(row["event"]), status=status, attempts=int(row["attempts"]),
            last_status_code=code, last_error=None if status == "delivered" else worded_error(code, row["last_error"]),
            created_at=float(row["created_at"]),
            last_attempt_at=None if row["last_attempt_at"] is None else float(row["last_attempt_at"]),
            next_attempt_at=float(row["next_attempt_at"]) if status == "pending" else None,
            job_id=job_id if isinstance(job_id, str) else None, payload=payload if isinstance(payload, dict) else {},
        )


def worded_error(code: int | None, reason: str | None) -> str | None:
    """Why an attempt did not deliver, as the log shows it (see the module's note on what it leaves out)."""
    if code is not None:
        return f"the receiver answered HTTP {code} (expected 2xx{NOT_FOLLOWED if 300 <= code < 400 else ''})"
    if reason is None:
        return None
    return OWN_REASONS.get(reason, UNREACHABLE)


class WebhookDeliveries(PurgedLog):
    def __init__(self, db: Store, *, log_days: float) -> None:
        super().__init__(db, log_days=log_days, name="webhook-delivery-purge", action="webhooks.purge_failed")
        # How a delivery's row number is shown (opaque_ids): the store's own once the service has started.
        self.ids: IdCipher = PLAIN.deliveries

    async def page(self, account_id: int, webhook_id: str, *, status: str | None, limit: int | None,
                   offset: int | None, starting_after: str | None = None,
                   event: str | None = None) -> tuple[list[DeliveryRecord], PageInfo]:
        """One page of the webhook's deliveries, newest first, at `offset` or after the delivery `starting_after`;
        of one `event` only when given (`webhook.test`: the dashboard's "Last test" is the newest of those)."""
        status = None if status in (None, "", ALL) else status
        if status is not None and status not in STATUSES:
            raise InvalidArgument(f"status must be one of {', '.join(STATUSES)} or {ALL}, got {json_value_text(status)}")
        event = event or None
        if event is not None and event not in EVENTS:
            raise InvalidArgument(f"event must be one of {', '.join(EVENTS)}, got {json_value_text(event)}")
        starting_after = cursor(starting_after)
        limit, offset = check_page(limit, offset, default_limit=DEFAULT_LIMIT, starting_after=starting_after)
        await self._own_webhook(account_id, webhook_id)

        async def read(limit: int, offset: int, after_id: int | None) -> tuple[list[DeliveryRecord], int]:
            params = {"webhook_id": webhook_id, "status": status, "limit": limit, "offset": offset,
                      "after_id": after_id, "event": event}
            rows = await self._db.read.fetch_all(
                "list_webhook_deliveries" if after_id is None else "list_webhook_deliveries_after", params)
            total = await self._db.read.scalar("count_webhook_deliveries", params)
            return [DeliveryRecord.from_row(r) for r in rows], int(total)

        async def place(delivery_id: str) -> int | None:
            # The cursor must still be in this webhook's log (whatever its status now): a delivery went with its
            # deleted job or past the log's retention leaves no row to tell its webhook by.
            number = self.ids.number(delivery_id)
            if number is None or await self._db.read.fetch_one(
                    "get_webhook_delivery", {"id": number, "webhook_id": webhook_id}) is None:
                return None
            return number

        return await read_page(starting_after, limit=limit, offset=offset, read=read, place=place,
                               what="the id of a delivery in this webhook's log", id_of=self.delivery_id)

    async def redeliver(self, account_id: int, webhook_id: str, delivery_id: str,
                        guard: Guard[DeliveryRecord] | None = None) -> DeliveryRecord:
        """A new pending delivery of the same event and body, due now; the sender must be woken. `guard`: a keyed
        redelivery's Idempotency-Key claim, checked first and its response stored last in the same transaction
        (jobservice/idempotency.py), so a stale owner whose claim was taken over queues no second delivery."""
        await self._own_webhook(account_id, webhook_id)
        number = self.ids.number(delivery_id)
        async with self._db.transaction() as tx:
            if guard is not None:
                await guard.check(tx)
            original = None if number is None else await tx.fetch_one(
                "get_webhook_delivery", {"id": number, "webhook_id": webhook_id})
            if original is None:
                raise NotFound(f"Delivery {echoed_id(delivery_id)} of webhook {echoed_id(webhook_id)} not found")
            if original["event"] == TEST_EVENT:
                # Copied into the job-event queue it was retried on that schedule (X-Phonos-Attempt 2, 3, ...) until
                # the webhook went: a test is sent once, answered at once, and never retried (README, webhooks.md).
                raise InvalidArgument(f"Delivery {echoed_id(delivery_id)} is a test event: a test is sent once and "
                                      f"not again; send a new one (POST /v1/webhooks/{echoed_id(webhook_id)}/test, "
                                      "`phonos webhooks test`, the dashboard's Send test)")
            if original["status"] == "pending":
                raise Conflict(f"Delivery {echoed_id(delivery_id)} is still pending: it is sent again at its next attempt "
                               "(its next_attempt_at, the NEXT TRY column of `phonos webhooks deliveries`); "
                               "redeliver it once it is delivered or failed")
            row = await tx.fetch_one("redeliver_webhook_delivery", {"id": number, "now": now()})
            if row is not None and guard is not None:
                await guard.done(tx, DeliveryRecord.from_row(row))
        if row is None:  # the webhook was deleted since it was checked
            raise NotFound(f"Webhook {echoed_id(webhook_id)} not found")
        return DeliveryRecord.from_row(row)

    async def purge(self) -> int:
        """Delete finished deliveries older than the log's retention, a transaction per batch; how many went."""
        return await self._purge_batches("purge_webhook_deliveries", now() - self._log_s, PURGE_BATCH)

    async def _own_webhook(self, account_id: int, webhook_id: str) -> None:
        if await self._db.read.fetch_one("get_webhook", {"id": webhook_id, "account_id": account_id}) is None:
            raise NotFound(f"Webhook {echoed_id(webhook_id)} not found")


    def delivery_id(self, delivery: DeliveryRecord) -> str:
        """The id a client sees for `delivery` (its `delivery_id`, its X-Phonos-Delivery): opaque_ids."""
        return self.ids.text(delivery.id)
