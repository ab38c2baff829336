"""An account's limits hold under parallel creates (jobservice/account_lock.py): at most 20 active keys, 20
working links per job, PHONOS_MAX_WEBHOOKS webhooks. Each create counts, then inserts; on PostgreSQL (READ
COMMITTED) creates sent together each counted the same rows and all inserted, so a script could hold 30 keys.
Revokes take the same lock: revoking every key at once leaves the last one (LastActiveKey), never none.
Run on a fresh SQLite file and on a fresh database of the session's real PostgreSQL server."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from jobservice.api_keys import MAX_ACTIVE_KEYS, ApiKeys, LastActiveKey
from jobservice.errors import LimitReached
from jobservice.shares import MAX_ACTIVE_PER_JOB, JobShares
from jobservice.store import Store, open_store
from jobservice.webhooks import Webhooks
from phonos_config.service import ServiceSettings
from tests.postgres import PostgresServer
from tests.store.conftest import account
from tests.store.test_job_shares import completed

pytestmark = pytest.mark.integration

MAX_WEBHOOKS = 5


@pytest.fixture(params=["sqlite", "postgres"])
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> ServiceSettings:
    if request.param == "sqlite":
        return ServiceSettings(data_dir=tmp_path)
    server: PostgresServer = request.getfixturevalue("postgres")
    return ServiceSettings(data_dir=tmp_path, database_url=server.new_store_url("limits"))


async def made_together(create: Callable[[], Awaitable[Any]], times: int) -> int:
    """How many of `times` creates sent at once were made; every other one must be the limit's refusal."""
    outcomes = await asyncio.gather(*(create() for _ in range(times)), return_exceptions=True)
    refused = [o for o in outcomes if isinstance(o, BaseException)]
    assert all(isinstance(o, LimitReached) for o in refused), refused
    return times - len(refused)


def on_a_new_account(settings: ServiceSettings, body: Callable[[Store, int, ApiKeys], Awaitable[None]]) -> None:
    """`body(store, account, its keys)` on a fresh store, the account with its first key."""
    async def main() -> None:
        store: Store = await open_store(settings)
        try:
            await body(store, await account(store), ApiKeys(store, default_rate_limit=60))
        finally:
            await store.close()

    asyncio.run(main())


def test_parallel_creates_stop_exactly_at_each_accounts_limit(settings: ServiceSettings) -> None:
    async def body(store: Store, who: int, keys: ApiKeys) -> None:
        assert await made_together(lambda: keys.create(who, name=None, rate_limit=None), 30) == MAX_ACTIVE_KEYS - 1
        assert sum(not k.revoked for k in await keys.list(who)) == MAX_ACTIVE_KEYS

        shares = JobShares(store)
        job = await completed(store, who)
        assert await made_together(lambda: shares.create(job, who, 7), 30) == MAX_ACTIVE_PER_JOB
        assert len(await shares.list(job.id)) == MAX_ACTIVE_PER_JOB

        hooks = Webhooks(store, max_per_account=MAX_WEBHOOKS, allow_http_loopback=True, timeout_s=5)
        assert await made_together(lambda: hooks.create(who, "http://127.0.0.1:9/hook", []), 12) == MAX_WEBHOOKS
        assert len(await hooks.for_account(who)) == MAX_WEBHOOKS

    on_a_new_account(settings, body)


def test_parallel_revokes_of_every_key_leave_the_account_its_last_one(settings: ServiceSettings) -> None:
    async def body(store: Store, who: int, keys: ApiKeys) -> None:
        for _ in range(9):
            await keys.create(who, name=None, rate_limit=None)
        ids = [k.id for k in await keys.list(who)]
        assert len(ids) == 10
        outcomes = await asyncio.gather(*(keys.revoke(who, key_id, confirm_last_key=False) for key_id in ids),
                                        return_exceptions=True)
        refused = [o for o in outcomes if isinstance(o, BaseException)]
        assert len(refused) == 1 and isinstance(refused[0], LastActiveKey), refused  # each counted the others
        assert sum(not k.revoked for k in await keys.list(who)) == 1  # was 0 on PostgreSQL: locked out

    on_a_new_account(settings, body)
