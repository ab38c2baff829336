"""Share links on both stores (migrations 0068_job_shares.sql / postgres 0018_job_shares.sql, jobservice/shares.py):
made only for the owner's completed job with its files, listed while they work, revoked at once, expired by the
clock, gone with their job."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from jobservice import shares as shares_module
from jobservice.db import now
from jobservice.errors import Conflict, LimitReached, NotFound
from jobservice.jobs import JobRecord, JobStore
from jobservice.shares import DAY_S, MAX_ACTIVE_PER_JOB, JobShares, token_hash
from jobservice.store import Store
from tests.store.conftest import Scenario, account, job

pytestmark = pytest.mark.integration


async def completed(store: Store, who: int) -> JobRecord:
    jobs = JobStore(store)
    [job_id] = await jobs.submit(who, [job()])
    claimed = await jobs.claim(job_id)
    assert claimed is not None
    result = {"artifacts": [{"format": "pdb", "file": f"{job_id}.pdb", "media_type": "chemical/x-pdb"}]}
    await jobs.complete(job_id, result)
    return await jobs.get(who, job_id)


def test_links_are_made_listed_revoked_and_resolved(run: Callable[[Scenario], None]) -> None:
    async def scenario(store: Store) -> None:
        who = await account(store)
        record = await completed(store, who)
        shares = JobShares(store)
        first, token = await shares.create(record, who, None)
        second, _ = await shares.create(record, who, 7)
        assert first.expires_at - first.created_at == pytest.approx(30 * DAY_S)
        assert second.expires_at - second.created_at == pytest.approx(7 * DAY_S)
        stored = await store.read.fetch_one("shared_job", {"token_hash": token_hash(token), "now": now()})
        assert stored is not None and stored["id"] == record.id  # found by the token's hash
        assert (await shares.resolve(token)).job.id == record.id
        assert [s.id for s in await shares.list(record.id)] == [second.id, first.id]  # newest first

        await shares.revoke(who, record.id, first.id)
        with pytest.raises(NotFound):
            await shares.resolve(token)
        with pytest.raises(NotFound):
            await shares.revoke(who, record.id, first.id)
        assert [s.id for s in await shares.list(record.id)] == [second.id]

    run(scenario)


def test_expired_links_stop_and_are_pruned(run: Callable[[Scenario], None], monkeypatch: pytest.MonkeyPatch) -> None:
    async def scenario(store: Store) -> None:
        who = await account(store)
        record = await completed(store, who)
        shares = JobShares(store)
        old, token = await shares.create(record, who, 1)
        monkeypatch.setattr(shares_module, "now", lambda: old.created_at + DAY_S + 1)  # a day and a second later
        with pytest.raises(NotFound) as expired:
            await shares.resolve(token)
        with pytest.raises(NotFound) as unknown:
            await shares.resolve("not-a-token")
        assert expired.value.message == unknown.value.message  # never which
        assert await shares.list(record.id) == []
        await shares.create(record, who, 1)  # a new link drops the job's expired ones
        assert await store.read.fetch_one("shared_job", {"token_hash": token_hash(token), "now": 0.0}) is None

    run(scenario)


def test_only_a_completed_job_with_its_files_is_shared_and_links_are_bounded(run: Callable[[Scenario], None]) -> None:
    async def scenario(store: Store) -> None:
        who, other = await account(store), await account(store, name="bo")
        jobs, shares = JobStore(store), JobShares(store)
        [pending_id] = await jobs.submit(who, [job()])
        with pytest.raises(Conflict, match="is pending"):
            await shares.create(await jobs.get(who, pending_id), who, None)
        record = await completed(store, who)
        # The statement itself checks the owner: a record read by another account inserts nothing.
        with pytest.raises(Conflict):
            await shares.create(record, other, None)
        for _ in range(MAX_ACTIVE_PER_JOB):
            await shares.create(record, who, None)
        with pytest.raises(LimitReached):
            await shares.create(record, who, None)

    run(scenario)


def test_deleting_the_job_deletes_its_links(run: Callable[[Scenario], None]) -> None:
    async def scenario(store: Store) -> None:
        who = await account(store)
        jobs, shares = JobStore(store), JobShares(store)
        record, kept = await completed(store, who), await completed(store, who)
        _, token = await shares.create(record, who, None)
        _, kept_token = await shares.create(kept, who, None)
        assert await jobs.delete(who, record.id)
        with pytest.raises(NotFound):
            await shares.resolve(token)
        assert await store.read.fetch_all("list_job_shares", {"job_id": record.id, "now": 0.0}) == []
        assert (await shares.resolve(kept_token)).job.id == kept.id

    run(scenario)
