"""Per-key sliding-window rate limiting (requests per rolling minute).

A sliding log is exact: the limit+1-th request within any 60 s is refused,
with no burst at minute boundaries. Two implementations of one port (`RateLimits`):

* `RateLimiter`: in memory, for the one job service that owns a SQLite data directory. Memory is
  bounded by `limit` timestamps per active key.
* `SharedRateLimiter`: the same log in PostgreSQL (`rate_limit_hit`, sql/postgres/migrations), so a key
  allowed 60/min gets 60/min across every job service, not 60 per service. One round trip per request,
  serialised per key by an advisory lock, timed by the database's clock. While the database's disk is full it
  cannot write that count: the request is then counted in this service's own memory (a `RateLimiter`) and goes
  on, so reads keep working as on SQLite (the writes a request makes answer their own 503). Meanwhile a key
  gets its limit per job service, not across them; the in-memory counts are not carried over once space returns.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from jobservice.errors import DatabaseUnavailable, RateLimited
from jobservice.store import DISK_FULL_MESSAGE, Store
from phonos_common.ratelog import RateLimitedLog

log = logging.getLogger(__name__)
_disk_full_log = RateLimitedLog(log, per_minute=1)

WINDOW_S = 60.0


@dataclass(frozen=True)
class RateState:
    limit: int
    remaining: int
    reset_epoch_s: int  # when the oldest counted request leaves the window

    def headers(self) -> list[tuple[str, str]]:
        return [
            ("x-ratelimit-limit", str(self.limit)),
            ("x-ratelimit-remaining", str(self.remaining)),
            ("x-ratelimit-reset", str(self.reset_epoch_s)),
        ]


class RateLimits(Protocol):
    async def check(self, key: str, limit: int) -> RateState:
        """Count one request, or raise RateLimited (the request is then not counted)."""
        ...


def _refused(limit: int, retry_after_s: float, reset_epoch_s: float) -> RateLimited:
    # A counted request leaves the window within WINDOW_S, whatever two clocks a caller compared.
    wait_s = min(WINDOW_S, max(1.0, retry_after_s))
    return RateLimited(f"You have exceeded the rate limit of {limit} requests per minute", limit=limit,
                       retry_after_s=math.ceil(wait_s), reset_epoch_s=math.ceil(reset_epoch_s))


class RateLimiter:
    def __init__(self, clock: Callable[[], float] = time.monotonic, wall: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._wall = wall
        self._hits: dict[str, deque[float]] = {}
        self._swept_at = clock()

    def hit(self, key: str, limit: int) -> RateState:
        """Count one request, or raise RateLimited (the request is then not counted)."""
        now = self._clock()
        if now - self._swept_at >= WINDOW_S:
            self._sweep(now)
        hits = self._hits.setdefault(key, deque())
        while hits and hits[0] <= now - WINDOW_S:
            hits.popleft()
        wall_offset = self._wall() - now
        if len(hits) >= limit:
            raise _refused(limit, hits[0] + WINDOW_S - now, hits[0] + WINDOW_S + wall_offset)
        hits.append(now)
        reset = math.ceil(hits[0] + WINDOW_S + wall_offset)
        return RateState(limit=limit, remaining=limit - len(hits), reset_epoch_s=reset)

    async def check(self, key: str, limit: int) -> RateState:
        return self.hit(key, limit)

    def _sweep(self, now: float) -> None:
        """Forget the keys with no request in the window: one per key, share-link client address (IPv6 /64) and
        session ever seen stayed for good, a table that only grew."""
        self._swept_at = now
        for key in [key for key, hits in self._hits.items() if not hits or hits[-1] <= now - WINDOW_S]:
            del self._hits[key]

    def __len__(self) -> int:
        """Keys counted now (what the sweep bounds)."""
        return len(self._hits)


class SharedRateLimiter:
    """The concurrent requests of one key are taken in one database call (`rate_limit_take`): the first ones
    up to the room left in the window are counted and pass, the rest are refused, exactly as one at a time."""

    # Rows of keys that stopped sending are deleted this often (a key's own rows go on its next request).
    PRUNE_EVERY_S = 60.0

    def __init__(self, store: Store) -> None:
        self._store = store
        self._waiting: dict[tuple[str, int], list[asyncio.Future[RateState]]] = {}
        self._flusher: asyncio.Task[None] | None = None
        self._pruned_at = time.monotonic()
        self._pruning: asyncio.Task[object] | None = None
        self._local = RateLimiter()  # the count while the shared one cannot be written (a full disk)

    async def check(self, key: str, limit: int) -> RateState:
        future: asyncio.Future[RateState] = asyncio.get_running_loop().create_future()
        self._waiting.setdefault((key, limit), []).append(future)
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush(), name="rate-limits")
        return await future

    async def _flush(self) -> None:
        # Requests that arrive while a round is in the database go in the next round.
        while self._waiting:
            batch, self._waiting = self._waiting, {}
            await asyncio.gather(*(self._take(key, limit, futures) for (key, limit), futures in batch.items()))
        self._maybe_prune()

    async def _take(self, key: str, limit: int, futures: list[asyncio.Future[RateState]]) -> None:
        try:
            row = await self._store.write_one("rate_limit_take", {"key_hash": key, "limit": limit,
                                                                  "window_s": WINDOW_S, "wanted": len(futures)})
            assert row is not None
        except DatabaseUnavailable as exc:
            if exc.message != DISK_FULL_MESSAGE:  # the database away: the request could do nothing anyway
                self._fail(futures, exc)
                return
            _disk_full_log.log(logging.WARNING, "ratelimit.disk_full",
                               "rate limits are counted in this service's memory while the database's disk is full")
            for future in futures:
                if future.done():
                    continue
                try:
                    future.set_result(self._local.hit(key, limit))
                except RateLimited as refused:
                    future.set_exception(refused)
            return
        except Exception as exc:
            self._fail(futures, exc)
            return
        granted, counted = int(row["granted"]), int(row["counted"])
        reset = float(row["oldest"]) + WINDOW_S
        for i, future in enumerate(futures):
            if future.done():  # its caller is gone; its request was counted all the same
                continue
            if i < granted:
                future.set_result(RateState(limit, limit - (counted - granted + i + 1), math.ceil(reset)))
            else:
                future.set_exception(_refused(limit, reset - float(row["now_s"]), reset))

    @staticmethod
    def _fail(futures: list[asyncio.Future[RateState]], exc: BaseException) -> None:
        for future in futures:
            if not future.done():
                future.set_exception(exc)

    def _maybe_prune(self) -> None:
        if time.monotonic() - self._pruned_at < self.PRUNE_EVERY_S or (self._pruning and not self._pruning.done()):
            return
        self._pruned_at = time.monotonic()
        self._pruning = asyncio.create_task(self._store.write_one("prune_rate_limits", {"window_s": WINDOW_S}))
        # Housekeeping: a refused prune (the database away, its disk full) is the next one's to do, not an
        # unretrieved task exception in the log.
        self._pruning.add_done_callback(lambda task: task.cancelled() or task.exception())
