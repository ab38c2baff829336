"""The stores under test: `run(scenario)` runs an async scenario against a fresh SQLite file or a fresh
PostgreSQL database of the session's real server (each test runs on both), and small helpers to fill them."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Coroutine, Iterable
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from jobservice.accounts import Accounts
from jobservice.db import migrations
from jobservice.jobs import NewJob
from jobservice.modelspecs.base import ValidatedJob
from jobservice.pg import pg_migrations
from jobservice.store import Store, open_store
from phonos_config.service import ServiceSettings
from tests.postgres import PostgresServer

Scenario = Callable[[Store], Coroutine[Any, Any, None]]


@pytest.fixture(params=["sqlite", "postgres"])
def store_settings(request: pytest.FixtureRequest, tmp_path: Path) -> ServiceSettings:
    """The settings of a fresh SQLite file or PostgreSQL database (the operator's commands, jobservice/admin.py, open
    their own connection to it with these, as the CLI does)."""
    if request.param == "sqlite":
        return ServiceSettings(data_dir=tmp_path)
    server: PostgresServer = request.getfixturevalue("postgres")
    return ServiceSettings(data_dir=tmp_path, database_url=server.new_store_url("contract"))


@pytest.fixture
def run(store_settings: ServiceSettings) -> Callable[[Scenario], None]:
    return lambda scenario: run_on(store_settings, scenario)


def run_on(settings: ServiceSettings, scenario: Scenario) -> None:
    """`scenario` against the store of `settings`, opened for it and closed after."""
    async def main() -> None:
        store = await open_store(settings)
        try:
            await scenario(store)
        finally:
            await store.close()

    asyncio.run(main())


def job(cost: int = 10, model: str = "esmfold") -> NewJob:
    return NewJob(model=model, name=None, request=ValidatedJob(sequence="MKV", params={}), cost=cost)


async def account(store: Store, credits: int = 100, name: str = "ada") -> int:
    return (await Accounts(store).create(name, email=None, credits=credits, rate_limit=60)).account_id


async def balance(store: Store, account_id: int) -> int:
    return int((await store.read.fetch_one("get_account", {"account_id": account_id}))["credits"])


def sqlite_before(path: Path, version: int, rows: Iterable[str]) -> None:
    """A SQLite database as a release before migration `version` left it, holding `rows` (INSERTs)."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        for number, sql in migrations():
            if number < version:
                conn.executescript(f"BEGIN;\n{sql}\nPRAGMA user_version = {number};\nCOMMIT;")
        for statement in rows:
            conn.execute(statement)
    finally:
        conn.close()


async def postgres_before(url: str, version: int, rows: Iterable[str]) -> None:
    """A PostgreSQL database as a release before migration `version` left it, holding `rows` (INSERTs)."""
    conn = await asyncpg.connect(url)
    try:
        await conn.execute("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, "
                           "applied_at TIMESTAMPTZ NOT NULL DEFAULT now())")
        for number, sql in pg_migrations():
            if number < version:
                await conn.execute(sql)
                await conn.execute("INSERT INTO schema_migrations (version) VALUES ($1)", number)
        for statement in rows:
            await conn.execute(statement)
    finally:
        await conn.close()
