"""The migration that makes usage net of refunds (SQLite 0050, PostgreSQL 0010) also takes the refunds made
before it off usage, in the hour each job ended: an existing account's report agrees with its balance."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from pathlib import Path
from typing import Any

import pytest

from jobservice.db import Database
from jobservice.pg import PgDatabase
from jobservice.store import Store
from tests.postgres import PostgresServer
from tests.store.conftest import postgres_before, sqlite_before

pytestmark = pytest.mark.integration

HOUR = 1_765_965_600  # 2025-12-17T10:00:00Z
# Three esmfold jobs charged 10 each at HOUR: one completed, one failed and refunded an hour later, one
# cancelled while pending and refunded two days later; and the submissions' usage as the recorder wrote it.
OLD_ROWS = (
    "INSERT INTO accounts (username, email, credits, created_at) VALUES ('ada', NULL, 90, 1.0)",
    *(f"INSERT INTO jobs (id, seq, account_id, model, name, status, credits_used, refunded, created_at, updated_at, "
      f"finished_at) VALUES ('{job_id}', {seq}, 1, 'esmfold', NULL, '{status}', 10, {refunded}, {HOUR + 10}, "
      f"{ended}, {ended})"
      for seq, (job_id, status, refunded, ended) in enumerate((
          ("done", "completed", 0, HOUR + 60),
          ("crashed", "failed", 10, HOUR + 3600 + 5),
          ("dropped", "cancelled", 10, HOUR + 2 * 86400)), start=1)),
    "INSERT INTO usage_hourly (account_id, hour, endpoint, model, status_code, transport, requests, credits_used, "
    f"elapsed_ms) VALUES (1, {HOUR}, '/v1/predict', 'esmfold', 0, 'rest', 3, 30, 6.0)",
)


async def report(opening: Awaitable[Store]) -> dict[str, Any]:
    store = await opening
    try:
        params = {"account_id": 1, "since": float(HOUR)}
        totals = await store.read.fetch_one("usage_totals", params)
        assert totals is not None
        return {
            "totals": (int(totals["requests"]), int(totals["credits_used"]), float(totals["avg_ms"])),
            "by_endpoint": [dict(r) for r in await store.read.fetch_all("usage_by_endpoint", params)],
            "by_model": [dict(r) for r in await store.read.fetch_all("usage_by_model", params)],
            "daily": [dict(r) for r in await store.read.fetch_all("usage_daily", params)],
        }
    finally:
        await store.close()


def assert_net_of_the_old_refunds(seen: dict[str, Any]) -> None:
    assert seen["totals"] == (3, 10, 2.0)  # the balance lost 10; requests and their average as before
    assert seen["by_endpoint"] == [{"endpoint": "/v1/predict", "requests": 3, "credits_used": 10}]
    assert seen["by_model"] == [{"model": "esmfold", "requests": 3, "credits_used": 10}]
    assert seen["daily"] == [{"day": "2025-12-17", "requests": 3, "credits_used": 20},
                             {"day": "2025-12-19", "requests": 0, "credits_used": -10}]


def test_the_sqlite_migration_takes_earlier_refunds_off_usage(tmp_path: Path) -> None:
    sqlite_before(tmp_path / "old.sqlite3", 50, OLD_ROWS)
    assert_net_of_the_old_refunds(asyncio.run(report(Database.open(tmp_path / "old.sqlite3"))))


def test_the_postgres_migration_takes_earlier_refunds_off_usage(postgres: PostgresServer) -> None:
    url = postgres.new_store_url("refunds")

    async def upgrade() -> dict[str, Any]:
        await postgres_before(url, 10, OLD_ROWS)
        return await report(PgDatabase.open(url))

    assert_net_of_the_old_refunds(asyncio.run(upgrade()))
