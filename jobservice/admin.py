"""Admin operations on a data directory, used by `phonos keys create` and first start."""

from __future__ import annotations

from pathlib import Path

from jobservice.accounts import Accounts, NewKey
from jobservice.db import Database


async def create_key(database_path: Path, *, username: str, email: str | None, credits: int, rate_limit: int) -> NewKey:
    db = await Database.open(database_path)
    try:
        return await Accounts(db).create(username, email=email, credits=credits, rate_limit=rate_limit)
    finally:
        await db.close()


async def ensure_first_account(database_path: Path, *, credits: int, rate_limit: int) -> NewKey | None:
    """On a fresh database, create the `admin` account and return its key; None if accounts exist."""
    db = await Database.open(database_path)
    try:
        accounts = Accounts(db)
        if await accounts.count() > 0:
            return None
        return await accounts.create("admin", email=None, credits=credits, rate_limit=rate_limit)
    finally:
        await db.close()
