"""Admin operations on the store, used by `phonos keys create` and first start."""

from __future__ import annotations

from jobservice.accounts import Accounts, NewKey
from jobservice.store import open_store
from phonos_config.service import ServiceSettings


async def create_key(settings: ServiceSettings, *, username: str, email: str | None, credits: int,
                     rate_limit: int) -> NewKey:
    db = await open_store(settings)
    try:
        return await Accounts(db).create(username, email=email, credits=credits, rate_limit=rate_limit)
    finally:
        await db.close()


async def ensure_first_account(settings: ServiceSettings, *, credits: int, rate_limit: int) -> NewKey | None:
    """On a fresh store, create the `admin` account and return its key; None if accounts exist."""
    db = await open_store(settings)
    try:
        accounts = Accounts(db)
        if await accounts.count() > 0:
            return None
        return await accounts.create("admin", email=None, credits=credits, rate_limit=rate_limit)
    finally:
        await db.close()
