"""Checks of big submitted texts (an AlphaFold2 A3M, a DiffDock receptor) in threads of their own.

These checks are pure Python or long regex scans over user text: a 50 MB A3M took 18 s and a 5 MB receptor of
sequence letters ~0.5-1 s, and on the event loop that froze every call of every user (a 400 costs no credits, so
it could be sent again and again). Two threads of their own, shared by every model spec: big texts queue behind
each other, not behind (or in front of) the other work sent to `asyncio.to_thread`.

At most one of the two per account: an account's checks wait in a line of its own (first come, first checked) and
only its first is given to the pool, the next once that one has ended. Before, one client sending several slow A3Ms
(each missing a3m_fast.py's fast path: seconds in the parser) held both threads, and every other account's
submissions waited behind them. Now another account's check finds the other thread (unless a second account's slow
check holds it), and each account's turn goes to the back of the pool's queue: the accounts with checks take turns.
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")

TEXT_CHECKS = ThreadPoolExecutor(max_workers=2, thread_name_prefix="submission-text-check")


class _Check:
    """One submission's check: what to run, and its outcome for the submission waiting on it."""

    def __init__(self, check: Callable[..., Any], args: tuple[object, ...]) -> None:
        self.check = check
        self.args = args
        self.outcome: Future[Any] = Future()


# Each account's checks not yet ended, in the order they came: the first is in TEXT_CHECKS (queued or running), the
# rest wait for it. An account is here only while it has a check: the entry goes with its last one (no state kept
# per account that ever submitted). Read and changed by the event loop and by the pool's threads: under the lock.
_LINES: dict[object, deque[_Check]] = {}
_LINES_LOCK = threading.RLock()  # reentrant: cancelling a check runs `_drop` where the lock may be held


async def off_loop(account: object, check: Callable[..., T], *args: object) -> T:
    """`check(*args)` in `TEXT_CHECKS`, after `account`'s earlier checks (None: no account; all such share one
    line); its exception (an `InvalidArgument`: the 400) is raised here. Cancelled (the submission's deadline, its
    client gone) before it ran, the check is dropped from its account's line."""
    item = _Check(check, args)
    item.outcome.add_done_callback(lambda outcome: _drop(account, item) if outcome.cancelled() else None)
    with _LINES_LOCK:
        line = _LINES.setdefault(account, deque())
        line.append(item)
        if len(line) == 1:
            _start(account)
    result: T = await asyncio.wrap_future(item.outcome)
    return result


def _start(account: object) -> None:
    """The first check in `account`'s line to the pool. Under the lock."""
    line = _LINES[account]
    try:
        TEXT_CHECKS.submit(_run, account, line[0])
    except RuntimeError:  # the pool shut down (the interpreter is exiting): nobody will run the line
        del _LINES[account]
        for item in line:
            item.outcome.cancel()


def _run(account: object, item: _Check) -> None:
    """In a pool thread: `item`'s check, then its account's next one to the pool (or the account's line gone), and
    only then `item`'s outcome to its submission: whoever it wakes finds the lines as they are after it (was: the
    outcome first, so a submission could see its account still listed for a moment)."""
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
        with _LINES_LOCK:
            line = _LINES.get(account)
            if line and line[0] is item:
                line.popleft()
            while line and line[0].outcome.cancelled():
                line.popleft()
            if line:
                _start(account)
            elif line is not None:
                del _LINES[account]
        if ran:
            if error is not None:
                item.outcome.set_exception(error)
            else:
                item.outcome.set_result(value)


def _drop(account: object, item: _Check) -> None:
    """A check cancelled while it waited in its account's line leaves it (its text need not be held until its turn).
    The first, already given to the pool, stays: `_run` skips it and starts the next."""
    with _LINES_LOCK:
        line = _LINES.get(account)
        if line and line[0] is not item and item in line:
            line.remove(item)


def waiting_accounts() -> int:
    """How many accounts have checks in the pool or waiting (0 when none is: no state left behind)."""
    with _LINES_LOCK:
        return len(_LINES)
