"""An account's limited creates take turns: at most 20 active keys, 20 working links per job, the webhooks per
account. Each counts, then inserts, in one transaction; two of them in parallel each counted 19 and both inserted.

SQLite's one writer (BEGIN IMMEDIATE) already serialises the transactions. On PostgreSQL (READ COMMITTED) the
`lock_account` query locks the account's row (`FOR UPDATE`) until the transaction ends, and the count that follows
(a later statement, a fresh snapshot) sees every create committed before it, on every job service of the database.
"""

from __future__ import annotations

from jobservice.store import Transaction


async def lock_account(tx: Transaction, account_id: int) -> None:
    """Hold the account's limited creates until `tx` ends; take it before counting."""
    await tx.execute("lock_account", {"account_id": account_id})
