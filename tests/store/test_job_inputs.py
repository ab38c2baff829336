"""A job's stored request (sequence, PDB text, A3Ms: tens of MB) lives apart from its row (migrations
0040_job_inputs.sql / postgres 0007_job_inputs.sql): gets, lists and watch streams never load it, only a claim
does, and the migration moves the requests of existing jobs over. On both stores."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import Awaitable, Callable
from pathlib import Path

import asyncpg
import pytest

from jobservice.db import Database, migrations, queries
from jobservice.jobs import JobStore, NewJob
from jobservice.modelspecs.base import ValidatedJob
from jobservice.pg import PgDatabase, pg_migrations, pg_queries
from jobservice.store import Store
from tests.postgres import PostgresServer
from tests.store.conftest import Scenario, account

pytestmark = pytest.mark.integration

# The job reads of the API and the watch streams: each reads `jobs` rows, never the stored request.
JOB_READS = ("get_job", "list_jobs", "list_jobs_after", "job_seq", "count_jobs", "job_counts", "job_events_after",
             "job_with_last_event", "job_events_of_job_after", "job_events_of_account_after",
             "active_jobs_with_last_event")
A3M = ">query\nMKTVRQERLKSIVRILERSKEPV\n" * 200_000  # ~6 MB, an MSA-sized input
OLD_REQUEST = {"sequence": "MKV", "params": {"num_recycles": 2}}


def test_only_submission_claims_deletion_and_the_input_route_name_the_stored_requests() -> None:
    for engine, named in (("sqlite", queries()), ("postgres", {n: s.sql for n, s in pg_queries().items()})):
        touching = {name for name, sql in named.items() if "job_inputs" in sql or "request_json" in sql}
        claims = {"claim_job", "claim_next_job"} if engine == "postgres" else {"claim_job"}
        # get_job_input: GET /v1/jobs/{id}/input, the one API read that asks for the request itself
        assert touching == {"insert_job_input", "delete_job_input", "get_job_input"} | claims, engine
        assert not touching & set(JOB_READS)


def test_gets_and_lists_never_load_the_stored_request_and_a_claim_does(run: Callable[[Scenario], None]) -> None:
    async def scenario(store: Store) -> None:
        jobs, who = JobStore(store), await account(store)
        deep = NewJob(model="alphafold2", name="deep MSA", request=ValidatedJob("MKV", {"a3m": A3M}), cost=10)
        [job_id] = await jobs.submit(who, [deep])
        row = await store.read.fetch_one("get_job", {"id": job_id, "account_id": who})  # SELECT * FROM jobs
        page = await store.read.fetch_all("list_jobs", {"account_id": who, "status": None, "model": None,
                                                        "name": None, "limit": 10, "offset": 0})
        for read in (row, *page):
            assert "request_json" not in read.keys()
            assert sum(len(str(value)) for value in dict(read).values()) < 2_000  # the row, not the 6 MB input
        claimed = await jobs.claim(job_id)
        assert claimed is not None and claimed.request == deep.request

    run(scenario)


def insert_old_job(execute: Callable[[str], object]) -> None:
    """An account and a job as the schema before 0040 / 0007 stored them (the request in the job row)."""
    execute("INSERT INTO accounts (username, email, credits, created_at) VALUES ('ada', NULL, 100, 1.0)")
    execute("INSERT INTO jobs (id, seq, account_id, model, name, status, request_json, credits_used, created_at, "
            f"updated_at) VALUES ('old', 1, 1, 'esmfold', NULL, 'pending', '{json.dumps(OLD_REQUEST)}', 0, 1.0, 1.0)")


async def claim_old(opening: Awaitable[Store]) -> None:
    """Open the store (which applies the newer migrations) and claim the old job: its request moved over."""
    store = await opening
    try:
        claimed = await JobStore(store).claim("old")
        assert claimed is not None and claimed.request == ValidatedJob(**OLD_REQUEST)
        assert "request_json" not in (await store.read.fetch_one("get_job", {"id": "old", "account_id": 1})).keys()
    finally:
        await store.close()


def test_the_sqlite_migration_moves_the_requests_of_existing_jobs(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    conn = sqlite3.connect(path, isolation_level=None)
    for version, sql in migrations():
        if version < 40:
            conn.executescript(f"BEGIN;\n{sql}\nPRAGMA user_version = {version};\nCOMMIT;")
    insert_old_job(conn.execute)
    conn.close()
    asyncio.run(claim_old(Database.open(path)))


def test_the_postgres_migration_moves_the_requests_of_existing_jobs(postgres: PostgresServer) -> None:
    url = postgres.new_store_url("inputs")

    async def upgrade() -> None:
        conn = await asyncpg.connect(url)
        try:
            await conn.execute("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, "
                               "applied_at TIMESTAMPTZ NOT NULL DEFAULT now())")
            for version, sql in pg_migrations():
                if version < 7:
                    await conn.execute(sql)
                    await conn.execute("INSERT INTO schema_migrations (version) VALUES ($1)", version)
            statements: list[str] = []
            insert_old_job(statements.append)
            for statement in statements:
                await conn.execute(statement)
        finally:
            await conn.close()
        await claim_old(PgDatabase.open(url))

    asyncio.run(upgrade())
