"""`phonos accounts lock`, a password change and a sign-in racing the account's own keys and sessions, on SQLite and
PostgreSQL, in the order a race runs them, driven (not waited for): a store that stops a transaction before a named
statement (`Paused`) holds one side where the race put it while the other runs.

A security tester found (H1) keys made from a member's dashboard session while `phonos accounts lock` ran still
working after it said it succeeded, and the lock stopped half-way ("already revoked") by the member revoking keys of
their own; and (H2) a sign-in whose password was checked before `phonos users set-password` got a session the change
did not end. Now the lock is one transaction that takes the account's row first, every create checks its caller
again in its own transaction after taking that row (jobservice/account_lock.py), and a sign-in's session is inserted
only over the hash its password was checked against (jobservice/sessions.py)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import pytest

from jobservice import admin
from jobservice.accounts import Accounts
from jobservice.activity import CALLER
from jobservice.api_keys import ApiKeys
from jobservice.auth import CSRF_METADATA, SESSION_METADATA, Authenticator
from jobservice.db import now
from jobservice.errors import Unauthenticated
from jobservice.jobs import JobRecord
from jobservice.servicer import caller_of
from jobservice.sessions import WRONG_PASSWORD, Sessions, csrf_token
from jobservice.shares import JobShares
from jobservice.store import Params, Reads, Store, Transaction
from jobservice.stream_guard import ENDED_SESSION
from jobservice.webhooks import Webhooks
from phonos_config.service import ServiceSettings
from tests.store.conftest import run_on
from tests.store.test_job_shares import completed

pytestmark = pytest.mark.integration

T = TypeVar("T")
BEGIN = "BEGIN"  # `Paused` at the transaction's start: nothing of it has run
PASSWORD = "the member's password 1"
NEW_PASSWORD = "the operator's new one 2"
USERNAME = "dave"
HOOK = "http://127.0.0.1:9/hook"
# Long enough for the side let go to reach the lock it must wait at; its order does not depend on it (the other
# side holds the account's row, or SQLite's writer, until it is let go).
REACH_S = 0.3


class _PausedTransaction:
    def __init__(self, tx: Transaction, stop: Callable[[str], Awaitable[None]]) -> None:
        self._tx, self._stop = tx, stop

    async def fetch_all(self, name: str, params: Params | None = None) -> list[Any]:
        await self._stop(name)
        return await self._tx.fetch_all(name, params)

    async def fetch_one(self, name: str, params: Params | None = None) -> Any:
        await self._stop(name)
        return await self._tx.fetch_one(name, params)

    async def scalar(self, name: str, params: Params | None = None) -> Any:
        await self._stop(name)
        return await self._tx.scalar(name, params)

    async def execute(self, name: str, params: Params | None = None) -> int:
        await self._stop(name)
        return await self._tx.execute(name, params)

    async def execute_many(self, name: str, rows: Iterable[Params]) -> None:
        await self._stop(name)
        await self._tx.execute_many(name, rows)


class Paused:
    """`store`, whose first transaction to reach statement `at` (BEGIN: its start) stops there until `go()`."""

    def __init__(self, store: Store, at: str) -> None:
        self._store, self._at = store, at
        self.reached, self._go = asyncio.Event(), asyncio.Event()

    @property
    def read(self) -> Reads:
        return self._store.read

    @property
    def shared(self) -> bool:
        return self._store.shared

    async def write_one(self, name: str, params: Params | None = None) -> Any:
        return await self._store.write_one(name, params)

    async def listen(self, channel: str, callback: Callable[[str], object]) -> None:
        await self._store.listen(channel, callback)

    async def reachable(self) -> bool:
        return await self._store.reachable()

    async def close(self) -> None:
        await self._store.close()

    def go(self) -> None:
        self._go.set()

    async def _stop(self, name: str) -> None:
        if name == self._at and not self.reached.is_set():
            self.reached.set()
            await self._go.wait()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Transaction]:
        await self._stop(BEGIN)
        async with self._store.transaction() as tx:
            yield _PausedTransaction(tx, self._stop)


@dataclass(frozen=True)
class Member:
    """The account being locked, signed in on the dashboard, with a key and a completed job."""

    account_id: int
    api_key: str
    key_id: str
    session_token: str
    job: JobRecord

    def metadata(self, credential: str) -> dict[str, str]:
        """An API call's metadata carrying the member's key, or their session's cookie and CSRF token."""
        if credential == "key":
            return {"authorization": f"Bearer {self.api_key}"}
        return {SESSION_METADATA: self.session_token, CSRF_METADATA: csrf_token(self.session_token)}


async def member(store: Store) -> Member:
    new = await Accounts(store).create(USERNAME, email=None, credits=100, rate_limit=60)
    await Sessions(store, ttl_s=3600).set_password(new.account_id, PASSWORD)
    session = await Sessions(store, ttl_s=3600).sign_in(USERNAME, PASSWORD)
    return Member(new.account_id, new.api_key, new.key_id, session.token, await completed(store, new.account_id))


def authenticator(store: Store) -> Authenticator:
    return Authenticator(Accounts(store), Sessions(store, ttl_s=3600), session_rate_limit=60)


async def as_call(store: Store, metadata: Mapping[str, str], work: Awaitable[T]) -> T:
    """`work` as the servicer runs an API call: authenticated by `metadata` (jobservice/auth.py), its caller named
    (jobservice.activity.CALLER). Run as a task of its own, as every call is: the context stays the call's."""
    principal = await authenticator(store).authenticate(metadata, state_changing=True)
    CALLER.set(caller_of(principal, "127.0.0.1"))
    return await work


async def held_call(store: Store, at: str, metadata: Mapping[str, str],
                    work: Callable[[Store], Awaitable[T]]) -> tuple[Paused, asyncio.Task[T]]:
    """An API call of `metadata`'s credential doing `work`, stopped at statement `at` (BEGIN: authenticated, its
    transaction not begun) until the `Paused` is let go."""
    paused = Paused(store, at)
    call = asyncio.create_task(as_call(store, metadata, work(paused)))
    await asyncio.wait_for(paused.reached.wait(), 30)
    return paused, call


async def next_request_refusal(store: Store, metadata: Mapping[str, str]) -> str:
    """What the credential's next request is told (401)."""
    with pytest.raises(Unauthenticated) as refused:
        await authenticator(store).authenticate(metadata, state_changing=True)
    return refused.value.message


def webhooks(store: Store) -> Webhooks:
    return Webhooks(store, max_per_account=5, allow_http_loopback=True, timeout_s=1)


# The creates of a key or session: (credential, the create, the statement that inserts what it makes).
Create = Callable[[Store, Member], Awaitable[object]]
CREATES: dict[str, tuple[str, Create, str]] = {
    "session makes a key": ("session", lambda store, m: ApiKeys(store, default_rate_limit=60).create(
        m.account_id, name="made during the lock", rate_limit=None), "insert_api_key"),
    "key makes a key": ("key", lambda store, m: ApiKeys(store, default_rate_limit=60).create(
        m.account_id, name="made during the lock", rate_limit=None), "insert_api_key"),
    "session adds a webhook": ("session", lambda store, m: webhooks(store).create(m.account_id, HOOK, []),
                               "insert_webhook"),
    "key shares a job": ("key", lambda store, m: JobShares(store).create(m.job, m.account_id, None),
                         "insert_job_share"),
}


async def nothing_works(store: Store, m: Member) -> None:
    """Every way into the member's account is shut: no key or session works, no link reads, no webhook is left."""
    assert int(await store.read.scalar("count_active_keys", {"account_id": m.account_id, "now": now()})) == 0
    assert await store.read.fetch_all("list_account_sessions", {"account_id": m.account_id, "now": 0.0}) == []
    assert await store.read.fetch_all("list_job_shares", {"job_id": m.job.id, "now": 0.0}) == []
    assert int(await store.read.scalar("count_webhooks", {"account_id": m.account_id})) == 0
    row = await store.read.fetch_one("account_by_username", {"username": USERNAME})
    assert row["password_hash"] is None


@pytest.mark.parametrize("case", list(CREATES))
def test_a_create_checked_before_the_lock_and_inserted_after_it_is_refused_as_its_next_request(
        store_settings: ServiceSettings, case: str) -> None:
    """Authenticated before `phonos accounts lock`, inserted after its commit: refused with the 401 the credential's
    next request gets, and nothing made. Was: the key, webhook or link was made, and worked after the lock."""
    credential, create, _ = CREATES[case]

    async def scenario(store: Store) -> None:
        m = await member(store)
        paused, call = await held_call(store, BEGIN, m.metadata(credential), lambda held: create(held, m))
        locked = await admin.lock_account(store_settings, username=USERNAME)
        paused.go()
        with pytest.raises(Unauthenticated) as refused:
            await call
        assert refused.value.message == await next_request_refusal(store, m.metadata(credential))
        assert refused.value.message == (ENDED_SESSION if credential == "session" else
                                         "Invalid API key. It may have been revoked; check the key, or create one in the "
                                         "dashboard's API keys page (an operator adds one on the server with "
                                         "`phonos keys add --username NAME`).")
        assert locked == admin.Locked(keys_revoked=1, sessions_ended=1, had_password=True, shares_revoked=0,
                                      webhooks_deleted=0, active_jobs=0)
        await nothing_works(store, m)

    run_on(store_settings, scenario)


@pytest.mark.parametrize("case", list(CREATES))
def test_a_create_in_flight_when_the_lock_starts_is_ended_by_the_lock(store_settings: ServiceSettings, case: str) -> None:
    """A create inside its transaction when `phonos accounts lock` starts: the lock waits for it (the account's row;
    SQLite's one writer), then ends what it made too, and counts it. Was: the lock listed the keys before the new one
    committed, and the key worked on after the lock said it succeeded."""
    credential, create, insert = CREATES[case]

    async def scenario(store: Store) -> None:
        m = await member(store)
        paused, call = await held_call(store, insert, m.metadata(credential), lambda held: create(held, m))
        lock = asyncio.create_task(admin.lock_account(store_settings, username=USERNAME))
        await asyncio.sleep(REACH_S)
        assert not lock.done()  # it waits for the create's transaction
        paused.go()
        await call  # made, before the lock
        locked = await lock
        assert locked == admin.Locked(keys_revoked=2 if insert == "insert_api_key" else 1, sessions_ended=1,
                                      had_password=True, shares_revoked=int(insert == "insert_job_share"),
                                      webhooks_deleted=int(insert == "insert_webhook"), active_jobs=0)
        await nothing_works(store, m)

    run_on(store_settings, scenario)


def test_a_key_renewed_by_a_session_the_lock_ended_stays_revoked(store_settings: ServiceSettings) -> None:
    """PATCH /v1/keys/{key_id} giving an expiring key ten years, from a session the lock ended after it
    authenticated: refused as the session's next request, and the key stays revoked."""

    async def scenario(store: Store) -> None:
        m = await member(store)
        keys = ApiKeys(store, default_rate_limit=60)
        week, _ = await keys.create(m.account_id, name="a week", rate_limit=None, expires_in_days=7)
        paused, call = await held_call(store, BEGIN, m.metadata("session"), lambda held: ApiKeys(
            held, default_rate_limit=60).update(m.account_id, week.id, name=None, rate_limit=None, expires_in_days=3650))
        await admin.lock_account(store_settings, username=USERNAME)
        paused.go()
        with pytest.raises(Unauthenticated, match="session has ended"):
            await call
        renewed = await keys.get(m.account_id, week.id)
        assert renewed.revoked and renewed.expires_at is not None and renewed.expires_at < week.created_at + 8 * 86400
        await nothing_works(store, m)

    run_on(store_settings, scenario)


def test_the_lock_holds_the_account_until_it_commits(store_settings: ServiceSettings) -> None:
    """A create reaching its transaction while the lock's is open waits for it (PostgreSQL: at the account's row,
    which the lock takes first), then finds its caller ended: refused, nothing made."""

    async def scenario(store: Store) -> None:
        m = await member(store)
        paused = Paused(store, "revoke_account_api_keys")  # the lock has taken the account's row, nothing more
        lock = asyncio.create_task(admin.lock_out(paused, m.account_id))
        await asyncio.wait_for(paused.reached.wait(), 30)
        call = asyncio.create_task(as_call(store, m.metadata("session"), ApiKeys(store, default_rate_limit=60).create(
            m.account_id, name="made during the lock", rate_limit=None)))
        await asyncio.sleep(REACH_S)
        assert not call.done()  # it waits for the lock's transaction
        paused.go()
        assert (await lock).keys_revoked == 1
        with pytest.raises(Unauthenticated, match="session has ended"):
            await call
        await nothing_works(store, m)

    run_on(store_settings, scenario)


def test_the_members_own_revokes_do_not_stop_the_lock(store_settings: ServiceSettings) -> None:
    """The member revokes a key of theirs while the lock runs. Was: the lock's revoke of that key met "API key key_…
    is already revoked", exit 2 half-way, the password, sessions, links and webhooks untouched. Now the lock revokes
    whatever is not revoked yet, in one statement, after the member's revoke committed."""

    async def scenario(store: Store) -> None:
        m = await member(store)
        spare, _ = await ApiKeys(store, default_rate_limit=60).create(m.account_id, name="spare", rate_limit=None)
        paused, call = await held_call(store, "revoke_api_key", m.metadata("session"), lambda held: ApiKeys(
            held, default_rate_limit=60).revoke(m.account_id, spare.id, confirm_last_key=False))
        lock = asyncio.create_task(admin.lock_account(store_settings, username=USERNAME))
        await asyncio.sleep(REACH_S)
        paused.go()
        assert (await call).revoked
        assert await lock == admin.Locked(keys_revoked=1, sessions_ended=1, had_password=True, shares_revoked=0,
                                          webhooks_deleted=0, active_jobs=0)
        await nothing_works(store, m)

    run_on(store_settings, scenario)


@pytest.mark.parametrize("change", ["set-password", "lock"])
def test_a_sign_in_checked_before_a_password_change_gets_no_session(store_settings: ServiceSettings, change: str) -> None:
    """The password checked (Argon2, outside any transaction), then `phonos users set-password` or `phonos accounts
    lock` commits, then the session would be inserted: refused as the wrong password it now is. Was: a session
    signed in with the old password, which the change had not ended, and which could make keys."""

    async def scenario(store: Store) -> None:
        m = await member(store)
        paused = Paused(store, BEGIN)  # the sign-in's one transaction: its password is checked by now
        sign_in = asyncio.create_task(Sessions(paused, ttl_s=3600).sign_in(USERNAME, PASSWORD))
        await asyncio.wait_for(paused.reached.wait(), 30)
        if change == "lock":
            await admin.lock_account(store_settings, username=USERNAME)
        else:
            await admin.set_password(store_settings, username=USERNAME, password=NEW_PASSWORD)
        paused.go()
        with pytest.raises(Unauthenticated) as refused:
            await sign_in
        with pytest.raises(Unauthenticated) as wrong:
            await Sessions(store, ttl_s=3600).sign_in(USERNAME, "not the password at all")
        assert refused.value.message == wrong.value.message == WRONG_PASSWORD
        assert await store.read.fetch_all("list_account_sessions", {"account_id": m.account_id, "now": 0.0}) == []
        if change == "set-password":  # the new one signs in
            assert (await Sessions(store, ttl_s=3600).sign_in(USERNAME, NEW_PASSWORD)).account_id == m.account_id

    run_on(store_settings, scenario)


def test_a_password_change_waits_for_a_sign_in_in_flight_and_ends_its_session(store_settings: ServiceSettings) -> None:
    """A sign-in inside its transaction (its session inserted, not committed) when the password changes: the change
    waits for it (PostgreSQL: the sign-in holds the account's row FOR SHARE) and ends that session too. Without the
    row lock a READ COMMITTED change ended the sessions it saw, not this one, and both committed."""

    async def scenario(store: Store) -> None:
        m = await member(store)
        paused = Paused(store, "prune_sessions")  # after the session's insert
        sign_in = asyncio.create_task(Sessions(paused, ttl_s=3600).sign_in(USERNAME, PASSWORD))
        await asyncio.wait_for(paused.reached.wait(), 30)
        change = asyncio.create_task(admin.set_password(store_settings, username=USERNAME, password=NEW_PASSWORD))
        await asyncio.sleep(REACH_S)
        assert not change.done()  # it waits for the sign-in's transaction
        paused.go()
        session = await sign_in
        await change
        cookie = {SESSION_METADATA: session.token, CSRF_METADATA: session.csrf_token}
        assert await next_request_refusal(store, cookie) == ENDED_SESSION
        assert await store.read.fetch_all("list_account_sessions", {"account_id": m.account_id, "now": 0.0}) == []

    run_on(store_settings, scenario)


def test_a_password_change_by_a_session_the_lock_ended_does_not_open_the_account(store_settings: ServiceSettings) -> None:
    """The member changes their password (the current one checked) while the lock commits: refused as the session's
    next request, and the account stays without a password. Was: the change set a new password after the lock
    cleared it, and signed the member in again."""

    async def scenario(store: Store) -> None:
        m = await member(store)
        info = await Sessions(store, ttl_s=3600).authenticate(m.session_token, csrf=None, state_changing=False)
        paused = Paused(store, BEGIN)
        change = asyncio.create_task(Sessions(paused, ttl_s=3600).change_password(info, PASSWORD, NEW_PASSWORD))
        await asyncio.wait_for(paused.reached.wait(), 30)
        await admin.lock_account(store_settings, username=USERNAME)
        paused.go()
        with pytest.raises(Unauthenticated) as refused:
            await change
        assert refused.value.message == ENDED_SESSION
        await nothing_works(store, m)
        for password in (PASSWORD, NEW_PASSWORD):
            with pytest.raises(Unauthenticated, match="Wrong username or password"):
                await Sessions(store, ttl_s=3600).sign_in(USERNAME, password)

    run_on(store_settings, scenario)
