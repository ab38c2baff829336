"""Waiting with a time limit without ever swallowing the caller's cancellation.

`asyncio.wait_for` runs the awaited work in a task of its own, and on Python 3.11 a cancel of the caller
that lands in the loop iteration where that task finishes returns the task's result instead of raising
`CancelledError` (3.12 rebuilt wait_for on `asyncio.timeout`): a caller that cancels `AsyncClient.wait`
as the job completes would carry on as if nothing happened. `asyncio.timeout` keeps the work in the
caller's own task, so a cancel is never lost. Python 3.10 (the client supports it) has no
`asyncio.timeout`: there the work runs in a task the caller waits for with `asyncio.wait`, and any
cancellation of the caller propagates, whether or not the work finished in the same iteration.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")
HAS_TIMEOUT_SCOPE = sys.version_info >= (3, 11)  # asyncio.timeout; tests switch it off to run the fallback


class Expired(Exception):
    """The time given ran out (the work was cancelled)."""


async def within(work: Coroutine[Any, Any, T], seconds: float | None) -> T:
    """`await work`, or `Expired` once `seconds` have passed (None: no limit)."""
    if seconds is None:
        return await work
    if HAS_TIMEOUT_SCOPE and sys.version_info >= (3, 11):
        scope = asyncio.timeout(seconds)
        try:
            async with scope:
                return await work
        except TimeoutError:
            if scope.expired():
                raise Expired from None
            raise  # the work's own TimeoutError
    return await _in_a_task(work, seconds)


async def _in_a_task(work: Coroutine[Any, Any, T], seconds: float) -> T:
    task = asyncio.ensure_future(work)
    try:
        done, _ = await asyncio.wait({task}, timeout=seconds)
    except asyncio.CancelledError:  # the caller was cancelled: so is the work, finished or not
        await _stop(task)
        raise
    if task in done:
        return task.result()
    await _stop(task)
    raise Expired


async def _stop(task: asyncio.Future[Any]) -> None:
    """Cancels `task` and waits for it to end; how it ended no longer matters (nothing left unretrieved)."""
    task.cancel()
    await asyncio.wait({task})
    if not task.cancelled():
        task.exception()
