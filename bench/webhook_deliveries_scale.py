"""What the delivery log's indexes save: deleting a job and a purge batch on a big webhook_deliveries table, before
and after migration 0073 (SQLite) / 0023 (PostgreSQL), side by side in one run on one seeded database.

Before, a job's deletion found its deliveries by their JSON payload (`json_extract(payload, '$.data.job_id')`, on
PostgreSQL `CAST(payload AS JSON) -> 'data' ->> 'job_id'`) and the purge (purge_webhook_deliveries) had no index on
created_at. This seeds `--rows` finished deliveries (4 per job, to 2 of 100 webhooks) into a freshly migrated
store, then times:

- delete a job: the old statement on a plain connection, then the job service's own `delete_job_deliveries`
  (by job_id and its index), each on a different job with the same number of deliveries, median of `--repeat`;
- purge a batch of 1,000 expired rows, and the run's last batch, which finds nothing more to purge (the one every
  run ends with, and all a run does when nothing expired): the job service's `purge_webhook_deliveries` through
  `purge_in_batches`, with the created_at index dropped ("before") and then created again ("after"), median of
  `--repeat`.

    .venv/bin/python bench/webhook_deliveries_scale.py [--rows 200000] [--repeat 5] [--no-postgres]

SQLite gets no ANALYZE (the job service runs none). PostgreSQL is Debian's package started as in the tests
(tests/postgres.py), the table VACUUM ANALYZEd after seeding as autovacuum would have long before.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from functools import partial
from pathlib import Path

import asyncpg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from jobservice.db import Database  # noqa: E402
from jobservice.periodic import purge_in_batches  # noqa: E402
from jobservice.pg import PgDatabase  # noqa: E402
from jobservice.store import Store  # noqa: E402
from tests.postgres import PostgresServer  # noqa: E402

PER_JOB = 4  # started + completed, to each of 2 webhooks
WEBHOOKS = 100  # a job's 2 are one of 50 pairs: a webhook's log is 1% of the table, as with many accounts
BATCH = 1000
OLD_DELETE = {"sqlite": "DELETE FROM webhook_deliveries WHERE json_extract(payload, '$.data.job_id') = ?",
              "postgres": "DELETE FROM webhook_deliveries WHERE CAST(payload AS JSON) -> 'data' ->> 'job_id' = $1"}
CREATE_INDEX = "CREATE INDEX deliveries_created ON webhook_deliveries (created_at)"


def payload(job_id: str, event: str) -> str:
    return json.dumps({"event": event, "timestamp": "2026-01-01T00:00:00Z",
                       "data": {"job_id": job_id, "status": event[4:], "model": "esmfold"}}, separators=(",", ":"))


def seed_rows(rows: int) -> list[tuple[str, str, str, str, float, str]]:
    """(webhook_id, event, payload, status, created_at, job_id): created_at counts up from 1 by row, so the rows
    before `purge_before(repeat)` are the first ones, as the oldest are in a log."""
    out = []
    for n in range(rows):
        job_id, event = f"job_{n // PER_JOB:07d}", ("job.started", "job.completed")[n % 2]
        out.append((f"wh_{n // PER_JOB % (WEBHOOKS // 2) * 2 + n % 4 // 2}", event, payload(job_id, event), "delivered", float(n + 1), job_id))
    return out


def purge_before(repeat: int) -> float:
    """The retention's cutoff: `repeat` batches of expired rows for each side of the comparison."""
    return 2 * repeat * BATCH + 1.0


def webhook_ids() -> list[tuple[str]]:
    return [(f"wh_{i}",) for i in range(WEBHOOKS)]


class Timings:
    def __init__(self) -> None:
        self.rows: list[tuple[str, float, float]] = []  # (what, before s, after s)

    def add(self, what: str, before: float, after: float) -> None:
        self.rows.append((what, before, after))

    def show(self, store: str, rows: int) -> None:
        print(f"\n{store}: {rows:,} webhook deliveries")
        print(f"  {'':<52}{'before ms':>11}{'after ms':>11}")
        for what, before, after in self.rows:
            print(f"  {what:<52}{before * 1000:>11.2f}{after * 1000:>11.2f}")


async def timed(call: Callable[[], Awaitable[object]]) -> float:
    started = time.perf_counter()
    await call()
    return time.perf_counter() - started


def jobs_to_delete(rows: int, repeat: int) -> tuple[list[str], list[str]]:
    """Jobs in the middle of the table (none of the expired rows'), one list per side."""
    middle = rows // PER_JOB // 2
    return ([f"job_{middle + i:07d}" for i in range(repeat)],
            [f"job_{middle + repeat + i:07d}" for i in range(repeat)])


async def new_way_delete(store: Store, job_id: str) -> None:
    async with store.transaction() as tx:
        gone = await tx.execute("delete_job_deliveries", {"id": job_id})
    assert gone == PER_JOB, gone


async def one_batch(store: Store, before: float, expected: int) -> None:
    gone = await purge_in_batches(store, "purge_webhook_deliveries", {"before": before}, batch=BATCH,
                                  max_rows=BATCH)
    assert gone == expected, gone


async def purge_side_by_side(store: Store, timings: Timings, repeat: int, drop: Callable[[], Awaitable[None]],
                             create: Callable[[], Awaitable[None]]) -> None:
    """A batch of expired rows, then the last batch of a run, each `repeat` times without the created_at index and
    `repeat` times with it (the median of each: a shared machine's noise)."""
    before = purge_before(repeat)
    for label, expected in ((f"purge a batch of {BATCH:,} expired rows", BATCH),
                            ("purge's last batch (nothing left to purge)", 0)):
        await drop()
        without = [await timed(partial(one_batch, store, before, expected)) for _ in range(repeat)]
        await create()
        with_index = [await timed(partial(one_batch, store, before, expected)) for _ in range(repeat)]
        timings.add(f"{label}, median", statistics.median(without), statistics.median(with_index))


# -- SQLite -----------------------------------------------------------------------------------------------------

async def sqlite_run(workdir: Path, rows: int, repeat: int) -> Timings:
    path = workdir / "deliveries.sqlite3"
    await (await Database.open(path)).close()  # migrated
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("INSERT INTO accounts (username, email, credits, created_at) VALUES ('ada', NULL, 0, 1.0)")
    conn.executemany("INSERT INTO webhooks (id, account_id, url, events, secret, created_at) "
                     "VALUES (?, 1, 'https://example.org/h', '[]', 's', 1.0)", webhook_ids())
    conn.execute("BEGIN")
    conn.executemany("INSERT INTO webhook_deliveries (webhook_id, event, payload, status, next_attempt_at, "
                     "created_at, job_id) VALUES (?, ?, ?, ?, 0, ?, ?)", seed_rows(rows))
    conn.execute("COMMIT")
    timings = Timings()
    old_jobs, new_jobs = jobs_to_delete(rows, repeat)

    async def old_way_delete(job_id: str) -> None:
        assert conn.execute(OLD_DELETE["sqlite"], (job_id,)).rowcount == PER_JOB

    store = await Database.open(path)
    try:
        before = [await timed(partial(old_way_delete, j)) for j in old_jobs]
        after = [await timed(partial(new_way_delete, store, j)) for j in new_jobs]
        timings.add("delete a job (4 deliveries), median", statistics.median(before), statistics.median(after))

        async def drop() -> None:
            conn.execute("DROP INDEX deliveries_created")

        async def create() -> None:
            conn.execute(CREATE_INDEX)

        await purge_side_by_side(store, timings, repeat, drop, create)
    finally:
        await store.close()
        conn.close()
    return timings


# -- PostgreSQL -------------------------------------------------------------------------------------------------

async def pg_run(server: PostgresServer, rows: int, repeat: int) -> Timings:
    url = server.new_store_url("deliveriesbench")
    store = await PgDatabase.open(url)  # migrated, with the default 15 s command timeout
    conn = await asyncpg.connect(url)
    try:
        await conn.execute("INSERT INTO accounts (username, email, credits, created_at) VALUES ('ada', NULL, 0, 1.0)")
        await conn.executemany("INSERT INTO webhooks (id, account_id, url, events, secret, created_at) "
                               "VALUES ($1, 1, 'https://example.org/h', '[]', 's', 1.0)", webhook_ids())
        await conn.copy_records_to_table(
            "webhook_deliveries", records=[(*r[:4], 0.0, r[4], r[5]) for r in seed_rows(rows)],
            columns=["webhook_id", "event", "payload", "status", "next_attempt_at", "created_at", "job_id"])
        await conn.execute("VACUUM ANALYZE webhook_deliveries")
        timings = Timings()
        old_jobs, new_jobs = jobs_to_delete(rows, repeat)

        async def old_way_delete(job_id: str) -> None:
            assert await conn.execute(OLD_DELETE["postgres"], job_id) == f"DELETE {PER_JOB}"

        before = [await timed(partial(old_way_delete, j)) for j in old_jobs]
        after = [await timed(partial(new_way_delete, store, j)) for j in new_jobs]
        timings.add("delete a job (4 deliveries), median", statistics.median(before), statistics.median(after))

        async def drop() -> None:
            await conn.execute("DROP INDEX deliveries_created")

        async def create() -> None:
            await conn.execute(CREATE_INDEX)
            await conn.execute("ANALYZE webhook_deliveries")

        await purge_side_by_side(store, timings, repeat, drop, create)
        return timings
    finally:
        await conn.close()
        await store.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=5, help="jobs deleted each way (the median is shown)")
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        (await sqlite_run(Path(tmp), args.rows, args.repeat)).show("SQLite", args.rows)
    if not args.no_postgres:
        with PostgresServer.start() as server:
            (await pg_run(server, args.rows, args.repeat)).show("PostgreSQL", args.rows)


if __name__ == "__main__":
    asyncio.run(main())
