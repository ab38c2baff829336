"""What purging a big backlog costs, one DELETE against batches, on SQLite and PostgreSQL side by side.

A first purge after months of rows (an operator who upgraded to a release that purges, or shortened a retention)
meets a huge table. One statement for all of it has to fit PostgreSQL's PHONOS_DATABASE_COMMAND_TIMEOUT_S (15 s)
or it rolls back and deletes nothing, every run; batches (jobservice/periodic.py purge_in_batches) each take a
fraction of that. This seeds `--rows` usage counters past the retention (plus a few inside it) into a fresh store,
purges them one way, seeds again, purges the other way, and prints the total time and the longest single
statement of each. The one statement is the query the purge ran before (`DELETE FROM usage_hourly WHERE hour <
:before`) on a plain connection; the batches are the job service's own `delete_usage_before`, one batch per
`purge_in_batches` call so each is timed alone.

    .venv/bin/python bench/purge_batches.py [--rows 200000] [--batches 1000,5000,20000] [--no-postgres]

PostgreSQL is Debian's package started as in the tests (tests/postgres.py).
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

import asyncpg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from jobservice.db import Database  # noqa: E402
from jobservice.periodic import purge_in_batches  # noqa: E402
from jobservice.pg import PgDatabase  # noqa: E402
from jobservice.store import Store  # noqa: E402
from tests.postgres import PostgresServer  # noqa: E402

HOUR_S = 3600
BEFORE = 1000 * HOUR_S  # every seeded old hour is before this one
YOUNG = 10  # counters inside the retention, which must stay
SEED = ("INSERT INTO usage_hourly (account_id, hour, endpoint, model, status_code, transport, requests, "
        "credits_used, elapsed_ms) VALUES (?, ?, ?, '', 0, 'rest', 1, 0, 1.0)")
PG_SEED = ("INSERT INTO usage_hourly (account_id, hour, endpoint, model, status_code, transport, requests, "
           "credits_used, elapsed_ms) SELECT 1, (n % 900) * 3600, '/v1/r/' || n, '', 0, 'rest', 1, 0, 1 "
           "FROM generate_series(1, $1) AS n UNION ALL SELECT 1, 2000 * 3600 + n, '/v1/young', '', 0, 'rest', 1, 0, 1 "
           "FROM generate_series(1, $2) AS n")
ONE_STATEMENT = "DELETE FROM usage_hourly WHERE hour < {}"  # what delete_usage_before was


class Result:
    def __init__(self, label: str, total_s: float, statements: int, longest_s: float, purged: int) -> None:
        self.label, self.total_s, self.statements, self.longest_s, self.purged = (
            label, total_s, statements, longest_s, purged)


async def batched(store: Store, batch: int) -> Result:
    """The job service's purge, one batch per call (exactly what one statement of `purge_in_batches` does)."""
    longest, total, statements, purged = 0.0, 0.0, 0, 0
    while True:
        started = time.perf_counter()
        gone = await purge_in_batches(store, "delete_usage_before", {"before": BEFORE}, batch=batch, max_rows=batch)
        took = time.perf_counter() - started
        longest, total, statements, purged = max(longest, took), total + took, statements + 1, purged + gone
        if gone < batch:
            return Result(f"batches of {batch:,}", total, statements, longest, purged)


def one(label: str, took: float, purged: int) -> Result:
    return Result(label, took, 1, took, purged)


# -- SQLite -----------------------------------------------------------------------------------------------------

def sqlite_seed(path: Path, rows: int) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("BEGIN")
    conn.executemany(SEED, ((1, (n % 900) * HOUR_S, f"/v1/r/{n}") for n in range(rows)))
    conn.executemany(SEED, ((1, 2000 * HOUR_S + n, "/v1/young") for n in range(YOUNG)))
    conn.execute("COMMIT")
    conn.close()


def sqlite_left(path: Path) -> int:
    conn = sqlite3.connect(path)
    try:
        return int(conn.execute("SELECT COUNT(*) FROM usage_hourly").fetchone()[0])
    finally:
        conn.close()


async def sqlite_runs(workdir: Path, rows: int, batches: list[int]) -> list[Result]:
    results = []
    path = workdir / "one.sqlite3"
    await (await Database.open(path)).close()  # migrated
    sqlite_seed(path, rows)
    conn = sqlite3.connect(path, isolation_level=None)
    started = time.perf_counter()
    purged = conn.execute(ONE_STATEMENT.format(BEFORE)).rowcount
    results.append(one("one statement", time.perf_counter() - started, purged))
    conn.close()
    assert sqlite_left(path) == YOUNG
    for batch in batches:
        path = workdir / f"batches{batch}.sqlite3"
        await (await Database.open(path)).close()
        sqlite_seed(path, rows)
        store = await Database.open(path)
        try:
            results.append(await batched(store, batch))
        finally:
            await store.close()
        assert sqlite_left(path) == YOUNG
    return results


# -- PostgreSQL -------------------------------------------------------------------------------------------------

async def pg_fresh(server: PostgresServer, rows: int) -> tuple[str, PgDatabase]:
    url = server.new_store_url("purgebench")
    store = await PgDatabase.open(url)  # migrated, with the default 15 s command timeout
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(PG_SEED, rows, YOUNG)
        await conn.execute("VACUUM ANALYZE usage_hourly")  # as autovacuum would have, long before an upgrade
    finally:
        await conn.close()
    return url, store


async def pg_left(url: str) -> int:
    conn = await asyncpg.connect(url)
    try:
        return int(await conn.fetchval("SELECT COUNT(*) FROM usage_hourly"))
    finally:
        await conn.close()


async def pg_runs(server: PostgresServer, rows: int, batches: list[int]) -> list[Result]:
    results = []
    url, store = await pg_fresh(server, rows)
    await store.close()
    conn = await asyncpg.connect(url)
    try:
        started = time.perf_counter()
        status = await conn.execute(ONE_STATEMENT.format(BEFORE))
        results.append(one("one statement", time.perf_counter() - started, int(status.split()[-1])))
    finally:
        await conn.close()
    assert await pg_left(url) == YOUNG
    for batch in batches:
        url, store = await pg_fresh(server, rows)
        try:
            results.append(await batched(store, batch))
        finally:
            await store.close()
        assert await pg_left(url) == YOUNG
    return results


def show(store: str, results: list[Result], rows: int) -> None:
    print(f"\n{store}: {rows:,} expired usage counters")
    print(f"  {'purge':<22}{'total s':>9}{'statements':>12}{'longest statement s':>21}{'rows':>10}")
    for r in results:
        print(f"  {r.label:<22}{r.total_s:>9.2f}{r.statements:>12}{r.longest_s:>21.3f}{r.purged:>10,}")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--batches", default="1000,5000,20000", help="batch sizes to time, comma-separated")
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args()
    batches = [int(b) for b in args.batches.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        show("SQLite", await sqlite_runs(Path(tmp), args.rows, batches), args.rows)
    if not args.no_postgres:
        with PostgresServer.start() as server:
            show("PostgreSQL", await pg_runs(server, args.rows, batches), args.rows)


if __name__ == "__main__":
    asyncio.run(main())
