"""How many of a model's jobs dispatch keeps in flight: at most `max_inflight`, and never more than the model
server computes at once (`Inference.capacity`: its instances times the batch each takes).

Sending more did not make anything faster: a job beyond the server's capacity waited in Triton's queue while the
API said `running` (with `started_at` set and no place in the queue to show), and it had left the fair queue
(jobservice/fairness.py) ahead of other accounts' jobs. AlphaFold2 and DiffDock (one instance, no batching) had 8
such jobs "running" where one computed. Kept in the job service, a job that waits says `pending` and its place.
"""

from __future__ import annotations

import asyncio
import collections
import time
from collections.abc import Awaitable, Callable
from types import TracebackType

REFRESH_S = 60.0  # how often a model's capacity is asked again (a Triton restarted with another config)


class Slots:
    """A semaphore whose size can change: lowering it lets the holders finish, then admits no more than it."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._used = 0
        self._waiting: collections.deque[asyncio.Future[None]] = collections.deque()

    @property
    def limit(self) -> int:
        return self._limit

    @property
    def used(self) -> int:
        return self._used

    def resize(self, limit: int) -> None:
        self._limit = max(1, limit)
        self._wake()

    async def __aenter__(self) -> None:
        while self._used >= self._limit:
            waiter = asyncio.get_running_loop().create_future()
            self._waiting.append(waiter)
            try:
                await waiter
            except asyncio.CancelledError:
                if waiter.done() and not waiter.cancelled():
                    self._wake()  # woken and cancelled at once: hand the turn on
                raise
        self._used += 1

    async def __aexit__(self, kind: type[BaseException] | None, error: BaseException | None,
                        traceback: TracebackType | None) -> None:
        self._used -= 1
        self._wake()

    def _wake(self) -> None:
        free = self._limit - self._used
        while free > 0 and self._waiting:
            waiter = self._waiting.popleft()
            if not waiter.done():
                waiter.set_result(None)
                free -= 1


class ModelCapacity:
    """One model's slots, sized from the model server when first needed and every REFRESH_S after.

    Until the server has said (it is still loading its models at start), one job at a time: workers take their
    slot before they wait for work, so a size of `max_inflight` assumed at start let eight idle workers hold
    eight slots and send the first burst of AlphaFold2 jobs to Triton all at once. A worker that has work asks
    again (`sized`) before running it, so the size is learned with the first job and the others are let in."""

    def __init__(self, max_inflight: int, ask: Callable[[], Awaitable[int | None]]) -> None:
        self.max_inflight = max_inflight
        self.slots = Slots(1)
        self._ask = ask
        self._asked_at: float | None = None
        self._asking = asyncio.Lock()

    async def sized(self) -> Slots:
        """The slots, asked for the server's capacity first when that is unknown or old (one asks for all)."""
        if self._stale():
            async with self._asking:
                if self._stale():
                    found = await self._ask()
                    if found is not None:  # unknown (the server away): keep what was known
                        self.slots.resize(min(self.max_inflight, found))
                        self._asked_at = time.monotonic()
        return self.slots

    def _stale(self) -> bool:
        return self._asked_at is None or time.monotonic() - self._asked_at >= REFRESH_S
