"""The stores under test: `run(scenario)` runs an async scenario against a fresh SQLite file or a fresh
PostgreSQL database of the session's real server (each test runs on both), and small helpers to fill them."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import pytest

from jobservice.accounts import Accounts
from jobservice.jobs import NewJob
from jobservice.modelspecs.base import ValidatedJob
from jobservice.store import Store, open_store
from phonos_config.service import ServiceSettings
from tests.postgres import PostgresServer

Scenario = Callable[[Store], Coroutine[Any, Any, None]]


@pytest.fixture(params=["sqlite", "postgres"])
def run(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[Scenario], None]:
    if request.param == "sqlite":
        settings = ServiceSettings(data_dir=tmp_path)
    else:
        server: PostgresServer = request.getfixturevalue("postgres")
        settings = ServiceSettings(data_dir=tmp_path, database_url=server.new_store_url("contract"))

    def go(scenario: Scenario) -> None:
        async def main() -> None:
            store = await open_store(settings)
            try:
                await scenario(store)
            finally:
                await store.close()

        asyncio.run(main())

    return go


def job(cost: int = 10, model: str = "esmfold") -> NewJob:
    return NewJob(model=model, name=None, request=ValidatedJob(sequence="MKV", params={}), cost=cost)


async def account(store: Store, credits: int = 100, name: str = "ada") -> int:
    return (await Accounts(store).create(name, email=None, credits=credits, rate_limit=60)).account_id


async def balance(store: Store, account_id: int) -> int:
    return int((await store.read.fetch_one("get_account", {"account_id": account_id}))["credits"])
