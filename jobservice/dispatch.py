"""Dispatch: pending jobs → Triton → result files → completed, surviving crashes.

* Claiming is a compare-and-set (pending → running), so a job runs once per attempt.
* Each model has `max_inflight` workers: bounded concurrency at Triton, which
  queues and dynamically batches what we send.
* Triton being unreachable is retried with backoff for `retry_window_s`, then the
  job fails with a refund. The API keeps answering meanwhile.
* Completion is written inside `asyncio.shield`, so a shutdown that cancels the
  worker cannot leave files without the state change.
* At start-up, jobs left `running` by a dead process (the data-dir lock proves
  it is dead) go back to pending, or fail with a refund after `max_attempts`.
* Cancelling a running job cancels its Triton call; the python backend sees
  `request.is_cancelled()` and the model stops at its next check.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Coroutine, Mapping

from jobservice.errors import InvalidTransition
from jobservice.jobs import JobRecord, JobStore
from jobservice.modelspecs.base import ModelSpec
from jobservice.results import ResultStore
from jobservice.triton_gateway import TritonGateway, TritonModelError, TritonTimeout, TritonUnavailable

log = logging.getLogger(__name__)

LEASE_S = 60.0
# Safety net: pending jobs that are in no queue (e.g. a submission whose caller vanished between commit
# and enqueue) are picked up this often.
SWEEP_S = 30.0


class Dispatcher:
    def __init__(
        self, jobs: JobStore, specs: Mapping[str, ModelSpec], triton: TritonGateway, results: ResultStore, *,
        max_inflight: int, retry_window_s: float, max_attempts: int, timeout_s: float,
    ) -> None:
        self._jobs = jobs
        self._specs = specs
        self._triton = triton
        self._results = results
        self._max_inflight = max_inflight
        self._retry_window_s = retry_window_s
        self._max_attempts = max_attempts
        self._timeout_s = timeout_s
        self.owner = f"jobservice-{uuid.uuid4().hex[:12]}"
        self._queues: dict[str, asyncio.Queue[str]] = {m: asyncio.Queue() for m in specs}
        self._tasks: list[asyncio.Task[None]] = []
        self._running: dict[str, asyncio.Task[None]] = {}
        self._persisting: set[asyncio.Task[object]] = set()
        self._user_cancelled: set[str] = set()
        self._queued: set[str] = set()

    def enqueue(self, job_id: str, model: str) -> None:
        """Queue a pending job once; claiming is a compare-and-set, so a duplicate would be harmless anyway."""
        if job_id in self._queued or job_id in self._running:
            return
        self._queued.add(job_id)
        self._queues[model].put_nowait(job_id)

    async def start(self) -> None:
        await self._recover()
        for model in self._specs:
            for i in range(self._max_inflight):
                self._tasks.append(asyncio.create_task(self._worker(model), name=f"dispatch-{model}-{i}"))
        self._tasks.append(asyncio.create_task(self._renew_leases(), name="dispatch-leases"))
        self._tasks.append(asyncio.create_task(self._sweep(), name="dispatch-sweep"))

    async def stop(self) -> None:
        """Stop taking work. Jobs still running stay `running` and are retried by the next start."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        # Outcomes already computed are written before the database closes.
        await asyncio.gather(*self._persisting, return_exceptions=True)

    async def _recover(self) -> None:
        for job_id, attempts in await self._jobs.orphaned():
            if attempts >= self._max_attempts:
                await self._jobs.fail(
                    job_id, f"The job was interrupted {attempts} times by service restarts and was given up; "
                    "credits were refunded. Submit it again.", refund=True,
                )
            else:
                await self._jobs.requeue(job_id)
                log.info("job requeued after restart", extra={"action": "dispatch.recovered", "job_id": job_id})
        await self._queue_pending()

    async def _queue_pending(self) -> None:
        for job_id, model in await self._jobs.pending():
            if model in self._queues:
                self.enqueue(job_id, model)
            else:
                await self._jobs.fail(job_id, f"Model {model} is no longer served; credits were refunded", refund=True)

    async def _sweep(self) -> None:
        while True:
            await asyncio.sleep(SWEEP_S)
            try:
                await self._queue_pending()
            except Exception:
                log.exception("pending-job sweep failed", extra={"action": "dispatch.sweep_failed"})

    def cancel_running(self, job_id: str) -> bool:
        """Stop the in-flight Triton call of a job the user cancelled."""
        task = self._running.get(job_id)
        if task is None:
            return False
        self._user_cancelled.add(job_id)
        task.cancel()
        return True

    async def _worker(self, model: str) -> None:
        queue = self._queues[model]
        while True:
            job_id = await queue.get()
            self._queued.discard(job_id)
            task = asyncio.create_task(self._run(job_id), name=f"job-{job_id}")
            self._running[job_id] = task
            try:
                await asyncio.shield(task)
            except asyncio.CancelledError:
                if task.done() or job_id in self._user_cancelled:
                    continue
                task.cancel()  # the service is stopping: leave the job running for recovery
                with contextlib.suppress(asyncio.CancelledError):
                    await task
                raise
            except Exception:  # e.g. a full disk: keep the worker; the sweep (or the next start) retries the job
                log.exception("job dispatch failed", extra={"action": "dispatch.worker_error", "job_id": job_id})
            finally:
                self._running.pop(job_id, None)
                self._user_cancelled.discard(job_id)

    async def _run(self, job_id: str) -> None:
        job = await self._jobs.claim(job_id, self.owner, LEASE_S)
        if job is None:
            return  # cancelled (or failed) while queued
        spec = self._specs[job.model]
        started = time.perf_counter()
        try:
            outputs = await self._infer_with_retry(spec, job)
            triton_s = time.perf_counter() - started
            entry = await asyncio.to_thread(self._store_result, spec, job, outputs)
        except asyncio.CancelledError:
            if job_id in self._user_cancelled:
                log.info("running job cancelled", extra={"action": "dispatch.cancelled", "job_id": job_id})
                return
            raise
        except TritonTimeout as exc:
            await self._fail(job, f"{job.model} did not finish within its time limit ({exc}); "
                                  "credits were refunded. Try a shorter input.", refund=True)
            return
        except TritonUnavailable as exc:
            await self._fail(job, f"The model server was unavailable for {self._retry_window_s:.0f} s ({exc}); "
                                  "credits were refunded. Try again later.", refund=True)
            return
        except TritonModelError as exc:
            await self._fail(job, f"{job.model} failed: {exc}" + ("" if exc.invalid_input else
                                                                   "; credits were refunded"),
                             refund=not exc.invalid_input)
            return
        except Exception as exc:  # a bug in decode or storage: never lose the job silently
            log.exception("job failed in the job service", extra={"action": "dispatch.error", "job_id": job_id})
            await self._fail(job, f"Internal error while storing the result ({type(exc).__name__}); "
                                  "credits were refunded", refund=True)
            return
        timings = entry["metadata"].setdefault("timings", {})
        timings["triton_call_s"] = round(triton_s, 4)  # Triton round trip, queueing and model execution included
        timings["service_total_s"] = round(time.perf_counter() - started, 4)  # claim → result stored
        try:
            await self._persist(self._jobs.complete(job.id, entry))
        except InvalidTransition:
            # Cancelled while its result was being written: the job stays cancelled, the files go.
            await asyncio.to_thread(self._results.remove, job.id)

    def _store_result(self, spec: ModelSpec, job: JobRecord, outputs: dict) -> dict:  # type: ignore[type-arg]
        """Decode and write the files in one worker-thread hop (both can be slow for big structures)."""
        return self._results.write(job.id, spec.decode(job.request, outputs))

    async def _fail(self, job: JobRecord, error: str, *, refund: bool) -> None:
        await self._persist(self._jobs.fail(job.id, error, refund=refund))

    async def _persist(self, write: Coroutine[object, object, object]) -> None:
        """Run a state write to completion even if the worker is cancelled meanwhile (shutdown)."""
        task = asyncio.ensure_future(write)
        self._persisting.add(task)
        task.add_done_callback(self._persisting.discard)
        await asyncio.shield(task)

    async def _infer_with_retry(self, spec: ModelSpec, job: JobRecord) -> dict:  # type: ignore[type-arg]
        deadline = time.monotonic() + self._retry_window_s
        delay = 0.2
        inputs = spec.triton_inputs(job.request)
        timeout = min(spec.timeout_s, self._timeout_s)
        while True:
            try:
                return await self._triton.infer(spec.triton_model, inputs, spec.output_names, timeout, job.id)
            except TritonUnavailable:
                if time.monotonic() + delay > deadline:
                    raise
                log.warning("triton unavailable, retrying", extra={"action": "dispatch.retry", "job_id": job.id})
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    async def _renew_leases(self) -> None:
        while True:
            await asyncio.sleep(LEASE_S / 3)
            if self._running:
                try:
                    await self._jobs.renew_leases(self.owner, LEASE_S)
                except Exception:
                    log.exception("lease renewal failed", extra={"action": "dispatch.lease_failed"})
