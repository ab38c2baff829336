"""Open watch streams end when the key or dashboard session that opened them stops being valid.

A watch stream is authorised once, when it opens, and may then stay open for an hour (PHONOS_WATCH_MAX_STREAM_S).
Without a guard, a key revoked or expired after that, or a session signed out, kept receiving the account's job
events until the stream's own time limit. Rechecking each stream would cost a read per stream per period (the
watch hub is built so that idle watchers read nothing), so one task checks every credential that holds a stream
open in two queries per period (`live_keys`, `live_sessions`), at the hub's own cadence (PHONOS_WATCH_POLL_S),
and ends the streams of those gone with the refusal a new request would get.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Iterator
from typing import TypeVar

from jobservice.db import now
from jobservice.errors import PhonosError, ServiceUnavailable, Unauthenticated
from jobservice.key_policy import KeyExpired, is_expired
from jobservice.periodic import Periodic
from jobservice.store import Store
from phonos_common.ratelog import RateLimitedLog

log = logging.getLogger(__name__)

T = TypeVar("T")
SESSION_PREFIX = "session:"  # a dashboard session's principal key_hash (jobservice/auth.py)
REVOKED_KEY = ("This API key was revoked while the stream was open. Create a new key (the dashboard's API keys page "
               "or POST /v1/keys) and open the stream again.")
ENDED_SESSION = "Your dashboard session has ended (signed out or expired). Sign in again."


class StreamHold:
    """One open stream's claim on its credential: `ended` is set, with `reason`, when the credential goes."""

    def __init__(self) -> None:
        self.ended = asyncio.Event()
        self.reason: PhonosError | None = None

    def end(self, reason: PhonosError) -> None:
        self.reason = reason
        self.ended.set()


class StreamGuard:
    def __init__(self, db: Store, *, every_s: float) -> None:
        self._db = db
        self._holds: dict[str, set[StreamHold]] = collections.defaultdict(set)
        self._checker = Periodic("stream-guard", every_s, self._round, "watch.guard_failed")
        # The database away fails every round: said once a minute, and the streams go on meanwhile.
        self._outage_log = RateLimitedLog(log, per_minute=1)

    def start(self) -> None:
        self._checker.start()

    async def close(self) -> None:
        await self._checker.stop()

    @contextlib.contextmanager
    def holding(self, credential: str) -> Iterator[StreamHold]:
        """Register a stream opened by `credential` (a principal's key_hash) for as long as it is open."""
        hold = StreamHold()
        self._holds[credential].add(hold)
        try:
            yield hold
        finally:
            holds = self._holds.get(credential)
            if holds is not None:
                holds.discard(hold)
                if not holds:
                    del self._holds[credential]

    async def _round(self) -> None:
        if not self._holds:
            return
        try:
            await self.check_once()
        except ServiceUnavailable as exc:
            self._outage_log.log(logging.WARNING, "watch.guard_failed", "checking open streams' keys and sessions "
                                 "failed (%s); they go on until the database answers", type(exc).__name__)

    async def check_once(self) -> None:
        credentials = list(self._holds)
        keys = [c for c in credentials if not c.startswith(SESSION_PREFIX)]
        sessions = [c.removeprefix(SESSION_PREFIX) for c in credentials if c.startswith(SESSION_PREFIX)]
        at = now()
        gone: dict[str, PhonosError] = {}
        if keys:
            rows = await self._db.read.fetch_all("live_keys", {"key_hashes": json.dumps(keys)})
            live = {row["key_hash"]: row["expires_at"] for row in rows}
            for key in keys:
                if key not in live:
                    gone[key] = Unauthenticated(REVOKED_KEY)
                elif is_expired(live[key], at):
                    gone[key] = KeyExpired(float(live[key]))
        if sessions:
            rows = await self._db.read.fetch_all("live_sessions", {"token_hashes": json.dumps(sessions), "now": at})
            live_sessions = {row["token_hash"] for row in rows}
            gone.update({SESSION_PREFIX + s: Unauthenticated(ENDED_SESSION) for s in sessions
                         if s not in live_sessions})
        for credential, reason in gone.items():
            for hold in list(self._holds.get(credential, ())):
                hold.end(reason)


async def until_ended(source: AsyncIterator[T], hold: StreamHold) -> AsyncIterator[T]:
    """`source`'s items until `hold` ends; then its reason is raised (the stream's refusal)."""
    iterator = aiter(source)
    ended = asyncio.ensure_future(hold.ended.wait())
    upcoming: asyncio.Future[T] | None = None
    try:
        while True:
            # A task, not wait_for(anext(...)): the guard ending the stream must not cancel the source mid-item
            # without closing it below.
            upcoming = asyncio.ensure_future(anext(iterator))
            await asyncio.wait({upcoming, ended}, return_when=asyncio.FIRST_COMPLETED)
            if hold.ended.is_set():
                assert hold.reason is not None
                raise hold.reason
            try:
                item = upcoming.result()
            except StopAsyncIteration:
                return
            upcoming = None
            yield item
    finally:
        ended.cancel()
        if upcoming is not None and not upcoming.done():
            upcoming.cancel()
            with contextlib.suppress(asyncio.CancelledError, StopAsyncIteration):
                await upcoming
        close = getattr(iterator, "aclose", None)
        if close is not None:
            await close()
