"""A test event is sent once. An older release let a logged test be redelivered, queueing a pending copy that the
sender retried on the job events' schedule; such a copy left in the queue fails at its first refusal now, on both
stores (jobservice/webhook_sender.py)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from jobservice.store import Store
from jobservice.webhook_sender import WebhookSender
from tests.store.conftest import Scenario, account

pytestmark = pytest.mark.integration


def test_a_queued_copy_of_a_test_event_is_not_retried(run: Callable[[Scenario], None]) -> None:
    async def scenario(store: Store) -> None:
        ada = await account(store)
        async with store.transaction() as tx:
            await tx.execute("insert_webhook", {"id": "wh_t", "account_id": ada, "url": "https://example.org/h",
                                                "events": '["job.completed"]', "secret": "s", "now": 1.0})
            await tx.execute("insert_test_delivery", {"webhook_id": "wh_t", "event": "webhook.test", "payload": "{}",
                                                      "status": "failed", "now": 1.0, "last_status": 500,
                                                      "last_error": "HTTP 500"})
        logged = (await store.read.fetch_all("list_webhook_deliveries", {
            "webhook_id": "wh_t", "status": None, "event": None, "limit": 10, "offset": 0}))[0]
        async with store.transaction() as tx:  # what the older release's redelivery did
            copy = await tx.fetch_one("redeliver_webhook_delivery", {"id": logged["id"], "now": 2.0})
        assert copy is not None and copy["status"] == "pending" and copy["event"] == "webhook.test"

        async with store.transaction() as tx:  # as the sender holds it: claimed, with its webhook's id and URL
            [claimed] = await tx.fetch_all("claim_due_deliveries", {"in_flight": "[]", "busy_webhooks": "[]",
                                                                    "now": 3.0, "limit": 10, "owner": "me",
                                                                    "hold_s": 30.0})
        assert claimed["id"] == copy["id"]
        sender = WebhookSender(store, timeout_s=1, max_attempts=8, backoff_base_s=1)
        await sender._record(claimed, 500, None)  # the receiver refused it again
        after = next(r for r in await store.read.fetch_all("list_webhook_deliveries", {
            "webhook_id": "wh_t", "status": None, "event": None, "limit": 10, "offset": 0}) if r["id"] == copy["id"])
        assert (after["status"], after["attempts"]) == ("failed", 1)  # was: pending, tried again up to 8 times

    run(scenario)
