"""Accounts and API keys: creation (admin CLI, first start) and authentication."""

from __future__ import annotations

from dataclasses import dataclass

from jobservice.db import now
from jobservice.errors import InvalidArgument, Unauthenticated
from jobservice.keys import display_prefix, hash_key, new_api_key
from jobservice.store import ConstraintViolation, Store


@dataclass(frozen=True)
class Principal:
    """The authenticated caller of one request."""

    account_id: int
    key_hash: str
    rate_limit: int  # requests per minute for this key


@dataclass(frozen=True)
class NewKey:
    api_key: str  # shown once; only its hash is stored
    account_id: int


class Accounts:
    def __init__(self, db: Store) -> None:
        self._db = db
        # Keys are immutable once created (no revocation route yet), so a hit never goes stale.
        self._cache: dict[str, Principal] = {}

    async def create(
        self, username: str, *, email: str | None, credits: int, rate_limit: int
    ) -> NewKey:
        """A new account with one key; usernames are unique."""
        if not username or len(username) > 64:
            raise InvalidArgument("username must be 1-64 characters")
        if credits < 0:
            raise InvalidArgument("credits must be 0 or more")
        if rate_limit < 1:
            raise InvalidArgument("rate limit must be at least 1 request per minute")
        api_key = new_api_key()
        async with self._db.transaction() as tx:
            try:
                account_id = await tx.scalar(
                    "insert_account", {"username": username, "email": email, "credits": credits, "now": now()}
                )
            except ConstraintViolation:
                raise InvalidArgument(f"username {username!r} is taken; choose another") from None
            await tx.execute(
                "insert_api_key",
                {
                    "key_hash": hash_key(api_key),
                    "account_id": account_id,
                    "prefix": display_prefix(api_key),
                    "rate_limit": rate_limit,
                    "now": now(),
                },
            )
        return NewKey(api_key=api_key, account_id=int(account_id))

    async def count(self) -> int:
        return int(await self._db.read.scalar("count_accounts"))

    async def authenticate(self, authorization: str | None) -> Principal:
        """The principal of an `Authorization: Bearer pk_…` value, or Unauthenticated."""
        if not authorization:
            raise Unauthenticated("Missing API key. Send it as 'Authorization: Bearer <your key>'.")
        scheme, _, token = authorization.strip().partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise Unauthenticated("Malformed Authorization header. Use 'Authorization: Bearer <your key>'.")
        key_hash = hash_key(token)
        principal = self._cache.get(key_hash)
        if principal is None:
            row = await self._db.read.fetch_one("get_key", {"key_hash": key_hash})
            if row is None:
                raise Unauthenticated("Invalid API key. Check the key, or create one with 'phonos keys create'.")
            principal = Principal(account_id=int(row["account_id"]), key_hash=key_hash, rate_limit=int(row["rate_limit"]))
            self._cache[key_hash] = principal
        return principal
