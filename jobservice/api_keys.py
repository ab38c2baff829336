"""An account's API keys: list, create, revoke, rename and re-limit (the /v1/keys routes and the CLI).

Rules:
- a key's rate limit is 1 to the account's `max_rate_limit` (set by the operator);
- at most `MAX_ACTIVE_KEYS` active keys per account;
- revoking the account's last active key needs `confirm_last_key`, so a script cannot lock its
  account out of the API by accident (the dashboard and `phonos keys create` can still add keys);
- revoked keys stay listed (revoked_at) and can never be revived;
- a key may expire (`expires_in_days`, 1 to 3650, counted from the request; 0 or unset: never) and may be
  read-only (`scope`); jobservice.key_policy holds both rules. An expired key is not active (it does not
  count towards MAX_ACTIVE_KEYS or as the last working key), stays listed with `expired`, can be revoked,
  and can be given a new expiry by its owner (an update), which makes it work again;
- a key's scope is fixed at creation (a read-only key cannot widen itself, nor can anyone else: create a
  full key instead).
- a key that expires cannot outlive itself: what it creates or sets must expire by its own expiry
  (key_policy.check_within), so that a leaked week-long key cannot make itself or another key permanent.
- a key or session ended after its request authenticated (`phonos accounts lock`, a revoke) makes no key and
  renews none: the create or update checks its caller again in its own transaction (jobservice/account_lock.py).
Authentication reads the database on every request (`jobservice.accounts`), so a revocation or a
new limit applies to the very next request; a revoked key's open watch streams end before the revoke returns
(`on_revoked`, jobservice/stream_guard.py), and on a shared PostgreSQL at once on every job service. A new expiry
reaches them the same way (`on_expiry_changed`): they end at it, not at the one they opened with.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from jobservice.account_lock import lock_account
from jobservice.accounts import NewKey, check_key_name, insert_key
from jobservice.activity import Action, Target, record
from jobservice.db import now
from jobservice.errors import Conflict, InvalidArgument, LimitReached, NotFound, echoed_id
from jobservice.key_policy import (
    FULL,
    calling_key_expiry,
    check_scope,
    check_within,
    expiry,
    is_expired,
    lifetime,
)
from jobservice.store import Row, Store, Transaction
from jobservice.stream_guard import CredentialsEnded, ExpiryChanged, announce_ended

MAX_ACTIVE_KEYS = 20


class LastActiveKey(InvalidArgument):
    """Revoking this key would leave its account no key that works; `how_to_confirm` is the caller's way to insist
    (the API's field, or the operator CLI's flag)."""

    def __init__(self, key_id: str, how_to_confirm: str) -> None:
        super().__init__(f"{key_id} is this account's last active key: revoking it leaves no key that works with the "
                         f"API. Create another key first, or {how_to_confirm}.")
        self.key_id = key_id


class RateLimitOutOfRange(InvalidArgument):
    """A key's rate limit outside 1 to its account's maximum. Its own type so that the operator's CLI can say how
    to raise the maximum (`phonos accounts update`), which an API caller cannot do and is not told."""

    def __init__(self, rate_limit: int, ceiling: int) -> None:
        super().__init__(f"rate_limit must be between 1 and {ceiling} requests per minute (this account's maximum), "
                         f"got {rate_limit}")
        self.rate_limit, self.ceiling = rate_limit, ceiling


@dataclass(frozen=True)
class KeyRecord:
    id: str
    prefix: str
    name: str | None
    rate_limit: int
    created_at: float
    last_used_at: float | None
    revoked_at: float | None
    expires_at: float | None = None  # None: never expires
    scope: str = FULL

    @property
    def revoked(self) -> bool:
        return self.revoked_at is not None

    def expired(self, at: float | None = None) -> bool:
        """Past its expiry at `at` (default: now)."""
        return is_expired(self.expires_at, now() if at is None else at)

    @classmethod
    def from_row(cls, row: Row) -> KeyRecord:
        return cls(row["id"], row["prefix"], row["name"], int(row["rate_limit"]), float(row["created_at"]),
                   _epoch(row["last_used_at"]), _epoch(row["revoked_at"]), _epoch(row["expires_at"]), row["scope"])


def _epoch(value: float | None) -> float | None:
    return None if value is None else float(value)


class ApiKeys:
    def __init__(self, db: Store, *, default_rate_limit: int, on_revoked: CredentialsEnded | None = None,
                 on_expiry_changed: ExpiryChanged | None = None) -> None:
        self._db = db
        self._default_rate_limit = default_rate_limit
        # The job service's stream guard: a revoked key's open streams end before the revoke returns, and a key's
        # new expiry holds for them from before the update returns. None in the operator CLI (no streams in its
        # process; its NOTIFY, or the services' poll on SQLite, tells them).
        self._on_revoked = on_revoked
        self._on_expiry_changed = on_expiry_changed

    def _revoked(self, key_hashes: Iterable[str]) -> None:
        if self._on_revoked is not None:
            self._on_revoked(key_hashes)

    async def max_rate_limit(self, account_id: int) -> int:
        row = await self._db.read.fetch_one("account_limits", {"account_id": account_id})
        if row is None:
            raise NotFound("Account not found")
        return int(row["max_rate_limit"])

    async def list(self, account_id: int) -> list[KeyRecord]:
        rows = await self._db.read.fetch_all("list_api_keys", {"account_id": account_id})
        return [KeyRecord.from_row(r) for r in rows]

    async def get(self, account_id: int, key_id: str) -> KeyRecord:
        row = await self._db.read.fetch_one("get_api_key", {"id": key_id, "account_id": account_id})
        if row is None:
            raise NotFound(f"API key {echoed_id(key_id)} not found")
        return KeyRecord.from_row(row)

    def _check_rate_limit(self, rate_limit: int, ceiling: int) -> int:
        if not 1 <= rate_limit <= ceiling:
            raise RateLimitOutOfRange(rate_limit, ceiling)
        return rate_limit

    async def create(self, account_id: int, *, name: str | None, rate_limit: int | None,
                     expires_in_days: int | None = None, scope: str | None = None) -> tuple[KeyRecord, NewKey]:
        name = check_key_name(name)
        lifetime_s = lifetime(expires_in_days)
        scope = check_scope(scope)
        ceiling = await self.max_rate_limit(account_id)
        limit = min(self._default_rate_limit, ceiling) if rate_limit is None else rate_limit
        self._check_rate_limit(limit, ceiling)
        stamp = now()
        # The new key's expiry is set from the insert's own clock, a moment later: a second's grace for that.
        check_within(await calling_key_expiry(self._db, account_id), None if lifetime_s is None else stamp + lifetime_s - 1,
                     stamp)
        async with self._db.transaction() as tx:
            # Its caller checked again too: a key made by a key or session that `phonos accounts lock` (or a revoke)
            # ended since this request authenticated is refused, never left working (jobservice/account_lock.py).
            await lock_account(tx, account_id)
            await _room_for_one_more(tx, account_id)
            new = await insert_key(tx, account_id, name=name, rate_limit=limit, lifetime_s=lifetime_s, scope=scope)
            await record(tx, account_id, Action.API_KEY_CREATED, target=Target(key_id=new.key_id),
                         details=key_details(name, scope))
        return await self.get(account_id, new.key_id), new

    async def revoke(self, account_id: int, key_id: str, *, confirm_last_key: bool) -> KeyRecord:
        """LastActiveKey (a 400) for the account's last active key unless `confirm_last_key`."""
        async with self._db.transaction() as tx:
            await lock_account(tx, account_id)  # two revokes of the last two keys: the second counts the first
            current = await tx.fetch_one("get_api_key", {"id": key_id, "account_id": account_id})
            if current is None:
                raise NotFound(f"API key {echoed_id(key_id)} not found")
            if current["revoked_at"] is not None:
                # A state that forbids it (FAILED_PRECONDITION over gRPC, as cancelling a finished job is), not a
                # malformed request: a 400 `Invalid request` over REST either way.
                raise Conflict(f"API key {key_id} is already revoked")
            active = int(await tx.scalar("count_active_keys", {"account_id": account_id, "now": now()}))
            working = not is_expired(current["expires_at"], now())  # an expired key is no loss
            if working and active <= 1 and not confirm_last_key:
                raise LastActiveKey(key_id, "repeat the request with confirm_last_key set to true")
            revoked = await tx.fetch_one("revoke_api_key", {"id": key_id, "account_id": account_id, "now": now()})
            # Its name too: "API key key_69e4... revoked" was all the log said of a key created as "lab robot".
            await record(tx, account_id, Action.API_KEY_REVOKED, target=Target(key_id=key_id),
                         details=named(current["name"]))
            await announce_ended(self._db, tx)
        if revoked is not None:  # committed: its streams end now, before this answer goes out
            self._revoked([revoked["key_hash"]])
        return await self.get(account_id, key_id)

    async def update(self, account_id: int, key_id: str, *, name: str | None, rate_limit: int | None,
                     expires_in_days: int | None = None) -> KeyRecord:
        """`expires_in_days`: None leaves the expiry, 0 clears it (never expires), N days from now sets it."""
        current = await self.get(account_id, key_id)
        if current.revoked:
            raise _revoked_unchanged(key_id)
        if rate_limit is not None:
            self._check_rate_limit(rate_limit, await self.max_rate_limit(account_id))
        if name is None and rate_limit is None and expires_in_days is None:
            raise InvalidArgument("nothing to change: set name, rate_limit and/or expires_in_days")
        stamp = now()
        expires_at = None if expires_in_days is None else expiry(expires_in_days, stamp)
        if expires_in_days is not None:
            check_within(await calling_key_expiry(self._db, account_id), expires_at, stamp)
        new_expiry = None
        async with self._db.transaction() as tx:
            # As a create: a new expiry brings a key back to life, so its caller is checked again here (and the key:
            # `phonos accounts lock` may have revoked both since the request authenticated).
            await lock_account(tx, account_id)
            if name is not None or rate_limit is not None:
                # A blank name clears it ("Unnamed key"), as a key created without one; it was taken for "no change"
                # while the answer said "API key updated".
                if await tx.fetch_one("update_api_key", {
                        "id": key_id, "account_id": account_id, "rename": name is not None,
                        "name": check_key_name(name), "rate_limit": rate_limit}) is None:
                    raise _revoked_unchanged(key_id)
            if expires_in_days is not None:
                if current.expired():  # renewing an expired key makes one more key work
                    await _room_for_one_more(tx, account_id)
                new_expiry = await tx.fetch_one("set_api_key_expiry", {"id": key_id, "account_id": account_id,
                                                                       "expires_at": expires_at})
                if new_expiry is None:
                    raise _revoked_unchanged(key_id)
                # A shorter expiry ends the key's streams sooner, on every job service (their round reads it).
                await announce_ended(self._db, tx)
            changed = [field for field, given in (("name", name), ("rate_limit", rate_limit),
                                                  ("expiry", expires_in_days)) if given is not None]
            # Its name before the change, and after it when renamed (null: cleared): "what is it called now, and who
            # renamed it so" was not in the log.
            renamed = {"new_name": check_key_name(name)} if name is not None else {}
            await record(tx, account_id, Action.API_KEY_UPDATED, target=Target(key_id=key_id),
                         details={"changed": changed, **named(current.name), **renamed})
        if new_expiry is not None and self._on_expiry_changed is not None:  # committed: before this answer goes out
            self._on_expiry_changed(new_expiry["key_hash"], expires_at)
        return await self.get(account_id, key_id)


def _revoked_unchanged(key_id: str) -> InvalidArgument:
    return InvalidArgument(f"API key {key_id} is revoked; revoked keys cannot be changed")


async def _room_for_one_more(tx: Transaction, account_id: int) -> None:
    """LimitReached when the account has MAX_ACTIVE_KEYS working keys; in a transaction that took `lock_account`."""
    active = int(await tx.scalar("count_active_keys", {"account_id": account_id, "now": now()}))
    if active >= MAX_ACTIVE_KEYS:
        raise LimitReached(f"An account can have at most {MAX_ACTIVE_KEYS} active keys; revoke one first")


def named(name: str | None) -> dict[str, str]:
    """A key's name as an activity entry's details carry it (none for a key without one)."""
    return {} if name is None else {"name": name}


def key_details(name: str | None, scope: str) -> dict[str, str]:
    """What the activity log says of a new key: its name and scope (never the key)."""
    return {**named(name), "scope": scope}
