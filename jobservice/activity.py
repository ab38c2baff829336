"""The account activity log: who changed an account's access, how they were signed in, and from where
(GET /v1/account/activity, `phonos account activity`, the operator's `phonos accounts activity`).

A lab sharing one service must answer "who created this key, revoked it, changed my password, shared this
job, and from where?". Each change writes one entry **in the transaction that makes it** (`record(tx, …)`
from ApiKeys, Sessions, Webhooks, JobShares and Accounts), so a change is never missing from the log: if
the entry cannot be written the change is rolled back and the caller gets the error. The one entry not
tied to a change, a failed sign-in, is written after it, and a failure to write it is logged and does not
turn the caller's 401 into a 500.

Who did it comes from `CALLER`, a ContextVar the servicer sets for each authenticated call (the key or the
dashboard session, the client address as the edge determined it, the browser's User-Agent on a sign-in,
sign-out or password change: `clean_user_agent`, as the dashboard and the CLI show it).
Outside an API call the only code that changes keys, passwords, credits or webhooks is the operator's
(jobservice/admin.py, `phonos keys|users|credits`), so that is the default: `{"kind": "operator"}`, with no
address.

Never stored: a key, a webhook secret, a session or share-link token, a password, a webhook URL (a URL may
carry a token in its query; its host is kept).
"""

from __future__ import annotations

import enum
import json
import logging
from contextvars import ContextVar
from dataclasses import dataclass, replace
from typing import Any

from jobservice import opaque_ids
from jobservice.db import now
from jobservice.errors import InvalidArgument, json_value_text
from jobservice.opaque_ids import NumberCipher
from jobservice.paging import PageInfo, check_page, cursor, read_page
from jobservice.periodic import PurgedLog
from jobservice.store import Store, Transaction

log = logging.getLogger(__name__)

PURGE_BATCH = 1000
MAX_USER_AGENT = 300


class Action(enum.StrEnum):
    API_KEY_CREATED = "api_key.created"
    API_KEY_REVOKED = "api_key.revoked"
    API_KEY_UPDATED = "api_key.updated"  # details.changed: which of name, rate_limit, expiry
    SIGNED_IN = "session.signed_in"
    SIGN_IN_FAILED = "session.sign_in_failed"  # a wrong password for this account (unknown usernames: nobody's)
    SIGNED_OUT = "session.signed_out"
    SIGNED_OUT_EVERYWHERE = "session.signed_out_everywhere"
    SESSION_ENDED = "session.ended"  # another of the account's sessions, ended from the "Signed in" list
    PASSWORD_CHANGED = "password.changed"
    PASSWORD_CHANGE_FAILED = "password.change_failed"  # a signed-in session gave a wrong current password
    WEBHOOK_CREATED = "webhook.created"
    WEBHOOK_DELETED = "webhook.deleted"
    WEBHOOK_SECRET_ROTATED = "webhook.secret_rotated"  # details.expire_current_after_s: the old secret's overlap
    SHARE_CREATED = "share.created"
    SHARE_REVOKED = "share.revoked"
    CREDITS_ADDED = "credits.added"  # by an operator (a negative amount: taken back); the credit history has why
    MAX_RATE_LIMIT_CHANGED = "account.max_rate_limit_changed"  # by an operator; details: from, to (per minute)


ACTIONS = tuple(str(a) for a in Action)


class ActorKind(enum.StrEnum):
    API_KEY = "api_key"
    SESSION = "session"  # the dashboard
    OPERATOR = "operator"  # the operator's commands on the store


@dataclass(frozen=True)
class Caller:
    """Who makes the change being recorded, and from where."""

    kind: ActorKind
    key_id: str | None = None  # the key it authenticated with (kind api_key)
    key_name: str | None = None
    client_address: str | None = None  # None for an operator
    user_agent: str | None = None  # the browser's, on a dashboard sign-in, sign-out or password change


OPERATOR = Caller(ActorKind.OPERATOR)
# The caller of the API call being served (set by jobservice.servicer per call; each grpc.aio call is a task).
CALLER: ContextVar[Caller] = ContextVar("phonos_activity_caller", default=OPERATOR)


@dataclass(frozen=True)
class Target:
    """What the change was made to: a key, a webhook, or one of a job's share links."""

    key_id: str | None = None
    webhook_id: str | None = None
    job_id: str | None = None
    share_id: str | None = None


NO_TARGET = Target()


def clean_user_agent(user_agent: str | None) -> str | None:
    """A User-Agent as stored (activity log, sessions): what anyone may send, shown in the dashboard's activity
    card and printed by `phonos account activity` to a terminal, where an escape sequence would act. Control and
    format characters (ANSI escapes, bidirectional overrides, NUL) are dropped, other white space (tabs, line
    breaks) runs become one space; at most MAX_USER_AGENT characters; None when nothing is left."""
    if not user_agent:
        return None
    kept = "".join(c if c.isprintable() else " " if c.isspace() else "" for c in user_agent[:4 * MAX_USER_AGENT])
    return " ".join(kept.split())[:MAX_USER_AGENT] or None


def _row(account_id: int, action: Action, target: Target, details: dict[str, Any] | None,
         caller: Caller) -> dict[str, Any]:
    return {
        "account_id": account_id, "now": now(), "action": str(action), "actor_kind": str(caller.kind),
        "actor_key_id": caller.key_id, "actor_key_name": caller.key_name, "client_address": caller.client_address,
        "user_agent": clean_user_agent(caller.user_agent), "key_id": target.key_id,
        "webhook_id": target.webhook_id, "job_id": target.job_id, "share_id": target.share_id,
        "details": json.dumps(details, sort_keys=True) if details else None,
    }


async def record(tx: Transaction, account_id: int, action: Action, *, target: Target = NO_TARGET,
                 details: dict[str, Any] | None = None) -> None:
    """One entry, in the transaction of the change it records, by the call's caller (CALLER)."""
    await tx.execute("insert_activity", _row(account_id, action, target, details, CALLER.get()))


async def record_after(db: Store, account_id: int, action: Action, *, details: dict[str, Any] | None = None) -> None:
    """An entry about something that changed nothing (a failed sign-in): written on its own; a failure to
    write it is logged, never raised, so the caller still gets the answer it earned."""
    try:
        await db.write_one("insert_activity", _row(account_id, action, NO_TARGET, details, CALLER.get()))
    except Exception:
        log.exception("could not record %s for account %d", action, account_id,
                      extra={"action": "activity.record_failed"})


@dataclass(frozen=True)
class ActivityEntry:
    id: int  # as ActivityLog.page gives it: the id shown (opaque_ids), not the row number
    created_at: float  # epoch seconds
    action: str
    actor: Caller
    target: Target
    details: dict[str, Any]

    @classmethod
    def from_row(cls, row: Any) -> ActivityEntry:
        actor = Caller(ActorKind(row["actor_kind"]), row["actor_key_id"], row["actor_key_name"],
                       row["client_address"], row["user_agent"])
        target = Target(row["key_id"], row["webhook_id"], row["job_id"], row["share_id"])
        return cls(int(row["id"]), float(row["created_at"]), row["action"], actor, target,
                   json.loads(row["details"]) if row["details"] else {})


def check_action(action: str | None) -> str | None:
    """The `action` filter: one of ACTIONS, or None (unset or empty)."""
    if not action:
        return None
    if action not in ACTIONS:
        raise InvalidArgument(f"action must be one of {', '.join(ACTIONS)}, got {json_value_text(action)}")
    return action


def _entry_id(entry: ActivityEntry) -> str:
    return str(entry.id)


class ActivityLog(PurgedLog):
    """Reads and purges the log (entries are written by `record` in the changes' own transactions)."""

    def __init__(self, db: Store, *, log_days: float, ids: NumberCipher | None = None) -> None:
        super().__init__(db, log_days=log_days, name="activity-purge", action="activity.purge_failed")
        # How an entry's row number is shown (jobservice/opaque_ids.py): one counter for every account, so plain
        # ids would tell a user how busy everyone else was. The store's secret, read on first use.
        self._ids = ids

    def use(self, ids: NumberCipher) -> None:
        """The store's cipher, as the job service read it at start (one read for every kind of id)."""
        self._ids = ids

    async def ids(self) -> NumberCipher:
        if self._ids is None:  # made by migration 0076; the same for every job service on the store
            self._ids = (await opaque_ids.load(self._db)).activity
        return self._ids

    async def page(self, account_id: int, *, limit: int | None, offset: int | None,
                   starting_after: str | None = None,
                   action: str | None = None) -> tuple[list[ActivityEntry], PageInfo]:
        """One page of the account's entries, newest first, at `offset` or after the entry `starting_after`."""
        action = check_action(action)
        starting_after = cursor(starting_after)
        limit, offset = check_page(limit, offset, starting_after=starting_after)
        ids = await self.ids()

        async def read(limit: int, offset: int, after_id: int | None) -> tuple[list[ActivityEntry], int]:
            params = {"account_id": account_id, "action": action, "limit": limit, "offset": offset,
                      "after_id": after_id}
            total = int(await self._db.read.scalar("count_activity", params))
            rows = await self._db.read.fetch_all("list_activity" if after_id is None else "list_activity_after", params)
            return [replace(entry, id=ids.shown(entry.id)) for entry in map(ActivityEntry.from_row, rows)], total

        async def place(entry_id: str) -> int | None:
            # Any number above the cut-off turns back into some row number: only one of the caller's is a cursor.
            number = ids.number(entry_id)
            if number is None or await self._db.read.fetch_one(
                    "activity_entry_exists", {"id": number, "account_id": account_id}) is None:
                return None
            return number

        return await read_page(starting_after, limit=limit, offset=offset, read=read, place=place,
                               what="the id of one of your activity entries", id_of=_entry_id)

    async def purge(self) -> int:
        """Delete entries older than the retention, a transaction per batch; how many went."""
        return await self._purge_batches("purge_activity", now() - self._log_s, PURGE_BATCH)
