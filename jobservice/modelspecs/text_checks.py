"""Checks of big submitted texts (an AlphaFold2 A3M, a DiffDock receptor) in threads of their own.

These checks are pure Python or long regex scans over user text: a 50 MB A3M took 18 s and a 5 MB receptor of
sequence letters ~0.5-1 s, and on the event loop that froze every call of every user (a 400 costs no credits, so
it could be sent again and again). Two threads of their own, shared by every model spec: big texts queue behind
each other, not behind (or in front of) the other work sent to `asyncio.to_thread`.

At most one of the two per account, its other checks waiting in order (account_lines.py): one client sending several
slow A3Ms (each missing a3m_fast.py's fast path: seconds in the parser) no longer holds both threads.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from jobservice.modelspecs.account_lines import AccountLines

T = TypeVar("T")

TEXT_CHECKS = AccountLines(max_workers=2, name="submission-text-check")


async def off_loop(account: object, check: Callable[..., T], *args: object) -> T:
    """`check(*args)` in `TEXT_CHECKS`, after `account`'s earlier checks (None: no account; all such share one
    line); its exception (an `InvalidArgument`: the 400) is raised here. Cancelled (the submission's deadline, its
    client gone) before it ran, the check is dropped from its account's line."""
    return await TEXT_CHECKS.run(account, check, *args)


def waiting_accounts() -> int:
    """How many accounts have checks in the pool or waiting (0 when none is: no state left behind)."""
    return TEXT_CHECKS.accounts()
