"""Async iterators read through a task per item (`asyncio.ensure_future(anext(...))`), so that waiting for the next
item alongside something else (a revoke, a keep-alive timer) never cancels the source in the middle of an item."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any


async def abandon(upcoming: asyncio.Future[Any] | None, iterator: AsyncIterator[Any]) -> None:
    """Close `iterator`, whose next item `upcoming` (its task, or None) nobody will take: the task is cancelled (or
    its item or error dropped), then the iterator closed, so that its own `finally` runs now."""
    if upcoming is not None:
        upcoming.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await upcoming
    close = getattr(iterator, "aclose", None)
    if close is not None:
        await close()
