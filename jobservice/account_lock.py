"""An account's creates take turns, with each other and with `phonos accounts lock`.

Limits: at most 20 active keys, 20 working links per job, the webhooks per account. Each counts, then inserts, in
one transaction; two of them in parallel each counted 19 and both inserted.

Locks: a create by one of the account's keys or dashboard sessions is checked when the request authenticates, and
inserted a moment later. `phonos accounts lock` (jobservice/admin.py) ending every key and session in between left
what the create made working: a key made from a session of a locked account outlived the lock. So the create checks
its caller again inside its own transaction, after taking the account: a caller that has ended is refused with the
401 its next request would get (`Accounts.authenticate`, `Sessions.authenticate`), and nothing is made.

SQLite's one writer (BEGIN IMMEDIATE) already serialises the transactions. On PostgreSQL (READ COMMITTED) the
`lock_account` query locks the account's row (`FOR UPDATE`) until the transaction ends, and what follows (a later
statement, a fresh snapshot) sees every change committed before it, on every job service of the database. The
account lock takes that row first too: a create either commits before the lock's statements run (and they end what
it made), or reads its caller after the lock's commit (and finds it ended).
"""

from __future__ import annotations

from jobservice.accounts import check_key_works
from jobservice.activity import CALLER, ActorKind
from jobservice.sessions import CALLING_SESSION, check_session_live
from jobservice.store import Transaction


async def lock_account(tx: Transaction, account_id: int) -> None:
    """Hold the account's creates until `tx` ends, take it before counting; then Unauthenticated (and nothing
    written) when the call's key or session (jobservice.activity.CALLER) no longer works. The operator's commands
    (no such caller) are not checked: `phonos keys add` is how a locked account is opened again."""
    await tx.execute("lock_account", {"account_id": account_id})
    caller = CALLER.get()
    if caller.kind == ActorKind.API_KEY and caller.key_id is not None:
        await check_key_works(tx, account_id, caller.key_id)
    elif caller.kind == ActorKind.SESSION:
        token_hash = CALLING_SESSION.get()
        if token_hash is not None:
            await check_session_live(tx, account_id, token_hash)
