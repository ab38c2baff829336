"""What a pending job's place in the queue (`jobs_ahead`, sql `queue_places`) costs GET /v1/jobs/{id} and a page of
GET /v1/jobs, on SQLite and PostgreSQL.

Fills one model's queue: `--accounts` accounts with `--pending` waiting jobs each (the default 20 x 500: 10,000
waiting, far past what PHONOS_MAX_QUEUED_PER_ACCOUNT lets a deployment hold by default) and one run each; then times
the reads the job service makes, with and without the place, in alternating rounds: one job (get_job), and a page of
100 of one account's waiting jobs (list_jobs + count_jobs), whose places are one grouped query.

    .venv/bin/python bench/queue_place_cost.py [--accounts 20] [--pending 500] [--rounds 200] [--no-postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from jobservice.accounts import Accounts  # noqa: E402
from jobservice.db import Database  # noqa: E402
from jobservice.jobs import JobStore, NewJob  # noqa: E402
from jobservice.modelspecs.base import ValidatedJob  # noqa: E402
from jobservice.store import Store  # noqa: E402


def job() -> NewJob:
    return NewJob(model="esmfold", name=None, request=ValidatedJob(sequence="MKTVRQERLK", params={}), cost=1)


async def fill(db: Store, accounts: int, pending: int) -> tuple[JobStore, int, str]:
    """The queue; the reader's account and its newest waiting job (the most jobs ahead of it)."""
    jobs = JobStore(db)
    ids: list[str] = []
    who = 0
    for n in range(accounts):
        who = (await Accounts(db).create(f"bench{n}", email=None, credits=10**9, rate_limit=60)).account_id
        first = await jobs.submit(who, [job()])
        assert await jobs.claim(first[0]) is not None  # a run: the account has been served
        for _ in range(pending // 100):
            ids = await jobs.submit(who, [job() for _ in range(100)])
    return jobs, who, ids[-1]


async def timed(call: Callable[[], Awaitable[object]]) -> float:
    started = time.perf_counter()
    await call()
    return (time.perf_counter() - started) * 1000


async def measure(db: Store, args: argparse.Namespace) -> dict[str, list[float]]:
    jobs, who, newest = await fill(db, args.accounts, args.pending)

    async def page() -> list[object]:
        rows, _ = await jobs.page(who, status=None, model=None, limit=100, offset=0)
        return list(rows)

    async def page_placed() -> object:
        rows, _ = await jobs.page(who, status=None, model=None, limit=100, offset=0)
        placed = await jobs.with_places(rows)
        assert all(r.place is not None for r in placed)
        return placed

    async def one() -> object:
        return await jobs.get(who, newest)

    async def one_placed() -> object:
        placed = await jobs.with_place(await jobs.get(who, newest))
        assert placed.place is not None
        return placed

    kinds = {"GET job": one, "GET job + place": one_placed, "page of 100": page, "page of 100 + places": page_placed}
    seen: dict[str, list[float]] = {k: [] for k in kinds}
    for call in kinds.values():
        await call()  # warm up
    for turn in range(args.rounds):
        order = list(kinds.items())
        for name, call in order if turn % 2 == 0 else order[::-1]:
            seen[name].append(await timed(call))
    print(f"  the reader's newest job: {(await jobs.with_place(await jobs.get(who, newest))).place}")
    return seen


async def main(args: argparse.Namespace) -> None:
    results: dict[str, dict[str, list[float]]] = {}
    with tempfile.TemporaryDirectory() as scratch:
        db: Store = await Database.open(Path(scratch) / "bench.sqlite3")
        try:
            print("SQLite")
            results["SQLite"] = await measure(db, args)
        finally:
            await db.close()
    if not args.no_postgres:
        from jobservice.pg import PgDatabase
        from tests.postgres import PostgresServer

        with PostgresServer.start() as server:
            pg = await PgDatabase.open(server.new_store_url("bench"), connect_timeout_s=10, command_timeout_s=60)
            try:
                print("PostgreSQL")
                results["PostgreSQL"] = await measure(pg, args)
            finally:
                await pg.close()
    print(f"ms per read, median (p90) of {args.rounds} rounds; {args.accounts} accounts x {args.pending} waiting jobs")
    for store, seen in results.items():
        for name, times in seen.items():
            p90 = statistics.quantiles(times, n=10)[-1]
            print(f"  {store:<11} {name:<22} {statistics.median(times):7.2f} ({p90:.2f})")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--accounts", type=int, default=20)
    parser.add_argument("--pending", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--no-postgres", action="store_true")
    asyncio.run(main(parser.parse_args()))
