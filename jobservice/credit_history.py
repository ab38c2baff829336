"""The credit history: why an account's balance is what it is (GET /v1/account/credits, `phonos credits history`).

Every change of a balance writes one entry in the same statement or transaction (the triggers of
sql/migrations/0066_credit_history.sql and sql/postgres/migrations/0016_credit_history.sql; an operator's
top-up in `Accounts.add_credits`), so an account's entries sum to its balance. This module only reads them.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, replace
from typing import Any

from jobservice import opaque_ids
from jobservice.opaque_ids import NumberCipher
from jobservice.store import Store


class EntryKind(enum.StrEnum):
    GRANT = "grant"  # an opening balance, an operator's top-up or take-back, the balance before the history
    CHARGE = "charge"  # a job's submission
    REFUND = "refund"  # a refunded failure, a cancel while pending (jobservice/failures.py)


@dataclass(frozen=True)
class CreditEntry:
    id: int  # as CreditHistory.page gives it: the id shown (opaque_ids), not the row number
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
    """The entries of an account. Every id in and out is the one shown (jobservice/opaque_ids.py): the row
    numbers are one counter for every account, so a user's ids would tell how many balance changes the whole
    platform made between two of theirs. The store's secret is read on first use (`ids`: one given instead)."""

    def __init__(self, db: Store, ids: NumberCipher | None = None) -> None:
        self._db = db
        self._ids = ids

    def use(self, ids: NumberCipher) -> None:
        """The store's cipher, as the job service read it at start (one read for every kind of id)."""
        self._ids = ids

    async def ids(self) -> NumberCipher:
        if self._ids is None:  # made by migration 0076; the same for every job service on the store
            self._ids = (await opaque_ids.load(self._db)).credits
        return self._ids

    async def page(self, account_id: int, *, limit: int, offset: int,
                   after_id: int | None = None) -> tuple[list[CreditEntry], int]:
        """One page of the account's entries, newest first (at `offset` or after the entry `after_id`), and how
        many it has in all."""
        ids = await self.ids()
        # An id that is no row's (only a cursor `has_entry` let through is passed): row 0, before every entry.
        after = None if after_id is None else ids.number(str(after_id)) or 0
        params = {"account_id": account_id, "limit": limit, "offset": offset, "after_id": after}
        rows = await self._db.read.fetch_all("list_credit_entries" if after_id is None else "list_credit_entries_after",
                                             params)
        total = await self._db.read.scalar("count_credit_entries", params)
        return [replace(entry, id=ids.shown(entry.id)) for entry in map(CreditEntry.from_row, rows)], int(total)

    async def has_entry(self, account_id: int, entry_id: int) -> bool:
        """Whether `entry_id` (as shown) is one of the account's entries. Any number above the cut-off turns back
        into some row number, so this is what refuses a guessed one as a cursor."""
        number = (await self.ids()).number(str(entry_id))
        return number is not None and await self._db.read.fetch_one(
            "credit_entry_exists", {"id": number, "account_id": account_id}) is not None
