"""Share links: a completed job's results for whoever holds the link, without an account.

A link is `/shared/<token>`: the token is 32 random bytes (256 bits, url-safe), shown once when the link is made;
the table keeps its SHA-256 (like API keys and dashboard sessions), so a leaked database opens no link. A link
names one job, reads only (the job and its files), and stops working when it expires, when its owner revokes it
(its row is deleted), or when the job is deleted (its links go in the deletion's transaction, jobservice/jobs.py).
An unknown, revoked or expired token and a deleted job all read as the same NotFound, so a link's holder cannot
tell them apart. Once result retention deleted the job's files, its links answer ResultsGone (410) as the owner's
downloads do.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from jobservice.account_lock import lock_account
from jobservice.activity import Action, Target, record
from jobservice.db import now
from jobservice.errors import Conflict, InvalidArgument, LimitReached, NotFound, echoed_id
from jobservice.jobs import JobRecord
from jobservice.key_policy import calling_key_expiry, check_within
from jobservice.states import JobStatus
from jobservice.store import Row, Store

SHARED_PATH = "/shared/"
DEFAULT_DAYS = 30  # long enough for a colleague to look, short enough that a forgotten link goes by itself
MAX_DAYS = 365
MAX_ACTIVE_PER_JOB = 20  # working links of one job: bounds the rows a caller can make
DAY_S = 86400.0
# What every refused token reads as (unknown, revoked, expired, the job deleted): never which.
NO_SUCH_LINK = "This share link does not exist: it may have been revoked or have expired"


@dataclass(frozen=True)
class ShareRecord:
    id: str
    job_id: str
    created_at: float
    expires_at: float


@dataclass(frozen=True)
class SharedJob:
    job: JobRecord
    expires_at: float  # when the link stops working


def token_hash(token: str) -> str:
    # A fast hash is right: tokens are 256-bit random, so there is nothing to brute-force.
    return hashlib.sha256(token.encode("utf-8", "surrogateescape")).hexdigest()


def share_url(token: str) -> str:
    return SHARED_PATH + token


def _record(row: Row) -> ShareRecord:
    return ShareRecord(str(row["id"]), str(row["job_id"]), float(row["created_at"]), float(row["expires_at"]))


class JobShares:
    def __init__(self, db: Store) -> None:
        self._db = db

    async def create(self, job: JobRecord, account_id: int, expires_in_days: int | None) -> tuple[ShareRecord, str]:
        """A new link to the account's completed `job`: the record and the token (shown once)."""
        days = DEFAULT_DAYS if expires_in_days is None else expires_in_days
        if not 1 <= days <= MAX_DAYS:
            raise InvalidArgument(f"expires_in_days must be between 1 and {MAX_DAYS}, got {days}")
        _check_shareable(job)
        token = secrets.token_urlsafe(32)
        made_at = now()
        share = ShareRecord("shr_" + secrets.token_hex(8), job.id, made_at, made_at + days * DAY_S)
        # A link reads without a key: made by an expiring key, it must end by that key's expiry (key_policy), or a
        # leaked week-long key kept every result it could read open for a year after it expired or was revoked.
        check_within(await calling_key_expiry(self._db, account_id), share.expires_at, made_at)
        async with self._db.transaction() as tx:
            # Parallel creates count one at a time (at most MAX_ACTIVE_PER_JOB); a caller ended meanwhile (`phonos
            # accounts lock`) is refused: the link would read on without it.
            await lock_account(tx, account_id)
            await tx.execute("prune_job_shares", {"job_id": job.id, "now": share.created_at})
            row = await tx.fetch_one("count_job_shares", {"job_id": job.id, "now": share.created_at})
            if row is not None and int(row["shares"]) >= MAX_ACTIVE_PER_JOB:
                raise LimitReached(f"A job can have at most {MAX_ACTIVE_PER_JOB} working share links; revoke one first")
            made = await tx.fetch_one("insert_job_share", {
                "id": share.id, "job_id": job.id, "account_id": account_id, "token_hash": token_hash(token),
                "now": share.created_at, "expires_at": share.expires_at,
            })
            if made is None:  # deleted, or its results deleted, since it was read
                raise Conflict(f"Job {job.id} has no results to share any more")
            await record(tx, account_id, Action.SHARE_CREATED, target=Target(job_id=job.id, share_id=share.id),
                         details={"expires_in_days": days})
        return share, token

    async def list(self, job_id: str) -> list[ShareRecord]:
        rows = await self._db.read.fetch_all("list_job_shares", {"job_id": job_id, "now": now()})
        return [_record(r) for r in rows]

    async def revoke(self, account_id: int, job_id: str, share_id: str) -> None:
        """Revoke a link of the account's job (its owner checked by the caller)."""
        async with self._db.transaction() as tx:
            row = await tx.fetch_one("delete_job_share", {"id": share_id, "job_id": job_id})
            if row is None:
                raise NotFound(f"Share link {echoed_id(share_id)} of job {echoed_id(job_id)} not found")
            await record(tx, account_id, Action.SHARE_REVOKED, target=Target(job_id=job_id, share_id=share_id))

    async def resolve(self, token: str) -> SharedJob:
        """The job a working link names; NotFound (always the same message) otherwise."""
        if not token or len(token) > 100:
            raise NotFound(NO_SUCH_LINK)
        row = await self._db.read.fetch_one("shared_job", {"token_hash": token_hash(token), "now": now()})
        if row is None:
            raise NotFound(NO_SUCH_LINK)
        return SharedJob(JobRecord.from_row(row), float(row["share_expires_at"]))


def _check_shareable(job: JobRecord) -> None:
    if job.status != JobStatus.COMPLETED or job.result is None:
        raise Conflict(f"Job {job.id} is {job.status}; only a completed job's results can be shared")
    if job.results_deleted_at is not None:
        raise Conflict(f"Job {job.id} has no result files any more (result retention deleted them); "
                       "there is nothing to share")
