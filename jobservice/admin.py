"""Admin operations on the store (SQLite in the data directory, or PostgreSQL): the `phonos keys`,
`phonos accounts`, `phonos credits` and `phonos users` commands and first start.

They open the database directly (the running service, if any, sees the changes on its next request:
keys and sessions are read from the database on every request).
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date
from typing import TypeVar

from jobservice.accounts import Accounts, NewKey
from jobservice.activity import Action, ActivityEntry, ActivityLog, Target, record
from jobservice.api_keys import ApiKeys, KeyRecord, named
from jobservice.credit_history import CreditEntry, CreditHistory
from jobservice.db import now
from jobservice.errors import NotFound, echoed_id
from jobservice.paging import check_page
from jobservice.passwords import password_matches
from jobservice.sessions import Sessions
from jobservice.store import Store, open_store
from jobservice.stream_guard import announce_ended
from jobservice.usage_report import LabUsage, Period, lab_usage
from jobservice.webhooks import deleted_details
from phonos_config.service import ServiceSettings

T = TypeVar("T")


@dataclass(frozen=True)
class FirstStart:
    key: NewKey
    password: str  # the admin's generated dashboard password, printed once


async def _with_db(settings: ServiceSettings, work: Callable[[Store], Awaitable[T]]) -> T:
    db = await open_store(settings)
    try:
        return await work(db)
    finally:
        await db.close()


async def create_key(settings: ServiceSettings, *, username: str, email: str | None, credits: int, rate_limit: int,
                     max_rate_limit: int | None = None, expires_in_days: int | None = None,
                     scope: str | None = None) -> NewKey:
    async def work(db: Store) -> NewKey:
        return await Accounts(db).create(username, email=email, credits=credits, rate_limit=rate_limit,
                                         max_rate_limit=max_rate_limit, expires_in_days=expires_in_days, scope=scope)

    return await _with_db(settings, work)


async def add_key(settings: ServiceSettings, *, username: str, name: str | None, rate_limit: int | None,
                  expires_in_days: int | None = None, scope: str | None = None) -> tuple[KeyRecord, NewKey]:
    """Another key for an existing account, by the rules POST /v1/keys keeps (the account's maximum rate limit and
    number of working keys): ApiKeys.create, the same code the API runs."""

    async def work(db: Store) -> tuple[KeyRecord, NewKey]:
        account_id = await Accounts(db).account_id(username)
        keys = ApiKeys(db, default_rate_limit=settings.default_rate_limit)
        return await keys.create(account_id, name=name, rate_limit=rate_limit, expires_in_days=expires_in_days,
                                 scope=scope)

    return await _with_db(settings, work)


FIRST_USER = "admin"  # the account a fresh database gets


async def ensure_first_account(settings: ServiceSettings, *, credits: int, rate_limit: int) -> FirstStart | None:
    """On a fresh database, create the FIRST_USER account, its key and a dashboard password; None if accounts exist."""

    async def work(db: Store) -> FirstStart | None:
        accounts = Accounts(db)
        if await accounts.count() > 0:
            return None
        key = await accounts.create(FIRST_USER, email=None, credits=credits, rate_limit=rate_limit)
        password = secrets.token_urlsafe(12)  # 16 characters, ~96 bits
        await Sessions(db, ttl_s=0).set_password(key.account_id, password)
        return FirstStart(key, password)

    return await _with_db(settings, work)


async def add_credits(settings: ServiceSettings, *, username: str, amount: int, note: str | None = None) -> int:
    """Top an account up (or take credits back); its new balance. The credit history records it with `note`."""
    async def work(db: Store) -> int:
        return await Accounts(db).add_credits(username, amount, note=note)

    return await _with_db(settings, work)


async def credit_history(settings: ServiceSettings, *, username: str, limit: int | None,
                         offset: int | None) -> tuple[int, list[CreditEntry], int]:
    """An account's balance, one page of its credit history (newest first) and how many entries it has."""
    limit, offset = check_page(limit, offset)

    async def work(db: Store) -> tuple[int, list[CreditEntry], int]:
        account_id = await Accounts(db).account_id(username)
        row = await db.read.fetch_one("get_account", {"account_id": account_id})
        entries, total = await CreditHistory(db).page(account_id, limit=limit, offset=offset)
        return int(row["credits"]), entries, total

    return await _with_db(settings, work)


async def account_activity(settings: ServiceSettings, *, username: str, limit: int | None, offset: int | None,
                           action: str | None = None) -> tuple[list[ActivityEntry], int]:
    """One page of an account's activity log (newest first) and how many entries match, as
    GET /v1/account/activity reads it."""
    async def work(db: Store) -> tuple[list[ActivityEntry], int]:
        account_id = await Accounts(db).account_id(username)
        entries, page = await ActivityLog(db, log_days=0).page(account_id, limit=limit, offset=offset, action=action)
        return entries, page.total

    return await _with_db(settings, work)


async def password_still(settings: ServiceSettings, *, username: str, password: str) -> bool:
    """Whether `password` still signs `username` in: the first start's generated one, changed meanwhile (`phonos
    users set-password` while the models loaded), is not printed as if it did."""
    async def work(db: Store) -> bool:
        row = await db.read.fetch_one("account_by_username", {"username": username})
        return row is not None and await asyncio.to_thread(password_matches, row["password_hash"], password)

    return await _with_db(settings, work)


async def password_holder(settings: ServiceSettings, preferred: str) -> str | None:
    """Accounts.password_holder on the settings' store (SQLite or PostgreSQL)."""
    async def work(db: Store) -> str | None:
        return await Accounts(db).password_holder(preferred)

    return await _with_db(settings, work)


async def set_password(settings: ServiceSettings, *, username: str, password: str) -> None:
    """Set the dashboard password; the account's open sessions are signed out."""

    async def work(db: Store) -> None:
        account_id = await Accounts(db).account_id(username)
        await Sessions(db, ttl_s=0).set_password(account_id, password)

    await _with_db(settings, work)


@dataclass(frozen=True)
class Locked:
    """What `phonos accounts lock` ended (`lock_account`)."""

    keys_revoked: int
    sessions_ended: int
    had_password: bool
    shares_revoked: int
    webhooks_deleted: int
    active_jobs: int  # pending or running: they run on, charged as ever, their results kept


async def lock_account(settings: ServiceSettings, *, username: str) -> Locked:
    """Every way into an account ended (someone leaving the lab): `lock_out` on the settings' store."""

    async def work(db: Store) -> Locked:
        return await lock_out(db, await Accounts(db).account_id(username))

    return await _with_db(settings, work)


async def lock_out(db: Store, account_id: int) -> Locked:
    """Every way into an account ended, in one transaction: its API keys revoked (the last one too, expired ones
    too), its dashboard password cleared and its sessions signed out, its share links revoked, its webhooks deleted
    (their receivers get nothing more). Revoking the keys alone left the dashboard session working, and that session
    could make a new key. Its jobs, results and credits stay: `phonos keys add` gives the operator (or a successor) a
    key to them, and with `phonos users set-password` the account is open again. Each change is in the account's
    activity log, by the operator.

    One transaction, the account's row taken first (`lock_account`, as every create of the account's keys, links and
    webhooks takes it): a create either committed before, and is ended here, or runs after and finds its caller
    ended (jobservice/account_lock.py); a sign-in's session needs the password this clears (jobservice/sessions.py).
    Was: a key listing, then a transaction per key, then the rest, while the account's sessions still worked: keys
    made meanwhile survived a lock that said it succeeded, and a key the member revoked meanwhile stopped the lock
    half-way ("already revoked"), with the password and sessions untouched."""
    async with db.transaction() as tx:
        await tx.execute("lock_account", {"account_id": account_id})
        had_password = await tx.fetch_one("clear_password", {"account_id": account_id}) is not None
        stamp = now()
        keys = await tx.fetch_all("revoke_account_api_keys", {"account_id": account_id, "now": stamp})
        for key in keys:
            await record(tx, account_id, Action.API_KEY_REVOKED, target=Target(key_id=key["id"]), details=named(key["name"]))
        sessions = await tx.fetch_all("revoke_account_sessions", {"account_id": account_id, "now": stamp})
        if had_password or sessions:
            await record(tx, account_id, Action.PASSWORD_CHANGED, details={"cleared": True})
        shares = await tx.fetch_all("revoke_account_job_shares", {"account_id": account_id, "now": stamp})
        for share in shares:
            await record(tx, account_id, Action.SHARE_REVOKED,
                         target=Target(job_id=str(share["job_id"]), share_id=str(share["id"])))
        hooks = await tx.fetch_all("delete_account_webhooks", {"account_id": account_id, "now": stamp})
        for hook in hooks:
            await tx.execute("drop_deliveries_of_webhook", {"webhook_id": hook["id"]})
            await record(tx, account_id, Action.WEBHOOK_DELETED, target=Target(webhook_id=hook["id"]),
                         details=deleted_details(hook))
        if keys or sessions:
            await announce_ended(db, tx)  # their open streams end on every job service (jobservice/stream_guard.py)
    active = 0
    for status in ("pending", "running"):  # this account's count alone (account_overview reads every account)
        active += int(await db.read.scalar("count_jobs", {"account_id": account_id, "status": status,
                                                          "model": None, "name": None}))
    return Locked(len(keys), len(sessions), had_password, len(shares), len(hooks), active)


@dataclass(frozen=True)
class AccountOverview:
    """One account as the operator sees it (`phonos accounts list`)."""

    username: str
    email: str | None
    credits: int
    created_at: float
    can_sign_in: bool  # has a dashboard password
    active_keys: int
    last_used_at: float | None  # the latest request with any of its keys, or in a dashboard session
    jobs: int
    active_jobs: int  # pending or running
    max_rate_limit: int  # the most requests per minute any of its keys may be given


async def list_accounts(settings: ServiceSettings) -> list[AccountOverview]:
    async def work(db: Store) -> list[AccountOverview]:
        rows = await db.read.fetch_all("account_overview", {"now": now()})
        return [AccountOverview(
            username=row["username"], email=row["email"], credits=int(row["credits"]),
            created_at=float(row["created_at"]), can_sign_in=bool(row["can_sign_in"]),
            active_keys=int(row["active_keys"]),
            last_used_at=None if row["last_used_at"] is None else float(row["last_used_at"]),
            jobs=int(row["jobs"]), active_jobs=int(row["active_jobs"]), max_rate_limit=int(row["max_rate_limit"]))
            for row in rows]

    return await _with_db(settings, work)


async def accounts_usage(settings: ServiceSettings, *, period: Period, username: str | None,
                         today: date) -> LabUsage:
    """`phonos accounts usage`: every account's requests, credits and jobs over `period` (or `username`'s alone;
    an unknown name is refused), as jobservice/usage_report.py counts them."""
    async def work(db: Store) -> LabUsage:
        account_id = None if username is None else await Accounts(db).account_id(username)
        return await lab_usage(db, period, served_models=settings.models, retention_days=settings.usage_retention_days,
                               today=today, account_id=account_id)

    return await _with_db(settings, work)


async def set_max_rate_limit(settings: ServiceSettings, *, username: str, max_rate_limit: int) -> tuple[int, int]:
    """`phonos accounts update --max-rate-limit`: the account's key ceiling, before and after (Accounts)."""
    return await _with_db(settings, lambda db: Accounts(db).set_max_rate_limit(username, max_rate_limit))


async def list_keys(settings: ServiceSettings, *, username: str) -> list[KeyRecord]:
    async def work(db: Store) -> list[KeyRecord]:
        account_id = await Accounts(db).account_id(username)
        return await ApiKeys(db, default_rate_limit=1).list(account_id)

    return await _with_db(settings, work)


async def _key_account(db: Store, key_id: str) -> int:
    """The account of a key named by its public id (ids are unique across accounts)."""
    account_id = await db.read.scalar("api_key_account", {"id": key_id})
    if account_id is None:
        raise NotFound(f"no API key {echoed_id(key_id)}; see `phonos keys list --username NAME`")
    return int(account_id)


async def key_owner(settings: ServiceSettings, *, key_id: str) -> str:
    """The username of the account a key belongs to (what the CLI's hints name)."""
    async def work(db: Store) -> str:
        row = await db.read.fetch_one("account_limits", {"account_id": await _key_account(db, key_id)})
        return "" if row is None else str(row["username"])

    return await _with_db(settings, work)


async def revoke_key(settings: ServiceSettings, *, key_id: str, confirm_last_key: bool) -> KeyRecord:
    """Revoke a key by its public id."""

    async def work(db: Store) -> KeyRecord:
        account_id = await _key_account(db, key_id)
        return await ApiKeys(db, default_rate_limit=1).revoke(account_id, key_id, confirm_last_key=confirm_last_key)

    return await _with_db(settings, work)


async def update_key(settings: ServiceSettings, *, key_id: str, name: str | None, rate_limit: int | None,
                     expires_in_days: int | None) -> KeyRecord:
    """Rename, re-limit or re-date a key by its public id, as PATCH /v1/keys/{key_id} does (0 days: never expires)."""

    async def work(db: Store) -> KeyRecord:
        account_id = await _key_account(db, key_id)
        return await ApiKeys(db, default_rate_limit=1).update(account_id, key_id, name=name, rate_limit=rate_limit,
                                                              expires_in_days=expires_in_days)

    return await _with_db(settings, work)
