"""A background chore that runs now and then every so often until the service stops (purges, sweeps)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)


class Periodic:
    """Runs `work` at `start()` and then every `every_s` seconds; a failed round is logged with `action` and
    the next one retries (a full disk, the database briefly away), so the chore outlives what it meets."""

    def __init__(self, name: str, every_s: float, work: Callable[[], Awaitable[object]], action: str) -> None:
        self._name = name
        self._every_s = every_s
        self._work = work
        self._action = action
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._forever(), name=self._name)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _forever(self) -> None:
        while True:
            try:
                await self._work()
            except Exception:
                log.exception("%s failed; retrying in %g s", self._name, self._every_s, extra={"action": self._action})
            await asyncio.sleep(self._every_s)
