"""The shared-store workers' doorbell: one ring wakes one idle worker, not all of them."""

from __future__ import annotations

import asyncio

import pytest

from jobservice.dispatch import Doorbell

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
