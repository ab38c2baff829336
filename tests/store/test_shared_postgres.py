"""What a store shared by many job services adds, on a real PostgreSQL with one pool per simulated service:
claims that never hand one job to two services, leases that their owner renews and others reclaim with
bounded attempts, one rate limit across services, each webhook delivery claimed by one sender, and the
notifications that wake the other services."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Coroutine
from typing import Any

import asyncpg
import pytest

from jobservice.accounts import Accounts
from jobservice.errors import InvalidTransition, RateLimited
from jobservice.failures import FailureKind, JobFailure
from jobservice.jobs import JobStore, Lease, NewJob
from jobservice.modelspecs.base import ValidatedJob
from jobservice.pg import PgDatabase
from jobservice.ratelimit import SharedRateLimiter
from jobservice.states import JobStatus
from jobservice.store import JOBS_CHANNEL
from tests.postgres import PostgresServer

pytestmark = pytest.mark.integration
# The sender's exclusions (deliveries it is sending, receivers at their limit): none here.
NOTHING_IN_FLIGHT = {"in_flight": "[]", "busy_webhooks": "[]"}

GAVE_UP = JobFailure(FailureKind.INTERRUPTED, "given up")


def with_services(postgres: PostgresServer, scenario: Callable[..., Coroutine[Any, Any, None]], count: int = 2) -> None:
    """`count` stores on one fresh database, as `count` job services would hold them."""
    url = postgres.new_store_url("shared")

    async def main() -> None:
        stores = [await PgDatabase.open(url) for _ in range(count)]
        try:
            await scenario(*stores)
        finally:
            for store in stores:
                await store.close()

    asyncio.run(main())


async def funded_jobs(store: PgDatabase, count: int, credits: int = 10_000) -> tuple[int, list[str]]:
    who = (await Accounts(store).create("lab", email=None, credits=credits, rate_limit=60)).account_id
    new = NewJob(model="esmfold", name=None, request=ValidatedJob(sequence="MKV", params={}), cost=10)
    return who, await JobStore(store).submit(who, [new] * count)


async def started_deliveries(store: PgDatabase, count: int) -> None:
    """`count` jobs started for an account with a webhook: `count` job.started deliveries are due."""
    who, ids = await funded_jobs(store, count)
    async with store.transaction() as tx:
        await tx.execute("insert_webhook", {"id": "wh_1", "account_id": who, "url": "https://example.org/h",
                                            "events": '["job.started"]', "secret": "s", "now": 1.0})
    for job_id in ids:
        await JobStore(store).claim(job_id)


async def claim_deliveries(store: PgDatabase, owner: str, now: float = 2e9, limit: int = 8) -> list[int]:
    async with store.transaction() as tx:
        rows = await tx.fetch_all("claim_due_deliveries",
                                  {**NOTHING_IN_FLIGHT, "now": now, "limit": limit, "owner": owner, "hold_s": 60})
    return sorted(int(r["id"]) for r in rows)


def test_concurrent_claims_hand_each_job_to_exactly_one_service(postgres: PostgresServer) -> None:
    async def scenario(a: PgDatabase, b: PgDatabase) -> None:
        _, ids = await funded_jobs(a, 40)
        claimers = [(JobStore(s), Lease(name, 30.0)) for s, name in ((a, "svc-a"), (b, "svc-b"))]

        async def drain(jobs: JobStore, lease: Lease) -> list[str]:
            mine = []
            while (job := await jobs.claim_next("esmfold", lease)) is not None:
                mine.append(job.id)
            return mine

        results = await asyncio.gather(*(drain(j, lease) for j, lease in claimers for _ in range(6)))
        claimed = [job_id for batch in results for job_id in batch]
        assert sorted(claimed) == sorted(ids)  # every job once, none twice
        assert await JobStore(a).claim_next("esmfold", Lease("svc-a", 30.0)) is None
        assert await JobStore(a).claim_next("diffdock", Lease("svc-a", 30.0)) is None  # per model

    with_services(postgres, scenario)


def test_a_lease_is_renewed_by_its_owner_and_only_its_owner_finishes_the_job(postgres: PostgresServer) -> None:
    async def scenario(a: PgDatabase, b: PgDatabase) -> None:
        _, [job_id] = await funded_jobs(a, 1)
        jobs_a, jobs_b = JobStore(a), JobStore(b)
        lease = Lease("svc-a", 0.5)
        assert (await jobs_a.claim_next("esmfold", lease)).id == job_id
        for _ in range(3):  # renewed past several lease lengths: never reclaimed
            await asyncio.sleep(0.3)
            assert await jobs_a.renew([job_id], lease) == {job_id}
            assert await jobs_b.reclaim_expired(3, GAVE_UP) == ([], 0)
        assert await jobs_b.renew([job_id], Lease("svc-b", 0.5)) == set()  # not b's to renew
        with pytest.raises(InvalidTransition):
            await jobs_b.complete(job_id, {"metrics": {}, "metadata": {}, "artifacts": []}, owner="svc-b")
        assert await jobs_b.fail(job_id, JobFailure(FailureKind.MODEL_ERROR, "x"), owner="svc-b") is None
        done = await jobs_a.complete(job_id, {"metrics": {}, "metadata": {}, "artifacts": []}, owner="svc-a")
        assert done.status == JobStatus.COMPLETED

    with_services(postgres, scenario)


def test_a_silent_owners_jobs_are_reclaimed_and_given_up_after_max_attempts(postgres: PostgresServer) -> None:
    async def scenario(a: PgDatabase, b: PgDatabase) -> None:
        who, [job_id] = await funded_jobs(a, 1, credits=10)
        jobs_a, jobs_b = JobStore(a), JobStore(b)
        for attempt in (1, 2):
            claimed = await jobs_a.claim_next("esmfold", Lease(f"dead-{attempt}", 0.2))
            assert claimed.id == job_id and claimed.record.attempts == attempt
            await asyncio.sleep(0.3)  # its owner stopped renewing
            assert await jobs_b.reclaim_expired(3, GAVE_UP) == ([(job_id, "esmfold")], 0)
            assert await jobs_b.reclaim_expired(3, GAVE_UP) == ([], 0)  # once
            # The old owner cannot finish what is no longer its job.
            with pytest.raises(InvalidTransition):
                await jobs_a.complete(job_id, {"metrics": {}, "metadata": {}, "artifacts": []}, owner=f"dead-{attempt}")
        third = await jobs_b.claim_next("esmfold", Lease("dead-3", 0.2))
        assert third.record.attempts == 3
        await asyncio.sleep(0.3)
        assert await jobs_a.reclaim_expired(3, GAVE_UP) == ([], 1)  # its last run: failed, refunded
        record = await jobs_a.get(who, job_id)
        assert (record.status, record.error_code, record.refunded) == (JobStatus.FAILED, "interrupted", 10)
        assert int((await a.read.fetch_one("get_account", {"account_id": who}))["credits"]) == 10

    with_services(postgres, scenario)


def test_a_rate_limit_holds_across_services(postgres: PostgresServer) -> None:
    async def scenario(*stores: PgDatabase) -> None:
        limiters = [SharedRateLimiter(s) for s in stores]

        async def hit(limiter: SharedRateLimiter) -> bool:
            try:
                await limiter.check("key-1", 12)
            except RateLimited as exc:
                assert exc.limit == 12 and 1 <= exc.retry_after_s <= 60
                return False
            return True

        outcomes = await asyncio.gather(*(hit(limiters[i % 3]) for i in range(30)))
        assert outcomes.count(True) == 12  # 12 per minute in total, not 12 per service
        state = await limiters[0].check("key-2", 5)  # keys are counted apart
        assert (state.limit, state.remaining) == (5, 4)

    with_services(postgres, scenario, count=3)


def test_a_call_queued_behind_a_later_one_never_sees_a_hit_after_its_own_clock(postgres: PostgresServer) -> None:
    """The database's clock is read once the key's lock is held. Before migration 0009 it was read first, so a
    call that waited for the lock behind another one saw that one's hit stamped after its own "now" and told
    its client to retry in more than the window (61 s)."""
    url = postgres.new_store_url("clock")

    async def main() -> None:
        store = await PgDatabase.open(url)
        holder = await asyncpg.connect(url)
        try:
            async with holder.transaction():
                # Another service's call holds the key's lock...
                await holder.execute("SELECT pg_advisory_xact_lock(hashtextextended('key-1', 0))")
                waiting = asyncio.create_task(store.write_one(
                    "rate_limit_take", {"key_hash": "key-1", "limit": 1, "window_s": 60.0, "wanted": 1}))
                await asyncio.sleep(0.5)
                # ...and counts its hit 0.5 s after the waiting call arrived.
                await holder.execute("SELECT rate_limit_take('key-1', 1, 60.0, 1)")
            row = await waiting
            assert row is not None and int(row["granted"]) == 0
            assert float(row["oldest"]) <= float(row["now_s"])
            with pytest.raises(RateLimited) as refused:
                await SharedRateLimiter(store).check("key-1", 1)
            assert 1 <= refused.value.retry_after_s <= 60
        finally:
            await holder.close()
            await store.close()

    asyncio.run(main())


def test_each_due_delivery_is_claimed_by_one_sender(postgres: PostgresServer) -> None:
    async def scenario(a: PgDatabase, b: PgDatabase) -> None:
        await started_deliveries(a, 30)
        batches = await asyncio.gather(*(claim_deliveries(s, f"sender-{i}") for i in range(3) for s in (a, b)))
        claimed = [d for batch in batches for d in batch]
        assert len(claimed) == len(set(claimed)) == 30
        assert await claim_deliveries(b, "late") == []  # all held by their senders
        # A delivery whose sender died is due again when its claim ends.
        await a.write_one("mark_delivered", {"id": claimed[0], "last_status": 200, "now": time.time()})
        assert len(await claim_deliveries(a, "x", now=2e9 + 61, limit=100)) == 29

    with_services(postgres, scenario)


def test_new_work_is_announced_to_every_service(postgres: PostgresServer) -> None:
    async def scenario(a: PgDatabase, b: PgDatabase) -> None:
        heard: asyncio.Queue[str] = asyncio.Queue()
        await b.listen(JOBS_CHANNEL, heard.put_nowait)
        await funded_jobs(a, 3)  # one transaction: one notification for the model
        assert await asyncio.wait_for(heard.get(), 5) == "esmfold"
        await asyncio.sleep(0.2)
        assert heard.empty()

    with_services(postgres, scenario)


def test_deliveries_a_sender_will_not_start_are_released_to_the_others(postgres: PostgresServer) -> None:
    async def scenario(a: PgDatabase, b: PgDatabase) -> None:
        await started_deliveries(a, 3)

        async def release(owner: str, ids: list[int]) -> int:
            async with a.transaction() as tx:
                return await tx.execute("release_deliveries", {"ids": json.dumps(ids), "owner": owner})

        held = await claim_deliveries(a, "busy-sender")
        assert len(held) == 3 and await claim_deliveries(b, "other") == []
        assert await release("other", held[1:]) == 0  # only the holder can release
        assert await release("busy-sender", held[1:]) == 2
        assert await claim_deliveries(b, "other") == held[1:]

    with_services(postgres, scenario)


def test_a_claim_on_the_shared_store_counts_the_time_the_job_waited(postgres: PostgresServer) -> None:
    from prometheus_client import REGISTRY

    def waits() -> float:
        return REGISTRY.get_sample_value("phonos_job_wait_seconds_count", {"model": "esmfold"}) or 0.0

    async def scenario(a: PgDatabase) -> None:
        await funded_jobs(a, 1)
        before = waits()
        assert await JobStore(a).claim_next("esmfold", Lease("svc-a", 30.0)) is not None
        assert waits() == before + 1  # as a claim on SQLite does (the queue-time histogram)

    with_services(postgres, scenario, count=1)
