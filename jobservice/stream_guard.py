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
from jobservice.errors import PhonosError, Unauthenticated
from jobservice.key_policy import KeyExpired, is_expired
from jobservice.store import Store

log = logging.getLogger(__name__)

T = TypeVar("T")
SESSION_PREFIX = "session:"  # a dashboard session's principal key_hash (jobservice/auth.py)
REVOKED_KEY = ("This API key was revoked while the stream was open. Create a new key (the dashboard's Keys page "
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
        self._every_s = every_s
        self._holds: dict[str, set[StreamHold]] = collections.defaultdict(set)
        self._task: asyncio.Task[None] | None = None
        self.checks = 0  # rounds that read the database (tests)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="stream-guard")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

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

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._every_s)
            if not self._holds:
                continue
            try:
                await self.check_once()
            except Exception:  # the database away, say: the streams go on, the next round asks again
                log.warning("checking open streams' keys and sessions failed", exc_info=True,
                            extra={"action": "watch.guard_failed"})

    async def check_once(self) -> None:
        credentials = list(self._holds)
        keys = [c for c in credentials if not c.startswith(SESSION_PREFIX)]
        sessions = [c.removeprefix(SESSION_PREFIX) for c in credentials if c.startswith(SESSION_PREFIX)]
        at = now()
        gone: dict[str, PhonosError] = {}
        self.checks += 1
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
