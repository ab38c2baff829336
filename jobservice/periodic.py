"""A background chore that runs now and then every so often until the service stops (purges, sweeps), the
logs whose old rows such a chore purges (the activity log, the webhook delivery log), and the batched delete every
retention purge runs (those two, usage counters, idempotency records).

Why batches: every statement on PostgreSQL is bounded by PHONOS_DATABASE_COMMAND_TIMEOUT_S (15 s). A purge in one
statement that meets months of rows (an operator who upgraded to a release that purges, or raised then lowered a
retention) times out, rolls back and deletes nothing, every run, for ever, holding its row locks and a pooled
connection each time meanwhile. A batch per statement, each its own short transaction, always makes progress,
and other writers wait at most one batch (SQLite's single writer lock too)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable

from jobservice.errors import ServiceUnavailable
from jobservice.store import Params, Store

log = logging.getLogger(__name__)

DAY_S = 86400.0
PURGE_EVERY_S = 3600.0
PURGE_BATCH_ROWS = 5000  # rows per statement: tens of milliseconds on either store, far inside the timeout
# Rows one run deletes at most: a first purge of a huge table goes on at the next run instead of holding a
# connection (and SQLite's writer) in a loop for minutes; 100 batches a run still clears millions a day.
PURGE_MAX_ROWS_PER_RUN = 500_000


async def purge_in_batches(db: Store, query: str, params: Params, *, batch: int = PURGE_BATCH_ROWS,
                           max_rows: int | None = None) -> int:
    """Run the named DELETE `query` (`params` plus `:limit`, which it must honour: a primary-key or rowid
    subselect with LIMIT, as neither store's DELETE takes one) a transaction per `batch` rows until a batch
    falls short or `max_rows` (PURGE_MAX_ROWS_PER_RUN) went; how many rows went.

    Between batches the event loop gets a turn, so the writers queued behind a batch (SQLite's writer lock is
    fair, asyncpg's pool too) go before the next one; a batch that fails raises with the earlier ones kept."""
    cap = PURGE_MAX_ROWS_PER_RUN if max_rows is None else max_rows
    purged = 0
    while purged < cap:
        limit = min(batch, cap - purged)
        async with db.transaction() as tx:
            gone = await tx.execute(query, {**params, "limit": limit})
        purged += gone
        if gone < limit:
            return purged
        await asyncio.sleep(0)
    log.info("%s: %d rows deleted, the most one run deletes; the next run goes on with the rest", query, purged,
             extra={"action": "purge.capped"})
    return purged


class Periodic:
    """Runs `work` at `start()` (or `every_s` after it: `first_now=False`) and then every `every_s` seconds; a
    failed round is logged with `action` and the next one retries (a full disk, the database briefly away), so the
    chore outlives what it meets. An outage (ServiceUnavailable) is one warning line; anything else, a bug, its
    traceback."""

    def __init__(self, name: str, every_s: float, work: Callable[[], Awaitable[object]], action: str, *,
                 first_now: bool = True) -> None:
        self._name = name
        self._every_s = every_s
        self._work = work
        self._action = action
        self._first_now = first_now  # False: the first round comes `every_s` after `start()`
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
        if not self._first_now:
            await asyncio.sleep(self._every_s)
        while True:
            try:
                await self._work()
            except ServiceUnavailable as exc:  # an outage (a full disk, the database away), not a bug: no traceback
                log.warning("%s waits for the database (%s); retrying in %g s", self._name, exc, self._every_s,
                            extra={"action": self._action})
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
        """Run `query` (`:before`, `:limit`) in batches (`purge_in_batches`); how many rows went."""
        return await purge_in_batches(self._db, query, {"before": before}, batch=batch)
