"""The job service's use cases, independent of gRPC: what each /v1 route does."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from jobservice import call_charge, metrics, opaque_ids, tracing
from jobservice.accounts import Accounts, NewKey
from jobservice.activity import ActivityEntry, ActivityLog
from jobservice.api_keys import ApiKeys, KeyRecord
from jobservice.auth import Authenticator
from jobservice.auth_throttle import AuthThrottle
from jobservice.credit_history import CreditEntry, CreditHistory
from jobservice.dispatch import Dispatcher
from jobservice.egress import receiver_session
from jobservice.errors import (
    Conflict,
    InvalidArgument,
    NotFound,
    PhonosError,
    ResultsGone,
    ServiceUnavailable,
    echoed_id,
    json_value_text,
)
from jobservice.idempotency import Idempotency
from jobservice.inference import Inference
from jobservice.job_ids import canonical_job_id
from jobservice.jobs import JobCounts, JobRecord, JobStore, Lease, NewJob
from jobservice.labels import check_label
from jobservice.modelspecs.base import ModelSpec, StructureFile, ValidatedJob
from jobservice.modelspecs.registry import SPEC_MODULES
from jobservice.paging import PageInfo, check_page, cursor, numeric_id, read_page
from jobservice.ratelimit import RateLimiter, RateLimits, SharedRateLimiter
from jobservice.result_retention import ResultRetention
from jobservice.results import ResultStore
from jobservice.schema_guard import SchemaTooNew
from jobservice.sessions import Sessions
from jobservice.shares import JobShares, SharedJob, ShareRecord
from jobservice.states import TERMINAL, JobStatus
from jobservice.store import (
    CANCEL_CHANNEL,
    JOB_EVENTS_CHANNEL,
    JOBS_CHANNEL,
    WEBHOOKS_CHANNEL,
    Adapted,
    Guard,
    Store,
)
from jobservice.stream_guard import CREDENTIALS_CHANNEL, StreamGuard
from jobservice.usage import UsageRecorder, UsageReport
from jobservice.watch import Event, JobWatcher, KeepAlive, WatchHub
from jobservice.webhook_deliveries import DeliveryRecord, WebhookDeliveries
from jobservice.webhook_sender import WebhookSender
from jobservice.webhooks import Rotation, TestResult, WebhookRecord, Webhooks
from phonos_config.service import ServiceSettings

log = logging.getLogger(__name__)

MAX_NAME_LENGTH = 200
STRUCTURE_MODELS = ("esmfold", "alphafold2")
RELAXED_PDB = "relaxed_pdb"  # the Amber-relaxed structure, made by a job asked with relax
# /v1/health's database state when a newer job service migrated the PostgreSQL schema past this one.
DATABASE_SCHEMA_TOO_NEW = "schema_too_new"
# Whether the caller still waits for the answer (grpc: its deadline has not passed, it has not cancelled).
StillWanted = Callable[[], bool]


def always() -> bool:
    return True


ALL = "all"  # the list filters' value for "no filter" (the seed's default for status and model)


@dataclass(frozen=True)
class Submission:
    job_id: str
    model: str
    cost: int


@dataclass(frozen=True)
class BatchItem:
    index: int
    model: str
    submission: Submission | None
    error: PhonosError | None


@dataclass(frozen=True)
class Download:
    content: bytes
    media_type: str
    file_name: str


@dataclass(frozen=True)
class AccountView:
    id: int
    username: str
    email: str | None
    created_at: float
    credits: int
    jobs: JobCounts


@dataclass(frozen=True)
class SubmitItem:
    model: str
    sequence: str
    name: str | None
    params: Mapping[str, Any]


class AccountJobOutputs:
    """`JobOutputs` for one account: fold-then-dock reads the account's own completed structures."""

    def __init__(self, service: JobService, account_id: int) -> None:
        self._service = service
        self._account_id = account_id

    @property
    def account_id(self) -> int:
        """The submitting account: the slow submission checks take one thread per account (text_checks.py)."""
        return self._account_id

    async def structure_pdb(self, job_id: str) -> StructureFile:
        try:
            job = await self._service.jobs.get(self._account_id, job_id)
        except NotFound:
            raise InvalidArgument(f"protein_pdb refers to job {job_id}, which does not exist in this account") from None
        if job.model not in STRUCTURE_MODELS:
            raise InvalidArgument(f"protein_pdb job {job_id} is a {job.model} job; use an esmfold or alphafold2 job")
        if job.status in TERMINAL and job.status != JobStatus.COMPLETED:  # it never will be completed
            raise InvalidArgument(f"protein_pdb job {job_id} is {job.status}: it has no structure to dock into; "
                                  "fold the protein again, or give a completed job")
        if job.status != JobStatus.COMPLETED:
            raise InvalidArgument(f"protein_pdb job {job_id} is {job.status}; wait until it is completed")
        # The Amber-relaxed structure when the job made one: its clashes are gone, which is what the relax was
        # paid for (docking into the unrelaxed file threw that away unsaid); DiffDock drops its hydrogens.
        relaxed = any(artifact["format"] == RELAXED_PDB for artifact in (job.result or {}).get("artifacts", ()))
        file_format = RELAXED_PDB if relaxed else "pdb"
        try:
            download = await self._service.download(self._account_id, job_id, file_format)
            return StructureFile(download.content, file_format)
        except ResultsGone as exc:  # the submission's input is what is wrong: a 400, not the download's 410
            raise InvalidArgument(f"protein_pdb job {job_id} has no structure to dock into any more. {exc.message}") from None


class JobService:
    def __init__(self, settings: ServiceSettings, db: Store, specs: Mapping[str, ModelSpec],
                 inference: Inference) -> None:
        self.settings = settings
        self.db = db
        self.specs = dict(specs)
        self.inference = inference
        # On a shared store this service's name in job leases and delivery claims.
        self.instance = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.accounts = Accounts(db)
        self.rate_limits: RateLimits = SharedRateLimiter(db) if db.shared else RateLimiter()
        # Before keys and sessions: their revokes end the open streams they held (jobservice/stream_guard.py).
        self.stream_guard = StreamGuard(db, every_s=settings.watch_poll_s)
        self.api_keys = ApiKeys(db, default_rate_limit=settings.default_rate_limit, on_revoked=self.stream_guard.ended,
                                on_expiry_changed=self.stream_guard.expiry_changed)
        # Addresses that keep sending bad keys (the edges' admission); a session signed in lately passes whatever its
        # address did, as a key that worked does: else a brute-forcer behind a lab's NAT shut the dashboard out for
        # everyone there, right after their sign-in succeeded.
        self.auth_throttle = AuthThrottle(settings.edge.auth_failures_per_minute)
        self.sessions = Sessions(db, ttl_s=settings.session_ttl_s, on_ended=self.stream_guard.ended,
                                 on_started=self.auth_throttle.succeeded)
        self.auth = Authenticator(self.accounts, self.sessions, session_rate_limit=settings.session_rate_limit)
        self.sender = WebhookSender(
            db, timeout_s=settings.webhook_timeout_s, max_attempts=settings.webhook_max_attempts,
            backoff_base_s=settings.webhook_backoff_base_s, allow_loopback=settings.webhook_allow_http_loopback,
            per_receiver=settings.webhook_max_concurrent_per_receiver, max_concurrent=settings.webhook_max_concurrent,
            owner=self.instance, networks=settings.webhook_networks,
        )
        self.idempotency = Idempotency(db, settings.idempotency_ttl_s, owner=self.instance, lease_s=settings.job_lease_s)
        self.hub = WatchHub(db, poll_s=settings.watch_poll_s,
                            max_per_account=settings.watch_max_streams_per_account)
        self.watcher = JobWatcher(self.hub, db, max_stream_s=settings.watch_max_stream_s)
        self.jobs = JobStore(db, on_event_queued=self.sender.wake, on_transition=self.hub.wake)
        self.results = ResultStore(settings.results_dir)
        self.retention = ResultRetention(db, self.results, settings.result_retention_days, settings.result_orphan_age_s)
        self.usage = UsageRecorder(db, settings.usage_flush_interval_s, settings.usage_retention_days)
        self.webhooks = Webhooks(
            db, max_per_account=settings.max_webhooks,
            allow_http_loopback=settings.webhook_allow_http_loopback, timeout_s=settings.webhook_timeout_s,
            networks=settings.webhook_networks,
        )
        self.deliveries = WebhookDeliveries(db, log_days=settings.webhook_delivery_log_days)
        self.credits = CreditHistory(db)
        self.activity = ActivityLog(db, log_days=settings.activity_log_days)
        self.shares = JobShares(db)
        self.ids = opaque_ids.PLAIN  # the store's (`start`): how event and delivery row numbers are shown
        self.dispatcher = Dispatcher(
            self.jobs, self.specs, inference, self.results, max_inflight=settings.max_inflight_per_model,
            retry_window_s=settings.triton_retry_window_s, max_attempts=settings.max_attempts,
            timeout_s=settings.triton_timeout_s, storage_retry_window_s=settings.storage_retry_window_s,
            max_running_per_account=settings.max_running_per_account, progress=self.hub,
            lease=Lease(self.instance, settings.job_lease_s) if db.shared else None,
        )

    async def start(self) -> None:
        # First: every id shown from here on (events, deliveries, X-Phonos-Delivery) is the store's opaque one.
        self.ids = await opaque_ids.load(self.db)
        self.deliveries.ids = self.sender.ids = self.ids.deliveries
        # The entries' ciphers from the same read (they read the store's themselves only where no service runs:
        # the operator's CLI).
        self.credits.use(self.ids.credits)
        self.activity.use(self.ids.activity)
        if self.db.shared:  # what the other job services announce
            await self.db.listen(JOBS_CHANNEL, self.dispatcher.announce)
            await self.db.listen(CANCEL_CHANNEL, self.dispatcher.cancel_running)
            await self.db.listen(WEBHOOKS_CHANNEL, lambda _: self.sender.wake())
            await self.db.listen(JOB_EVENTS_CHANNEL, lambda _: self.hub.wake())  # their jobs' state changes
            await self.db.listen(CREDENTIALS_CHANNEL, lambda _: self.stream_guard.wake())  # their revokes, sign-outs
        self.hub.start()
        self.stream_guard.start()
        self.idempotency.start()
        self.usage.start()
        self.sender.start()
        self.retention.start()
        self.deliveries.start()
        self.activity.start()
        self.sessions.failures.start()
        metrics.RESULTS_VOLUME.dirs = (self.settings.data_dir, self.settings.results_dir)
        # A start that waited for its PostgreSQL (db_wait) reclaims no lease until the live services renewed theirs.
        await self.dispatcher.start(database_just_back=getattr(self.db, "reached_after_waiting", False))

    async def stop(self) -> None:
        await self.hub.close()
        await self.stream_guard.close()
        await self.dispatcher.stop()
        await self.sender.stop()
        await self.idempotency.stop()
        await self.usage.stop()
        await self.retention.stop()
        await self.deliveries.stop()
        await self.activity.stop()
        await self.sessions.failures.stop()
        if metrics.RESULTS_VOLUME.dirs == (self.settings.data_dir, self.settings.results_dir):
            metrics.RESULTS_VOLUME.dirs = None
        await self.inference.close()

    # -- health and models --------------------------------------------------------------------------

    async def health(self) -> tuple[str, str, dict[str, str]]:
        """(status, message, components): `operational` when the database, Triton and every served model are
        ready, else `degraded`. A database that cannot be reached is `"database": "unavailable"`: every call
        that needs it answers 503 meanwhile (DatabaseUnavailable), and it recovers on its own once it is back.
        A PostgreSQL schema migrated past this service (a newer job service did it while this one ran) is
        `"database": "schema_too_new"`, degraded as well but never recovering on its own, and the message says
        what to do: an operator who read `unavailable` looked for an outage that was not there."""
        too_new: SchemaTooNew | None = None
        if await self.db.reachable():
            database = "ready"
        else:
            too_new = getattr(self.db, "schema_too_new", None)  # only PostgreSQL's store can find one (jobservice/pg.py)
            database = DATABASE_SCHEMA_TOO_NEW if too_new is not None else "unavailable"
        components = {"database": database,
                      **await self.inference.health([s.triton_model for s in self.specs.values()])}
        # A fleet also lists each endpoint ("triton@host:port"): one that is down is out of rotation and
        # named in the message, but the service is degraded only when a model has no ready endpoint left.
        down = sorted(name for name, state in components.items() if state != "ready" and "@" not in name)
        out = sorted(name for name, state in components.items() if state != "ready" and "@" in name)
        suffix = f"; out of rotation: {', '.join(out)}" if out else ""
        if not down:
            return "operational", "PHONOS API is running" + suffix, components
        if too_new is not None:
            suffix += (f"; the database schema (version {too_new.found}) is newer than this job service knows "
                       f"({too_new.known}): stop this job service, or upgrade it to the version that migrated it")
        elif database != "ready" and getattr(getattr(self.db, "storage", None), "full", False):  # SQLite's (db.py)
            suffix += "; the database's disk is full: free space on it, and writes resume on their own"
        return "degraded", f"PHONOS API is running, but these are not ready: {', '.join(down)}{suffix}", components

    def models(self) -> list[ModelSpec]:
        return list(self.specs.values())

    # -- submission ---------------------------------------------------------------------------------

    def _spec(self, model: str) -> ModelSpec:
        spec = self.specs.get(model)
        if spec is None and not model:  # absent (proto3 reads a missing field as ""): the seed marks it REQUIRED
            raise InvalidArgument(f"model is required. Available models: {', '.join(self.specs)}")
        if spec is None and model in SPEC_MODULES:  # phonos knows it; this deployment does not serve it
            raise InvalidArgument(f"Model {json_value_text(model)} is not served here (the server's PHONOS_MODELS). "
                                  f"Available models: {', '.join(self.specs)}")
        if spec is None:
            raise InvalidArgument(f"Unknown model {json_value_text(model)}. Available models: {', '.join(self.specs)}")
        return spec

    async def _validate(self, account_id: int, item: SubmitItem, endpoint: str) -> NewJob:
        spec = self._spec(item.model)
        # "" is no name, as the job list's `name=` filter reads it: stored as one, it came back as `"name": ""`
        # where an unnamed job has no `name` at all, and the dashboard showed an empty title.
        name = item.name or None
        if name is not None and len(name) > MAX_NAME_LENGTH:
            raise InvalidArgument(f"name is longer than {MAX_NAME_LENGTH} characters")
        check_label("name", name)
        accepted = await spec.validate(item.sequence, item.params, AccountJobOutputs(self, account_id))
        return NewJob(model=item.model, name=name, request=accepted, cost=spec.info.cost_credits,
                      endpoint=endpoint)

    async def submit(self, account_id: int, item: SubmitItem, guard: Guard[Submission] | None = None, *,
                     endpoint: str, still_wanted: StillWanted = always) -> Submission:
        """`guard`: the Idempotency-Key's part of the job's transaction (its claim checked, its response stored).
        `endpoint`: the route template that submitted it (usage counts a refund of the job there).
        `still_wanted`: False once the caller has given up (its deadline passed): nothing is then charged."""
        job = await self._validate(account_id, item, endpoint)
        fence: Guard[list[str]] | None = None
        if guard is not None:
            fence = Adapted(guard, lambda ids: Submission(ids[0], job.model, job.cost))
        [job_id] = await self._charge_and_queue(account_id, [job], fence, still_wanted)
        return Submission(job_id, job.model, job.cost)

    async def _charge_and_queue(self, account_id: int, jobs: list[NewJob], guard: Guard[list[str]] | None = None,
                                still_wanted: StillWanted = always) -> list[str]:
        """Insert (and debit) then queue, as one unit: a caller that gives up meanwhile cannot strand a job."""

        watch = call_charge.current()  # the RPC edge's, for the call's usage row (jobservice/call_charge.py)

        async def insert_then_queue() -> list[str]:
            # A gRPC caller whose deadline passed meanwhile was told DEADLINE_EXCEEDED, yet its job was created and
            # charged: the store asks `still_wanted` last in the jobs' transaction and rolls back (CallerGone).
            ids = await self.jobs.submit(account_id, jobs, guard, max_queued=self.settings.max_queued_per_account,
                                         still_wanted=still_wanted)
            if watch is not None:
                watch.credits += sum(job.cost for job in jobs)
                watch.models |= {job.model for job in jobs}
            for job_id, job in zip(ids, jobs, strict=True):
                tracing.remember_submission(job_id)
                self.dispatcher.enqueue(job_id, job.model, account_id)
            return ids

        task = asyncio.ensure_future(insert_then_queue())
        if watch is not None:
            watch.task = task
        return await asyncio.shield(task)

    async def submit_batch(self, account_id: int, items: list[SubmitItem],
                           guard: Guard[list[BatchItem]] | None = None, *, endpoint: str,
                           still_wanted: StillWanted = always) -> list[BatchItem]:
        """Valid items are charged and queued together; invalid ones fail alone with their reason.
        `guard`: the Idempotency-Key's part of the jobs' transaction (its claim checked, its response stored).
        `endpoint`: the route template that submitted them (usage counts their refunds there)."""
        if not items:
            raise InvalidArgument("jobs is empty; send 1 to 10 jobs")
        if len(items) > self.settings.max_batch_jobs:
            raise InvalidArgument(f"A batch holds at most {self.settings.max_batch_jobs} jobs, got {len(items)}")
        accepted: list[tuple[int, NewJob]] = []
        outcome: dict[int, BatchItem] = {}
        for index, item in enumerate(items):
            try:
                accepted.append((index, await self._validate(account_id, item, endpoint)))
            except ServiceUnavailable:
                raise  # not the item's fault: the whole request answers 503
            except PhonosError as exc:
                outcome[index] = BatchItem(index, item.model, None, exc)
        def completed(ids: list[str]) -> list[BatchItem]:
            done = dict(outcome)
            for (index, job), job_id in zip(accepted, ids, strict=True):
                done[index] = BatchItem(index, job.model, Submission(job_id, job.model, job.cost), None)
            return [done[i] for i in range(len(items))]

        if not accepted:
            return completed([])
        fence = None if guard is None else Adapted(guard, completed)
        ids = await self._charge_and_queue(account_id, [job for _, job in accepted], fence, still_wanted)
        return completed(ids)

    # -- jobs ---------------------------------------------------------------------------------------

    async def get_job(self, account_id: int, job_id: str) -> JobRecord:
        """The job, with its place in the queue while it is pending."""
        return await self.jobs.with_place(await self.jobs.get(account_id, job_id))

    async def job_input(self, account_id: int, job_id: str) -> tuple[str, str | None, ValidatedJob]:
        """The request a job was accepted with, as POST /v1/predict takes it: what its spec stores but a request
        cannot carry is left out (a model this deployment no longer serves keeps every stored param)."""
        model, name, stored = await self.jobs.stored_request(account_id, job_id)
        spec = self.specs.get(model)
        hidden = set(spec.stored_only_params) if spec is not None else set()
        return model, name, ValidatedJob(stored.sequence, {k: v for k, v in stored.params.items() if k not in hidden})

    async def list_jobs(self, account_id: int, *, status: str | None, model: str | None, limit: int | None,
                        offset: int | None, name: str | None = None,
                        starting_after: str | None = None) -> tuple[list[JobRecord], PageInfo]:
        # The seed's default for both filters is "all": said explicitly, it means what leaving it out means.
        status = None if status == ALL else status
        model = None if model == ALL else model
        if status is not None and status not in {s.value for s in JobStatus}:
            raise InvalidArgument(f"status must be one of {', '.join(s.value for s in JobStatus)} or {ALL}, "
                                  f"got {json_value_text(status)}")
        # Any model phonos knows, served here or not: an account keeps its jobs of a model this deployment
        # stopped serving (PHONOS_MODELS), and may still list them.
        if model is not None and model not in self.specs and model not in SPEC_MODULES:
            raise InvalidArgument(f"model must be one of {', '.join(self.specs)} or {ALL}, got {json_value_text(model)}")
        starting_after = cursor(starting_after)
        if starting_after is not None:  # a job id in capitals names the same job here as on its own routes
            starting_after = canonical_job_id(starting_after)
        limit, offset = check_page(limit, offset, starting_after=starting_after)
        if name is not None and len(name) > MAX_NAME_LENGTH:
            raise InvalidArgument(f"name must be at most {MAX_NAME_LENGTH} characters (a job's name is), got {len(name)}")
        check_label("name", name)  # no job's name holds one: a filter with one would only ever match nothing

        async def read(limit: int, offset: int, after_seq: int | None) -> tuple[list[JobRecord], int]:
            return await self.jobs.page(account_id, status=status, model=model, name=name or None, limit=limit,
                                        offset=offset, after_seq=after_seq)

        async def place(job_id: str) -> int | None:
            # Any job of the account marks a place, whatever the filters say of it now (a pending job the reader
            # saw may be running by the next page) and deleted or not.
            return await self.jobs.seq_of(account_id, job_id)

        jobs, page = await read_page(starting_after, limit=limit, offset=offset, read=read, place=place,
                                     what="the id of one of your jobs", id_of=_job_id)
        return await self.jobs.with_places(jobs), page  # the page's pending jobs' places: one grouped query

    async def download(self, account_id: int, job_id: str, fmt: str | None) -> Download:
        return await self._download(await self.jobs.get(account_id, job_id), fmt)

    def _results_gone(self, job: JobRecord) -> ResultsGone:
        assert job.results_deleted_at is not None
        days = self.settings.result_retention_days
        why = (f"this server keeps results for {days:g} days after a job completes" if days > 0
               else "the server's result retention removed them")  # retention since switched off
        return ResultsGone(f"The result files of job {job.id} were deleted on {_day(job.results_deleted_at)}: {why}")

    async def _download(self, job: JobRecord, fmt: str | None) -> Download:
        if job.status != JobStatus.COMPLETED or job.result is None:
            if job.status in TERMINAL:  # failed or cancelled: it never will be completed
                raise Conflict(f"Job {job.id} is {job.status}; it has no output (only completed jobs have files "
                               "to download)")
            raise Conflict(f"Job {job.id} is {job.status}; its output can be downloaded once it is completed")
        if job.results_deleted_at is not None:
            raise self._results_gone(job)
        artifacts = job.result["artifacts"]
        if fmt is None:
            chosen = artifacts[0]
        else:
            matches = [a for a in artifacts if a["format"] == fmt]
            if not matches:
                available = ", ".join(a["format"] for a in artifacts)
                raise InvalidArgument(f"format {json_value_text(fmt)} is not available for this job; choose one of {available}")
            chosen = matches[0]
        try:
            content = await asyncio.to_thread(self.results.read, job.id, chosen["file"])
        except FileNotFoundError:
            # Removed outside phonos, lost with a disk, or a restore without its results directory: not the
            # caller's mistake, and nothing a retry would fix.
            metrics.RESULT_FILES_MISSING.inc()
            log.error("a completed job's result file is missing", extra={
                "action": "results.file_missing", "job_id": job.id, "file": chosen["file"]})
            raise ResultsGone(f"The result file {chosen['file']} of job {job.id} is missing from this server's "
                              "storage; ask the server's operator") from None
        return Download(content, chosen["media_type"], chosen["file"])

    async def delete_job(self, account_id: int, job_id: str) -> str:
        """The owner deletes a finished job: its result files, its stored request (sequence, PDB, SMILES), its
        name, error and scores go; it is gone from the API. What it was charged stays in usage and the balance."""
        job = await self.jobs.get(account_id, job_id)
        if job.status not in TERMINAL:
            raise Conflict(f"Job {job.id} is {job.status}; cancel it first, then delete it")
        # The row first, then the files: a delete the database refuses (its disk full: a 503) changes nothing, where
        # removing the files first left the job listed with downloads answering 410. Only a crash in between
        # leaves files of a deleted job behind, unreachable through the API.
        deleted = await self.jobs.delete(account_id, job.id)
        try:
            await asyncio.to_thread(self.results.remove, job.id)  # also when another delete won: its files go
        except OSError:
            log.exception("a deleted job's result files could not be removed", extra={
                "action": "results.remove_failed", "job_id": job.id})
        if not deleted:
            raise NotFound(f"Job {echoed_id(job_id)} not found")
        return job.id

    # -- share links (jobservice/shares.py) ----------------------------------------------------------

    async def share_job(self, account_id: int, job_id: str, expires_in_days: int | None) -> tuple[ShareRecord, str]:
        """A new link to the account's completed job: its record and its token (shown once)."""
        return await self.shares.create(await self.jobs.get(account_id, job_id), account_id, expires_in_days)

    async def job_shares(self, account_id: int, job_id: str) -> list[ShareRecord]:
        return await self.shares.list((await self.jobs.get(account_id, job_id)).id)

    async def revoke_share(self, account_id: int, job_id: str, share_id: str) -> None:
        await self.shares.revoke(account_id, (await self.jobs.get(account_id, job_id)).id, share_id)

    async def shared_job(self, token: str) -> SharedJob:
        """The job a working link names, for anyone holding it; ResultsGone once retention deleted its files."""
        shared = await self.shares.resolve(token)
        if shared.job.results_deleted_at is not None:
            raise self._results_gone(shared.job)
        return shared

    async def shared_download(self, token: str, fmt: str | None) -> Download:
        return await self._download((await self.shares.resolve(token)).job, fmt)

    async def cancel(self, account_id: int, job_id: str, guard: Guard[JobRecord] | None = None) -> JobRecord:
        async def cancel_then_stop() -> JobRecord:
            job = await self.jobs.cancel(account_id, job_id, guard)
            self.dispatcher.cancel_running(job_id)
            return job

        # As one unit: a caller that gives up must not leave a cancelled job computing.
        return await asyncio.shield(cancel_then_stop())

    def watch_job(self, account_id: int, job_id: str, after: int | None) -> AsyncIterator[Event | KeepAlive]:
        """The job's state, then every state change and progress until it is terminal (jobservice/watch.py)."""
        return self.watcher.job(account_id, job_id, after)

    def watch_jobs(self, account_id: int, after: int | None) -> AsyncIterator[Event | KeepAlive]:
        """The account's active jobs, then every state change and progress of any of its jobs (one KeepAlive
        after an empty opening: jobservice/watch.py)."""
        return self.watcher.account(account_id, after)

    # -- account and usage --------------------------------------------------------------------------

    async def account(self, account_id: int) -> AccountView:
        row = await self.db.read.fetch_one("get_account", {"account_id": account_id})
        if row is None:
            raise NotFound("Account not found")
        counts = await self.jobs.counts(account_id)
        return AccountView(int(row["id"]), row["username"], row["email"], float(row["created_at"]),
                           int(row["credits"]), counts)

    async def credit_history(self, account_id: int, *, limit: int | None, offset: int | None,
                             starting_after: str | None = None) -> tuple[list[CreditEntry], PageInfo]:
        """One page of the account's credit history, newest first."""
        starting_after = cursor(starting_after)
        limit, offset = check_page(limit, offset, starting_after=starting_after)

        async def read(limit: int, offset: int, after_id: int | None) -> tuple[list[CreditEntry], int]:
            return await self.credits.page(account_id, limit=limit, offset=offset, after_id=after_id)

        async def place(entry_id: str) -> int | None:
            number = numeric_id(entry_id)
            return number if number is not None and await self.credits.has_entry(account_id, number) else None

        return await read_page(starting_after, limit=limit, offset=offset, read=read, place=place,
                               what="the id of one of your credit entries", id_of=_entry_id)

    async def account_activity(self, account_id: int, *, limit: int | None, offset: int | None,
                               starting_after: str | None = None,
                               action: str | None = None) -> tuple[list[ActivityEntry], PageInfo]:
        """One page of the account's activity log, newest first (jobservice/activity.py)."""
        return await self.activity.page(account_id, limit=limit, offset=offset, starting_after=starting_after,
                                        action=action)

    async def usage_report(self, account_id: int, days: int | None) -> UsageReport:
        days = 30 if days is None else days
        if not 1 <= days <= 90:
            raise InvalidArgument(f"days must be between 1 and 90, got {days}")
        return await self.usage.report(account_id, days)

    # -- webhooks -----------------------------------------------------------------------------------

    async def create_webhook(self, account_id: int, url: str, events: list[str],
                             guard: Guard[tuple[WebhookRecord, str]] | None = None) -> tuple[WebhookRecord, str]:
        return await self.webhooks.create(account_id, url, events, guard)

    async def list_webhooks(self, account_id: int) -> list[WebhookRecord]:
        return await self.webhooks.for_account(account_id)

    async def delete_webhook(self, account_id: int, webhook_id: str) -> None:
        await self.webhooks.delete(account_id, webhook_id)

    async def rotate_webhook_secret(self, account_id: int, webhook_id: str, *, expire_current_after_s: int | None,
                                    guard: Guard[Rotation] | None = None) -> Rotation:
        return await self.webhooks.rotate(account_id, webhook_id, expire_current_after_s, guard)

    async def test_webhook(self, account_id: int, webhook_id: str,
                           guard: Guard[TestResult] | None = None) -> TestResult:
        if self.sender.session is not None:
            return await self.webhooks.send_test(account_id, webhook_id, self.sender.session, guard)
        async with receiver_session(allow_loopback=self.settings.webhook_allow_http_loopback,
                                    networks=self.settings.webhook_networks) as session:
            return await self.webhooks.send_test(account_id, webhook_id, session, guard)

    async def webhook_deliveries(self, account_id: int, webhook_id: str, *, status: str | None, limit: int | None,
                                 offset: int | None, starting_after: str | None = None,
                                 event: str | None = None) -> tuple[list[DeliveryRecord], PageInfo]:
        return await self.deliveries.page(account_id, webhook_id, status=status, limit=limit, offset=offset,
                                          starting_after=starting_after, event=event)

    async def redeliver(self, account_id: int, webhook_id: str, delivery_id: str,
                        guard: Guard[DeliveryRecord] | None = None) -> DeliveryRecord:
        delivery = await self.deliveries.redeliver(account_id, webhook_id, delivery_id, guard)
        self.sender.wake()
        return delivery

    # -- API keys -----------------------------------------------------------------------------------

    async def list_keys(self, account_id: int) -> tuple[list[KeyRecord], int]:
        """The account's keys (last use included: pending usage events are written first) and its ceiling."""
        await self.usage.flush()
        return await self.api_keys.list(account_id), await self.api_keys.max_rate_limit(account_id)

    async def create_key(self, account_id: int, name: str | None, rate_limit: int | None,
                         expires_in_days: int | None = None, scope: str | None = None) -> tuple[KeyRecord, NewKey]:
        return await self.api_keys.create(account_id, name=name, rate_limit=rate_limit,
                                          expires_in_days=expires_in_days, scope=scope)

    async def revoke_key(self, account_id: int, key_id: str, *, confirm_last_key: bool) -> KeyRecord:
        return await self.api_keys.revoke(account_id, key_id, confirm_last_key=confirm_last_key)

    async def update_key(self, account_id: int, key_id: str, name: str | None, rate_limit: int | None,
                         expires_in_days: int | None = None) -> KeyRecord:
        return await self.api_keys.update(account_id, key_id, name=name, rate_limit=rate_limit,
                                          expires_in_days=expires_in_days)


def _day(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d")


def _job_id(job: JobRecord) -> str:
    return job.id


def _entry_id(entry: CreditEntry) -> str:
    return str(entry.id)
