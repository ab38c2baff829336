"""A submission whose caller gave up before it was committed creates and charges nothing. A gRPC Predict whose
deadline passed while its job was being written was told DEADLINE_EXCEEDED, yet the job was created and charged
(8 of 10 calls with a 2-5 ms deadline here), so a retry without an Idempotency-Key paid twice. The caller is asked
last in the jobs' transaction (JobStore.submit's `still_wanted`), on both stores."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from jobservice.db import Database, now
from jobservice.errors import CallerGone
from jobservice.jobs import JobStore, NewJob
from jobservice.modelspecs.base import ValidatedJob
from jobservice.pg import PgDatabase
from jobservice.status_map import grpc_status
from jobservice.store import Store
from tests.postgres import PostgresServer

pytestmark = pytest.mark.integration

JOB = NewJob("esmfold", None, ValidatedJob("MKV", {}), 10)


async def opened(store_kind: str, tmp_path: Path, postgres: PostgresServer | None) -> Store:
    if store_kind == "sqlite":
        return await Database.open(tmp_path / "late.sqlite3")
    assert postgres is not None
    return await PgDatabase.open(postgres.new_store_url("late"), connect_timeout_s=5, command_timeout_s=10)


@pytest.fixture(params=["sqlite", "postgres"])
def store_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def test_a_caller_gone_before_the_commit_rolls_the_submission_back(
        store_kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    postgres = request.getfixturevalue("postgres") if store_kind == "postgres" else None

    async def scenario() -> None:
        store = await opened(store_kind, tmp_path, postgres)
        try:
            jobs = JobStore(store)
            account = (await store.write_one("insert_account", {
                "username": "ada", "email": None, "credits": 100, "now": now()}))["id"]
            asked: list[str] = []

            def gone() -> bool:
                asked.append("asked")
                return False

            with pytest.raises(CallerGone):
                await jobs.submit(account, [JOB, JOB], still_wanted=gone)
            assert asked  # the caller was asked, in the transaction
            assert [r["credits"] for r in await store.read.fetch_all("get_account", {"account_id": account})] == [100]
            assert await store.read.scalar("count_jobs", {
                "account_id": account, "status": None, "model": None, "name": None}) == 0
            [job_id] = await jobs.submit(account, [JOB], still_wanted=lambda: True)
            assert job_id
            assert [r["credits"] for r in await store.read.fetch_all("get_account", {"account_id": account})] == [90]
        finally:
            await store.close()

    asyncio.run(scenario())


def test_a_caller_gone_is_a_deadline_exceeded_that_says_nothing_was_charged() -> None:
    code, metadata = grpc_status(CallerGone("x"))
    assert code.name == "DEADLINE_EXCEEDED"  # the gateway's 504, as for any deadline
    assert ("phonos-error-title", "Gateway timeout") in metadata
