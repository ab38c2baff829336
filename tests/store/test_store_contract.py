"""One contract, two stores: jobs, money, webhooks and accounts behave alike on SQLite and PostgreSQL.

Every test here runs against both (`store` fixture: a fresh SQLite file or a fresh PostgreSQL database of the
session's real server). What only a shared store does (claims across services, leases, shared rate limits,
delivery claims, notifications) is tested in test_shared_postgres.py.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable

import pytest

from jobservice.accounts import Accounts
from jobservice.errors import (
    BatchOverQueueLimit,
    Conflict,
    InsufficientCredits,
    InvalidArgument,
    InvalidTransition,
    NotFound,
    TooManyJobs,
)
from jobservice.failures import FailureKind, JobFailure
from jobservice.jobs import JobStore
from jobservice.states import JobStatus
from jobservice.store import Store
from jobservice.usage import UsageRecorder, usage_event
from tests.store.conftest import Scenario, account, balance, job

pytestmark = pytest.mark.integration
# The sender's exclusions (deliveries it is sending, receivers at their limit): none here.
NOTHING_IN_FLIGHT = {"in_flight": "[]", "busy_webhooks": "[]"}


def test_submission_debits_and_an_overdraft_is_refused_whole(run: Callable[[Scenario], None]) -> None:
    async def scenario(store: Store) -> None:
        jobs, who = JobStore(store), await account(store, credits=25)
        [first] = await jobs.submit(who, [job()])
        assert await balance(store, who) == 15
        # The way out it names is one the account has: not "add credits" (only an operator can).
        with pytest.raises(InsufficientCredits, match=r"^These 2 jobs cost 20 credits but the balance is 15\. Submit "
                                                      r"fewer jobs, or ask the server's operator for more credits"):
            await jobs.submit(who, [job(), job()])  # a batch is charged whole or not at all
        assert await balance(store, who) == 15
        await jobs.submit(who, [job()])
        # One job: no "submit fewer jobs" (there is nothing fewer to submit)
        with pytest.raises(InsufficientCredits, match=r"^This job costs 10 credits but the balance is 5\. Ask the "
                                                      r"server's operator for more credits \(an account cannot add "
                                                      r"its own\)\.$"):
            await jobs.submit(who, [job()])
        assert await balance(store, who) == 5
        page, total = await jobs.page(who, status=None, model=None, limit=10, offset=0)
        assert total == 2 and page[-1].id == first
        record = await jobs.get(who, first)
        assert (record.status, record.credits_used, record.attempts) == (JobStatus.PENDING, 10, 0)
        with pytest.raises(NotFound):
            await jobs.get(who + 1, first)  # another account's job does not exist for it

    run(scenario)


def test_each_transition_is_one_compare_and_set(run: Callable[[Scenario], None]) -> None:
    async def scenario(store: Store) -> None:
        jobs, who = JobStore(store), await account(store)
        a, b, c = await jobs.submit(who, [job(), job(), job()])
        claimed = await jobs.claim(a)
        assert claimed is not None and claimed.record.status == JobStatus.RUNNING and claimed.record.attempts == 1
        assert await jobs.claim(a) is None  # twice: refused
        done = await jobs.complete(a, {"metrics": {}, "metadata": {}, "artifacts": []})
        assert done.status == JobStatus.COMPLETED
        with pytest.raises(InvalidTransition):
            await jobs.complete(a, {"metrics": {}, "metadata": {}, "artifacts": []})
        assert await jobs.fail(a, JobFailure(FailureKind.MODEL_ERROR, "late")) is None  # terminal stays terminal
        await jobs.claim(b)
        assert (await jobs.requeue(b)).status == JobStatus.PENDING
        assert (await jobs.claim(b)).record.attempts == 2
        assert await jobs.status(c) == JobStatus.PENDING and await jobs.status("nope") is None
        completed, total = await jobs.page(who, status="completed", model=None, limit=5, offset=0)
        assert [j.id for j in completed] == [a] and total == 1

    run(scenario)


def test_refunds_happen_once_and_follow_the_rule(run: Callable[[Scenario], None]) -> None:
    async def scenario(store: Store) -> None:
        jobs, who = JobStore(store), await account(store, credits=100)
        crashed, refused, pending, running = await jobs.submit(who, [job(), job(), job(), job()])
        assert await balance(store, who) == 60
        for job_id in (crashed, refused, running):
            await jobs.claim(job_id)
        failed = await jobs.fail(crashed, JobFailure(FailureKind.MODEL_ERROR, "boom"))
        assert failed.refunded == 10 and failed.error_code == "model_error" and "refunded" in failed.error
        assert await jobs.fail(crashed, JobFailure(FailureKind.MODEL_ERROR, "boom")) is None
        charged = await jobs.fail(refused, JobFailure(FailureKind.INVALID_INPUT, "bad input"))
        assert charged.refunded == 0
        assert (await jobs.cancel(who, pending)).refunded == 10  # never ran
        assert (await jobs.cancel(who, running)).refunded == 0  # compute was spent
        with pytest.raises(Conflict, match="is cancelled"):
            await jobs.cancel(who, running)
        with pytest.raises(NotFound):
            await jobs.cancel(who, "no-such-job")
        assert await balance(store, who) == 80
        counts = await jobs.counts(who)
        assert (counts.total, counts.completed, counts.active, counts.failed) == (4, 0, 0, 2)

    run(scenario)


def test_a_released_run_is_not_counted_and_the_waiting_jobs_of_a_model_fail_together(
        run: Callable[[Scenario], None]) -> None:
    async def scenario(store: Store) -> None:
        jobs, who = JobStore(store), await account(store, credits=100)
        assert not await jobs.has_pending("esmfold")
        met_outage, running, waiting, other_model = await jobs.submit(who, [job(), job(), job(), job(model="diffdock")])
        assert await jobs.has_pending("esmfold") and await jobs.has_pending("diffdock")
        assert not await jobs.has_pending("alphafold2")
        await jobs.claim(met_outage)
        released = await jobs.release(met_outage)  # the model server was unavailable: the run does not count
        assert released is not None and released.status == JobStatus.PENDING and released.attempts == 0
        assert await jobs.release(met_outage) is None  # only a running job goes back
        await jobs.claim(running)
        failed = await jobs.fail_waiting("esmfold", JobFailure(FailureKind.MODEL_UNAVAILABLE, "down for 2 s"))
        assert sorted(j.id for j in failed) == sorted([met_outage, waiting])
        assert {(j.status, j.error_code, j.refunded) for j in failed} == {(JobStatus.FAILED, "model_unavailable", 10)}
        assert await jobs.status(running) == JobStatus.RUNNING and await jobs.status(other_model) == JobStatus.PENDING
        assert await balance(store, who) == 80
        assert not await jobs.has_pending("esmfold")  # the running job is not waiting

    run(scenario)


def test_the_queued_jobs_limit_refuses_a_submission_whole_even_when_submissions_race(
        run: Callable[[Scenario], None]) -> None:
    async def scenario(store: Store) -> None:
        jobs, who = JobStore(store), await account(store, credits=1000)
        first, _ = await jobs.submit(who, [job(), job()], max_queued=3)
        with pytest.raises(TooManyJobs, match="2 jobs waiting"):
            await jobs.submit(who, [job(), job()], max_queued=3)  # one more would fit, two do not: neither
        assert await balance(store, who) == 980
        await jobs.claim(first)  # running is not waiting: room for two
        outcomes = await asyncio.gather(*(jobs.submit(who, [job()], max_queued=3) for _ in range(8)),
                                        return_exceptions=True)
        assert sum(isinstance(o, list) for o in outcomes) == 2
        assert all(isinstance(o, (list, TooManyJobs)) for o in outcomes)
        assert await balance(store, who) == 960

    run(scenario)


def test_a_submission_larger_than_the_queued_jobs_limit_is_invalid_not_too_many(
        run: Callable[[Scenario], None]) -> None:
    """No wait makes room for 4 jobs under a cap of 3: BatchOverQueueLimit (a 400), not TooManyJobs (a 429 that has
    clients wait in vain), even with nothing waiting; nothing is stored or charged."""
    async def scenario(store: Store) -> None:
        jobs, who = JobStore(store), await account(store, credits=1000)
        with pytest.raises(BatchOverQueueLimit, match=r"has 4 jobs, but an account may have at most 3 .* Split it "
                                                      r"into batches of at most 3 jobs") as refused:
            await jobs.submit(who, [job()] * 4, max_queued=3)
        assert refused.value.limit == 3 and isinstance(refused.value, InvalidArgument)
        assert await balance(store, who) == 1000 and (await jobs.counts(who)).total == 0
        await jobs.submit(who, [job()] * 3, max_queued=3)  # exactly the cap fits
        with pytest.raises(TooManyJobs) as full:
            await jobs.submit(who, [job()], max_queued=3)
        assert (full.value.limit, full.value.waiting) == (3, 3)

    run(scenario)


def test_transitions_queue_the_subscribed_webhook_events(run: Callable[[Scenario], None]) -> None:
    async def scenario(store: Store) -> None:
        woken: list[bool] = []
        jobs, who = JobStore(store, on_event_queued=lambda: woken.append(True)), await account(store)
        async with store.transaction() as tx:
            await tx.execute("insert_webhook", {"id": "wh_a", "account_id": who, "url": "https://example.org/h",
                                                "events": json.dumps(["job.completed"]), "secret": "s", "now": 1.0})
        [job_id] = await jobs.submit(who, [job()])
        await jobs.claim(job_id)
        await jobs.complete(job_id, {"metrics": {}, "metadata": {}, "artifacts": []})
        assert woken  # the sender is woken after the transition that queued deliveries
        async with store.transaction() as tx:
            due = await tx.fetch_all("claim_due_deliveries", {**NOTHING_IN_FLIGHT, "now": 2e9, "limit": 10, "owner": "me", "hold_s": 30.0})
        assert [(d["event"], json.loads(d["payload"])["data"]["download_url"]) for d in due] == [
            ("job.completed", f"/v1/jobs/{job_id}/download")]

    run(scenario)


def test_an_operator_tops_a_balance_up_and_never_below_zero(run: Callable[[Scenario], None]) -> None:
    async def scenario(store: Store) -> None:
        who = await account(store, credits=10, name="lin")
        accounts = Accounts(store)
        assert await accounts.add_credits("lin", 500) == 510 and await balance(store, who) == 510
        assert await accounts.add_credits("lin", -500) == 10
        with pytest.raises(InvalidArgument, match="^\"lin\" has 10 credits: taking 11 would put the balance below 0"):
            await accounts.add_credits("lin", -11)
        assert await balance(store, who) == 10  # refused whole
        with pytest.raises(InvalidArgument, match='no account named "nobody"'):
            await accounts.add_credits("nobody", 5)
        with pytest.raises(InvalidArgument, match="not be 0"):
            await accounts.add_credits("lin", 0)

    run(scenario)


def test_usernames_are_unique_and_usage_is_reported(run: Callable[[Scenario], None]) -> None:
    async def scenario(store: Store) -> None:
        who = await account(store, name="grace")
        with pytest.raises(InvalidArgument, match="taken"):
            await account(store, name="grace")
        usage = UsageRecorder(store, flush_interval_s=60)
        for status in (0, 3):
            usage.record(usage_event(who, "/v1/jobs/{job_id}", key_id=None, model=None, credits_used=0, status_code=status,
                                     elapsed_ms=2.0, transport="rest"))
        usage.record(usage_event(who, "/v1/predict", key_id=None, model="esmfold", credits_used=10, status_code=0,
                                 elapsed_ms=4.0, transport="grpc"))
        report = await usage.report(who, 7)
        assert (report.requests, report.credits_used, report.avg_response_time_ms) == (3, 10, round(8 / 3, 2))
        assert report.by_endpoint == [{"endpoint": "/v1/jobs/{job_id}", "requests": 2, "credits_used": 0},
                                      {"endpoint": "/v1/predict", "requests": 1, "credits_used": 10}]
        assert [d["requests"] for d in report.daily] == [3]

    run(scenario)
