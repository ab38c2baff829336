"""A background chore that runs now and then every so often until the service stops (purges, sweeps), and the
logs whose old rows such a chore purges (the activity log, the webhook delivery log)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable

from jobservice.store import Store

log = logging.getLogger(__name__)

DAY_S = 86400.0
PURGE_EVERY_S = 3600.0


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


class PurgedLog(ABC):
    """A log that keeps its rows `log_days` (0: for ever): `purge` deletes older ones, at `start()` and then
    hourly until `stop()`."""

    def __init__(self, db: Store, *, log_days: float, name: str, action: str) -> None:
        self._db = db
        self._log_s = log_days * DAY_S
        self._purger = Periodic(name, PURGE_EVERY_S, self.purge, action)

    def start(self) -> None:
        if self._log_s > 0:
            self._purger.start()

    async def stop(self) -> None:
        await self._purger.stop()

    @abstractmethod
    async def purge(self) -> int:
        """Delete the rows older than the retention; how many went."""

    async def _purge_batches(self, query: str, before: float, batch: int) -> int:
        """Run `query` (`:before`, `:limit`), a transaction per `batch` rows, so other writers wait at most one
        batch, until a batch falls short; how many rows went."""
        purged = 0
        while True:
            async with self._db.transaction() as tx:
                gone = await tx.execute(query, {"before": before, "limit": batch})
            purged += gone
            if gone < batch:
                return purged
