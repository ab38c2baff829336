"""The webhook delivery log at scale, on both stores: a job's deliveries are found by their job_id column (written by
the jobs_webhook_events trigger and by a redelivery, filled from the payload for rows older than the column), and
every query on the table reads an index, not the whole table (EXPLAIN QUERY PLAN / EXPLAIN).

bench/webhook_deliveries_scale.py times what the indexes save on 200,000 deliveries."""

from __future__ import annotations

import asyncio
import json
import re
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from jobservice.db import Database, queries
from jobservice.jobs import JobStore
from jobservice.pg import PgDatabase, pg_queries
from jobservice.store import Store
from tests.postgres import PostgresServer
from tests.store.conftest import Scenario, account, job, postgres_before, sqlite_before

pytestmark = pytest.mark.integration

EVERY_EVENT = json.dumps(["job.started", "job.completed", "job.failed"])
# The first migration with deliveries.job_id, on each store.
SQLITE_JOB_ID_MIGRATION, POSTGRES_JOB_ID_MIGRATION = 73, 23


async def job_ids_of_deliveries(store: Store, webhook_id: str) -> list[str | None]:
    """The data.job_id of each delivery in the webhook's log, oldest first (None for an event about no job)."""
    rows = await store.read.fetch_all("list_webhook_deliveries",
                                      {"webhook_id": webhook_id, "status": None, "event": None, "limit": 100, "offset": 0})
    return [json.loads(r["payload"]).get("data", {}).get("job_id") for r in reversed(rows)]


def test_deleting_a_job_removes_exactly_its_deliveries_and_its_redeliveries(run: Callable[[Scenario], None]) -> None:
    async def scenario(store: Store) -> None:
        jobs = JobStore(store)
        ada = await account(store)
        async with store.transaction() as tx:
            for hook in ("wh_a", "wh_b"):  # two receivers: each transition is two deliveries
                await tx.execute("insert_webhook", {"id": hook, "account_id": ada, "url": "https://example.org/h",
                                                    "events": EVERY_EVENT, "secret": "s", "now": 1.0})
        gone, kept = await jobs.submit(ada, [job(), job()])
        for job_id in (gone, kept):
            await jobs.claim(job_id)  # job.started
            await jobs.complete(job_id, {"pdb": "x"})  # job.completed
        started_of_gone = (await store.read.fetch_all(
            "list_webhook_deliveries", {"webhook_id": "wh_a", "status": None, "event": None, "limit": 100, "offset": 0}))[-1]
        async with store.transaction() as tx:  # a redelivery carries its job along (the delete must take it too)
            await tx.fetch_one("redeliver_webhook_delivery", {"id": started_of_gone["id"], "now": 3.0})
        assert await job_ids_of_deliveries(store, "wh_a") == [gone, gone, kept, kept, gone]
        assert await job_ids_of_deliveries(store, "wh_b") == [gone, gone, kept, kept]

        assert await jobs.delete(ada, gone)
        assert await job_ids_of_deliveries(store, "wh_a") == [kept, kept]
        assert await job_ids_of_deliveries(store, "wh_b") == [kept, kept]

    run(scenario)


# -- the migration fills job_id of the deliveries already there ---------------------------------------------------

OLD_ROWS = [
    "INSERT INTO accounts (username, email, credits, created_at) VALUES ('ada', NULL, 100, 1.0)",
    "INSERT INTO webhooks (id, account_id, url, events, secret, created_at) "
    f"VALUES ('wh_1', 1, 'https://example.org/h', '{EVERY_EVENT}', 's', 1.0)",
    *(f"INSERT INTO webhook_deliveries (webhook_id, event, payload, status, next_attempt_at, created_at) VALUES "
      f"('wh_1', '{event}', '{json.dumps({'event': event, 'data': data})}', 'delivered', 2.0, 2.0)"
      for event, data in [("job.started", {"job_id": "j1", "status": "running"}),
                          ("job.completed", {"job_id": "j1", "status": "completed"}),
                          ("job.started", {"job_id": "j2", "status": "running"}),
                          ("webhook.test", {"webhook_id": "wh_1", "message": "about no job"})]),
]


async def assert_job_ids_filled_and_used(store: Store, job_ids: list[str | None]) -> None:
    """`job_ids` is the column as the migration filled it, oldest first; the delete by it takes j1's rows only."""
    try:
        assert job_ids == ["j1", "j1", "j2", None]
        async with store.transaction() as tx:
            assert await tx.execute("delete_job_deliveries", {"id": "j1"}) == 2
        assert await job_ids_of_deliveries(store, "wh_1") == ["j2", None]
    finally:
        await store.close()


def test_the_sqlite_migration_fills_the_job_id_of_existing_deliveries(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    sqlite_before(path, SQLITE_JOB_ID_MIGRATION, OLD_ROWS)

    async def upgrade() -> None:
        store = await Database.open(path)
        conn = sqlite3.connect(path)
        try:
            job_ids = [r[0] for r in conn.execute("SELECT job_id FROM webhook_deliveries ORDER BY id")]
        finally:
            conn.close()
        await assert_job_ids_filled_and_used(store, job_ids)

    asyncio.run(upgrade())


def test_the_postgres_migration_fills_the_job_id_of_existing_deliveries(postgres: PostgresServer) -> None:
    url = postgres.new_store_url("deliveryjob")

    async def upgrade() -> None:
        await postgres_before(url, POSTGRES_JOB_ID_MIGRATION, OLD_ROWS)
        store = await PgDatabase.open(url)
        conn = await asyncpg.connect(url)
        try:
            job_ids = [r[0] for r in await conn.fetch("SELECT job_id FROM webhook_deliveries ORDER BY id")]
        finally:
            await conn.close()
        await assert_job_ids_filled_and_used(store, job_ids)

    asyncio.run(upgrade())


# -- every query on the table reads an index ----------------------------------------------------------------------

NOTHING_IN_FLIGHT = {"in_flight": "[]", "busy_webhooks": "[]"}
PAGE = {"webhook_id": "wh_1", "status": None, "event": None, "limit": 20, "offset": 0}
# query → (the index it must read, its parameters). The PostgreSQL-only claim parameters are ignored on SQLite.
# drop_deliveries_of_webhook may read either of two: PostgreSQL with statistics picks deliveries_due when few rows
# are pending (as they are), and that is as good. Since 0078 (PostgreSQL 0028) a webhook's rows by status are an
# index too (deliveries_of_webhook_by_status), which the count and the drop may read instead: a webhook's rows still.
PLANS: dict[str, tuple[str, dict[str, Any]]] = {  # the index: a regular expression
    "delete_job_deliveries": ("deliveries_of_job", {"id": "j1"}),
    "purge_webhook_deliveries": ("deliveries_created", {"before": 100.0, "limit": 1000}),
    "list_webhook_deliveries": ("deliveries_of_webhook", PAGE),
    "list_webhook_deliveries_after": ("deliveries_of_webhook", {**PAGE, "after_id": 50}),
    "count_webhook_deliveries": ("deliveries_of_webhook|deliveries_of_webhook_by_status",
                                 {"webhook_id": "wh_1", "status": None, "event": None}),
    "drop_deliveries_of_webhook": ("deliveries_of_webhook|deliveries_of_webhook_by_status|deliveries_due",
                                   {"webhook_id": "wh_1"}),
    # A webhook listing's delivery health (every webhook of the account at once): its newest delivered one by
    # status (tests/service/test_webhook_health.py checks what it answers).
    "webhook_delivery_health": ("deliveries_of_webhook_by_status", {"account_id": 1}),
    "claim_due_deliveries": ("deliveries_due", {**NOTHING_IN_FLIGHT, "now": 100.0, "limit": 16, "owner": "o",
                                                "hold_s": 30.0}),
    "next_delivery_time": ("deliveries_due", NOTHING_IN_FLIGHT),
    "metrics_webhook_backlog": ("deliveries_due", {}),
    # The account activity log's purge: the same last-batch cost as the delivery log's.
    "purge_activity": ("account_activity_created", {"before": 100.0, "limit": 1000}),
}
# A plan line that reads the whole table (under its name or the queries' aliases d and x).
SQLITE_SCAN = re.compile(r"^SCAN (webhook_deliveries|account_activity|d|x)\b")


@pytest.fixture(scope="module")
def sqlite_plans(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """Each query's EXPLAIN QUERY PLAN on a migrated SQLite file, a line per step."""
    path = tmp_path_factory.mktemp("plans") / "plans.sqlite3"
    asyncio.run(_migrated(Database.open(path)))
    conn = sqlite3.connect(path)
    try:
        plans = {}
        for name, (_, params) in PLANS.items():
            sql = queries()[name]
            used = {k: v for k, v in params.items() if f":{k}" in sql}
            plans[name] = "\n".join(r[3] for r in conn.execute(f"EXPLAIN QUERY PLAN {sql}", used))
        yield plans
    finally:
        conn.close()


@pytest.fixture(scope="module")
def postgres_plans(postgres: PostgresServer) -> dict[str, str]:
    """Each query's EXPLAIN on a migrated PostgreSQL database with sequential scans priced out: on a table this
    small a scan is cheapest, so the plan shows whether an index can serve the query at all, as on a big table."""
    url = postgres.new_store_url("plans")

    async def explain() -> dict[str, str]:
        await _migrated(PgDatabase.open(url))
        conn = await asyncpg.connect(url)
        try:
            await conn.execute("SET enable_seqscan = off")
            plans = {}
            for name, (_, params) in PLANS.items():
                statement = pg_queries()[name]
                rows = await conn.fetch(f"EXPLAIN {statement.sql}", *(params[n] for n in statement.names))
                plans[name] = "\n".join(r[0] for r in rows)
            return plans
        finally:
            await conn.close()

    return asyncio.run(explain())


async def _migrated(opening: Any) -> None:
    await (await opening).close()


@pytest.mark.parametrize("name", PLANS)
def test_each_sqlite_query_on_the_delivery_log_reads_its_index(sqlite_plans: dict[str, str], name: str) -> None:
    plan = sqlite_plans[name]
    assert re.search(rf"USING (COVERING )?INDEX ({PLANS[name][0]}) ", plan), plan
    assert not any(SQLITE_SCAN.match(line) for line in plan.splitlines()), plan


@pytest.mark.parametrize("name", PLANS)
def test_each_postgres_query_on_the_delivery_log_reads_its_index(postgres_plans: dict[str, str], name: str) -> None:
    plan = postgres_plans[name]
    assert re.search(rf"Index (Only )?Scan (Backward )?using ({PLANS[name][0]}) on (webhook_deliveries|account_activity)"
                     rf"|Bitmap Index Scan on ({PLANS[name][0]})\b", plan), plan
    assert "Seq Scan on webhook_deliveries" not in plan and "Seq Scan on account_activity" not in plan, plan
