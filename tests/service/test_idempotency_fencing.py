"""An Idempotency-Key's claim fences the work it guards (jobservice/idempotency.py, KeyGuard), on both stores.

Was: a request whose claim was taken over while it stalled (past its lease, alive) committed its work all the same
when it went on: two jobs charged for one key. Now its write checks the claim in its own transaction and rolls back,
and the request replays the answer of the one that took the key over. Here the two requests are two job services'
`Idempotency` on one store, in process; the stall is the claim's lease ended under the first (its renewals late),
which the first meets in the middle of its work. tests/service/test_idempotency_shared.py stops a real job-service
process (SIGSTOP) instead.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import asyncpg
import pytest
from google.protobuf.message import Message

from jobservice.db import Database, now
from jobservice.idempotency import Claim, ClaimLost, Idempotency
from jobservice.jobs import JobStore, NewJob
from jobservice.modelspecs.base import ValidatedJob
from jobservice.pg import PgDatabase
from jobservice.store import Store
from jobservice.webhook_deliveries import DeliveryRecord, WebhookDeliveries
from phonos.v1 import phonos_pb2 as pb
from tests.postgres import PostgresServer

pytestmark = pytest.mark.integration

JOB = NewJob("esmfold", None, ValidatedJob("MKV", {}), 10)
REQUEST = pb.PredictRequest(model="esmfold", sequence="MKV")
KEY = {"idempotency-key": "stalled"}


@asynccontextmanager
async def opened(store_kind: str, tmp_path: Path, postgres: PostgresServer | None) -> AsyncIterator[
        tuple[Store, Callable[[], Awaitable[None]]]]:
    """The store, and how a claim's lease ends under its owner (its renewals late): on SQLite any claim is taken over
    at once (one process uses the file), on PostgreSQL once past its expiry."""
    if store_kind == "sqlite":
        store: Store = await Database.open(tmp_path / "fence.sqlite3")

        async def lapse() -> None:
            return None
    else:
        assert postgres is not None
        url = postgres.new_store_url("fence")
        store = await PgDatabase.open(url, connect_timeout_s=5, command_timeout_s=10)

        async def lapse() -> None:
            conn = await asyncpg.connect(url)
            try:
                await conn.execute("UPDATE idempotency_claims SET expires_at = 0")
            finally:
                await conn.close()
    try:
        yield store, lapse
    finally:
        await store.close()


@pytest.fixture(params=["sqlite", "postgres"])
def store_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


Work = Callable[[], Awaitable[tuple[Message, None]]]


async def taken_over_while_it_stalls(stalled: Idempotency, winner: Idempotency, lapse: Callable[[], Awaitable[None]],
                                     account: int, method: str, request: Message, response_class: type[Message],
                                     work_for: Callable[[Claim], Work]) -> None:
    """`stalled` runs a keyed call whose lease ends under it (`lapse`) while `winner` runs the same key to the end;
    the stalled one's write (`work_for(its claim)`) is then refused and rolled back (checked first), and its `once`
    replays the winner's answer rather than doing the work a second time."""
    theirs: list[Message] = []
    mine = stalled.claim(KEY, account, method, request)
    assert mine is not None

    async def stalls_then_works() -> tuple[Message, None]:
        await lapse()
        other = winner.claim(KEY, account, method, request)
        assert other is not None
        response, _, replayed = await winner.once(other, response_class, work_for(other), None)
        assert not replayed
        theirs.append(response)
        with pytest.raises(ClaimLost):  # its write is refused and rolled back: checked first
            await work_for(mine)()
        # And so is it here, where `once` meets it: it waits for the key again and replays.
        return await work_for(mine)()

    response, _, replayed = await stalled.once(mine, response_class, stalls_then_works, None)
    assert replayed and response == theirs[0]  # the winner's answer, not work of its own


def test_a_submission_whose_claim_was_taken_over_rolls_back_and_replays_the_winner(
        store_kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    postgres = request.getfixturevalue("postgres") if store_kind == "postgres" else None

    async def scenario() -> None:
        async with opened(store_kind, tmp_path, postgres) as (store, lapse):
            stalled, winner = (Idempotency(store, 3600, owner=f"service-{n}", lease_s=3600) for n in (1, 2))
            jobs = JobStore(store)
            account = (await store.write_one("insert_account", {
                "username": "ada", "email": None, "credits": 100, "now": now()}))["id"]
            try:
                def submit(claim: Claim) -> Work:
                    async def work() -> tuple[Message, None]:
                        [job_id] = await jobs.submit(account, [JOB], claim.guard(
                            lambda ids: pb.PredictResponse(success=True, job_id=ids[0])))
                        return pb.PredictResponse(success=True, job_id=job_id), None
                    return work

                await taken_over_while_it_stalls(stalled, winner, lapse, account, "Predict", REQUEST,
                                                 pb.PredictResponse, submit)
                assert [r["credits"] for r in await store.read.fetch_all("get_account", {"account_id": account})] == [90]
                assert await store.read.scalar("count_jobs", {
                    "account_id": account, "status": None, "model": None, "name": None}) == 1
            finally:
                for service in (stalled, winner):
                    await service.stop()

    asyncio.run(scenario())


def test_a_redelivery_whose_claim_was_taken_over_rolls_back_and_replays_the_winner(
        store_kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    """RedeliverWebhookDelivery: the stale owner queued a second copy of the event (the receiver got it twice)."""
    postgres = request.getfixturevalue("postgres") if store_kind == "postgres" else None
    redeliver = pb.RedeliverWebhookDeliveryRequest(webhook_id="wh_1", delivery_id="1")

    async def scenario() -> None:
        async with opened(store_kind, tmp_path, postgres) as (store, lapse):
            stalled, winner = (Idempotency(store, 3600, owner=f"service-{n}", lease_s=3600) for n in (1, 2))
            deliveries = WebhookDeliveries(store, log_days=30)
            account = (await store.write_one("insert_account", {
                "username": "ada", "email": None, "credits": 100, "now": now()}))["id"]
            await store.write_one("insert_webhook", {"id": "wh_1", "account_id": account, "url": "https://example.org/h",
                                                     "events": "job.completed", "secret": "s", "now": now()})
            await store.write_one("insert_test_delivery", {
                "webhook_id": "wh_1", "event": "job.completed", "payload": "{}", "status": "delivered", "now": now(),
                "last_status": 204, "last_error": None})
            try:
                def respond(delivery: DeliveryRecord) -> pb.RedeliverWebhookDeliveryResponse:
                    return pb.RedeliverWebhookDeliveryResponse(message=f"queued {delivery.id}")

                def again(claim: Claim) -> Work:
                    async def work() -> tuple[Message, None]:
                        made = await deliveries.redeliver(account, "wh_1", "1", claim.guard(respond))
                        return respond(made), None
                    return work

                await taken_over_while_it_stalls(stalled, winner, lapse, account, "RedeliverWebhookDelivery",
                                                 redeliver, pb.RedeliverWebhookDeliveryResponse, again)
                listed, _ = await deliveries.page(account, "wh_1", status=None, limit=10, offset=None)
                assert len(listed) == 2  # the original and one copy
            finally:
                for service in (stalled, winner):
                    await service.stop()

    asyncio.run(scenario())
