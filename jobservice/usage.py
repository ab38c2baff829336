"""Usage accounting: every authenticated request, REST or gRPC, under its /v1 route.

Events are buffered and written in one transaction per flush interval, so the
request path never waits on SQLite for bookkeeping. A crash can lose at most
one interval of usage events (never jobs or credits, which are written
synchronously with the job).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from jobservice.db import now
from jobservice.store import Store

log = logging.getLogger(__name__)

DAY_S = 86400.0


@dataclass(frozen=True)
class UsageEvent:
    account_id: int
    endpoint: str
    model: str | None
    credits_used: int
    status_code: int  # the gRPC status code of the answer (0 = OK)
    elapsed_ms: float
    transport: str  # "rest" or "grpc"
    created_at: float


@dataclass(frozen=True)
class UsageReport:
    days: int
    start_date: str
    end_date: str
    requests: int
    credits_used: int
    avg_response_time_ms: float
    by_endpoint: list[dict[str, Any]]
    by_model: list[dict[str, Any]]
    daily: list[dict[str, Any]]


class UsageRecorder:
    def __init__(self, db: Store, flush_interval_s: float) -> None:
        self._db = db
        self._interval = flush_interval_s
        self._buffer: list[UsageEvent] = []
        self._task: asyncio.Task[None] | None = None
        self._flush_lock = asyncio.Lock()

    def record(self, event: UsageEvent) -> None:
        self._buffer.append(event)

    async def flush(self) -> None:
        async with self._flush_lock:
            if not self._buffer:
                return
            batch, self._buffer = self._buffer, []
            try:
                async with self._db.transaction() as tx:
                    await tx.execute_many("insert_usage", [e.__dict__ for e in batch])
            except BaseException:
                self._buffer[:0] = batch  # keep them for the next flush
                raise

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="usage-flusher")

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.flush()

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            try:
                await self.flush()
            except Exception:  # keep accounting alive; the next flush retries new events
                log.exception("usage flush failed", extra={"action": "usage.flush_failed"})

    async def report(self, account_id: int, days: int) -> UsageReport:
        await self.flush()
        end = datetime.now(UTC)
        since_dt = (end - timedelta(days=days - 1)).replace(hour=0, minute=0, second=0, microsecond=0)
        params = {"account_id": account_id, "since": since_dt.timestamp()}
        totals = await self._db.read.fetch_one("usage_totals", params)
        by_endpoint = await self._db.read.fetch_all("usage_by_endpoint", params)
        by_model = await self._db.read.fetch_all("usage_by_model", params)
        daily = await self._db.read.fetch_all("usage_daily", params)
        assert totals is not None
        return UsageReport(
            days=days,
            start_date=since_dt.date().isoformat(),
            end_date=end.date().isoformat(),
            requests=int(totals["requests"]),
            credits_used=int(totals["credits_used"]),
            avg_response_time_ms=round(float(totals["avg_ms"]), 2),
            by_endpoint=[dict(r) for r in by_endpoint],
            by_model=[dict(r) for r in by_model],
            daily=[{"date": r["day"], "requests": r["requests"], "credits_used": r["credits_used"]} for r in daily],
        )


def usage_event(
    account_id: int, endpoint: str, *, model: str | None, credits_used: int, status_code: int,
    elapsed_ms: float, transport: str,
) -> UsageEvent:
    return UsageEvent(account_id, endpoint, model, credits_used, status_code, elapsed_ms, transport, now())
