"""job.cancelled on both stores: the cancel that commits queues one delivery per webhook that lists the event (the
jobs_webhook_events trigger, migrations 0083 / PostgreSQL 0033), none for a webhook with the default events, and
wakes the sender."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from jobservice.jobs import JobStore
from jobservice.store import Store
from jobservice.webhook_events import DEFAULT_EVENTS, JOB_EVENTS
from tests.store.conftest import Scenario, account, job

pytestmark = pytest.mark.integration
NOTHING_IN_FLIGHT = {"in_flight": "[]", "busy_webhooks": "[]"}


async def add_webhook(store: Store, hook_id: str, who: int, events: tuple[str, ...]) -> None:
    async with store.transaction() as tx:
        await tx.execute("insert_webhook", {"id": hook_id, "account_id": who, "url": f"https://example.org/{hook_id}",
                                            "events": json.dumps(list(events)), "secret": "s", "now": 1.0})


def test_a_cancel_queues_job_cancelled_only_for_the_webhooks_that_list_it(run: Callable[[Scenario], None]) -> None:
    async def scenario(store: Store) -> None:
        woken: list[bool] = []
        jobs, who = JobStore(store, on_event_queued=lambda: woken.append(True)), await account(store)
        await add_webhook(store, "wh_opted", who, ("job.cancelled",))
        await add_webhook(store, "wh_every", who, JOB_EVENTS)
        await add_webhook(store, "wh_default", who, DEFAULT_EVENTS)
        queued_before, running = await jobs.submit(who, [job(), job()])
        await jobs.claim(running)
        woken.clear()
        await jobs.cancel(who, queued_before)  # pending → cancelled
        assert woken  # the cancel's RETURNING counted the webhooks: the sender is woken
        await jobs.cancel(who, running)  # running → cancelled
        async with store.transaction() as tx:
            due = await tx.fetch_all("claim_due_deliveries", {**NOTHING_IN_FLIGHT, "now": 2e9, "limit": 50,
                                                              "owner": "me", "hold_s": 30.0})
        cancelled = sorted((d["webhook_id"], json.loads(d["payload"])["data"]["job_id"], d["event"])
                           for d in due if d["event"] == "job.cancelled")
        assert cancelled == sorted((hook, job_id, "job.cancelled") for hook in ("wh_opted", "wh_every")
                                   for job_id in (queued_before, running))
        for delivery in (d for d in due if d["event"] == "job.cancelled"):
            payload = json.loads(delivery["payload"])
            assert set(payload) == {"event", "timestamp", "data"} and payload["event"] == "job.cancelled"
            assert payload["data"] == {"job_id": payload["data"]["job_id"], "status": "cancelled", "model": "esmfold"}
        # The default events are the seed's three: the started job's job.started, and nothing for a cancel
        assert sorted(d["event"] for d in due if d["webhook_id"] == "wh_default") == ["job.started"]

    run(scenario)
