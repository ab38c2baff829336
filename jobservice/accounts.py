"""Accounts and API keys: creation (admin CLI, first start) and authentication of API keys.

Every request looks its key up in SQLite (one indexed read on the reader connection, grouped with
the other reads in flight). There is deliberately no in-process cache: a key revoked by the API, the
dashboard or `phonos keys revoke` (another process writing the same database) must stop working on
the very next request, a changed rate limit or expiry must apply at once, and a key stops at its expiry
(jobservice.key_policy) to the second.
"""

from __future__ import annotations

from dataclasses import dataclass

from jobservice.activity import Action, Target, record
from jobservice.db import now
from jobservice.emails import check_email
from jobservice.errors import InvalidArgument, Unauthenticated
from jobservice.key_policy import FULL, READ_ONLY, KeyExpired, check_scope, is_expired, lifetime
from jobservice.keys import display_prefix, hash_key, new_api_key, new_key_id
from jobservice.labels import check_label
from jobservice.store import ConstraintViolation, Store, Transaction
from phonos_config.json_text import json_value_text

MAX_KEY_NAME = 100
MAX_NOTE = 200  # a credit history entry's reason
# The largest balance, credit change or rate limit: the API carries them as int32 (GET /v1/account, the credit
# history, GET /v1/keys), so a larger one stored would make those answers a 500 for good.
MAX_AMOUNT = 2**31 - 1
FIRST_KEY_NAME = "first key"


@dataclass(frozen=True)
class Principal:
    """The authenticated caller of one request: an API key, or a dashboard session."""

    account_id: int
    key_hash: str  # what the rate limiter counts under: the key's hash, or "session:<token hash>"
    rate_limit: int  # requests per minute
    key_id: str | None = None  # the public id of the key; None for a session
    read_only: bool = False  # a read-only key: only the rpcs marked (phonos.v1.doc).read_only
    key_name: str | None = None  # the key's name, for the activity log
    # When the key or session stops working (epoch s; None: a key that never expires), as authentication read it:
    # an open watch stream ends then (jobservice/stream_guard.py).
    expires_at: float | None = None

    @property
    def via_session(self) -> bool:
        return self.key_id is None


@dataclass(frozen=True)
class NewKey:
    api_key: str  # shown once; only its hash is stored
    account_id: int
    key_id: str


def check_key_name(name: str | None) -> str | None:
    if name is None:
        return None
    name = name.strip()
    if len(name) > MAX_KEY_NAME:
        raise InvalidArgument(f"name is longer than {MAX_KEY_NAME} characters")
    check_label("name", name)
    return name or None


async def insert_key(tx: Transaction, account_id: int, *, name: str | None, rate_limit: int,
                     lifetime_s: float | None = None, scope: str = FULL) -> NewKey:
    """A new key row in an open transaction; returns the secret (never stored). `lifetime_s` (key_policy.lifetime):
    it expires that long after the creation time written here, so "90 days" is exactly 90 days of its own."""
    api_key = new_api_key()
    key_id = new_key_id()
    at = now()
    await tx.execute(
        "insert_api_key",
        {"key_hash": hash_key(api_key), "id": key_id, "account_id": account_id, "prefix": display_prefix(api_key),
         "name": name, "rate_limit": rate_limit, "now": at, "expires_at": None if lifetime_s is None else at + lifetime_s,
         "scope": scope},
    )
    return NewKey(api_key=api_key, account_id=account_id, key_id=key_id)


def invalid_key() -> Unauthenticated:
    """What a request with an unknown or revoked key is answered (401)."""
    # `keys add`, not `keys create` (which makes a new account): a person who lost their key needs another for the
    # account they have.
    return Unauthenticated("Invalid API key. It may have been revoked; check the key, or create one in the dashboard's "
                           "API keys page (an operator adds one on the server with `phonos keys add --username NAME`).",
                           bearer_error="invalid_token")


async def check_key_works(tx: Transaction, account_id: int, key_id: str) -> None:
    """Unauthenticated, as `Accounts.authenticate` would answer the key's next request, unless the account's key
    `key_id` still works: a create checks its calling key again in its own transaction (jobservice/account_lock.py)."""
    row = await tx.fetch_one("get_api_key", {"id": key_id, "account_id": account_id})
    if row is None or row["revoked_at"] is not None:
        raise invalid_key()
    if is_expired(row["expires_at"], now()):
        raise KeyExpired(float(row["expires_at"]))


class Accounts:
    def __init__(self, db: Store) -> None:
        self._db = db

    async def create(
        self, username: str, *, email: str | None, credits: int, rate_limit: int, max_rate_limit: int | None = None,
        expires_in_days: int | None = None, scope: str | None = None,
    ) -> NewKey:
        """A new account with one key; usernames are unique. The account's key ceiling defaults to
        the larger of 60/min and the first key's limit. The key may expire and may be read-only
        (jobservice.key_policy), as a key made with POST /v1/keys."""
        if not username or len(username) > 64:
            raise InvalidArgument("username must be 1-64 characters")
        check_label("username", username)
        if username != username.strip():
            raise InvalidArgument(f"username {json_value_text(username)} starts or ends with a space; remove it")
        email = check_email(email)
        if credits < 0:
            raise InvalidArgument("credits must be 0 or more")
        if credits > MAX_AMOUNT:
            raise InvalidArgument(f"credits must be at most {MAX_AMOUNT}, got {credits}")
        if rate_limit < 1:
            raise InvalidArgument("rate limit must be at least 1 request per minute")
        if rate_limit > MAX_AMOUNT:
            raise InvalidArgument(f"rate limit must be at most {MAX_AMOUNT} requests per minute, got {rate_limit}")
        lifetime_s = lifetime(expires_in_days)
        scope = check_scope(scope)
        ceiling = max(60, rate_limit) if max_rate_limit is None else max_rate_limit
        if ceiling < rate_limit:
            raise InvalidArgument(f"the account's max rate limit ({ceiling}) is below the key's ({rate_limit})")
        if ceiling > MAX_AMOUNT:
            raise InvalidArgument(f"max rate limit must be at most {MAX_AMOUNT} requests per minute, got {ceiling}")
        async with self._db.transaction() as tx:
            # "Ada" beside "ada" is one person to every reader (and a typo of the operator's): refused like a
            # username taken. Sign-in stays exact; accounts made before this rule keep their names.
            alike = await tx.fetch_one("account_by_username_any_case", {"username": username})
            if alike is not None:
                raise InvalidArgument(f"username {json_value_text(username)} differs from the account "
                                      f"{json_value_text(alike['username'])} only in letter case, which reads as "
                                      "the same name; choose another")
            try:
                account_id = await tx.scalar(
                    "insert_account", {"username": username, "email": email, "credits": credits, "now": now()}
                )
            except ConstraintViolation:
                raise InvalidArgument(f"username {json_value_text(username)} is taken; choose another") from None
            await tx.execute("set_max_rate_limit", {"account_id": account_id, "max_rate_limit": ceiling})
            new = await insert_key(tx, int(account_id), name=FIRST_KEY_NAME, rate_limit=rate_limit,
                                   lifetime_s=lifetime_s, scope=scope)
            await record(tx, new.account_id, Action.API_KEY_CREATED, target=Target(key_id=new.key_id),
                         details={"name": FIRST_KEY_NAME, "scope": scope})
            return new

    async def add_credits(self, username: str, amount: int, *, note: str | None = None) -> int:
        """Add `amount` credits (negative: take them back) to the account's balance; the new balance. The
        balance never goes below 0: the accounts CHECK refuses that, as it refuses an overdraft. The change
        goes into the credit history in the same transaction, with `note` (or what it was) as its reason."""
        if amount == 0:
            raise InvalidArgument("amount must not be 0")
        if abs(amount) > MAX_AMOUNT:
            raise InvalidArgument(f"amount must be between -{MAX_AMOUNT} and {MAX_AMOUNT}, got {amount}")
        note = (note or "").strip() or ("added by an operator" if amount > 0 else "taken back by an operator")
        if len(note) > MAX_NOTE:
            raise InvalidArgument(f"note must be at most {MAX_NOTE} characters")
        check_label("note", note)  # printable text: a NUL or an escape sequence is refused there
        try:
            return await self._add_credits(username, amount, note)
        except ConstraintViolation:
            # Read after the refused transaction (PostgreSQL reads nothing more in it): the balance the operator
            # may take back at most, which the refusal did not say.
            found = await self._db.read.fetch_one("account_by_username", {"username": username})
            current = await self._db.read.fetch_one("get_account", {"account_id": found["id"]}) if found else None
            has = f"has {int(current['credits'])} credits" if current else f"has fewer than {-amount} credits"
            raise InvalidArgument(f"{json_value_text(username)} {has}: taking {-amount} would put the balance below "
                                  "0, which it cannot go") from None

    async def _add_credits(self, username: str, amount: int, note: str) -> int:
        """add_credits' transaction; an overdraft raises the store's ConstraintViolation."""
        async with self._db.transaction() as tx:
            row = await tx.fetch_one("add_credits", {"username": username, "amount": amount})
            if row is None:
                raise InvalidArgument(f"no account named {json_value_text(username)}")
            balance = int(row["credits"])
            # Raised inside the transaction: the balance is left as it was. Only a grant is refused: taking credits
            # back from a balance stored past the ceiling (before it was enforced) is how it gets repaired.
            if amount > 0 and balance > MAX_AMOUNT:
                raise InvalidArgument(f"{json_value_text(username)} would have {balance} credits; a balance is at most "
                                      f"{MAX_AMOUNT}")
            await tx.execute("insert_credit_grant", {"account_id": row["id"], "now": now(), "amount": amount,
                                                     "balance": balance, "note": note})
            # Who topped the account up, beside the credit history's what and why.
            await record(tx, int(row["id"]), Action.CREDITS_ADDED, details={"amount": amount})
        return balance

    async def set_max_rate_limit(self, username: str, max_rate_limit: int) -> tuple[int, int]:
        """Change the account's key ceiling (the operator's `phonos accounts update --max-rate-limit`); the old and
        the new one. Below a key's own limit is refused naming those keys: lowering them is a choice of the
        account's (which pipeline slows down), not one to make silently here. Recorded in its activity log."""
        if not 1 <= max_rate_limit <= MAX_AMOUNT:
            raise InvalidArgument(f"max rate limit must be between 1 and {MAX_AMOUNT} requests per minute, "
                                  f"got {max_rate_limit}")
        account_id = await self.account_id(username)
        async with self._db.transaction() as tx:
            await tx.execute("lock_account", {"account_id": account_id})  # a key made meanwhile waits for this
            row = await tx.fetch_one("account_limits", {"account_id": account_id})
            before = int(row["max_rate_limit"]) if row is not None else 0
            above = [f"{key['id']} ({key['rate_limit']}/min)"
                     for key in await tx.fetch_all("list_api_keys", {"account_id": account_id})
                     if key["revoked_at"] is None and int(key["rate_limit"]) > max_rate_limit]
            if above:
                raise InvalidArgument(
                    f"{len(above)} of {json_value_text(username)}'s keys allow more than {max_rate_limit} requests "
                    f"per minute: {', '.join(above)}; lower them first (`phonos keys update KEY_ID --rate-limit "
                    f"{max_rate_limit}`) or revoke them")
            if before != max_rate_limit:
                await tx.execute("set_max_rate_limit", {"account_id": account_id, "max_rate_limit": max_rate_limit})
                await record(tx, account_id, Action.MAX_RATE_LIMIT_CHANGED,
                             details={"from": before, "to": max_rate_limit})
        return before, max_rate_limit

    async def count(self) -> int:
        return int(await self._db.read.scalar("count_accounts"))

    async def password_holder(self, preferred: str) -> str | None:
        """`preferred` when that account has a dashboard password, else some account that has one, else None
        (nobody can sign in yet): what `phonos serve`'s sign-in line says."""
        row = await self._db.read.fetch_one("password_holder", {"username": preferred})
        return None if row is None else str(row["username"])

    async def account_id(self, username: str) -> int:
        row = await self._db.read.fetch_one("account_by_username", {"username": username})
        if row is None:
            raise InvalidArgument(f"no account named {json_value_text(username)}")
        return int(row["id"])

    async def authenticate(self, authorization: str | None) -> Principal:
        """The principal of an `Authorization: Bearer pk_…` value, or Unauthenticated."""
        if not authorization:
            raise Unauthenticated("Missing API key. Send it as 'Authorization: Bearer <your key>'.")
        scheme, _, token = authorization.strip().partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise Unauthenticated("Malformed Authorization header. Use 'Authorization: Bearer <your key>'.",
                                  bearer_error="invalid_request")
        key_hash = hash_key(token)
        row = await self._db.read.fetch_one("get_key", {"key_hash": key_hash})
        if row is None:
            raise invalid_key()
        if is_expired(row["expires_at"], now()):
            raise KeyExpired(float(row["expires_at"]))
        return Principal(account_id=int(row["account_id"]), key_hash=key_hash, rate_limit=int(row["rate_limit"]),
                         key_id=row["id"], read_only=row["scope"] == READ_ONLY, key_name=row["name"],
                         expires_at=None if row["expires_at"] is None else float(row["expires_at"]))
