"""Open watch streams end when the key or dashboard session that opened them stops being valid.

A watch stream is authorised once, when it opens, and may then stay open for an hour (PHONOS_WATCH_MAX_STREAM_S).
Without a guard, a key revoked or expired after that, or a session signed out, kept receiving the account's job
events until the stream's own time limit. Rechecking each stream would cost a read per stream per period (the
watch hub is built so that idle watchers read nothing), so one task checks every credential that holds a stream
open in two queries per period (`live_keys`, `live_sessions`), at the hub's own cadence (PHONOS_WATCH_POLL_S),
and ends the streams of those gone with the refusal a new request would get.

The poll alone left a revoked key's stream sending events for up to that period (5 s by default) after the
revoke returned, so it is only the safety net:
- this job service's own revokes and sign-outs (jobservice/api_keys.py, jobservice/sessions.py) call `ended`
  with the credentials they ended, after their commit and before they return: those streams are ended there and
  then, so none sends an event after the revoke's answer;
- on a shared PostgreSQL the same transactions NOTIFY `CREDENTIALS_CHANNEL` (`notify_credentials_ended`,
  delivered at commit), and every other job service listening on it runs a check round at once (`wake`): its
  streams end a few milliseconds after the commit. The operator CLI (`phonos keys revoke`, `phonos users
  set-password`, `phonos accounts lock`) writes the database itself: on PostgreSQL its NOTIFY reaches every
  service, on SQLite the poll does;
- a key or session that expires ends its streams at its expiry: each round learns the expiries of the
  credentials it checked, and so does each stream as it opens (authentication read it), and the next round is due
  no later than the soonest. (A stream's expiry was learnt only by the first round after it opened: a key expiring
  within the period ran its stream up to a period past its expiry.)
- a key given a new expiry (UpdateApiKey: PATCH /v1/keys/{key_id}, the dashboard's API keys page, `phonos keys
  update`) is a change like a revoke: this job service's update hands the guard the new expiry after its commit
  (`expiry_changed`), so the key's streams go by it at once (ended there and then if it has passed), and the same
  transaction NOTIFYs `CREDENTIALS_CHANNEL` so that every other job service's round reads it. (Was: the streams
  kept the expiry they opened with until the next poll, so one shortened to within the period, or already past,
  ran up to a period too long.) The other changes to a key leave its streams as they are: its scope is fixed at
  creation, and its name and rate limit are not checked by an open stream.

A stream authenticates, then registers (`holding`): a revoke that commits in between finds nothing to end, and a
round in between does not check it. So each stream registers with the moment it began to authenticate (`mark`):
a credential `ended` since then (kept `RECENTLY_ENDED_S`) ends it as it registers, a new expiry since then replaces
the one its authentication read, and a `wake` since then (another service's revoke or update) runs one more round.
(All three used to leave such a stream as it was until the next poll round.) None reads anything for a stream that
registers in peace.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import logging
import math
import time
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from typing import TypeVar

from jobservice.db import now
from jobservice.errors import PhonosError, ServiceUnavailable, Unauthenticated
from jobservice.iteration import abandon
from jobservice.key_policy import KeyExpired, is_expired
from jobservice.store import Store, Transaction
from phonos_common.ratelog import RateLimitedLog

log = logging.getLogger(__name__)

T = TypeVar("T")
# What a revoke or sign-out hands the guard of its own job service, after its commit: the principals' key_hash of the
# credentials it ended (an API key's hash, or SESSION_PREFIX + a session's token hash).
CredentialsEnded = Callable[[Iterable[str]], object]
# What a key's new expiry hands it, after the commit: the key's hash and its expiry now (epoch s; None: never).
ExpiryChanged = Callable[[str, float | None], object]
SESSION_PREFIX = "session:"  # a dashboard session's principal key_hash (jobservice/auth.py)
REVOKED_KEY = ("This API key was revoked while the stream was open. Create a new key (the dashboard's API keys page "
               "or POST /v1/keys) and open the stream again.")
ENDED_SESSION = "Your dashboard session has ended (signed out or expired). Sign in again."
# NOTIFY channel of a shared store: keys were revoked or given a new expiry, or sessions ended (no payload: every listener checks all the
# credentials holding its streams open, two queries, rather than trust a list that could outgrow NOTIFY's 8000 bytes).
CREDENTIALS_CHANNEL = "phonos_credentials"
EXPIRY_MARGIN_S = 0.005
# How long an ended credential is remembered for the streams that authenticated before it ended and register after
# (milliseconds apart; one that takes longer is still ended by the poll): an ended credential never works again.
RECENTLY_ENDED_S = 60.0


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
        # When each held credential that will expire does (epoch s), as the last round read it: the next round is
        # due by the soonest, so an expiring key's streams end at its expiry rather than up to a period later.
        self._expiries: dict[str, float] = {}
        self._woken = asyncio.Event()  # something changed: `_check_now`, or an expiry that may be sooner
        self._check_now = False
        self._last_wake = -math.inf  # time.monotonic() of the last `wake`
        # Credentials `ended` in the last RECENTLY_ENDED_S: when (time.monotonic()), and the refusal.
        self._recently_ended: dict[str, tuple[float, PhonosError]] = {}
        # Keys given a new expiry (`expiry_changed`) in the last RECENTLY_ENDED_S: when, and the expiry (None: never).
        self._recently_changed: dict[str, tuple[float, float | None]] = {}
        self._period_due = 0.0  # time.monotonic() of the next round by the period
        # The last round failed (the database away): its expiries are stale, and one already past would make the
        # next round due at once, again and again (a busy loop against a database coming back). Wait the period.
        self._failed = False
        self._task: asyncio.Task[None] | None = None
        self.rounds = 0  # check rounds done, idle ones included (a test waits for the one a wake caused)
        # The database away fails every round: said once a minute, and the streams go on meanwhile.
        self._outage_log = RateLimitedLog(log, per_minute=1)

    def start(self) -> None:
        self._task = asyncio.create_task(self._forever(), name="stream-guard")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def wake(self) -> None:
        """Check every held credential now (another job service ended some: its NOTIFY)."""
        self._last_wake = time.monotonic()
        self._check_now = True
        self._woken.set()

    def ended(self, credentials: Iterable[str]) -> None:
        """These credentials (principals' key_hash) were revoked or signed out by a transaction that committed: end
        their streams now, synchronously, so that none yields another event once the caller's answer is sent."""
        at = time.monotonic()
        self._recently_ended = {c: seen for c, seen in self._recently_ended.items() if seen[0] > at - RECENTLY_ENDED_S}
        for credential in credentials:
            reason = Unauthenticated(ENDED_SESSION if credential.startswith(SESSION_PREFIX) else REVOKED_KEY)
            self._recently_ended[credential] = (at, reason)
            for hold in list(self._holds.get(credential, ())):
                hold.end(reason)

    def expiry_changed(self, credential: str, expires_at: float | None) -> None:
        """This key (its key_hash) was given a new expiry (None: never) by a transaction that committed: its open
        streams go by it now, not by the expiry they opened with; ended now, before the caller's answer is sent, if
        it has passed. A later expiry is taken as well: the round due at the old one would only find the key live."""
        at = time.monotonic()
        self._recently_changed = {c: seen for c, seen in self._recently_changed.items()
                                  if seen[0] > at - RECENTLY_ENDED_S}
        self._recently_changed[credential] = (at, expires_at)
        holds = self._holds.get(credential)
        if not holds:
            return
        if expires_at is None:
            self._expiries.pop(credential, None)
        else:
            self._expiries[credential] = expires_at
        if is_expired(expires_at, now()):
            assert expires_at is not None
            reason = KeyExpired(expires_at)
            for hold in list(holds):
                hold.end(reason)
        self._woken.set()  # the wait is worked out again: the next round is due by the new expiry

    @staticmethod
    def mark() -> float:
        """Now, for `holding`'s `since`: taken before a stream's credential is read."""
        return time.monotonic()

    @contextlib.contextmanager
    def holding(self, credential: str, *, since: float | None = None,
                expires_at: float | None = None) -> Iterator[StreamHold]:
        """Register a stream opened by `credential` (a principal's key_hash) for as long as it is open. `since`: the
        `mark` taken before its credential was read; `expires_at`: the credential's expiry as that read saw it."""
        hold = StreamHold()
        self._holds[credential].add(hold)
        if since is not None:
            ended = self._recently_ended.get(credential)
            if ended is not None and ended[0] >= since:
                hold.end(ended[1])  # revoked after its check, before it registered
            elif self._last_wake >= since:
                self.wake()  # that round may have run before this stream registered: one more
            changed = self._recently_changed.get(credential)
            if changed is not None and changed[0] >= since and not hold.ended.is_set():
                # Given a new expiry after its authentication read the old one: the new one counts.
                expires_at = changed[1]
                if expires_at is None:
                    self._expiries.pop(credential, None)
                elif is_expired(expires_at, now()):
                    hold.end(KeyExpired(expires_at))
        if expires_at is not None and expires_at < self._expiries.get(credential, math.inf):
            # Sooner than a round read (or none had): a round at an expiry since put off reads it again.
            self._expiries[credential] = expires_at
            self._woken.set()  # the wait is worked out again (no round unless due)
        try:
            yield hold
        finally:
            holds = self._holds.get(credential)
            if holds is not None:
                holds.discard(hold)
                if not holds:
                    del self._holds[credential]
                    self._expiries.pop(credential, None)

    def _next_round_in(self) -> float:
        """Seconds to the next round: the period, or less when a held credential expires sooner."""
        by_period = max(0.0, self._period_due - time.monotonic())
        soonest = min((self._expiries[c] for c in self._holds if c in self._expiries), default=None)
        if soonest is None or self._failed:
            return by_period
        # A hair past it: a timer may fire a little early, and a round before the expiry would find the key live
        # and come straight back.
        return max(0.0, min(by_period, soonest - time.time() + EXPIRY_MARGIN_S))

    async def _until_due(self) -> None:
        """Wait for the next round: the period, the soonest expiry, or a `wake`."""
        self._period_due = time.monotonic() + self._every_s
        while not self._check_now:
            self._woken.clear()
            wait_s = self._next_round_in()
            if wait_s <= 0:
                break
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(wait_s):
                    await self._woken.wait()
        self._check_now = False

    async def _forever(self) -> None:
        while True:
            await self._until_due()
            try:
                await self._round()
            except Exception:  # a bug here must not stop the guard: the next round retries
                self._failed = True
                log.exception("stream-guard failed; retrying in %g s", self._every_s,
                              extra={"action": "watch.guard_failed"})
            self.rounds += 1

    async def _round(self) -> None:
        if not self._holds:
            return
        try:
            await self.check_once()
            self._failed = False
        except ServiceUnavailable as exc:
            self._failed = True
            self._outage_log.log(logging.WARNING, "watch.guard_failed", "checking open streams' keys and sessions "
                                 "failed (%s); they go on until the database answers", type(exc).__name__)

    async def check_once(self) -> None:
        credentials = list(self._holds)
        keys = [c for c in credentials if not c.startswith(SESSION_PREFIX)]
        sessions = [c.removeprefix(SESSION_PREFIX) for c in credentials if c.startswith(SESSION_PREFIX)]
        at = now()
        gone: dict[str, PhonosError] = {}
        expiries: dict[str, float] = {}
        if keys:
            rows = await self._db.read.fetch_all("live_keys", {"key_hashes": json.dumps(keys)})
            live = {row["key_hash"]: row["expires_at"] for row in rows}
            for key in keys:
                if key not in live:
                    gone[key] = Unauthenticated(REVOKED_KEY)
                elif is_expired(live[key], at):
                    gone[key] = KeyExpired(float(live[key]))
                elif live[key] is not None:
                    expiries[key] = float(live[key])
        if sessions:
            rows = await self._db.read.fetch_all("live_sessions", {"token_hashes": json.dumps(sessions), "now": at})
            live_sessions = {row["token_hash"]: float(row["expires_at"]) for row in rows}
            gone.update({SESSION_PREFIX + s: Unauthenticated(ENDED_SESSION) for s in sessions
                         if s not in live_sessions})
            expiries.update({SESSION_PREFIX + s: expires for s, expires in live_sessions.items()})
        # Streams that registered during the reads keep what their authentication said.
        checked = set(credentials)
        self._expiries = {**{c: e for c, e in self._expiries.items() if c not in checked}, **expiries}
        for credential, reason in gone.items():
            for hold in list(self._holds.get(credential, ())):
                hold.end(reason)


async def announce_ended(db: Store, tx: Transaction) -> None:
    """Inside the transaction that revokes keys, gives a key a new expiry or ends sessions: on a shared store, NOTIFY
    the other job services (delivered at commit, never for a rollback), so that their guards check at once rather
    than at the poll (their round reads each held key's expiry as it is now)."""
    if db.shared:
        await tx.scalar("notify_credentials_ended")


def session_credential(token_hash: str) -> str:
    """A dashboard session's principal key_hash (as jobservice/auth.py names it)."""
    return SESSION_PREFIX + token_hash


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
        await abandon(upcoming, iterator)
