"""Dashboard sign-in: passwords and browser sessions.

A session token is 32 random bytes that only the browser's HttpOnly cookie holds; the database keeps
its SHA-256 (like API keys), so a leaked database opens no session. Sessions end at `expires_at`
(PHONOS_SESSION_TTL_S after sign-in), on sign-out, and all at once when the password changes or the
person signs out everywhere. Like keys, a session is read from the database on every request: a
revoked one is refused at once, and its open watch streams end before the sign-out (or password change) returns
(`on_ended`, jobservice/stream_guard.py; on a shared PostgreSQL at once on every job service). A password change by the signed-in person also replaces the session that made it
with a new token (OWASP: a new session on a change of credentials): a copy of the old cookie, taken before the
change, stops working with it.

A sign-in checks the password (Argon2, a quarter of a second) outside any transaction, so a password change or
`phonos accounts lock` can commit meanwhile and end the sessions that exist then: its session is inserted only
while the account's hash is still the one the password was checked against (`insert_session_if_password`), else it
is answered as the wrong password it now is. A password change by a session ended meanwhile sets nothing.

Failed sign-ins are limited per username and per client address (jobservice/sign_in_throttle.py), in the store:
every job service of a shared database counts the same failures, and a restart forgets none.

CSRF: the token for state-changing requests is derived from the session token (HMAC-SHA256, keyed by
the token), so it needs no storage, differs per session, and cannot be computed without the cookie.
The page reads it from GET /auth/session (same-origin only) and sends it as X-CSRF-Token.

The Account page's "Signed in" list (`list_sessions`, `end_session`) names each session by a handle derived from
its token hash (`session_handle`): shown to the page and sent back to end a session, it cannot be turned into
the token or the hash, so it lets nobody act as the session. Each session's last use and address are written at
most once a minute (TOUCH_EVERY_S), so a page polling every few seconds costs no write per request.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import secrets
import time
from collections.abc import Callable, Iterable
from contextvars import ContextVar
from dataclasses import dataclass

from jobservice.activity import Action, clean_user_agent, record, record_after
from jobservice.db import now
from jobservice.errors import (
    Forbidden,
    InvalidArgument,
    NotFound,
    RateLimited,
    Unauthenticated,
    json_value_text,
)
from jobservice.passwords import check_new_password, hash_password, password_matches
from jobservice.sign_in_throttle import ADDRESS, SignInFailures
from jobservice.store import Row, Store, Transaction
from jobservice.stream_guard import ENDED_SESSION, CredentialsEnded, announce_ended, session_credential
from phonos_common.forwarded import client_unit

log = logging.getLogger(__name__)

FAILED_SIGN_INS_PER_MINUTE = 10  # per username: slows guessing without locking the owner out for long
# Per client address (IPv4, or IPv6 /64; the edge's client, proxies resolved by phonos_common.forwarded): the
# per-username limit alone let one address try a common password on every account, 10 a minute each.
FAILED_SIGN_INS_PER_ADDRESS_PER_MINUTE = 30
PRUNE_AFTER_S = 7 * 86400.0  # expired or revoked sessions are deleted a week later
# ... by the sign-ins, this many each, inside their own transaction: a sign-in adds one session, so a backlog
# still shrinks with every sign-in, and none waits on (or times out in) a delete of thousands of rows.
PRUNE_BATCH = 100
TOUCH_EVERY_S = 60.0  # a session's last use and address are written at most this often
HANDLE_PREFIX = "ses_"
WRONG_PASSWORD = "Wrong username or password."
# The token hash of the session the API call being served authenticated with (`Sessions.authenticate`, in the call's
# task): a create checks it again in its own transaction (jobservice/account_lock.py), as it does the calling key.
CALLING_SESSION: ContextVar[str | None] = ContextVar("phonos_calling_session", default=None)


@dataclass(frozen=True)
class NewSession:
    token: str  # for the cookie only
    csrf_token: str
    account_id: int
    username: str
    expires_at: float


@dataclass(frozen=True)
class SessionInfo:
    token_hash: str
    csrf_token: str
    account_id: int
    username: str
    expires_at: float


@dataclass(frozen=True)
class PasswordChanged:
    other_sessions_ended: int
    session: NewSession  # replaces the session that changed it (a new token, so a new cookie and CSRF token)


@dataclass(frozen=True)
class SessionView:
    """One live session as the "Signed in" list shows it: never its token, its hash or its CSRF token."""

    handle: str
    created_at: float  # epoch seconds
    last_seen_at: float | None  # None: not used since before last-use tracking began
    expires_at: float
    user_agent: str | None
    client_address: str | None
    current: bool  # the session asking


def session_handle(hashed: str) -> str:
    """A session's public name: a hash of its token hash, so neither the token nor the hash (the key the
    database finds it by) can be recovered from it; 16 hex digits (64 bits) are unique within an account."""
    return HANDLE_PREFIX + hashlib.sha256(b"phonos-session-handle-v1:" + hashed.encode()).hexdigest()[:16]


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def csrf_token(token: str) -> str:
    return hmac.new(token.encode(), b"phonos-csrf-v1", hashlib.sha256).hexdigest()


async def check_session_live(tx: Transaction, account_id: int, hashed: str) -> None:
    """Unauthenticated, as `Sessions.authenticate` would answer the session's next request, unless the account's
    session `hashed` is still signed in (jobservice/account_lock.py)."""
    row = await tx.fetch_one("get_session", {"token_hash": hashed, "now": now()})
    if row is None or int(row["account_id"]) != account_id:
        raise Unauthenticated(ENDED_SESSION)


class Sessions:
    def __init__(self, db: Store, *, ttl_s: float,
                 failures_per_address: int = FAILED_SIGN_INS_PER_ADDRESS_PER_MINUTE,
                 on_ended: CredentialsEnded | None = None,
                 on_started: Callable[[str], None] | None = None) -> None:
        self._db = db
        self._ttl_s = ttl_s
        # The job service's stream guard: an ended session's open streams end before the sign-out returns. None in
        # the operator CLI (no streams in its process; its NOTIFY, or the services' poll on SQLite, ends them).
        self._on_ended = on_ended
        # The failed-key throttle's trust (jobservice.auth_throttle): a new session's token is a credential that
        # worked. None in the operator CLI.
        self._on_started = on_started
        # Failed sign-ins per username, and per client address whatever the usernames tried (password spraying
        # across accounts), in the rolling minute, in the store.
        self.failures = SignInFailures(db, per_username=FAILED_SIGN_INS_PER_MINUTE, per_address=failures_per_address)
        self._hashing = asyncio.Semaphore(2)  # Argon2 verifications at once (each 64 MiB, tens of ms)

    def _ended(self, rows: Iterable[Row]) -> None:
        """Sessions (`token_hash` rows) a committed transaction ended: their open streams end now."""
        if self._on_ended is not None:
            self._on_ended([session_credential(row["token_hash"]) for row in rows])

    async def set_password(self, account_id: int, password: str | None) -> int:
        """Set (or change) the dashboard password, or clear it (None: nobody can sign in to the account until an
        operator sets one); every open session of the account is signed out. Returns how many were open."""
        password_hash = None if password is None else await asyncio.to_thread(hash_password, password)
        async with self._db.transaction() as tx:
            await tx.execute("set_password", {"account_id": account_id, "password_hash": password_hash})
            ended = await tx.fetch_all("revoke_account_sessions", {"account_id": account_id, "now": now()})
            await record(tx, account_id, Action.PASSWORD_CHANGED, details={"cleared": True} if password is None else None)
            if ended:
                await announce_ended(self._db, tx)
        self._ended(ended)
        return len(ended)

    async def sign_in(self, username: str, password: str, user_agent: str = "",
                      client_address: str | None = None) -> NewSession:
        if not username or not password:
            raise InvalidArgument("enter a username and a password")
        address = client_unit(client_address)
        # Its username's and address's earlier attempts in this job service are counted before this one's check
        # (SignInFailures.attempt): checked before an Argon2 verification and counted after it, guesses sent all at
        # once each passed the check before the first was counted, as many guesses as a client could send together.
        async with self.failures.attempt(username.lower(), address):
            # Before any lookup or hashing: a spraying address costs one indexed read more, nothing else.
            refusal = await self.failures.refusal(username.lower(), address)
            if refusal is not None and refusal.scope == ADDRESS:
                raise RateLimited(f"Too many failed sign-ins from this address; try again in {refusal.retry_after_s} s",
                                  limit=refusal.limit, retry_after_s=refusal.retry_after_s,
                                  reset_epoch_s=int(time.time()) + refusal.retry_after_s)
            if refusal is not None:
                raise RateLimited(f"Too many failed sign-ins for {json_value_text(username)}; try again in "
                                  f"{refusal.retry_after_s} s", limit=refusal.limit, retry_after_s=refusal.retry_after_s,
                                  reset_epoch_s=int(time.time()) + refusal.retry_after_s)
            row = await self._db.read.fetch_one("account_by_username", {"username": username})
            stored = None if row is None else row["password_hash"]
            async with self._hashing:
                # Unknown users and users without a password cost one verification too (no timing oracle).
                ok = await asyncio.to_thread(password_matches, stored, password)
            new = await self._signed_in(row, user_agent, client_address) if row is not None and ok else None
            if new is None:
                await self.failures.failed(username.lower(), address)
                if row is not None:  # the account's owner may want to know; an unknown name is nobody's to tell
                    await record_after(self._db, int(row["id"]), Action.SIGN_IN_FAILED)
                raise Unauthenticated(WRONG_PASSWORD)
        self._started(new)
        return new

    async def _signed_in(self, account: Row, user_agent: str, client_address: str | None) -> NewSession | None:
        """The session of a password checked against the `account` row's hash; None when that is no longer the
        account's: a password change or `phonos accounts lock` committed during the check ended the sessions there
        were, and the old password must not start one after them. The caller answers that as the wrong password it
        now is (the same answer, after the same one verification)."""
        async with self._db.transaction() as tx:
            new = await self._new_session(tx, int(account["id"]), account["username"], user_agent, client_address,
                                          password_hash=account["password_hash"])
            if new is None:
                return None
            await tx.execute("prune_sessions", {"before": now() - PRUNE_AFTER_S, "limit": PRUNE_BATCH})
            await record(tx, new.account_id, Action.SIGNED_IN)
        return new

    def _started(self, new: NewSession) -> None:
        if self._on_started is not None:
            self._on_started(new.token)

    async def _new_session(self, tx: Transaction, account_id: int, username: str, user_agent: str,
                           client_address: str | None, *, password_hash: str) -> NewSession | None:
        """A session, only while the account's password hash is `password_hash` (on PostgreSQL after any change to
        the account's row in progress has committed: insert_session_if_password); None otherwise."""
        token = secrets.token_urlsafe(32)
        stamp = now()
        expires = stamp + self._ttl_s
        made = await tx.fetch_one("insert_session_if_password", {
            "token_hash": token_hash(token), "account_id": account_id,
            "user_agent": clean_user_agent(user_agent), "client_address": client_address or None,
            "now": stamp, "expires_at": expires, "password_hash": password_hash,
        })
        return None if made is None else NewSession(token, csrf_token(token), account_id, username, expires)

    async def authenticate(self, token: str, *, csrf: str | None, state_changing: bool,
                           client_address: str | None = None) -> SessionInfo:
        """The live session of a cookie token; Forbidden when a state-changing request lacks its CSRF token."""
        hashed = token_hash(token)
        stamp = now()
        row = await self._db.read.fetch_one("get_session", {"token_hash": hashed, "now": stamp})
        if row is None:
            raise Unauthenticated(ENDED_SESSION)
        expected = csrf_token(token)
        if state_changing and not (csrf and hmac.compare_digest(csrf.encode(), expected.encode())):
            raise Forbidden("Missing or wrong CSRF token: send the X-CSRF-Token header that GET /auth/session "
                            "returns with every state-changing request made with the session cookie.")
        seen = row["last_seen_at"] if row["last_seen_at"] is not None else row["created_at"]
        if stamp - float(seen) >= TOUCH_EVERY_S:
            await self._touch(hashed, stamp, client_address)
        CALLING_SESSION.set(hashed)  # the call's task: what its creates check again (jobservice/account_lock.py)
        return SessionInfo(hashed, expected, int(row["account_id"]), row["username"], float(row["expires_at"]))

    async def _touch(self, hashed: str, stamp: float, client_address: str | None) -> None:
        """Record the session's use for the "Signed in" list; a failure is logged, never the request's."""
        try:
            await self._db.write_one("touch_session", {"token_hash": hashed, "now": stamp,
                                                       "client_address": client_address or None})
        except Exception:
            log.exception("could not record a session's last use", extra={"action": "session.touch_failed"})

    async def list_sessions(self, session: SessionInfo) -> list[SessionView]:
        """The live sessions of the signed-in account, most recently used first, the asking one marked."""
        rows = await self._db.read.fetch_all("list_account_sessions", {"account_id": session.account_id, "now": now()})
        return [SessionView(
            handle=session_handle(row["token_hash"]), created_at=float(row["created_at"]),
            last_seen_at=None if row["last_seen_at"] is None else float(row["last_seen_at"]),
            expires_at=float(row["expires_at"]), user_agent=row["user_agent"], client_address=row["client_address"],
            current=row["token_hash"] == session.token_hash,
        ) for row in rows]

    async def end_session(self, session: SessionInfo, handle: str) -> bool:
        """End one of the account's own live sessions by its handle; True when it was the asking one (signed
        out). An unknown handle, an ended or expired session, and another account's session are all NotFound:
        the answer says nothing about sessions that are not the caller's."""
        rows = await self._db.read.fetch_all("list_account_sessions", {"account_id": session.account_id, "now": now()})
        hashed = next((row["token_hash"] for row in rows if session_handle(row["token_hash"]) == handle), None)
        if hashed is None:
            raise NotFound(f"no signed-in session {json_value_text(handle[:40])} on this account")
        current = hashed == session.token_hash
        async with self._db.transaction() as tx:
            ended = await tx.fetch_all("revoke_account_session", {
                "token_hash": hashed, "account_id": session.account_id, "now": now()})
            if not ended:  # ended meanwhile (signed out, or another tab ended it first)
                raise NotFound(f"no signed-in session {json_value_text(handle[:40])} on this account")
            if current:
                await record(tx, session.account_id, Action.SIGNED_OUT, details={"sessions_ended": 1})
            else:
                await record(tx, session.account_id, Action.SESSION_ENDED, details={"session_id": handle})
            await announce_ended(self._db, tx)
        self._ended(ended)
        return current

    async def change_password(self, session: SessionInfo, current: str, new: str, *, user_agent: str = "",
                              client_address: str | None = None) -> PasswordChanged:
        """The signed-in person's own password change: the current password proves it is them (a session left
        open on a shared computer is not enough), failures count with the sign-in's per-username throttle.
        Every other session of the account ends (whoever else held one is out). This one goes on under a new
        token, with a new expiry as a sign-in's (the current password was just proven): the old token ends in the
        same transaction, so a copy of its cookie stolen before the change is as dead as the other sessions."""
        if not current or not new:
            raise InvalidArgument("enter your current password and a new one")
        check_new_password(new)
        username = session.username.lower()
        async with self.failures.attempt(username, None):  # in turn with its sign-ins (SignInFailures.attempt)
            refusal = await self.failures.refusal(username, None)  # per username, as ever: a session spraying no accounts
            if refusal is not None:
                raise RateLimited(f"Too many wrong passwords for {json_value_text(session.username)}; try again in "
                                  f"{refusal.retry_after_s} s", limit=refusal.limit, retry_after_s=refusal.retry_after_s,
                                  reset_epoch_s=int(time.time()) + refusal.retry_after_s)
            row = await self._db.read.fetch_one("account_by_username", {"username": session.username})
            stored = None if row is None else row["password_hash"]
            async with self._hashing:
                ok = await asyncio.to_thread(password_matches, stored, current)
            if not ok:
                await self.failures.failed(username, None)
                # A session guessing at its account's password (one left open on a shared computer) is worth knowing.
                await record_after(self._db, session.account_id, Action.PASSWORD_CHANGE_FAILED)
                # Not a 401: the session is fine, and a 401 would send the page to sign-in.
                raise InvalidArgument("the current password is wrong")
        if new == current:
            raise InvalidArgument("the new password is the current one: choose another")
        password_hash = await asyncio.to_thread(hash_password, new)
        async with self._db.transaction() as tx:
            # The account's row first, as a lock or another change takes it. Either may have committed while the
            # current password was checked: this session is ended then (and a lock's cleared password must not be
            # set again by it), so the change is refused as the session's next request would be.
            await tx.execute("lock_account", {"account_id": session.account_id})
            rotated_out = await tx.fetch_all("revoke_session", {"token_hash": session.token_hash, "now": now()})
            if not rotated_out:
                raise Unauthenticated(ENDED_SESSION)
            if await tx.fetch_one("replace_password", {"account_id": session.account_id, "password_hash": password_hash,
                                                       "verified": stored}) is None:
                raise InvalidArgument("the current password is wrong")
            ended = await tx.fetch_all("revoke_other_account_sessions", {
                "account_id": session.account_id, "keep": session.token_hash, "now": now()})
            rotated = await self._new_session(tx, session.account_id, session.username, user_agent, client_address,
                                              password_hash=password_hash)
            assert rotated is not None  # the hash this transaction just set
            await record(tx, session.account_id, Action.PASSWORD_CHANGED, details={"other_sessions_ended": len(ended)})
            await announce_ended(self._db, tx)
        # The old token's streams end too: the page opens its streams again with the new cookie.
        self._ended([*ended, *rotated_out])
        self._started(rotated)
        return PasswordChanged(len(ended), rotated)

    async def sign_out(self, session: SessionInfo, *, everywhere: bool) -> int:
        """Revoke this session, or every session of its account; returns how many were open."""
        async with self._db.transaction() as tx:
            if everywhere:
                rows = await tx.fetch_all("revoke_account_sessions", {"account_id": session.account_id, "now": now()})
            else:
                rows = await tx.fetch_all("revoke_session", {"token_hash": session.token_hash, "now": now()})
            await record(tx, session.account_id, Action.SIGNED_OUT_EVERYWHERE if everywhere else Action.SIGNED_OUT,
                         details={"sessions_ended": len(rows)})
            if rows:
                await announce_ended(self._db, tx)
        self._ended(rows)
        return len(rows)
