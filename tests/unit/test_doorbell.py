"""The shared-store workers' doorbell: one ring wakes one idle worker, not all of them; and what the workers log while
the shared database is away."""

from __future__ import annotations

import asyncio
import logging
from types import SimpleNamespace
from typing import cast

import pytest

from jobservice import dispatch
from jobservice.dispatch import Doorbell
from jobservice.inference import Inference
from jobservice.jobs import Lease
from jobservice.modelspecs.registry import build_specs
from jobservice.results import ResultStore

pytestmark = pytest.mark.unit


def test_one_ring_wakes_one_waiter_and_a_ring_nobody_heard_is_kept() -> None:
    async def scenario() -> None:
        bell = Doorbell()
        woken: list[int] = []

        async def worker(i: int) -> None:
            await bell.wait(5)
            woken.append(i)

        workers = [asyncio.create_task(worker(i)) for i in range(3)]
        await asyncio.sleep(0.01)
        bell.ring()
        await asyncio.sleep(0.01)
        assert woken == [0]
        bell.ring()
        bell.ring()
        await asyncio.gather(*workers)
        assert woken == [0, 1, 2]
        bell.ring()  # nobody waits: the next wait returns at once
        await asyncio.wait_for(bell.wait(5), 0.1)
        with pytest.raises(TimeoutError):
            await bell.wait(0.05)

    asyncio.run(scenario())


def test_a_waiter_that_timed_out_does_not_swallow_a_ring() -> None:
    async def scenario() -> None:
        bell = Doorbell()
        with pytest.raises(TimeoutError):
            await bell.wait(0.01)
        late = asyncio.create_task(bell.wait(5))
        await asyncio.sleep(0.01)
        bell.ring()  # skips the expired waiter, wakes the live one
        await asyncio.wait_for(late, 1)

    asyncio.run(scenario())


def test_a_cancel_that_lands_with_a_ring_still_cancels_the_waiter() -> None:
    """A stop cancels every worker; one whose ring arrived in the same loop iteration must still stop (Python
    3.11's asyncio.wait_for returned normally here, and the stopping worker went on polling for ever)."""
    async def scenario() -> None:
        bell = Doorbell()
        waiting = asyncio.create_task(bell.wait(30))
        await asyncio.sleep(0)  # the task now waits on its future
        bell.ring()
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(waiting, 5)

    asyncio.run(scenario())


def test_claims_failing_while_the_database_is_away_log_once_not_every_second(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """Each of a model's max_inflight workers retried a failed claim every second with a full traceback: PostgreSQL
    stopped for 13 s made ~80 tracebacks (3,700 log lines). Now: one traceback, then a line a minute, then one
    line when claims work again."""
    monkeypatch.setattr(dispatch, "CLAIM_RETRY_S", 0.01)

    class DatabaseAway:
        failing = True

        async def claim_next(self, *args: object) -> None:
            if self.failing:
                raise ConnectionRefusedError(111, "Connect call failed ('127.0.0.1', 5432)")
            return None

    async def capacity(model: str) -> int | None:
        return None  # unknown: the workers keep max_inflight

    jobs = DatabaseAway()
    specs = build_specs(["esmfold"])
    dispatcher = dispatch.Dispatcher(
        jobs, specs, cast(Inference, SimpleNamespace(capacity=capacity)), cast(ResultStore, None),  # type: ignore[arg-type]
        max_inflight=8,
        retry_window_s=60, max_attempts=3, timeout_s=60, lease=cast(Lease, SimpleNamespace(owner="svc-1")))

    async def scenario() -> None:
        workers = [asyncio.create_task(dispatcher._shared_worker("esmfold")) for _ in range(8)]
        await asyncio.sleep(0.3)  # ~30 failed claims per worker
        jobs.failing = False
        await asyncio.sleep(0.05)
        for worker in workers:
            worker.cancel()
        await asyncio.gather(*workers, return_exceptions=True)

    with caplog.at_level(logging.INFO, logger="jobservice.dispatch"):
        asyncio.run(scenario())
    lines = [r for r in caplog.records if r.name == "jobservice.dispatch"]
    assert [r.getMessage().split(";")[0].split(" after")[0] for r in lines] == ["claim failed", "claims work again"]
    assert lines[0].exc_info is not None  # the first one says why, with its traceback


def test_waits_that_time_out_or_are_cancelled_leave_nothing_in_the_bell() -> None:
    """An idle worker of a shared store waits POLL_S (5 s) at a time. Each wait that timed out left its future in the
    bell until the next ring skipped it: an idle service grew by max_inflight futures per model every 5 s (~140,000
    a day per model) for as long as no job came, memory that only a job gave back."""
    async def scenario() -> None:
        bell = Doorbell()
        for _ in range(200):
            with pytest.raises(TimeoutError):
                await bell.wait(0)
        assert len(bell) == 0
        waiting = asyncio.create_task(bell.wait(30))
        await asyncio.sleep(0)
        assert len(bell) == 1  # a live waiter is held, and a ring still reaches it
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        assert len(bell) == 0
        late = asyncio.create_task(bell.wait(5))
        await asyncio.sleep(0)
        bell.ring()
        await asyncio.wait_for(late, 1)
        assert len(bell) == 0

    asyncio.run(scenario())
