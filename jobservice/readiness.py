"""Readiness for orchestrators: the gRPC health status follows `/v1/health`.

Three signals (`JobService.health`: operational when the database, Triton and every served model are ready):

- gRPC health service `""`: SERVING while the process serves, its start's wait for the database included
  (liveness: restart it if this fails; a restart would not bring the database);
- gRPC health service `phonos.api` (API_SERVICE): SERVING once the job service serves its API with its database,
  whatever Triton's state; NOT_SERVING while its start waits for the database, when every call but the
  health answers 503 (jobservice/db_wait.py), and NOT_SERVING from its stop on. A pod's readiness probe: Triton
  loading or down is every replica's at once, and the API keeps answering through it (jobs wait), so it must not
  empty the Service; a replica that has no database yet must not be sent the calls. Was: the manifests probed
  `""`, SERVING while waiting, so a replica waiting for its database was ready and got calls it refused;
- gRPC health service `phonos.v1.PhonosService`: SERVING when operational, NOT_SERVING when degraded (for
  monitors; Compose's healthcheck, `python -m jobservice.health_probe`). Over HTTP, `GET /v1/health` answers 503
  with the same body when degraded (`PhonosServicer.GetHealth`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from grpc_health.v1 import health, health_pb2

from jobservice.service import JobService

log = logging.getLogger(__name__)

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING
API_SERVICE = "phonos.api"  # the readiness probe's service name (deploy/kubernetes/jobservice.yaml)


class ReadinessMonitor:
    def __init__(self, service: JobService, health_servicer: health.aio.HealthServicer, service_name: str,
                 interval_s: float = 1.0) -> None:
        self._service = service
        self._health = health_servicer
        self._name = service_name
        self._interval_s = interval_s
        self._task: asyncio.Task[None] | None = None
        self.ready: bool | None = None
        # The last check's components ({"database": "ready", "esmfold": "not_ready", ...}): /metrics exports the
        # models' readiness from here (phonos_model_ready) instead of asking every model server at each scrape.
        self.components: dict[str, str] | None = None

    async def check(self) -> bool:
        """Read the health once and publish it; True when operational."""
        status, message, components = await self._service.health()
        self.components = components
        ready = status == "operational"
        if ready != self.ready:
            # The first check is where it starts, not a change: a job service started beside its Triton (`phonos
            # serve`, a pod) is not ready until the models load, and "readiness changed: ... not ready" among the
            # start lines read as a failure. Only real transitions are logged: ready again at INFO, ready no more at
            # WARNING (a model or the database lost: an operator greps for it); /v1/health says the state any time.
            level = logging.DEBUG if self.ready is None else logging.INFO if ready else logging.WARNING
            log.log(level, "readiness %s: %s", "at start" if self.ready is None else "changed", message,
                    extra={"action": "jobservice.readiness", "ready": ready})
            self.ready = ready
        await self._health.set(API_SERVICE, SERVING)  # checked at all: started, with its database
        await self._health.set(self._name, SERVING if ready else NOT_SERVING)
        return ready

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="readiness")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._interval_s)
            try:
                await self.check()
            except Exception:  # keep probing; a failing check must not freeze the last answer forever
                log.exception("readiness check failed", extra={"action": "jobservice.readiness_failed"})
                self.components = {}  # /metrics reads every model as not ready, as the health service does
                await self._health.set(self._name, NOT_SERVING)
