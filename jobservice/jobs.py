"""Job storage: submission with atomic debit, guarded transitions, refunds, queries.

Credits move in the same statement as the job row they belong to (triggers in
sql/migrations/0002_triggers.sql), so a job and its charge, refund or webhook
events are never separated by a crash; the refunded column makes a second
refund of the same job impossible.

A job's stored request (the sequence, PDB text, A3Ms: up to tens of MB) lives in its own table,
`job_inputs`: gets, lists and watch streams read only `jobs` rows (`JobRecord`), and a claim is the one
read of the request (`ClaimedJob`), for dispatch.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

from jobservice import big_work, metrics
from jobservice.db import now
from jobservice.errors import (
    CALLER_GONE_MESSAGE,
    BatchOverQueueLimit,
    CallerGone,
    Conflict,
    InsufficientCredits,
    InvalidTransition,
    NotFound,
    TooManyJobs,
    echoed_id,
)
from jobservice.failures import JobFailure
from jobservice.fairness import NO_CAP
from jobservice.finite_json import loads_finite, without_non_finite
from jobservice.modelspecs.base import ValidatedJob
from jobservice.states import JobStatus
from jobservice.store import ConstraintViolation, Guard, Row, Store

log = logging.getLogger(__name__)
# The shortest name filter the job-name indexes can answer: a trigram index has no entry for 1-2 characters.
TRIGRAM = 3


class RequeueReason(StrEnum):
    """Why a job went back from running to pending (the API's `requeue_reason`): before, a job whose job service
    died or stopped mid-run showed running -> pending -> running and nothing said why, or which run this was."""

    SERVICE_STOPPED = "service_stopped"  # its job service stopped gracefully mid-run: handed back, run not counted
    SERVICE_LOST = "service_lost"  # its job service stopped renewing the lease (died, lost the database): counted
    SERVICE_RESTARTED = "service_restarted"  # its job service was killed mid-run and found it at its start: counted
    MODEL_UNAVAILABLE = "model_unavailable"  # the model server was unavailable before it computed: not counted
    MODEL_RESTARTED = "model_restarted"  # the model's process stopped during the run (a crash): counted


@dataclass(frozen=True)
class QueuePlace:
    """Where a pending job stands in its model's queue (the `queue_place` query says how it is estimated)."""

    jobs_ahead: int  # jobs of its model that will start before it; 0: it is next
    model_running: int  # jobs of its model running now, on every job service


@dataclass(frozen=True)
class JobRecord:
    id: str
    account_id: int
    model: str
    name: str | None
    status: JobStatus
    credits_used: int
    refunded: int
    attempts: int
    error: str | None
    error_code: str | None  # a jobservice.failures.FailureKind for failed jobs
    result: dict[str, Any] | None  # {"metrics", "metadata", "artifacts": [{format, file, media_type}]}
    created_at: float
    updated_at: float
    started_at: float | None = None  # the start of the latest run (claim); None while never run
    finished_at: float | None = None  # when it reached completed, failed or cancelled
    results_deleted_at: float | None = None  # when result retention deleted its files (jobservice/result_retention.py)
    requeue_reason: RequeueReason | None = None  # why it last went back from running to pending; None: never did
    requeued_at: float | None = None  # when it did
    max_attempts: int | None = None  # the runs it may have, as the service that handed it back counted them
    place: QueuePlace | None = None  # read only where asked for (`JobStore.with_place`), and only while pending

    @property
    def attempt(self) -> int:
        """The number of its current run, or of its next one while it waits after a hand-back (a run handed back
        uncounted keeps its number); 0 while it never ran."""
        if self.status == JobStatus.PENDING and self.requeue_reason is not None:
            return self.attempts + 1
        return self.attempts

    @classmethod
    def from_row(cls, row: Row) -> JobRecord:
        return cls(
            id=row["id"],
            account_id=int(row["account_id"]),
            model=row["model"],
            name=row["name"],
            status=JobStatus(row["status"]),
            credits_used=int(row["credits_used"]),
            refunded=int(row["refunded"]),
            attempts=int(row["attempts"]),
            error=row["error"],
            error_code=row["error_code"],
            result=loads_finite(row["result_json"]) if row["result_json"] else None,
            created_at=float(row["created_at"]),
            updated_at=float(row["updated_at"]),
            started_at=_optional_float(row["started_at"]),
            finished_at=_optional_float(row["finished_at"]),
            results_deleted_at=_optional_float(row["results_deleted_at"]),
            requeue_reason=_requeue_reason(row),
            requeued_at=_optional_float(row["requeued_at"]),
            max_attempts=None if row["max_attempts"] is None else int(row["max_attempts"]),
        )


async def with_places(db: Store, jobs: list[JobRecord]) -> list[JobRecord]:
    """`jobs`, the pending ones with their places in the queue: one query for them all (`queue_places`), none when
    none is pending. Read after the jobs: one that started meanwhile gets no place rather than a wrong one."""
    places = await queue_places(db, [job.id for job in jobs if job.status == JobStatus.PENDING])
    return [replace(job, place=places[job.id]) if job.id in places else job for job in jobs]


async def queue_places(db: Store, ids: list[str]) -> dict[str, QueuePlace]:
    """The places of the jobs of `ids` still waiting, by id (one query; none for no ids)."""
    if not ids:
        return {}
    rows = await db.read.fetch_all("queue_places", {"ids": json.dumps(ids)})
    return {row["id"]: QueuePlace(int(row["jobs_ahead"]), int(row["model_running"])) for row in rows}


async def with_place(db: Store, job: JobRecord) -> JobRecord:
    return (await with_places(db, [job]))[0]


@dataclass(frozen=True)
class ClaimedJob:
    """A job that dispatch has just claimed, with its stored request (read by the claim, and only there).

    The request's JSON text is decoded when first asked for, not by the claim: a big AlphaFold2 job's (50 MB, ~0.13 s)
    is decoded in a thread, with the tensors built from it (jobservice/dispatch.py `_request`)."""

    record: JobRecord
    request_json: str

    @classmethod
    def from_row(cls, row: Row) -> ClaimedJob:
        return cls(JobRecord.from_row(row), row["request_json"])

    @property
    def request(self) -> ValidatedJob:
        # Kept once decoded, without functools.cached_property: on Python 3.11 it holds one lock for every instance
        # while it computes, so a small job's decode on the loop waited for a big one's in a thread (seconds of a
        # frozen loop). Two threads decoding the same job at once would each get an equal value.
        cached: ValidatedJob | None = self.__dict__.get("_request")
        if cached is None:
            request = big_work.loads(self.request_json)  # json.loads' value; a 50 MB A3M's decoded a piece at a time
            cached = ValidatedJob(sequence=request["sequence"], params=request["params"])
            object.__setattr__(self, "_request", cached)  # frozen: the cache is not a field
        return cached

    @property
    def id(self) -> str:
        return self.record.id

    @property
    def model(self) -> str:
        return self.record.model


def _request_texts(requests: list[dict[str, Any]]) -> list[str]:
    return [big_work.dumps(request) for request in requests]  # json.dumps' text, the GIL handed on meanwhile


def _requeue_reason(row: Row) -> RequeueReason | None:
    """The row's reason; None for a code this version does not know (a newer service wrote it) rather than a
    job that cannot be read."""
    value = row["requeue_reason"]
    try:
        return None if value is None else RequeueReason(value)
    except ValueError:
        return None


def _optional_float(value: object) -> float | None:
    return None if value is None else float(value)  # type: ignore[arg-type]


@dataclass(frozen=True)
class NewJob:
    model: str
    name: str | None
    request: ValidatedJob
    cost: int
    # The route that submitted it (jobservice/routes.py's template): usage counts its refund there.
    endpoint: str = "/v1/predict"


@dataclass(frozen=True)
class JobCounts:
    total: int
    completed: int
    active: int
    failed: int
    cancelled: int


@dataclass(frozen=True)
class Lease:
    """Who runs a claimed job on a shared store, and how long the claim holds without renewal."""

    owner: str
    seconds: float


class JobStore:
    """Jobs on either store (jobservice/store.py). Transitions made by dispatch carry its `owner` on a shared
    store: a service whose lease was taken over cannot complete, fail or requeue the job any more."""

    def __init__(self, db: Store, on_event_queued: Callable[[], None] = lambda: None,
                 on_transition: Callable[[], None] = lambda: None) -> None:
        self._db = db
        # Wakes the webhook sender after a transaction that queued deliveries has committed.
        self._on_event_queued = on_event_queued
        # Wakes the watch hub after a commit that logged job events (jobservice/watch.py).
        self._on_transition = on_transition

    async def submit(self, account_id: int, jobs: list[NewJob], guard: Guard[list[str]] | None = None, *,
                     max_queued: int | None = None, still_wanted: Callable[[], bool] | None = None) -> list[str]:
        """Insert jobs and their stored requests; a trigger debits each cost in the same statement.
        InsufficientCredits if short; TooManyJobs if the account would have more than `max_queued` jobs
        waiting (counted under a per-account lock, in the same transaction as the inserts), BatchOverQueueLimit
        when `jobs` alone are more than that (waiting cannot help).

        `guard`: a keyed submission's Idempotency-Key claim, checked first in the transaction of the jobs, and the
        response that names their ids, stored last in it (jobservice/idempotency.py).

        `still_wanted`: asked last before the commit; False (the caller's deadline passed meanwhile) rolls it all
        back with CallerGone. A deadline that passes during the commit itself cannot be told apart from one after
        it: that is what retrying with the same Idempotency-Key is for."""
        if max_queued is not None and len(jobs) > max_queued:  # no wait would make room: not TooManyJobs' 429
            raise BatchOverQueueLimit(
                f"This submission has {len(jobs)} jobs, but an account may have at most {max_queued} jobs waiting to "
                f"run on this server, so it can never be accepted whole. Split it into batches of at most {max_queued} "
                "jobs and submit each once the previous ones have started.", limit=max_queued)
        # The stored requests' JSON text before the transaction: a big AlphaFold2 job's (50 MB: 0.2-0.34 s) in a
        # thread (jobservice/big_work.py), so everyone else's calls go on meanwhile; cancelled there, nothing is
        # written.
        requests = [{"sequence": job.request.sequence, "params": job.request.params} for job in jobs]
        texts = await big_work.off_loop(big_work.text_size(requests), _request_texts, requests)
        ids = [str(uuid.uuid4()) for _ in jobs]
        stamp = now()
        rows = [
            {"id": job_id, "account_id": account_id, "model": job.model, "name": job.name,
             "request_json": text, "credits_used": job.cost, "endpoint": job.endpoint, "now": stamp}
            for job_id, job, text in zip(ids, jobs, texts, strict=True)
        ]
        try:
            async with self._db.transaction() as tx:
                if guard is not None:  # first: a stale owner's submission is refused before it is charged
                    await guard.check(tx)
                if max_queued is not None:
                    await tx.execute("lock_account_jobs", {"account_id": account_id})
                    queued = int(await tx.scalar("count_queued_jobs", {"account_id": account_id}))
                    if queued + len(rows) > max_queued:
                        raise TooManyJobs(
                            f"This account has {queued} jobs waiting to run and may have at most {max_queued}; "
                            f"this submission of {len(rows)} would pass that. Wait for some to start, or cancel "
                            "some, then submit again.", limit=max_queued, waiting=queued)
                await tx.execute_many("insert_job", rows)
                await tx.execute_many("insert_job_input", rows)
                if guard is not None:
                    await guard.done(tx, ids)
                if still_wanted is not None and not still_wanted():
                    raise CallerGone(CALLER_GONE_MESSAGE)
        except ConstraintViolation as exc:
            if exc.kind != "check":
                raise
            current = await self._db.read.fetch_one("get_account", {"account_id": account_id})
            available = int(current["credits"]) if current else 0
            total = sum(j.cost for j in jobs)
            # "Submit fewer jobs" is advice for a batch only: for one job it read as nonsense.
            one = len(jobs) == 1
            subject = "This job costs" if one else f"These {len(jobs)} jobs cost"
            way_out = "Ask" if one else "Submit fewer jobs, or ask"
            raise InsufficientCredits(
                f"{subject} {total} credits but the balance is {available}. {way_out} the server's operator for more "
                "credits (an account cannot add its own)."
            ) from None
        for job in jobs:
            metrics.job_submitted(job.model, job.cost)
        self._on_transition()
        return ids

    async def get(self, account_id: int, job_id: str) -> JobRecord:
        row = await self._db.read.fetch_one("get_job", {"id": job_id, "account_id": account_id})
        if row is None:
            raise NotFound(f"Job {echoed_id(job_id)} not found")
        return JobRecord.from_row(row)

    async def with_place(self, job: JobRecord) -> JobRecord:
        return await with_place(self._db, job)

    async def with_places(self, jobs: list[JobRecord]) -> list[JobRecord]:
        return await with_places(self._db, jobs)

    async def stored_request(self, account_id: int, job_id: str) -> tuple[str, str | None, ValidatedJob]:
        """A job's model, name and the request its spec accepted; NotFound when it is not the account's or was
        deleted."""
        row = await self._db.read.fetch_one("get_job_input", {"id": job_id, "account_id": account_id})
        if row is None:
            raise NotFound(f"Job {echoed_id(job_id)} not found")
        text = str(row["request_json"])
        request = await big_work.off_loop(len(text), big_work.loads, text)  # a 50 MB A3M's: not on the loop
        return str(row["model"]), row["name"], ValidatedJob(sequence=request["sequence"], params=request["params"])

    async def delete(self, account_id: int, job_id: str) -> bool:
        """Forget a finished job (its owner asked): its stored request, webhook deliveries and share links go and its row is
        cleared and hidden from every read of the API; the caller removes its result files after. False when it was already gone
        (another delete won the race)."""
        async with self._db.transaction() as tx:
            deleted = await tx.fetch_one("delete_job", {"id": job_id, "account_id": account_id, "now": now()})
            if deleted is not None:
                await tx.execute("delete_job_input", {"id": job_id})
                await tx.execute("delete_job_deliveries", {"id": job_id})
                await tx.execute("delete_job_shares", {"id": job_id})
        return deleted is not None

    async def page(
        self, account_id: int, *, status: str | None, model: str | None, limit: int, offset: int, name: str | None = None,
        after_seq: int | None = None,
    ) -> tuple[list[JobRecord], int]:
        """Up to `limit` jobs, newest first, at `offset` or after the job whose seq is `after_seq`; and how many
        the filters match in all."""
        params = {"account_id": account_id, "status": status, "model": model, "name": name, "limit": limit,
                  "offset": offset, "after_seq": after_seq}
        # A name of 3 or more characters (after lowering) has trigrams: its queries read the name index's candidates
        # (migrations 0081 / PostgreSQL 0031). A shorter one has none and keeps the account's walk: a 1-2 character
        # needle mostly matches often, so the page fills (LIMIT) after a few rows; the worst case, one that matches
        # nothing, reads the account's jobs as every search did before (bench/query_scale.py: 25-30 ms for the list
        # and 34 for its total on SQLite, 12-14 and 14 on PostgreSQL, at 22,000 jobs).
        # (A NUL, which the API refuses, would end the FTS5 phrase: such a needle keeps the old query too.)
        suffix = "_named" if name is not None and len(name.lower()) >= TRIGRAM and "\x00" not in name else ""
        rows = await self._db.read.fetch_all(("list_jobs" if after_seq is None else "list_jobs_after") + suffix, params)
        total = await self._db.read.scalar("count_jobs" + suffix, params)
        return [JobRecord.from_row(r) for r in rows], int(total)

    async def seq_of(self, account_id: int, job_id: str) -> int | None:
        """A job's place in its account's list (a deleted job's too: its row stays); None when not the account's."""
        seq = await self._db.read.scalar("job_seq", {"id": job_id, "account_id": account_id})
        return None if seq is None else int(seq)

    async def counts(self, account_id: int) -> JobCounts:
        row = await self._db.read.fetch_one("job_counts", {"account_id": account_id})
        assert row is not None
        return JobCounts(int(row["total"]), int(row["completed"]), int(row["active"]), int(row["failed"]),
                         int(row["cancelled"]))

    async def cancel(self, account_id: int, job_id: str, guard: Guard[JobRecord] | None = None) -> JobRecord:
        """pending → cancelled (refunded) or running → cancelled (compute already spent, not refunded). `guard`: a
        keyed cancel's Idempotency-Key claim, checked and its response stored in the cancel's transaction."""
        async with self._db.transaction() as tx:
            if guard is not None:
                await guard.check(tx)
            row = await tx.fetch_one("cancel_job", {"id": job_id, "account_id": account_id, "now": now()})
            if row is not None and guard is not None:
                await guard.done(tx, JobRecord.from_row(row))
        if row is None:
            existing = await self._db.read.fetch_one("get_job", {"id": job_id, "account_id": account_id})
            if existing is None:
                raise NotFound(f"Job {echoed_id(job_id)} not found")
            raise Conflict(f"Job {job_id} is {existing['status']}; only pending or running jobs can be cancelled")
        job = self._transitioned(row)
        metrics.job_finished(job)
        return job

    async def claim(self, job_id: str) -> ClaimedJob | None:
        """pending → running; None when the job is no longer pending (cancelled meanwhile)."""
        row = await self._db.write_one("claim_job", {"id": job_id, "now": now()})
        return None if row is None else self._claimed(row)

    async def claim_next(self, model: str, lease: Lease, max_running: int = NO_CAP) -> ClaimedJob | None:
        """The next pending job of `model` by the fair order (jobservice/fairness.py), now running under
        `lease` (shared store: claims of a model one at a time, so the counts are exact); None if none, or
        if every waiting account already has `max_running` jobs of the model running."""
        async with self._db.transaction() as tx:
            await tx.execute("lock_model_claims", {"model": model})
            row = await tx.fetch_one("claim_next_job", {"model": model, "owner": lease.owner, "now": now(),
                                                        "max_running": max_running, "lease_s": lease.seconds})
        return None if row is None else self._claimed(row)

    def _claimed(self, row: Row) -> ClaimedJob:
        """A claim's row: announced to watchers and counted (time waited) on both stores alike."""
        self._transitioned(row)
        job = ClaimedJob.from_row(row)
        metrics.job_started(job.record)
        return job

    async def complete(self, job_id: str, result: dict[str, Any], owner: str | None = None) -> JobRecord:
        result, not_numbers = without_non_finite(result)
        if not_numbers:  # stored as null: a NaN there would make the job unreadable (jobservice/finite_json.py)
            log.warning("job %s: its result held values that are not numbers, stored as null: %s", job_id,
                        ", ".join(not_numbers[:10]) + (f" and {len(not_numbers) - 10} more" if len(not_numbers) > 10 else ""))
        row = await self._db.write_one("complete_job", {"id": job_id, "result_json": json.dumps(result, allow_nan=False),
                                                        "owner": owner, "now": now()})
        if row is None:
            raise InvalidTransition(f"job {job_id} is no longer running" + (" here" if owner else ""))
        job = self._transitioned(row)
        metrics.job_finished(job)
        return job

    async def fail(self, job_id: str, failure: JobFailure, owner: str | None = None) -> JobRecord | None:
        """pending|running → failed, refunded by the rule in jobservice.failures. None if already terminal
        (or, with `owner`, if its lease went to another service)."""
        row = await self._db.write_one("fail_job", {"id": job_id, "error": failure.message,
                                                    "error_code": str(failure.kind), "refund": failure.refund,
                                                    "owner": owner, "now": now()})
        if row is None:
            return None
        job = self._transitioned(row)
        metrics.job_finished(job, cause=failure.cause)  # an out-of-memory counts apart from its error code
        return job

    async def status(self, job_id: str) -> JobStatus | None:
        value = await self._db.read.scalar("job_status", {"id": job_id})
        return None if value is None else JobStatus(value)

    async def renew(self, ids: Iterable[str], lease: Lease) -> set[str]:
        """Extend the lease of the owner's running jobs; the ids it still holds."""
        async with self._db.transaction() as tx:
            rows = await tx.fetch_all("renew_leases", {"ids": list(ids), "owner": lease.owner,
                                                       "lease_s": lease.seconds, "now": now()})
        return {r["id"] for r in rows}

    async def reclaim_expired(self, max_attempts: int, gave_up: JobFailure) -> tuple[list[tuple[str, str]], int]:
        """Running jobs whose lease expired: back to pending ((id, model) of each), or failed with a refund
        once they have had `max_attempts` runs (their count)."""
        stamp = now()
        async with self._db.transaction() as tx:
            requeued = await tx.fetch_all("requeue_expired", {"now": stamp, "max_attempts": max_attempts})
            failed = await tx.fetch_all("fail_expired", {"now": stamp, "max_attempts": max_attempts,
                                                          "error": gave_up.message, "error_code": str(gave_up.kind)})
        if any(r["webhook_count"] for r in failed):
            self._on_event_queued()
        if requeued or failed:
            self._on_transition()
        return [(r["id"], r["model"]) for r in requeued], len(failed)

    def _transitioned(self, row: Row) -> JobRecord:
        # The jobs_webhook_events trigger queued deliveries in the same statement; wake the sender.
        if row["webhook_count"]:
            self._on_event_queued()
        self._on_transition()  # and the jobs_event_on_transition trigger logged the state change
        return JobRecord.from_row(row)

    async def requeue(self, job_id: str, owner: str | None = None, *,
                      reason: RequeueReason = RequeueReason.SERVICE_RESTARTED,
                      max_attempts: int | None = None) -> JobRecord | None:
        """running → pending, for a job whose process died: the run it had counts among its attempts. `reason`
        and `max_attempts` are stored with it, for its owner to read."""
        row = await self._db.write_one("requeue_job", {"id": job_id, "owner": owner, "now": now(),
                                                       "reason": str(reason), "max_attempts": max_attempts})
        if row is None:
            return None
        self._on_transition()
        return JobRecord.from_row(row)

    async def release(self, job_id: str, owner: str | None = None, *,
                      reason: RequeueReason = RequeueReason.SERVICE_STOPPED,
                      max_attempts: int | None = None) -> JobRecord | None:
        """running → pending without counting the run (a graceful stop, or a model server found unavailable
        before the job could compute: `reason`). None if it is no longer running (here)."""
        row = await self._db.write_one("release_job", {"id": job_id, "owner": owner, "now": now(),
                                                       "reason": str(reason), "max_attempts": max_attempts})
        if row is None:
            return None
        self._on_transition()
        return JobRecord.from_row(row)

    async def fail_waiting(self, model: str, failure: JobFailure, owner: str | None = None) -> list[JobRecord]:
        """Every pending job of `model` fails at once, refunded (the model server stayed unavailable for the
        whole window); on a shared store not while another job service runs the model."""
        async with self._db.transaction() as tx:
            rows = await tx.fetch_all("fail_waiting_jobs", {"model": model, "error": failure.message,
                                                            "error_code": str(failure.kind), "owner": owner,
                                                            "now": now()})
        jobs = [self._transitioned(row) for row in rows]
        for job in jobs:
            metrics.job_finished(job)
        return jobs

    async def orphaned(self) -> list[tuple[str, int]]:
        """(job id, attempts) of jobs left running; the data-dir lock proves their process is gone."""
        return [(r["id"], int(r["attempts"])) for r in await self._db.read.fetch_all("orphaned_jobs")]

    async def has_pending(self, model: str) -> bool:
        """Whether a job of `model` waits to be claimed."""
        return bool(await self._db.read.scalar("model_has_pending_job", {"model": model}))

    async def pending(self) -> list[tuple[str, str, int]]:
        """(job id, model, account id) of every pending job, oldest first."""
        return [(r["id"], r["model"], int(r["account_id"])) for r in await self._db.read.fetch_all("pending_jobs")]
