"""The retention purges (usage counters, idempotency records, signed-out sessions; the activity and webhook delivery
logs share the same loop) delete a bounded batch per statement, each its own transaction, and at most a cap of
rows per run, on SQLite and PostgreSQL: what is past the retention goes across batches and runs, what is inside
it stays. Was: one DELETE of every expired row, which on PostgreSQL's command timeout (a first purge after months
of rows) timed out and rolled back every run, deleting nothing for ever; the last test shows that on a real server,
with every deleted row made slow by a trigger."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import asyncpg
import pytest

from jobservice import idempotency, periodic, usage
from jobservice.db import now
from jobservice.errors import DatabaseUnavailable
from jobservice.idempotency import Idempotency
from jobservice.pg import PgDatabase
from jobservice.store import Store
from jobservice.usage import HOUR_S, UsageEvent, UsageRecorder
from tests.postgres import PostgresServer
from tests.store.conftest import Scenario, account

pytestmark = pytest.mark.integration

DAY_S = 86400
RETENTION_DAYS = 30
OLD, YOUNG = 7, 3  # rows past the retention, rows inside it: more old ones than a batch of 2 or a cap of 5


def usage_row(account_id: int, hour: int, endpoint: str) -> dict[str, object]:
    return {"account_id": account_id, "hour": hour, "endpoint": endpoint, "model": "", "status_code": 0,
            "transport": "rest", "requests": 1, "credits_used": 0, "elapsed_ms": 1.0}


async def seed_usage(store: Store, account_id: int) -> None:
    """OLD counters in hours past the retention (some sharing an hour), YOUNG in recent hours, one request each."""
    this_hour = int(now() // HOUR_S) * HOUR_S
    old = [usage_row(account_id, this_hour - (RETENTION_DAYS + 1 + n % 3) * DAY_S, f"/v1/old/{n}") for n in range(OLD)]
    young = [usage_row(account_id, this_hour - n * HOUR_S, "/v1/young") for n in range(YOUNG)]
    async with store.transaction() as tx:
        await tx.execute_many("add_usage", old + young)


async def requests_counted(store: Store, account_id: int) -> int:
    return int((await store.read.fetch_one("usage_totals", {"account_id": account_id, "since": 0}))["requests"])


def test_usage_counters_past_the_retention_go_in_batches_and_capped_runs(
        run: Callable[[Scenario], None], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(usage, "PURGE_BATCH", 2)
    monkeypatch.setattr(periodic, "PURGE_MAX_ROWS_PER_RUN", 5)

    async def scenario(store: Store) -> None:
        ada = await account(store)
        await seed_usage(store, ada)
        recorder = UsageRecorder(store, flush_interval_s=60, retention_days=RETENTION_DAYS)
        assert await recorder.delete_expired() == 5  # batches of 2, 2 and 1: the run's cap
        assert await requests_counted(store, ada) == OLD + YOUNG - 5
        assert await recorder.delete_expired() == OLD - 5  # the next run goes on with the rest
        assert await recorder.delete_expired() == 0
        assert await requests_counted(store, ada) == YOUNG

    run(scenario)


def test_idempotency_records_past_their_ttl_go_in_batches(
        run: Callable[[Scenario], None], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(idempotency, "PURGE_BATCH", 2)
    ttl_s = 3600.0

    async def scenario(store: Store) -> None:
        ada = await account(store)
        stamp = now()
        keys = {f"old-{n}": stamp - 2 * ttl_s for n in range(OLD)} | {f"young-{n}": stamp for n in range(YOUNG)}
        async with store.transaction() as tx:
            await tx.execute_many("insert_idempotency_key", [
                {"account_id": ada, "key": key, "method": "Predict", "fingerprint": "f", "response": b"",
                 "now": at, "since": 0.0} for key, at in keys.items()])
        assert await Idempotency(store, ttl_s).purge() == OLD  # four statements of at most 2
        for key in keys:
            kept = await store.read.fetch_one("get_idempotency_key", {"account_id": ada, "key": key, "since": 0.0})
            assert (kept is not None) == key.startswith("young"), key

    run(scenario)


def test_a_sign_in_prunes_at_most_a_batch_of_ended_sessions(run: Callable[[Scenario], None]) -> None:
    """prune_sessions runs inside each sign-in's transaction (jobservice/sessions.py): bounded by :limit."""

    async def scenario(store: Store) -> None:
        ada = await account(store)
        stamp = now()
        ended = [f"ended-{n}" for n in range(OLD)]
        async with store.transaction() as tx:
            await tx.execute_many("insert_session", [
                {"token_hash": token, "account_id": ada, "user_agent": None, "client_address": None,
                 "now": stamp - 30 * DAY_S, "expires_at": stamp - 20 * DAY_S if token in ended else stamp + DAY_S}
                for token in [*ended, "live"]])
        pruned = []
        for _ in range(5):
            async with store.transaction() as tx:
                pruned.append(await tx.execute("prune_sessions", {"before": stamp - 7 * DAY_S, "limit": 2}))
        assert pruned == [2, 2, 2, 1, 0]
        assert await store.read.fetch_one("get_session", {"token_hash": "live", "now": stamp}) is not None

    run(scenario)


SLOW_ROW_S = 0.002  # each deleted usage row, by the trigger below
COMMAND_TIMEOUT_S = 0.5  # the store's bound on every statement (PHONOS_DATABASE_COMMAND_TIMEOUT_S)
SLOW_ROWS = 500  # one statement for all of them: SLOW_ROWS * SLOW_ROW_S = 1 s, twice the command timeout
SLOW_TRIGGER = f"""
CREATE FUNCTION slow_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN PERFORM pg_sleep({SLOW_ROW_S}); RETURN OLD; END $$;
CREATE TRIGGER usage_hourly_slow_delete BEFORE DELETE ON usage_hourly FOR EACH ROW EXECUTE FUNCTION slow_delete();
"""


async def slow_store(url: str) -> tuple[PgDatabase, int]:
    """A store with the command timeout above, holding OLD + SLOW_ROWS usage counters past the retention (each
    slow to delete) and YOUNG inside it; its account's id."""
    store = await PgDatabase.open(url, command_timeout_s=COMMAND_TIMEOUT_S)
    ada = await account(store)
    await seed_usage(store, ada)
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(SLOW_TRIGGER)
        await conn.execute("INSERT INTO usage_hourly (account_id, hour, endpoint, model, status_code, transport, "
                           "requests, credits_used, elapsed_ms) "
                           "SELECT $1, $2, '/v1/slow/' || n, '', 0, 'rest', 1, 0, 1 FROM generate_series(1, $3) AS n",
                           ada, 3600, SLOW_ROWS)
    finally:
        await conn.close()
    return store, ada


def test_a_purge_longer_than_the_command_timeout_still_goes_batch_by_batch(
        postgres: PostgresServer, monkeypatch: pytest.MonkeyPatch) -> None:
    url = postgres.new_store_url("slowpurge")
    monkeypatch.setattr(usage, "PURGE_BATCH", 10)  # 20 ms a statement

    async def scenario() -> None:
        store, ada = await slow_store(url)
        try:
            # What one statement did: it outlives the command timeout, rolls back, and nothing goes.
            with pytest.raises(DatabaseUnavailable):
                await periodic.purge_in_batches(store, "delete_usage_before", {"before": 7200}, batch=SLOW_ROWS)
            assert await requests_counted(store, ada) == OLD + YOUNG + SLOW_ROWS

            recorder = UsageRecorder(store, flush_interval_s=60, retention_days=RETENTION_DAYS)
            assert await recorder.delete_expired() == OLD + SLOW_ROWS
            assert await requests_counted(store, ada) == YOUNG
        finally:
            await store.close()

    asyncio.run(scenario())


def test_usage_is_still_written_while_its_purge_keeps_failing(
        postgres: PostgresServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """Was: the recorder's loop retried the failed purge every round before its flush, so no count was written
    for as long as the purge failed (a request's usage, and its API key's last use, never showed)."""
    url = postgres.new_store_url("purgefails")
    monkeypatch.setattr(usage, "PURGE_BATCH", SLOW_ROWS)  # every batch outlives the command timeout

    async def scenario() -> None:
        store, ada = await slow_store(url)
        recorder = UsageRecorder(store, flush_interval_s=0.05, retention_days=RETENTION_DAYS)
        try:
            recorder.record(UsageEvent(account_id=ada, key_id=None, endpoint="/v1/account", model=None,
                                       credits_used=0, status_code=0, elapsed_ms=1.0, transport="rest",
                                       created_at=now()))
            recorder.start()
            deadline = asyncio.get_running_loop().time() + 10 * COMMAND_TIMEOUT_S
            while await requests_counted(store, ada) != OLD + YOUNG + SLOW_ROWS + 1:
                assert asyncio.get_running_loop().time() < deadline, "the request was never counted"
                await asyncio.sleep(0.05)
        finally:
            await recorder.stop()
            await store.close()

    asyncio.run(scenario())
