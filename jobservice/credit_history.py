"""The credit history: why an account's balance is what it is (GET /v1/account/credits, `phonos credits history`).

Every change of a balance writes one entry in the same statement or transaction (the triggers of
sql/migrations/0066_credit_history.sql and sql/postgres/migrations/0016_credit_history.sql; an operator's
top-up in `Accounts.add_credits`), so an account's entries sum to its balance. This module only reads them.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

from jobservice.store import Store


class EntryKind(enum.StrEnum):
    GRANT = "grant"  # an opening balance, an operator's top-up or take-back, the balance before the history
    CHARGE = "charge"  # a job's submission
    REFUND = "refund"  # a refunded failure, a cancel while pending (jobservice/failures.py)


@dataclass(frozen=True)
class CreditEntry:
    id: int
    created_at: float  # epoch seconds
    amount: int  # signed: + credits in, - credits out
    balance_after: int
    kind: EntryKind
    job_id: str | None
    job_deleted: bool  # the job was deleted (DELETE /v1/jobs/{id}); its entries stay
    note: str | None

    @classmethod
    def from_row(cls, row: Any) -> CreditEntry:
        return cls(id=int(row["id"]), created_at=float(row["created_at"]), amount=int(row["amount"]),
                   balance_after=int(row["balance_after"]), kind=EntryKind(row["kind"]), job_id=row["job_id"],
                   job_deleted=bool(row["job_deleted"]), note=row["note"])


class CreditHistory:
    def __init__(self, db: Store) -> None:
        self._db = db

    async def page(self, account_id: int, *, limit: int, offset: int,
                   after_id: int | None = None) -> tuple[list[CreditEntry], int]:
        """One page of the account's entries, newest first (at `offset` or after the entry `after_id`), and how
        many it has in all."""
        params = {"account_id": account_id, "limit": limit, "offset": offset, "after_id": after_id}
        rows = await self._db.read.fetch_all("list_credit_entries" if after_id is None else "list_credit_entries_after",
                                             params)
        total = await self._db.read.scalar("count_credit_entries", params)
        return [CreditEntry.from_row(r) for r in rows], int(total)

    async def has_entry(self, account_id: int, entry_id: int) -> bool:
        return await self._db.read.fetch_one("credit_entry_exists", {"id": entry_id, "account_id": account_id}) is not None
