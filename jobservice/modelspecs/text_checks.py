"""Checks of big submitted texts (an AlphaFold2 A3M, a DiffDock receptor) in threads of their own.

These checks are pure Python or long regex scans over user text: a 50 MB A3M took 18 s and a 5 MB receptor of
sequence letters ~0.5-1 s, and on the event loop that froze every call of every user (a 400 costs no credits, so
it could be sent again and again). Two threads of their own, shared by every model spec: big texts queue behind
each other, not behind (or in front of) the other work sent to `asyncio.to_thread`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")

TEXT_CHECKS = ThreadPoolExecutor(max_workers=2, thread_name_prefix="submission-text-check")


async def off_loop(check: Callable[..., T], *args: object) -> T:
    """`check(*args)` in `TEXT_CHECKS`; its exception (an `InvalidArgument`: the 400) is raised here."""
    return await asyncio.get_running_loop().run_in_executor(TEXT_CHECKS, check, *args)
