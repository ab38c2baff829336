"""A small thread pool for slow submission checks, at most one thread per account, each account's checks in order.

Two kinds of check use it, each with a pool of its own (`text_checks.TEXT_CHECKS`: AlphaFold2's A3M and DiffDock's
receptor; `diffdock._EMBED_CHECKS`: DiffDock's RDKit ligand embedding), so slow ligands never queue the receptor
parsing behind them. Both were separate copies of the same idea (a line per account in one, a dict of in-flight
futures in the other); one copy here means a fix reaches both.

At most one check per account is in the pool: an account's checks wait in a line of their own (first come, first
checked) and only the first is given to the pool, the next once that one has ended. Before, one client sending slow
checks (A3Ms missing a3m_fast.py's fast path, flexible ligands) held every thread, and every other account's
submissions waited behind them (or, for ligands, were accepted undecided). Now another account's check finds another
thread (unless a second account's slow check holds it), and each account's turn goes to the back of the pool's
queue: the accounts with checks take turns.

A submission that stops waiting (its deadline, its client gone, or the check's own budget spent) drops its check
if the check has not started; a check already running runs on in its thread (Python cannot stop a thread; RDKit's
own timeout ends an embedding) and its account's next check waits for that thread, not for the submission.
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")


class _Check:
    """One submission's check: what to run, and its outcome for the submission waiting on it."""

    def __init__(self, check: Callable[..., Any], args: tuple[object, ...]) -> None:
        self.check = check
        self.args = args
        self.outcome: Future[Any] = Future()


class AccountLines:
    """`max_workers` threads named `name`-N; each account's checks in a line of their own, one in the pool at a
    time. Safe to call from any event loop; the pool's threads do the bookkeeping of the lines under a lock."""

    def __init__(self, max_workers: int, name: str) -> None:
        self._pool = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix=name)
        # Each account's checks not yet ended, in the order they came: the first is in the pool (queued or running),
        # the rest wait for it. An account is here only while it has a check: the entry goes with its last one (no
        # state kept per account that ever submitted). Read and changed by event loops and the pool's threads.
        self._lines: dict[object, deque[_Check]] = {}
        self._lock = threading.RLock()  # reentrant: cancelling a check runs `_drop` where the lock may be held

    async def run(self, account: object, check: Callable[..., T], *args: object, budget_s: float | None = None) -> T:
        """`check(*args)` in the pool, after `account`'s earlier checks (None: no account; all such share one
        line); its exception (an `InvalidArgument`: the 400) is raised here.

        `budget_s`: how long to wait for it, from now (its turn in the line included); past it `TimeoutError` is
        raised here and the check is dropped if it has not started, else left to end in its thread. Cancelled (the
        submission's deadline, its client gone), the same."""
        item = _Check(check, args)
        item.outcome.add_done_callback(lambda outcome: self._drop(account, item) if outcome.cancelled() else None)
        with self._lock:
            line = self._lines.setdefault(account, deque())
            line.append(item)
            if len(line) == 1:
                self._start(account)
        # cancelling the wrapper (the budget spent, the submission gone) cancels `outcome` unless it is running
        async with asyncio.timeout(budget_s):
            result: T = await asyncio.wrap_future(item.outcome)
        return result

    def accounts(self) -> int:
        """How many accounts have checks in the pool or waiting (0 when none is: no state left behind)."""
        with self._lock:
            return len(self._lines)

    def checks_of(self, account: object) -> int:
        """How many of `account`'s checks have not ended: the one in the pool and those waiting behind it."""
        with self._lock:
            return len(self._lines.get(account, ()))

    def _start(self, account: object) -> None:
        """The first check in `account`'s line to the pool. Under the lock."""
        line = self._lines[account]
        try:
            self._pool.submit(self._run, account, line[0])
        except RuntimeError:  # the pool shut down (the interpreter is exiting): nobody will run the line
            del self._lines[account]
            for item in line:
                item.outcome.cancel()

    def _run(self, account: object, item: _Check) -> None:
        """In a pool thread: `item`'s check, then its account's next one to the pool (or the account's line gone),
        and only then `item`'s outcome to its submission: whoever it wakes finds the lines as they are after it (was:
        the outcome first, so a submission could see its account still listed for a moment)."""
        ran = False
        value: Any = None
        error: BaseException | None = None
        try:
            if item.outcome.set_running_or_notify_cancel():  # False: its submission stopped waiting before it ran
                ran = True  # running: a Future no longer cancellable, so its outcome can wait for the bookkeeping
                try:
                    value = item.check(*item.args)
                except BaseException as exc:  # the submission's to raise (an InvalidArgument is its 400)
                    error = exc
        finally:
            with self._lock:
                line = self._lines.get(account)
                if line and line[0] is item:
                    line.popleft()
                while line and line[0].outcome.cancelled():
                    line.popleft()
                if line:
                    self._start(account)
                elif line is not None:
                    del self._lines[account]
            if ran:
                # nobody may wait any more (the budget spent): the outcome is set all the same, and dropped
                if error is not None:
                    item.outcome.set_exception(error)
                else:
                    item.outcome.set_result(value)

    def _drop(self, account: object, item: _Check) -> None:
        """A check cancelled while it waited in its account's line leaves it (its text need not be held until its
        turn). The first, already given to the pool, stays: `_run` skips it and starts the next."""
        with self._lock:
            line = self._lines.get(account)
            if line and line[0] is not item and item in line:
                line.remove(item)
