"""Model-server outages: while a model cannot be reached its jobs wait without using attempts, and the
retry window runs from the start of the outage, not per job.

* A call answered *unavailable* (jobservice/inference.py: the server is unreachable, does not serve the
  model, or dropped the request; with a fleet, no endpoint could serve it) closes the model's gate: dispatch
  stops claiming that model's jobs, and the job that met the outage goes back to pending with its run not
  counted (`JobStore.release`).
* While a gate is closed, a watcher asks the model server's health every `probe_s`; the first READY opens
  the gate and the workers claim again at once. (TritonInference reconnects within 2 s and caches health
  for 1 s, so a returning Triton is noticed within about 3 s.)
* The outage lasts until a call of the model gets an answer (a result or a typed failure of the request):
  a gate that health re-opened and that meets the outage again keeps the outage's start, so a server that
  looks ready but refuses every call still ends in failures after the window.
* Until a model is found served since this service started, dispatch asks its health before claiming a job of it
  (`ready_to_claim`), and only once a job waits (SQLite: the job taken from the service's queue; a shared PostgreSQL
  store: a pending job of the model found in the database), so a job is not claimed, started and handed back while
  Triton is still loading the model, and the window runs from a waiting job, not from the service's start.
* Unavailable before the model was ever found served since this service started (a call answered, a health
  check READY) is the normal start, Triton still loading it: said at INFO ("waiting for Triton to load
  <model>"), and handled as an outage otherwise (its jobs wait the same window). After that, unavailable is an
  outage: a warning naming the model and why.
* Once the outage has lasted `window_s`, every job of the model still waiting fails at once, refunded
  (`model_unavailable`); while it goes on, jobs submitted meanwhile fail at the next probe. On a shared
  store they are left alone while another job service is running the model (it can serve them).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Mapping

from jobservice.failures import FailureKind, JobFailure
from jobservice.inference import READY, Inference
from jobservice.jobs import JobStore

log = logging.getLogger(__name__)

PROBE_S = 0.5


class ModelGate:
    """Open while dispatch may claim the model's jobs."""

    def __init__(self) -> None:
        self._open = asyncio.Event()
        self._open.set()
        self.since: float | None = None  # monotonic start of the current outage; None: none
        self.reason = ""

    @property
    def is_open(self) -> bool:
        return self._open.is_set()

    async def wait_open(self) -> None:
        await self._open.wait()

    def close(self, reason: str) -> None:
        self._open.clear()
        self.reason = reason
        if self.since is None:
            self.since = time.monotonic()

    def open(self) -> None:
        self._open.set()

    def answered(self) -> None:
        """A call of the model got an answer: the outage, if any, is over."""
        self.since = None

    def expired(self, window_s: float) -> bool:
        return self.since is not None and time.monotonic() - self.since >= window_s


class Outages:
    """One gate per model, and per closed gate a watcher that re-opens it or fails the jobs waiting."""

    def __init__(self, triton_models: Mapping[str, str], inference: Inference, jobs: JobStore, *, window_s: float,
                 owner: str | None, probe_s: float = PROBE_S) -> None:
        self._triton_models = dict(triton_models)  # public model id → its name at the model server
        self._inference = inference
        self._jobs = jobs
        self._window_s = window_s
        self._owner = owner
        self._probe_s = probe_s
        self._gates = {model: ModelGate() for model in triton_models}
        self._watchers: dict[str, asyncio.Task[None]] = {}
        # Models a call or a health check found served since this service started: unavailable before that is
        # the normal start (Triton loading the model), said at INFO; after, an outage, a warning.
        self._was_ready: set[str] = set()
        self._said_never_loaded: set[str] = set()  # warned once: still not loaded after the whole window

    def gate(self, model: str) -> ModelGate:
        return self._gates[model]

    def close(self, model: str, reason: str) -> None:
        """The model server was found unavailable for `model`: stop claiming its jobs now."""
        gate = self._gates[model]
        if gate.is_open and model in self._was_ready:
            log.warning("model server unavailable for %s; jobs of the model wait", model, extra={
                "action": "dispatch.outage", "model": model, "reason": reason})
        elif gate.is_open:  # not ready yet since this service started: Triton still loading it, no outage
            log.info("waiting for Triton to load %s; jobs of the model wait", model, extra={
                "action": "dispatch.model_loading", "model": model, "reason": reason})
        gate.close(reason)

    def watch(self, model: str) -> None:
        """Start the closed gate's watcher (once), after the job that met the outage is back in the queue."""
        task = self._watchers.get(model)
        if task is None or task.done():
            self._watchers[model] = asyncio.create_task(self._watch(model), name=f"outage-{model}")

    async def ready_to_claim(self, model: str) -> bool:
        """Whether dispatch may claim the job of `model` it holds now. Until the model has been found served since this
        service started, its health is asked first: a job claimed while Triton was still loading went running and
        back to pending (a `job.started` webhook for a run that never happened, and `requeue_reason` overwritten with
        `model_unavailable`, hiding why a restart requeued it). Not ready: the gate closes as for a model met
        unavailable ("waiting for Triton to load", INFO; the window runs from now, a job waiting) and its watcher
        opens it when the model is."""
        if model in self._was_ready:
            return True
        if await self._ready(model):
            self._was_ready.add(model)
            return True
        if self._gates[model].is_open:
            self.close(model, "the model is not loaded yet")
        self.watch(model)
        return False

    def known_ready(self, model: str) -> bool:
        """Whether a call or a health check has found `model` served since this service started."""
        return model in self._was_ready

    def answered(self, model: str) -> None:
        self._was_ready.add(model)
        self._gates[model].answered()

    def expired(self, model: str) -> bool:
        """The model's outage has lasted the whole window: a job meeting it now fails instead of waiting."""
        return self._gates[model].expired(self._window_s)

    def failure(self, model: str) -> JobFailure:
        return JobFailure(FailureKind.MODEL_UNAVAILABLE, f"The model server was unavailable for {self._window_s:g} s "
                                                         f"({self._gates[model].reason}); try again later")

    async def _watch(self, model: str) -> None:
        gate = self._gates[model]
        while not gate.is_open:
            # First wait: a server that looks ready but refuses every call is asked again at this pace, not hot.
            await asyncio.sleep(self._probe_s)
            try:
                if await self._ready(model):
                    gate.open()
                    if model in self._was_ready:
                        log.info("model server back for %s; dispatch resumes", model,
                                 extra={"action": "dispatch.outage_over", "model": model})
                    else:
                        self._was_ready.add(model)
                        log.info("Triton loaded %s; dispatch starts", model,
                                 extra={"action": "dispatch.model_loaded", "model": model})
                    return
                if gate.expired(self._window_s):
                    self._never_loaded(model)
                    await self._fail_waiting(model)
            except Exception:  # e.g. the database restarting: the watcher keeps watching
                log.exception("outage watcher failed", extra={"action": "dispatch.outage_watch_failed",
                                                              "model": model})

    def _never_loaded(self, model: str) -> None:
        """A model not loaded for the whole window since this service started is no slow start (Triton failed to
        load it, a wrong model name, PHONOS_TRITON_URL naming nothing): warned once, as an outage would be."""
        if model in self._was_ready or model in self._said_never_loaded:
            return
        self._said_never_loaded.add(model)
        log.warning("Triton has not loaded %s after %g s (%s); jobs of the model fail: see Triton's log", model,
                    self._window_s, self._gates[model].reason,
                    extra={"action": "dispatch.outage", "model": model, "reason": self._gates[model].reason})

    async def _ready(self, model: str) -> bool:
        name = self._triton_models[model]
        try:
            return (await self._inference.health([name])).get(name) == READY
        except Exception:
            return False

    async def _fail_waiting(self, model: str) -> None:
        failed = await self._jobs.fail_waiting(model, self.failure(model), self._owner)
        if failed:
            log.warning("jobs failed after the model server stayed unavailable", extra={
                "action": "dispatch.outage_failed", "model": model, "count": len(failed)})

    async def close_all(self) -> None:
        for task in self._watchers.values():
            task.cancel()
        for task in self._watchers.values():
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._watchers.clear()
