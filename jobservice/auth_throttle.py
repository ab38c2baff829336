"""Throttling of failed authentication per client address.

Keys are 256-bit random, so guessing is hopeless; the throttle is against the cost of a flood of
bad keys (each one a database lookup) and against noisy misconfigured clients. An address that
failed `failures_per_minute` times in the rolling minute is refused (429 / RESOURCE_EXHAUSTED)
without its key being looked up, until its oldest counted failure leaves the window. A request
whose `Authorization` value worked recently is still let through, so one bad client behind a NAT
does not lock out the good ones sharing its address.

Memory is bounded: at most `max_addresses` addresses (least recently failed dropped first), each
with at most `failures_per_minute` timestamps, and at most `max_trusted` remembered credentials
(stored as SHA-256 digests, never in plain).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import math
import time
from collections import OrderedDict, deque
from collections.abc import AsyncIterator, Callable

from jobservice.ratelimit import WINDOW_S


class AuthThrottle:
    def __init__(self, failures_per_minute: int, *, max_addresses: int = 65536, max_trusted: int = 65536,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._limit = failures_per_minute
        self._max_addresses = max_addresses
        self._max_trusted = max_trusted
        self._clock = clock
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()
        self._trusted: OrderedDict[bytes, None] = OrderedDict()

    @property
    def limit(self) -> int:
        """Failures in the rolling minute after which an address is refused."""
        return self._limit

    def retry_after(self, address: str) -> int | None:
        """Seconds until `address` may try a key again; None when it may now."""
        failures = self._failures.get(address)
        if failures is None:
            return None
        now = self._clock()
        while failures and failures[0] <= now - WINDOW_S:
            failures.popleft()
        if not failures:
            del self._failures[address]
            return None
        if len(failures) < self._limit:
            return None
        return max(1, math.ceil(failures[0] + WINDOW_S - now))

    def recent_failures(self, address: str) -> int:
        """Failures of `address` counted in the rolling minute (after `retry_after` dropped the old ones)."""
        failures = self._failures.get(address)
        return 0 if failures is None else len(failures)

    def failed(self, address: str) -> None:
        failures = self._failures.get(address)
        if failures is None:
            failures = self._failures[address] = deque(maxlen=self._limit)
            if len(self._failures) > self._max_addresses:
                self._failures.popitem(last=False)
        else:
            self._failures.move_to_end(address)
        failures.append(self._clock())

    def succeeded(self, authorization: str) -> None:
        digest = _digest(authorization)
        self._trusted[digest] = None
        self._trusted.move_to_end(digest)
        if len(self._trusted) > self._max_trusted:
            self._trusted.popitem(last=False)

    def trusted(self, authorization: str | None) -> bool:
        return authorization is not None and _digest(authorization) in self._trusted


def _digest(authorization: str) -> bytes:
    return hashlib.sha256(authorization.encode("utf-8", "surrogateescape")).digest()


class LookupsInFlight:
    """The key lookups of each address under way at once, at most the failures it has left in the minute.

    The throttle checks, looks the key up, then counts a failure: N bad keys sent together each passed the check
    before the first was counted. Serialising an address's lookups (one at a time) closed that, but stalled every
    client behind one address (a NAT, a separate gateway without trusted proxies) behind one slow lookup, e.g. in a
    database failover. Here an address may have as many lookups under way as it has failures left, and a lookup past
    that waits for one to end: every lookup under way may fail, so the limit holds, and good keys run in parallel.
    """

    def __init__(self, throttle: AuthThrottle) -> None:
        self._throttle = throttle
        self._under_way: dict[str, int] = {}  # address -> lookups under way (no entry when none)
        self._ended = asyncio.Condition()

    @contextlib.asynccontextmanager
    async def slot(self, address: str) -> AsyncIterator[int | None]:
        """Yields None once a lookup of `address` may run (counted under way until the block ends), or the seconds
        to wait when the address is throttled (no lookup: refuse it)."""
        async with self._ended:
            while True:
                wait_s = self._throttle.retry_after(address)
                if wait_s is not None:
                    break
                if self._throttle.recent_failures(address) + self._under_way.get(address, 0) < self._throttle.limit:
                    self._under_way[address] = self._under_way.get(address, 0) + 1
                    break
                await self._ended.wait()
        if wait_s is not None:
            yield wait_s
            return
        try:
            yield None
        finally:
            async with self._ended:
                left = self._under_way[address] - 1
                if left:
                    self._under_way[address] = left
                else:
                    del self._under_way[address]
                self._ended.notify_all()

