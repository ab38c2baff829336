"""Per-key sliding-window rate limiting (requests per rolling minute).

A sliding log is exact: the limit+1-th request within any 60 s is refused,
with no burst at minute boundaries. Memory is bounded by `limit` timestamps
per active key. Limits are per process, which is right for the one job
service that owns a data directory.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from jobservice.errors import RateLimited

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


class RateLimiter:
    def __init__(self, clock: Callable[[], float] = time.monotonic, wall: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._wall = wall
        self._hits: dict[str, deque[float]] = {}

    def hit(self, key: str, limit: int) -> RateState:
        """Count one request, or raise RateLimited (the request is then not counted)."""
        now = self._clock()
        hits = self._hits.setdefault(key, deque())
        while hits and hits[0] <= now - WINDOW_S:
            hits.popleft()
        wall_offset = self._wall() - now
        if len(hits) >= limit:
            retry_after = max(1, math.ceil(hits[0] + WINDOW_S - now))
            reset = math.ceil(hits[0] + WINDOW_S + wall_offset)
            raise RateLimited(
                f"You have exceeded the rate limit of {limit} requests per minute",
                limit=limit,
                retry_after_s=retry_after,
                reset_epoch_s=reset,
            )
        hits.append(now)
        reset = math.ceil(hits[0] + WINDOW_S + wall_offset)
        return RateState(limit=limit, remaining=limit - len(hits), reset_epoch_s=reset)
