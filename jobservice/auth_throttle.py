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

import hashlib
import ipaddress
import math
import time
from collections import OrderedDict, deque
from collections.abc import Callable

from jobservice.ratelimit import WINDOW_S
from phonos_common.forwarded import peer_ip


def client_address(peer: str | None) -> str:
    """The throttled unit of a client: its IPv4 address, or its IPv6 /64 (one host's usual share).

    Accepts a client address as the edges decide it (phonos_common.forwarded.real_client: "127.0.0.1",
    "2001:db8::7") and a raw peer: aiohttp's `request.remote` and gRPC's `context.peer()`
    ("ipv4:127.0.0.1:5000", "ipv6:[::1]:5000", "ipv6:%5B::1%5D:5000").
    """
    if not peer:
        return "unknown"
    address = peer_ip(peer)
    if address is None:
        return peer[:64]
    if isinstance(address, ipaddress.IPv6Address):
        return str(ipaddress.IPv6Network((int(address) >> 64 << 64, 64)))
    return str(address)


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
