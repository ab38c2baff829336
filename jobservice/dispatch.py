"""Dispatch: pending jobs → the inference port (Triton) → result files → completed, surviving crashes.

* Claiming is a compare-and-set (pending → running), so a job runs once per attempt.
* Each model has `max_inflight` workers: bounded concurrency at Triton, which
  queues and dynamically batches what we send; never more in flight than the model computes at once
  (jobservice/capacity.py: AlphaFold2's one instance takes one job; the others wait here, `pending`, in
  turn). Which waiting job a free worker takes is fair between accounts (jobservice/fairness.py): the
  account with the fewest jobs of the model in flight, then the one served least recently.
* The model server being unavailable closes the model's gate (jobservice/outage.py): its jobs wait,
  pending and without using attempts, until health says the server is back, or fail all together,
  refunded, once the outage has lasted `retry_window_s`. The API keeps answering meanwhile. Every other
  failure ends the job at once; jobservice/failures.py says which are charged.
* Each call carries the model's compute limit (the model enforces it from when it starts computing: a
  charged `compute_limit` failure) and a longer client-side deadline, queueing included (a refunded
  `timeout`, the safety net).
* Result files are written with retries on storage errors for `storage_retry_window_s`
  (jobservice/results.py), then the job fails as `internal`, refunded (a full disk says so in its error).
* A job's outcome (completed, failed, handed back) is written until the database takes it: while it is
  unavailable (a full disk, PostgreSQL restarting) the write is tried again with backoff, so the job never
  stays `running` with nobody running it; a stopping service tries once more and leaves the job to the next start.
* Completion is written inside `asyncio.shield`, so a shutdown that cancels the
  worker cannot leave files without the state change.
* A graceful stop hands the jobs running here back to pending without counting their run. At start-up,
  jobs left `running` by a dead process (the data-dir lock proves it is dead: it was killed, so the run
  counts) go back to pending, or fail with a refund after `max_attempts`.
* Every hand-back stores why (jobs.RequeueReason) and the `max_attempts` it is held to: the job's owner reads
  "attempt 2 of 3, its job service stopped responding" instead of a silent running -> pending -> running.
* Cancelling a running job cancels its Triton call; the python backend sees
  `request.is_cancelled()` and the model stops at its next check.

On a shared store (PostgreSQL, many job services) the work is not all ours (`lease` is set):

* Workers claim the next pending job of their model by the fair order (`claim_next_job`, SKIP LOCKED),
  woken by the store's NOTIFY of new work (`announce`) and polling every POLL_S as the fallback.
* A claim is a lease: the heartbeat renews it every third of its length for the jobs running here, and
  stops a local job whose lease it no longer holds (cancelled elsewhere, or taken over).
* The janitor, on every service, hands jobs whose lease expired (their owner died) back to pending, or
  fails them with a refund once they have had `max_attempts` runs; a stopping service hands its own back
  at once, uncounted.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import time
from collections.abc import Callable, Coroutine, Mapping
from functools import partial
from typing import Any, Protocol, TypeVar

from phonos_models.common.progress import Progress

from jobservice import big_work, metrics, tracing
from jobservice.capacity import ModelCapacity
from jobservice.database_outage_log import DatabaseOutageLog
from jobservice.errors import InvalidTransition, ServiceUnavailable
from jobservice.failures import FailureKind, JobFailure, without_server_paths
from jobservice.fairness import NO_CAP, FairQueue, Turn
from jobservice.inference import (
    ComputeLimitExceeded,
    Inference,
    InferenceError,
    InferenceRequest,
    InferenceTimeout,
    InferenceUnavailable,
    InvalidModelInput,
    ModelFailure,
    ModelOutOfMemory,
    ModelProcessStopped,
)
from jobservice.jobs import ClaimedJob, JobRecord, JobStore, Lease, RequeueReason
from jobservice.modelspecs.base import ModelSpec
from jobservice.outage import Outages
from jobservice.results import NO_SPACE, ResultStore, write_retrying
from jobservice.states import JobStatus

log = logging.getLogger(__name__)

# Safety net: pending jobs that are in no queue (e.g. a submission whose caller vanished between commit
# and enqueue) are picked up this often.
SWEEP_S = 30.0
# Shared store: how long an idle worker waits for a NOTIFY before it looks for work anyway.
POLL_S = 5.0
CLAIM_RETRY_S = 1.0  # a claim that failed (the shared database away) is tried again this much later
CLAIM_FAILURE_LOG_S = 60.0  # while claims keep failing, one log line this often
# A job's outcome that the database could not take (unavailable: a full disk, PostgreSQL away) is written again
# after this many seconds, doubling up to the cap, until it is stored.
STATE_RETRY_FIRST_S = 0.2
STATE_RETRY_MAX_S = 5.0
GAVE_UP = "The job was interrupted {attempts} times by service restarts and was given up; submit it again"
MODEL_GAVE_UP = ("The model's process stopped during each of the job's {attempts} runs, so it was given up; submit it "
                 "again, and tell the operator if it happens again (the model server's log says why)")
T = TypeVar("T")


def _being_cancelled() -> bool:
    """Whether someone asked to cancel the running task (not merely something it awaited)."""
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


class Doorbell:
    """Wakes one idle worker per ring, so one announced job sends one worker per service to claim it, not
    all of them; a ring while nobody waits is kept for the next worker that would wait."""

    def __init__(self) -> None:
        self._waiting: collections.deque[asyncio.Future[None]] = collections.deque()
        self._rung = False

    def ring(self) -> None:
        while self._waiting:
            waiter = self._waiting.popleft()
            if not waiter.done():  # a waiter that timed out is skipped
                waiter.set_result(None)
                return
        self._rung = True

    async def wait(self, timeout_s: float) -> None:
        """Until rung (at once if rung meanwhile), or TimeoutError after `timeout_s`."""
        if self._rung:
            self._rung = False
            return
        waiter = asyncio.get_running_loop().create_future()
        self._waiting.append(waiter)
        # Not asyncio.wait_for: on Python 3.11 it returns normally when a ring and a cancel land in the same
        # loop iteration, losing the cancel, so a stopping worker polled on forever and the stop never ended.
        try:
            async with asyncio.timeout(timeout_s):
                await waiter
        finally:
            # A wait that timed out (or was cancelled) takes its future out (a rung one was popped already): left
            # for the next ring to skip, an idle service's workers piled up max_inflight futures per model every
            # POLL_S until a job came.
            with contextlib.suppress(ValueError):
                self._waiting.remove(waiter)

    def __len__(self) -> int:
        """Waiters held now (at most one per idle worker)."""
        return len(self._waiting)


class ProgressSink(Protocol):
    """Where the progress of running jobs goes (the watch hub)."""

    def progress(self, job: JobRecord, update: Progress) -> None: ...

    def finished(self, job_id: str) -> None: ...


class _NoProgress:
    def progress(self, job: JobRecord, update: Progress) -> None:
        """Nobody listens."""

    def finished(self, job_id: str) -> None:
        """Nobody listens."""


class Dispatcher:
    def __init__(
        self, jobs: JobStore, specs: Mapping[str, ModelSpec], inference: Inference, results: ResultStore, *,
        max_inflight: int, retry_window_s: float, max_attempts: int, timeout_s: float,
        storage_retry_window_s: float = 0.0, max_running_per_account: int = 0,
        progress: ProgressSink | None = None, lease: Lease | None = None,
    ) -> None:
        self._jobs = jobs
        self._specs = specs
        self._inference = inference
        self._results = results
        self._max_inflight = max_inflight
        self._max_attempts = max_attempts
        self._timeout_s = timeout_s
        self._storage_retry_window_s = storage_retry_window_s
        self._max_running = max_running_per_account if max_running_per_account > 0 else NO_CAP
        self._progress = progress or _NoProgress()
        self._queues = {m: FairQueue(self._max_running) for m in specs}
        self._tasks: list[asyncio.Task[None]] = []
        self._running: dict[str, asyncio.Task[None]] = {}
        self._persisting: set[asyncio.Task[object]] = set()
        self._stopped: set[str] = set()  # running here, stopped on purpose (cancelled, lease lost)
        self._lease = lease
        self._bells: dict[str, Doorbell] = {m: Doorbell() for m in specs}
        # No more of a model's jobs in flight than its server computes at once (jobservice/capacity.py).
        self._capacity = {m: ModelCapacity(max_inflight, partial(inference.capacity, spec.triton_model))
                          for m, spec in specs.items()}
        self._interrupted: list[str] = []  # jobs running here when the service stopped
        self._claim_failures: dict[str, tuple[float, float]] = {}  # model → (first failure, last logged)
        # Shared store: no lease is reclaimed before this (monotonic) time; a database outage pushes it a lease past
        # the last failure seen (`_database_away`).
        self._reclaim_after = 0.0
        self._stopping = asyncio.Event()  # set by stop(): outcome writes that keep failing stop retrying
        self.outages = Outages({m: spec.triton_model for m, spec in specs.items()}, inference, jobs,
                               window_s=retry_window_s, owner=None if lease is None else lease.owner)

    @property
    def owner(self) -> str | None:
        """This service's name in leases (shared store), None when it owns the store outright."""
        return None if self._lease is None else self._lease.owner

    def enqueue(self, job_id: str, model: str, account_id: int) -> None:
        """Queue a pending job once; claiming is a compare-and-set, so a duplicate would be harmless anyway."""
        if self._lease is not None:
            self.announce(model)  # the store's NOTIFY tells the other services; ours need not wait for it
            return
        if job_id not in self._running:
            self._queues[model].put(job_id, account_id)

    def announce(self, model: str) -> None:
        """New pending work of `model` somewhere (shared store): wake one of its idle workers."""
        bell = self._bells.get(model)
        if bell is not None:
            bell.ring()

    async def start(self, *, database_just_back: bool = False) -> None:
        """`database_just_back`: the start waited for its shared database (db_wait), so the live services' leases
        may have run out while it was away: the first reclaim waits a lease, as after an outage seen running
        (`_database_away`). Was: reclaimed at once, every job running on a live service ran again."""
        if self._lease is None:
            await self._recover()
            worker, background = self._worker, [self._sweep()]
        else:
            if database_just_back:
                self._database_away()
            await self._reclaim()
            worker, background = self._shared_worker, [self._heartbeat(self._lease), self._janitor(self._lease)]
        for model in self._specs:
            for i in range(self._max_inflight):
                self._tasks.append(asyncio.create_task(worker(model), name=f"dispatch-{model}-{i}"))
        self._tasks += [asyncio.create_task(loop) for loop in background]

    async def stop(self) -> None:
        """Stop taking work. Jobs still running here go back to pending with their run not counted (a graceful
        stop is not the job's attempt): this service runs them at its next start (SQLite), another service at
        once (shared store)."""
        await self.outages.close_all()
        self._stopping.set()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        # Outcomes already computed are written before the database closes.
        await asyncio.gather(*self._persisting, return_exceptions=True)
        for job_id in self._interrupted:
            with contextlib.suppress(Exception):  # its owner is told why it waits again (RequeueReason)
                if await self._jobs.release(job_id, self.owner, reason=RequeueReason.SERVICE_STOPPED,
                                            max_attempts=self._max_attempts) is not None:
                    # As a crash's recovery is (dispatch.recovered): which jobs a stop handed back, by id.
                    log.info("running job handed back to pending by the stop; it runs again at the next start"
                             + ("" if self._lease is None else " or on another job service"),
                             extra={"action": "dispatch.released", "job_id": job_id})
        self._interrupted.clear()

    async def _hand_back(self, job_id: str, attempts: int, owner: str | None,
                         reason: RequeueReason = RequeueReason.SERVICE_RESTARTED, gave_up: str = GAVE_UP,
                         ) -> JobRecord | None:
        """A job whose process (its job service's, or its model's: `reason`) died after `attempts` runs: pending
        again (the record), or failed (refunded, `gave_up` saying why) once it has had them all (None)."""
        if attempts >= self._max_attempts:
            await self._jobs.fail(job_id, JobFailure(FailureKind.INTERRUPTED, gave_up.format(attempts=attempts)),
                                  owner)
            return None
        return await self._jobs.requeue(job_id, owner, reason=reason, max_attempts=self._max_attempts)

    async def _recover(self) -> None:
        for job_id, attempts in await self._jobs.orphaned():
            await self._hand_back(job_id, attempts, None)
            log.info("job left running by a stopped service recovered", extra={"action": "dispatch.recovered",
                                                                               "job_id": job_id})
        await self._queue_pending()

    async def _queue_pending(self) -> None:
        for job_id, model, account_id in await self._jobs.pending():
            if model in self._queues:
                self.enqueue(job_id, model, account_id)
            else:
                await self._jobs.fail(job_id, JobFailure(FailureKind.MODEL_REMOVED, f"Model {model} is no longer served"))

    async def _sweep(self) -> None:
        while True:
            await asyncio.sleep(SWEEP_S)
            try:
                await self._queue_pending()
            except Exception:
                log.exception("pending-job sweep failed", extra={"action": "dispatch.sweep_failed"})

    def cancel_running(self, job_id: str) -> bool:
        """Stop the in-flight Triton call of a job that was cancelled (or whose lease went elsewhere)."""
        task = self._running.get(job_id)
        if task is None:
            return False
        self._stopped.add(job_id)
        task.cancel()
        return True

    async def _worker(self, model: str) -> None:
        queue, gate = self._queues[model], self.outages.gate(model)
        while True:
            await gate.wait_open()
            async with await self._capacity[model].sized():
                turn = await queue.get()
                if not gate.is_open:  # the model went away while this worker waited for work
                    queue.put_back(turn)
                    continue
                # Triton still loading the model (a restart's own start): the job waits unclaimed, the gate closed;
                # asked here, with a job waiting, so the outage's window runs from then, as it did from the claim.
                if not await self.outages.ready_to_claim(model):
                    queue.put_back(turn)
                    continue
                await self._capacity[model].sized()  # a size unknown while the worker waited is learned now
                try:
                    await self._supervise(turn.job_id, self._claim_and_run(turn))
                finally:
                    queue.done(turn)

    async def _shared_worker(self, model: str) -> None:
        bell, gate = self._bells[model], self.outages.gate(model)
        assert self._lease is not None
        while True:
            await gate.wait_open()
            if not self.outages.known_ready(model) and not await self._ready_for_first_claim(model, bell):
                continue
            async with await self._capacity[model].sized():
                try:
                    job = await self._jobs.claim_next(model, self._lease, self._max_running)
                except Exception as exc:  # e.g. the database restarting: keep the worker, try again shortly
                    if isinstance(exc, ServiceUnavailable):
                        self._database_away()
                    self._claim_failed(model)
                    await asyncio.sleep(CLAIM_RETRY_S)
                    continue
                self._claim_worked(model)
                if job is None:
                    with contextlib.suppress(TimeoutError):
                        await bell.wait(POLL_S)
                    continue
                await self._capacity[model].sized()  # a size unknown while the worker waited is learned now
                bell.ring()  # there may be more: one more idle worker looks (a chain, not a herd)
                await self._supervise(job.id, self._execute(job))

    async def _ready_for_first_claim(self, model: str, bell: Doorbell) -> bool:
        """Shared store, before the model was found served since this service started (Triton may still be loading
        it): claim only once a job of it waits and its health says ready, as the SQLite worker does with the job it
        took from its queue. Was: the job was claimed, went running (a `job.started` webhook for a run that never
        happened) and back to pending, its `requeue_reason` overwritten with model_unavailable."""
        try:
            waiting = await self._jobs.has_pending(model)
        except Exception:  # the database away: the claim's own retry path says so
            return True
        if not waiting:
            with contextlib.suppress(TimeoutError):
                await bell.wait(POLL_S)
            return False
        return await self.outages.ready_to_claim(model)

    def _claim_failed(self, model: str) -> None:
        """Every worker of every model retries each CLAIM_RETRY_S while the database is away: one traceback when
        claims start failing, then one line a minute, not max_inflight tracebacks a second (a minute's outage
        was thousands of log lines)."""
        at = time.monotonic()
        first = self._claim_failures.get(model)
        if first is None:
            self._claim_failures[model] = (at, at)
            log.exception("claim failed; retrying every %g s", CLAIM_RETRY_S,
                          extra={"action": "dispatch.claim_failed", "model": model})
        elif at - first[1] >= CLAIM_FAILURE_LOG_S:
            self._claim_failures[model] = (first[0], at)
            log.error("claims still failing after %.0f s", at - first[0], exc_info=False,
                      extra={"action": "dispatch.claim_failed", "model": model})

    def _claim_worked(self, model: str) -> None:
        failing = self._claim_failures.pop(model, None)
        if failing is not None:
            log.info("claims work again after %.0f s", time.monotonic() - failing[0],
                     extra={"action": "dispatch.claims_recovered", "model": model})

    async def _supervise(self, job_id: str, run: Coroutine[object, object, None]) -> None:
        """Run one job as its own task, so cancelling it (the user) and stopping the worker (shutdown) differ."""
        task = asyncio.create_task(run, name=f"job-{job_id}")
        self._running[job_id] = task
        try:
            await asyncio.shield(task)
        except asyncio.CancelledError:
            if not _being_cancelled():  # the job's own task was cancelled (its user, a lost lease): work on
                return
            # This worker is being cancelled: the service is stopping, even if the job ended in the same loop
            # iteration (returning then lost the stop's cancel, and the stop waited on the worker for ever).
            if not task.done():
                task.cancel()  # the job goes back to pending (stop())
                self._interrupted.append(job_id)
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            raise
        except Exception:  # e.g. the database gone: keep the worker; the sweep (or the next start) retries the job
            log.exception("job dispatch failed", extra={"action": "dispatch.worker_error", "job_id": job_id})
        finally:
            self._running.pop(job_id, None)
            self._stopped.discard(job_id)

    async def _claim_and_run(self, turn: Turn) -> None:
        job = await self._jobs.claim(turn.job_id)
        if job is not None:  # None: cancelled (or failed) while queued
            await self._execute(job)

    async def _execute(self, job: ClaimedJob) -> None:
        running_here = metrics.JOBS_RUNNING_HERE.labels(job.model)
        with running_here.track_inprogress(), tracing.job_span(job.id, job.model, job.record.attempts):
            if not self.outages.gate(job.model).is_open:  # the model went away while the claim was made
                await self._wait_for_model(job.record)
                return
            await self._run_claimed(job)

    async def _run_claimed(self, claimed: ClaimedJob) -> None:
        job, spec = claimed.record, self._specs[claimed.model]
        started = time.perf_counter()
        try:
            try:
                result = await self._inference.infer(await self._request(spec, claimed),
                                                     on_progress=partial(self._progress.progress, job))
            finally:
                self._progress.finished(job.id)
            self.outages.answered(job.model)
            inference_s = time.perf_counter() - started
            entry = await write_retrying(self._results, job.id, result, self._storage_retry_window_s,
                                         rerun=job.attempts > 1)
        except asyncio.CancelledError:
            if job.id in self._stopped:
                log.info("running job stopped", extra={"action": "dispatch.cancelled", "job_id": job.id})
                tracing.set_job_outcome("cancelled")
                return
            raise
        except InferenceUnavailable as exc:
            await self._wait_for_model(job, exc)
            return
        except ModelProcessStopped as exc:
            await self._run_again_counted(job, exc)
            return
        except Exception as exc:
            if isinstance(exc, InferenceError) and not isinstance(exc, InferenceTimeout):
                self.outages.answered(job.model)  # a typed answer: the server is there
            failure = self._failure(job, exc)
            tracing.set_job_outcome("failed", str(failure.kind))
            await self._persist(partial(self._jobs.fail, job.id, failure, self.owner))
            return
        metadata = entry["metadata"]
        # `if key in`: a job stored before a provenance param existed (DiffDock's protein_file) has none to say
        metadata.update({key: claimed.request.params[key] for key in spec.provenance_params
                         if key in claimed.request.params})
        # Per-stage timings (s); the model's own stages (e.g. fold_s) sit beside them.
        timings = metadata.setdefault("timings", {})
        if job.started_at is not None:
            timings["queued_s"] = round(max(0.0, job.started_at - job.created_at), 4)  # submitted → claimed
        timings["triton_call_s"] = round(inference_s, 4)  # the model server's round trip, queueing included
        timings["store_s"] = round(time.perf_counter() - started - inference_s, 4)  # result files written
        timings["service_total_s"] = round(time.perf_counter() - started, 4)  # claim → result stored
        tracing.set_job_outcome("completed")
        await self._persist(partial(self._complete, job.id, entry))

    async def _complete(self, job_id: str, entry: dict[str, Any]) -> None:
        """Store a computed result, or drop it for a job that moved on meanwhile: cancelled while its result was
        being written (the job stays cancelled, the files go), or on a shared store taken over (its new run writes
        the same files, so they stay). No error: the cancel that moved it also cancels this job's task, so nobody
        awaits this write, and an InvalidTransition raised here was "Task exception was never retrieved" at stop."""
        try:
            await self._jobs.complete(job_id, entry, self.owner)
        except InvalidTransition:
            log.debug("a result for a job no longer running here dropped", extra={"action": "dispatch.result_dropped",
                                                                                    "job_id": job_id})
            if self._lease is None or await self._jobs.status(job_id) == JobStatus.CANCELLED:
                await asyncio.to_thread(self._results.remove, job_id)

    async def _run_again_counted(self, job: JobRecord, stopped: ModelProcessStopped) -> None:
        """The model's process died under the job (Triton's known segfault, a stub killed): it runs again, the run
        counted, as a killed job service's jobs do; once it has had every attempt it fails, refunded. It failed as a
        model error at once, though the README promises that the restart reruns what Triton held (a tester's job)."""
        log.warning("the model's process stopped during job %s (run %d of %d): %s", job.id, job.attempts,
                    self._max_attempts, stopped, extra={"action": "dispatch.model_process_stopped", "job_id": job.id,
                                                        "model": job.model})
        if job.attempts >= self._max_attempts:
            tracing.set_job_outcome("failed", str(FailureKind.INTERRUPTED))
        else:
            tracing.set_job_outcome("pending")
        requeued = await self._persist(partial(self._hand_back, job.id, job.attempts, self.owner,
                                               RequeueReason.MODEL_RESTARTED, MODEL_GAVE_UP))
        if requeued is not None and self._lease is None:
            self._queues[job.model].put(job.id, job.account_id)  # still ours: queue it again by hand

    async def _wait_for_model(self, job: JobRecord, unavailable: InferenceUnavailable | None = None) -> None:
        """The model server is unavailable for this job (`unavailable`: it just said so): stop claiming the model's
        jobs and hand this one back uncounted (it never computed), or fail it, refunded, if the outage has
        already lasted the whole window; the outage watcher decides when to go on or give up on the rest."""
        if unavailable is not None:
            self.outages.close(job.model, str(unavailable))
        if self.outages.expired(job.model):
            tracing.set_job_outcome("failed", str(FailureKind.MODEL_UNAVAILABLE))
            await self._persist(partial(self._jobs.fail, job.id, self.outages.failure(job.model), self.owner))
        else:
            tracing.set_job_outcome("pending")  # back in the queue, waiting for the model server
            released = await self._persist(partial(self._jobs.release, job.id, self.owner,
                                                   reason=RequeueReason.MODEL_UNAVAILABLE,
                                                   max_attempts=self._max_attempts))
            if released is not None and self._lease is None:
                self._queues[job.model].put(job.id, job.account_id)  # still ours: queue it again by hand
        self.outages.watch(job.model)

    async def _request(self, spec: ModelSpec, job: ClaimedJob) -> InferenceRequest:
        """The stored request decoded and its tensors built: a big job's (a 50 MB A3M: 0.26-0.82 s) in a thread
        (jobservice/big_work.py), so other jobs' dispatch and everyone's calls go on meanwhile; a job stopped then
        is stopped as one stopped during its Triton call (nothing was sent yet)."""
        def build() -> InferenceRequest:
            return InferenceRequest(spec.triton_model, spec.inputs(job.request), self._timeout_s, job.id,
                                    compute_limit_s=spec.timeout_s)
        return await big_work.off_loop(len(job.request_json), build)

    def _database_away(self) -> None:
        """A call to the shared database failed: reclaim no lease until a whole lease after the last such failure.
        While the database is away no service can renew its leases, so every lease that ran out meanwhile is
        expired when it is back, live owners' too; reclaiming then took every job running anywhere from its live
        service (a second run, an attempt used, a job on its last attempt failed: a multi-node tester's 30-45 s
        PostgreSQL stop). The owners renew within a third of a lease of the database's return (their heartbeat);
        failures are seen here at least every half lease (the janitor's beat; the claims' every second), so the
        first reclaim comes at least half a lease after the return, once every live owner has renewed."""
        if self._lease is not None:
            self._reclaim_after = max(self._reclaim_after, time.monotonic() + self._lease.seconds)

    async def _reclaim(self) -> None:
        """Shared store: jobs whose owner stopped renewing their lease run again (or fail after max_attempts)."""
        if time.monotonic() < self._reclaim_after:
            return  # the database was away a moment ago: live owners renew first (`_database_away`)
        requeued, failed = await self._jobs.reclaim_expired(
            self._max_attempts, JobFailure(FailureKind.INTERRUPTED, GAVE_UP.format(attempts=self._max_attempts)))
        for job_id, model in requeued:
            log.info("job reclaimed from a silent service", extra={"action": "dispatch.reclaimed", "job_id": job_id})
            self.announce(model)
        if failed:
            log.warning("jobs given up after their last run", extra={"action": "dispatch.gave_up", "count": failed})

    async def _janitor(self, lease: Lease) -> None:
        outage = DatabaseOutageLog("reclaiming expired leases", "dispatch.janitor", log)
        while True:
            await asyncio.sleep(max(0.2, lease.seconds / 2))
            try:
                await self._reclaim()
            except ServiceUnavailable as exc:
                outage.began(exc)
                self._database_away()
                continue
            except Exception:
                log.exception("reclaiming expired leases failed", extra={"action": "dispatch.janitor_failed"})
                continue
            outage.ended()

    async def _heartbeat(self, lease: Lease) -> None:
        """Renew the leases of the jobs running here; stop the ones that are no longer ours."""
        outage = DatabaseOutageLog("renewing the running jobs' leases (the jobs run on)", "dispatch.renew", log)
        while True:
            await asyncio.sleep(max(0.1, lease.seconds / 3))
            ids = list(self._running)
            if not ids:
                continue
            try:
                held = await self._jobs.renew(ids, lease)
            except ServiceUnavailable as exc:  # the lease runs on; the next beat tries again
                outage.began(exc)
                self._database_away()
                continue
            except Exception:
                log.exception("lease renewal failed", extra={"action": "dispatch.renew_failed"})
                continue
            outage.ended()
            for job_id in ids:
                if job_id not in held and job_id in self._running:
                    log.warning("job no longer ours; stopping it", extra={"action": "dispatch.lease_lost",
                                                                          "job_id": job_id})
                    self.cancel_running(job_id)

    def _failure(self, job: JobRecord, exc: Exception) -> JobFailure:
        """The failure a dispatch error means; its kind decides the charge (jobservice/failures.py)."""
        spec = self._specs[job.model]
        if isinstance(exc, InvalidModelInput):
            return JobFailure(FailureKind.INVALID_INPUT, f"{job.model} cannot run this input: {exc}")
        if isinstance(exc, ComputeLimitExceeded):
            return JobFailure(FailureKind.COMPUTE_LIMIT, f"{job.model} computed for its whole limit of "
                                                         f"{spec.timeout_s:g} s on this input and was stopped",
                              model=job.model)
        if isinstance(exc, InferenceTimeout):
            return JobFailure(FailureKind.TIMEOUT, f"{job.model} did not finish within {self._timeout_s:g} s, time "
                                                   "queued at the model server included; try again later")
        if isinstance(exc, ModelFailure):  # the model's own message usually names it already ("esmfold failed: ...")
            detail = without_server_paths(str(exc))
            if detail != str(exc):
                log.warning("job failed in the model: %s", exc, extra={"action": "dispatch.model_error",
                                                                       "job_id": job.id})
            named = detail.startswith(f"{job.model} ")
            return JobFailure(FailureKind.MODEL_ERROR, detail if named else f"{job.model} failed: {detail}",
                              out_of_memory=isinstance(exc, ModelOutOfMemory))
        # A bug in the job service or a storage error that outlived its retries: never lose the job silently.
        log.error("job failed in the job service", exc_info=exc, extra={"action": "dispatch.error", "job_id": job.id})
        if isinstance(exc, OSError) and exc.errno in NO_SPACE:  # the operator's to fix, not a bug: say so
            return JobFailure(FailureKind.INTERNAL, "The result could not be stored: the server's disk is full")
        return JobFailure(FailureKind.INTERNAL, f"Internal error while storing the result ({type(exc).__name__})")

    async def _persist(self, write: Callable[[], Coroutine[object, object, T]]) -> T:
        """Run a state write to completion even if the worker is cancelled meanwhile (shutdown)."""
        task = asyncio.ensure_future(self._until_stored(write))
        self._persisting.add(task)
        task.add_done_callback(self._persisting.discard)
        return await asyncio.shield(task)

    async def _until_stored(self, write: Callable[[], Coroutine[object, object, T]]) -> T:
        """`write()`, again with backoff while the database is unavailable (a full disk, PostgreSQL away), until it
        is stored: giving up left the job `running` with nobody running it until the next start. Once the service
        is stopping, one more try, then the error (the job is the next start's, or another service's, to recover)."""
        delay, failing_since = STATE_RETRY_FIRST_S, None
        while True:
            try:
                stored = await write()
            except ServiceUnavailable as exc:
                self._database_away()
                if self._stopping.is_set():
                    raise
                if failing_since is None:
                    failing_since = time.monotonic()
                    log.warning("a job's outcome could not be stored (%s); retrying until it is", exc,
                                extra={"action": "dispatch.store_retry"})
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(delay):
                        await self._stopping.wait()
                delay = min(delay * 2, STATE_RETRY_MAX_S)
                continue
            if failing_since is not None:
                log.info("a job's outcome was stored after %.1f s of retries", time.monotonic() - failing_since,
                         extra={"action": "dispatch.store_recovered"})
            return stored
