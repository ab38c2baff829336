"""Fair sharing of each model between accounts.

The rule, the same in both dispatch modes:

* An account may have at most `PHONOS_MAX_QUEUED_PER_ACCOUNT` jobs waiting (pending), all models together;
  a submission past it is refused with a 429 "Too many jobs" (`JobStore.submit` counts under a per-account
  lock, in the transaction that inserts the jobs).
* The next free slot of a model goes to the waiting account with the fewest jobs of that model in flight,
  then to the one whose latest job of the model started longest ago (so accounts take turns: round-robin),
  then to that account's oldest job. An account with `PHONOS_MAX_RUNNING_PER_ACCOUNT` jobs of the model in
  flight waits (0: no cap beyond the model's `PHONOS_MAX_INFLIGHT_PER_MODEL` slots).

So one account that floods a model delays another account's job by at most the one slot that frees
next, never by its whole backlog.

Where the rule runs:

* SQLite (one job service owns every job): `FairQueue`, one per model, in memory; it sees every claim.
* PostgreSQL (many job services): the claim query itself (`claim_next_job`, sql/postgres/queries.sql), so
  the counts span every service.
"""

from __future__ import annotations

import asyncio
import bisect
import collections
import itertools
from dataclasses import dataclass

NO_CAP = 2**31 - 1  # PHONOS_MAX_RUNNING_PER_ACCOUNT 0: an account may fill every slot, on every service


@dataclass(frozen=True)
class Turn:
    """A job handed to a worker: give it back with `FairQueue.put_back` or end it with `FairQueue.done`."""

    job_id: str
    account_id: int
    arrival: int  # the order it was queued in (its place if it is put back)


class FairQueue:
    """The pending jobs of one model, per account; `get` hands out the next job by the rule above."""

    def __init__(self, max_running_per_account: int = 0) -> None:
        self._cap = max_running_per_account if max_running_per_account > 0 else NO_CAP
        self._waiting: dict[int, list[tuple[int, str]]] = {}  # account → (arrival, job id), oldest first
        self._accounts: dict[str, int] = {}  # job id → its account, while queued here
        self._running: collections.Counter[int] = collections.Counter()  # account → jobs handed out, not done
        self._served: dict[int, int] = {}  # account → tick of its latest job handed out
        self._ticks = itertools.count(1)
        self._waiters: list[asyncio.Future[None]] = []

    def __contains__(self, job_id: object) -> bool:
        return job_id in self._accounts

    def __len__(self) -> int:
        return len(self._accounts)

    def running(self, account_id: int) -> int:
        return self._running[account_id]

    def put(self, job_id: str, account_id: int) -> None:
        """Queue a pending job once (a duplicate is ignored)."""
        self._insert(job_id, account_id, next(self._ticks))

    def put_back(self, turn: Turn) -> None:
        """A job handed out but not run (the model went away meanwhile): queued again in its old place."""
        self._release(turn.account_id)
        self._insert(turn.job_id, turn.account_id, turn.arrival)

    def done(self, turn: Turn) -> None:
        """The job handed out has ended here (however it ended): its account's slot is free."""
        self._release(turn.account_id)
        self._wake()

    async def get(self) -> Turn:
        """The next job by the rule, waiting until one is eligible."""
        while True:
            account = self._pick()
            if account is not None:
                return self._hand_out(account)
            waiter = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            try:
                await waiter
            finally:
                if waiter in self._waiters:
                    self._waiters.remove(waiter)

    def _pick(self) -> int | None:
        best: tuple[int, int, int] | None = None
        chosen = None
        for account, waiting in self._waiting.items():
            if self._running[account] >= self._cap:
                continue
            key = (self._running[account], self._served.get(account, 0), waiting[0][0])
            if best is None or key < best:
                best, chosen = key, account
        return chosen

    def _hand_out(self, account: int) -> Turn:
        waiting = self._waiting[account]
        arrival, job_id = waiting.pop(0)
        if not waiting:
            del self._waiting[account]
        del self._accounts[job_id]
        self._running[account] += 1
        self._served[account] = next(self._ticks)
        return Turn(job_id, account, arrival)

    def _insert(self, job_id: str, account_id: int, arrival: int) -> None:
        if job_id in self._accounts:
            return
        bisect.insort(self._waiting.setdefault(account_id, []), (arrival, job_id))
        self._accounts[job_id] = account_id
        self._wake()

    def _release(self, account_id: int) -> None:
        self._running[account_id] -= 1
        if self._running[account_id] <= 0:
            del self._running[account_id]

    def _wake(self) -> None:
        # Every idle worker looks again: at most max_inflight of them, and a look is a scan of the accounts.
        for waiter in self._waiters:
            if not waiter.done():
                waiter.set_result(None)
        self._waiters.clear()
