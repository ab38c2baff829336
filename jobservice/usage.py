"""Usage accounting: every authenticated request, REST or gRPC, under its /v1 route.

Requests are counted, not logged: per account, UTC hour, route, model, status and transport one
row holds the request count, credits and summed response time (`usage_hourly`). A flood of
requests (a client hammering past its rate limit gets a 429 each time, and each is counted) adds
no rows beyond that, and rows older than the retention period are deleted every hour, in batches
(jobservice/periodic.py purge_in_batches). Reports are by day, so nothing they show is lost.

Events are merged in memory and written in one transaction per flush interval, so the request
path never waits on SQLite for bookkeeping. A crash can lose at most one interval of usage (never
jobs or credits, which are written synchronously with the job).

Credits are net of refunds: a refunded job (a pending job cancelled, a refunded failure, jobs failed by an
outage or after their last attempt) gives its credits back through the `jobs_refund` trigger, which in the
same statement adds `-refund` to the counter of the refund's UTC hour, the route that submitted the job
(`jobs.endpoint`: /v1/predict or /v1/batch) and its model, under the transport 'refund'. No
request uses that transport, so those counters never merge with a request's; they hold 0 requests and
0 ms, so request counts and the average response time are the requests' alone. Being written with the
refund, they are never lost to a crash, and usage agrees with the balance and the jobs' credits_used.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from jobservice.db import now
from jobservice.errors import ServiceUnavailable
from jobservice.periodic import PURGE_BATCH_ROWS, purge_in_batches
from jobservice.store import Store
from phonos_common.ratelog import RateLimitedLog

log = logging.getLogger(__name__)

DAY_S = 86400.0
HOUR_S = 3600
RETENTION_SWEEP_S = 3600.0
PURGE_BATCH = PURGE_BATCH_ROWS
# A stop's last flush, refused by an outage, is tried again this long (backoff from 0.1 s, at most 1 s apart):
# within a container's stop timeout (10 s) with room for the rest of the stop.
STOP_GRACE_S = 5.0
STOP_RETRY_FIRST_S = 0.1
STOP_RETRY_MAX_S = 1.0

# (account_id, hour, endpoint, model, status_code, transport) -> [requests, credits_used, elapsed_ms]
Bucket = tuple[int, int, str, str, int, str]


@dataclass(frozen=True)
class UsageEvent:
    account_id: int
    key_id: str | None  # the API key's public id; None for a dashboard session
    endpoint: str
    model: str | None
    credits_used: int
    status_code: int  # the gRPC status code of the answer (0 = OK)
    elapsed_ms: float
    transport: str  # "rest", "grpc" or "dashboard" (a signed-in browser); never 'refund' (the SQL's)
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
    def __init__(self, db: Store, flush_interval_s: float, retention_days: int = 90) -> None:
        self._db = db
        self._interval = flush_interval_s
        self._retention_s = retention_days * DAY_S
        self._buffer: dict[Bucket, list[float]] = {}
        self._keys_used: dict[str, float] = {}  # API key id -> newest request time, since the last flush
        self._task: asyncio.Task[None] | None = None
        self._flush_lock = asyncio.Lock()
        # One line a minute while flushes keep failing (a database outage failed every round, 2 a second, each
        # with a traceback); the buffer keeps the counts, so nothing is lost meanwhile.
        self._failure_log = RateLimitedLog(log, per_minute=1)

    def record(self, event: UsageEvent) -> None:
        if event.key_id is not None:
            self._keys_used[event.key_id] = max(event.created_at, self._keys_used.get(event.key_id, 0.0))
        key = (event.account_id, int(event.created_at // HOUR_S) * HOUR_S, event.endpoint, event.model or "",
               event.status_code, event.transport)
        counts = self._buffer.get(key)
        if counts is None:
            self._buffer[key] = [1, event.credits_used, event.elapsed_ms]
        else:
            counts[0] += 1
            counts[1] += event.credits_used
            counts[2] += event.elapsed_ms

    async def flush(self) -> None:
        async with self._flush_lock:
            if not self._buffer and not self._keys_used:
                return
            batch, self._buffer = self._buffer, {}
            keys_used, self._keys_used = self._keys_used, {}
            rows = [
                {"account_id": k[0], "hour": k[1], "endpoint": k[2], "model": k[3], "status_code": k[4],
                 "transport": k[5], "requests": int(v[0]), "credits_used": int(v[1]), "elapsed_ms": v[2]}
                for k, v in batch.items()
            ]
            try:
                async with self._db.transaction() as tx:
                    await tx.execute_many("add_usage", rows)
                    await tx.execute_many("mark_keys_used", [{"key_id": k, "last_used_at": t}
                                                             for k, t in keys_used.items()])
            except BaseException:
                for key, counts in batch.items():  # keep them for the next flush
                    merged = self._buffer.setdefault(key, [0, 0, 0.0])
                    for i, value in enumerate(counts):
                        merged[i] += value
                for key_id, used_at in keys_used.items():
                    self._keys_used[key_id] = max(used_at, self._keys_used.get(key_id, 0.0))
                raise

    async def delete_expired(self) -> int:
        """Drop the hours that are past the retention period, a batch per transaction; how many rows went."""
        before = int((now() - self._retention_s) // HOUR_S) * HOUR_S
        return await purge_in_batches(self._db, "delete_usage_before", {"before": before}, batch=PURGE_BATCH)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="usage-flusher")

    async def stop(self, grace_s: float = STOP_GRACE_S) -> None:
        """Stop flushing, after a last flush. One the database refuses (a full disk, PostgreSQL restarting) is
        tried again with a short backoff within `grace_s`: space may come back, the server may return, and a
        single try lost every counter held since the disk filled. What still cannot be written is said and
        lost; the stop goes on regardless (it closes the database and releases the data directory's lock,
        which a raise here skipped)."""
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        loop = asyncio.get_running_loop()
        grace_ends = loop.time() + grace_s
        delay = STOP_RETRY_FIRST_S
        while True:
            try:
                await self.flush()
                return
            except ServiceUnavailable as exc:  # an outage: it may pass within the grace
                left_s = grace_ends - loop.time()
                if left_s <= 0:
                    error: Exception = exc
                    break
                if delay == STOP_RETRY_FIRST_S:  # said once, not at every try
                    log.warning("the last usage flush failed (%s): %d usage counters held; trying again for up to "
                                "%.1f s", exc, len(self._buffer), left_s, extra={"action": "usage.flush_retry_at_stop"})
                await asyncio.sleep(min(delay, left_s))
                delay = min(delay * 2, STOP_RETRY_MAX_S)
            except Exception as exc:  # not an outage: trying again would not help
                error = exc
                break
        log.error("the last usage flush failed (%s): %d usage counters not written are lost", error,
                  len(self._buffer), extra={"action": "usage.flush_lost"})

    async def _run(self) -> None:
        next_sweep = 0.0
        while True:
            # The sweep and the flush fail apart: a sweep that failed (it was retried every round, before the
            # flush) kept the counts from being written for as long as it kept failing.
            try:
                if now() >= next_sweep:
                    await self.delete_expired()
                    next_sweep = now() + RETENTION_SWEEP_S
            except Exception as exc:  # the next round retries
                self._log_failure(exc, "usage.purge_failed", "deleting expired usage counters failed (%s); "
                                  "the next round retries")
            try:
                await self.flush()
            except Exception as exc:  # keep accounting alive; the next round retries
                self._log_failure(exc, "usage.flush_failed",
                                  "usage flush failed (%s); the counts are kept for the next round")
            await asyncio.sleep(self._interval)

    def _log_failure(self, exc: Exception, action: str, message: str) -> None:
        outage = isinstance(exc, ServiceUnavailable)  # said once a minute, without a traceback
        self._failure_log.log(logging.WARNING if outage else logging.ERROR, action, message, type(exc).__name__,
                              exc_info=None if outage else exc)

    async def report(self, account_id: int, days: int) -> UsageReport:
        """The stored counters, the latest flushed first. A flush that fails (a full disk, the database away for
        writes) does not fail the report: it is a read, answered from what is stored; the unflushed counts stay
        in memory for the next round."""
        try:
            await self.flush()
        except ServiceUnavailable as exc:
            self._log_failure(exc, "usage.flush_failed",
                              "usage flush failed (%s); the report shows the counts stored so far")
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
    account_id: int, endpoint: str, *, key_id: str | None, model: str | None, credits_used: int, status_code: int,
    elapsed_ms: float, transport: str,
) -> UsageEvent:
    return UsageEvent(account_id, key_id, endpoint, model, credits_used, status_code, elapsed_ms, transport, now())
