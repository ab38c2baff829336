"""Failed dashboard sign-ins, counted in the store: per username and per client address, in the rolling minute.

The counters lived in each job service's memory: behind a load balancer over one PostgreSQL, N job services let
a password sprayer make N times the limited attempts, and a restart forgot every counter. Here every failure is a
row of `sign_in_failures` (sql/migrations/0072, sql/postgres/migrations/0022), so each job service reading the
same database sees the same failures, and a restarted one still sees them.

The limits are the sliding log `AuthThrottle` kept in memory, exact: a key that failed `limit` times in the last
`WINDOW_S` is refused until the oldest of those `limit` failures leaves the window. One statement reads both keys
of a sign-in (a range of the primary key each), before any account lookup or password hash; one statement writes
a failure's rows. An attempt holds its keys from that read until its failure is counted (`SignInFailures.attempt`):
the read came before the Argon2 verification and the count after it, so guesses sent all at once each passed the
read before the first was counted (24 parallel wrong passwords were 24 guesses where the limit is 10). In one job
service the attempts of a key now take turns; across N job services of one database at most N run at once, so a
limit can be overshot by N - 1, never by what a client can send together. Keys are SHA-256 digests of a scope and the value, so the table never holds what a person typed
as a username (sometimes their password) nor an address. Rows older than the window are deleted by `purge`,
hourly, in batches (the chore and batching every purge here uses, jobservice/periodic.py); a failed attempt
costs an Argon2 verification, which bounds how many rows an hour can leave.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import math
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from jobservice.db import now
from jobservice.periodic import PURGE_BATCH_ROWS, PURGE_EVERY_S, Periodic, purge_in_batches
from jobservice.ratelimit import WINDOW_S
from jobservice.store import Store

ADDRESS = "address"
USERNAME = "username"


def throttle_key(scope: str, value: str) -> str:
    """The stored name of a throttled key: never the username or address itself."""
    return hashlib.sha256(f"phonos-sign-in-v1\0{scope}\0{value}".encode("utf-8", "surrogateescape")).hexdigest()


@dataclass(frozen=True)
class Refusal:
    scope: str  # ADDRESS or USERNAME: which limit the attempt met
    limit: int  # failures a minute that key may make
    retry_after_s: int  # whole seconds, at least 1


class KeyedTurns:
    """One holder at a time per key, in this process; a key's lock exists only while it is held or awaited."""

    def __init__(self) -> None:
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}

    @contextlib.asynccontextmanager
    async def hold(self, *keys: str) -> AsyncIterator[None]:
        """Hold every key of `keys`, taken in one order (sorted) whoever asks, so two holders never deadlock."""
        registered: list[tuple[str, asyncio.Lock]] = []
        acquired: list[asyncio.Lock] = []
        try:
            for key in sorted(set(keys)):
                lock, users = self._locks.get(key) or (asyncio.Lock(), 0)
                self._locks[key] = (lock, users + 1)
                registered.append((key, lock))
                await lock.acquire()
                acquired.append(lock)
            yield
        finally:
            for lock in acquired:
                lock.release()
            for key, lock in registered:
                users = self._locks[key][1]
                if users <= 1:
                    del self._locks[key]
                else:
                    self._locks[key] = (lock, users - 1)


class SignInFailures:
    """The store's failed sign-ins: `attempt` around an attempt, in it `refusal` before the password is checked
    and `failed` after a wrong one."""

    def __init__(self, db: Store, *, per_username: int, per_address: int, clock: Callable[[], float] = now) -> None:
        self._db = db
        self._per_username = per_username
        self._per_address = per_address
        self._clock = clock  # wall-clock seconds, as every timestamp in the database (several hosts compare them)
        self._turns = KeyedTurns()
        self._purger = Periodic("sign-in-throttle-purge", PURGE_EVERY_S, self.purge, "sessions.throttle_purge_failed")

    @property
    def per_username(self) -> int:
        return self._per_username

    @property
    def per_address(self) -> int:
        return self._per_address

    def attempt(self, username: str, address: str | None) -> contextlib.AbstractAsyncContextManager[None]:
        """Held from an attempt's `refusal` until its `failed` (or its success): the attempts of one username, and
        those of one address, take turns in this job service, so each reads the failures of those before it."""
        keys = [throttle_key(USERNAME, username)]
        if address is not None:
            keys.append(throttle_key(ADDRESS, address))
        return self._turns.hold(*keys)

    async def refusal(self, username: str, address: str | None) -> Refusal | None:
        """Whether an attempt for `username` (lower-cased by the caller) from `address` (None: not limited per
        address, as a signed-in person's password change) must be refused now; the address's limit first."""
        stamp = self._clock()
        row = await self._db.read.fetch_one("sign_in_failures_at_limit", {
            "address_key": None if address is None else throttle_key(ADDRESS, address),
            "username_key": throttle_key(USERNAME, username), "since": stamp - WINDOW_S,
            "address_limit": self._per_address, "username_limit": self._per_username,
        })
        for scope, column, limit in ((ADDRESS, "address_at", self._per_address),
                                     (USERNAME, "username_at", self._per_username)):
            if row is not None and row[column] is not None:
                return Refusal(scope, limit, max(1, math.ceil(float(row[column]) + WINDOW_S - stamp)))
        return None

    async def failed(self, username: str, address: str | None) -> None:
        """Count one failure of `username` and (unless None) of `address`, in one statement."""
        await self._db.write_one("record_sign_in_failure", {
            "username_key": throttle_key(USERNAME, username),
            "address_key": None if address is None else throttle_key(ADDRESS, address), "now": self._clock(),
        })

    # -- retention --------------------------------------------------------------------------------

    def start(self) -> None:
        self._purger.start()

    async def stop(self) -> None:
        await self._purger.stop()

    async def purge(self) -> int:
        return await purge_sign_in_failures(self._db, self._clock() - WINDOW_S)


async def purge_sign_in_failures(db: Store, before: float, batch: int = PURGE_BATCH_ROWS) -> int:
    """Delete the failures at or before `before` (out of every window), `batch` rows per transaction (an hour of a
    spray across many addresses is tens of thousands: one statement held SQLite's write lock for a second); how
    many went."""
    return await purge_in_batches(db, "purge_sign_in_failures", {"before": before}, batch=batch)
