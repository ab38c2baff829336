"""The credit history on both stores: every balance change writes one entry in its own statement or
transaction, so an account's entries sum to its balance and each entry's balance_after follows from the one
before; existing databases start their history with one grant of each account's balance."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest

from jobservice.accounts import Accounts
from jobservice.credit_history import CreditEntry, CreditHistory
from jobservice.db import Database
from jobservice.errors import InsufficientCredits, InvalidArgument
from jobservice.failures import FailureKind, JobFailure
from jobservice.jobs import JobStore, RequeueReason
from jobservice.pg import PgDatabase
from jobservice.store import Store
from tests.postgres import PostgresServer
from tests.store.conftest import Scenario, account, balance, job, postgres_before, sqlite_before

pytestmark = pytest.mark.integration


async def history(store: Store, account_id: int) -> list[CreditEntry]:
    """Every entry, oldest first, read in pages of 2 (the pages join without a gap or a repeat)."""
    pages, offset = [], 0
    while True:
        page, total = await CreditHistory(store).page(account_id, limit=2, offset=offset)
        pages += page
        offset += len(page)
        if offset >= total:
            return pages[::-1]


async def assert_explains_the_balance(store: Store, account_id: int) -> list[CreditEntry]:
    entries = await history(store, account_id)
    running = 0
    for entry in entries:
        running += entry.amount
        assert entry.balance_after == running, entry
    assert running == await balance(store, account_id)
    return entries


def test_every_balance_change_is_an_entry_that_explains_the_balance(run: Callable[[Scenario], None]) -> None:
    async def scenario(store: Store) -> None:
        jobs, accounts = JobStore(store), Accounts(store)
        ada, lin = await account(store, credits=100), await account(store, credits=0, name="lin")
        crashed, refused, pending, running = await jobs.submit(ada, [job(), job(), job(), job()])  # a batch
        [waiting] = await jobs.submit(ada, [job(cost=5, model="diffdock")])
        for job_id in (crashed, refused, running):
            await jobs.claim(job_id)
        await jobs.fail(crashed, JobFailure(FailureKind.MODEL_ERROR, "boom"))  # refunded
        await jobs.fail(refused, JobFailure(FailureKind.INVALID_INPUT, "bad input"))  # charged
        await jobs.cancel(ada, pending)  # never ran: refunded
        await jobs.cancel(ada, running)  # compute spent: kept
        await jobs.fail_waiting("diffdock", JobFailure(FailureKind.MODEL_UNAVAILABLE, "down"))
        with pytest.raises(InsufficientCredits):
            await jobs.submit(ada, [job(cost=1000)])  # refused whole: no entry
        assert await accounts.add_credits("ada", 50, note="lab grant 2026") == 130
        assert await accounts.add_credits("ada", -5) == 125
        with pytest.raises(InvalidArgument):
            await accounts.add_credits("ada", -1000)  # refused whole: no entry
        assert await accounts.add_credits("lin", 7) == 7
        assert await jobs.delete(ada, refused)  # a deleted job keeps its entries

        entries = await assert_explains_the_balance(store, ada)
        assert [(e.kind, e.amount, e.job_id) for e in entries] == [
            ("grant", 100, None),
            ("charge", -10, crashed), ("charge", -10, refused), ("charge", -10, pending), ("charge", -10, running),
            ("charge", -5, waiting),
            ("refund", 10, crashed), ("refund", 10, pending), ("refund", 5, waiting),
            ("grant", 50, None), ("grant", -5, None)]
        assert [e.note for e in entries] == [
            "opening balance", *["esmfold job submitted"] * 4, "diffdock job submitted",
            "esmfold job failed (model_error)", "esmfold job cancelled before it ran",
            "diffdock job failed (model_unavailable)", "lab grant 2026", "taken back by an operator"]
        assert [e.job_deleted for e in entries if e.job_id == refused] == [True]
        assert not any(e.job_deleted for e in entries if e.job_id != refused)
        assert all(a.created_at <= b.created_at for a, b in zip(entries, entries[1:], strict=False))
        lin_entries = await assert_explains_the_balance(store, lin)
        assert [(e.kind, e.amount, e.note) for e in lin_entries] == [
            ("grant", 0, "opening balance"), ("grant", 7, "added by an operator")]

    run(scenario)


def test_a_job_cancelled_after_it_was_requeued_says_so_in_its_refund(run: Callable[[Scenario], None]) -> None:
    # Found by a tester: a job whose run was interrupted (a graceful stop, a lost job service) went back to pending
    # and was cancelled there; its full refund said "cancelled before it ran" although a run had started.
    async def scenario(store: Store) -> None:
        jobs, ada = JobStore(store), await account(store, credits=100)
        stopped, lost, never = await jobs.submit(ada, [job(), job(), job(model="alphafold2")])
        for job_id in (stopped, lost):
            await jobs.claim(job_id)
        await jobs.release(stopped, reason=RequeueReason.SERVICE_STOPPED)
        await jobs.requeue(lost, reason=RequeueReason.SERVICE_LOST)
        for job_id in (stopped, lost, never):
            assert (await jobs.cancel(ada, job_id)).refunded == 10
        entries = await assert_explains_the_balance(store, ada)
        assert [(e.job_id, e.note) for e in entries if e.kind == "refund"] == [
            (stopped, "esmfold job cancelled while pending, after it was requeued (service_stopped)"),
            (lost, "esmfold job cancelled while pending, after it was requeued (service_lost)"),
            (never, "alphafold2 job cancelled before it ran")]

    run(scenario)


def test_concurrent_submissions_keep_the_history_in_balance_order(run: Callable[[Scenario], None]) -> None:
    async def scenario(store: Store) -> None:
        jobs, who = JobStore(store), await account(store, credits=1000)
        await asyncio.gather(*(jobs.submit(who, [job(cost=3), job(cost=4)]) for _ in range(10)))
        entries = await assert_explains_the_balance(store, who)
        assert len(entries) == 21 and entries[-1].balance_after == 930

    run(scenario)


# Accounts from before the credit history: ada has 90 credits left after a job (the old trigger charged it).
OLD_ROWS = (
    "INSERT INTO accounts (username, email, credits, created_at) VALUES ('ada', NULL, 100, 1.0)",
    "INSERT INTO accounts (username, email, credits, created_at) VALUES ('lin', NULL, 0, 2.0)",
    "INSERT INTO jobs (id, seq, account_id, model, name, status, credits_used, refunded, created_at, updated_at) "
    "VALUES ('old', 1, 1, 'esmfold', NULL, 'completed', 10, 0, 5.0, 6.0)",
)


async def assert_history_begins_with_the_old_balance(store: Store) -> None:
    try:
        for account_id, credits in ((1, 90), (2, 0)):
            [entry] = await assert_explains_the_balance(store, account_id)
            assert (entry.kind, entry.amount, entry.note) == ("grant", credits, "balance before the credit history began")
        [new_job] = await JobStore(store).submit(1, [job()])  # and the triggers write from then on
        entries = await assert_explains_the_balance(store, 1)
        assert [(e.kind, e.amount, e.job_id) for e in entries][1:] == [("charge", -10, new_job)]
    finally:
        await store.close()


def test_the_sqlite_migration_opens_each_existing_account_s_history(tmp_path: Path) -> None:
    sqlite_before(tmp_path / "old.sqlite3", 62, OLD_ROWS)

    async def upgrade() -> None:
        await assert_history_begins_with_the_old_balance(await Database.open(tmp_path / "old.sqlite3"))

    asyncio.run(upgrade())


def test_the_postgres_migration_opens_each_existing_account_s_history(postgres: PostgresServer) -> None:
    url = postgres.new_store_url("history")

    async def upgrade() -> None:
        rows = [r.replace(" seq,", "").replace("VALUES ('old', 1,", "VALUES ('old',") for r in OLD_ROWS]  # an identity
        await postgres_before(url, 13, rows)
        await assert_history_begins_with_the_old_balance(await PgDatabase.open(url))

    asyncio.run(upgrade())
