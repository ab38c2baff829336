"""Build and run the grpc.aio server: PhonosService, health and reflection."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from jobservice.datadir_lock import DataDirLock
from jobservice.fleet_inference import build_inference
from jobservice.inference import Inference
from jobservice.modelspecs.base import ModelSpec
from jobservice.modelspecs.registry import build_specs
from jobservice.service import JobService
from jobservice.servicer import PhonosServicer
from jobservice.store import open_store
from jobservice.triton_inference import MAX_MESSAGE_BYTES
from phonos.v1 import phonos_pb2, phonos_pb2_grpc
from phonos_config.service import ServiceSettings

log = logging.getLogger(__name__)

SERVICE_NAME = phonos_pb2.DESCRIPTOR.services_by_name["PhonosService"].full_name


@dataclass
class RunningJobService:
    server: grpc.aio.Server
    port: int
    service: JobService
    servicer: PhonosServicer
    health: health.aio.HealthServicer
    lock: DataDirLock | None  # SQLite: this service owns the data directory; PostgreSQL: no lock, many services

    async def stop(self, grace_s: float = 5.0) -> None:
        await self.health.enter_graceful_shutdown()
        await self.server.stop(grace_s)
        await self.service.stop()
        await self.service.db.close()
        if self.lock is not None:
            self.lock.release()


async def create_server(
    settings: ServiceSettings, specs: Mapping[str, ModelSpec] | None = None, inference: Inference | None = None,
) -> RunningJobService:
    """Open the store, recover jobs, and serve on `settings.grpc_port` (0 = any free port).

    SQLite (the default) is owned by one job service: the data-directory lock refuses a second one.
    PostgreSQL (`settings.database_url`) is shared: no lock, the data directory only holds result files.

    `inference` defaults to the Triton server at `settings.triton_url` (or the fleet at `triton_urls`); tests
    pass the in-memory twin."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)  # result files live there on either store
    lock = None if settings.database_url else DataDirLock(settings.data_dir)
    if lock is not None:
        lock.acquire()
    try:
        db = await open_store(settings)
        service = JobService(settings, db, build_specs(settings.models) if specs is None else specs,
                             build_inference(settings.triton_url, settings.triton_urls,
                                             settings.triton_health_interval_s) if inference is None else inference)
        await service.start()
    except BaseException:
        if lock is not None:
            lock.release()
        raise
    servicer = PhonosServicer(service)
    server = grpc.aio.server(options=[
        ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
        ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
        ("grpc.so_reuseport", 0),
    ])
    phonos_pb2_grpc.add_PhonosServiceServicer_to_server(servicer, server)
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection(
        (SERVICE_NAME, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name, reflection.SERVICE_NAME), server
    )
    port = server.add_insecure_port(f"{settings.grpc_host}:{settings.grpc_port}")
    await server.start()
    for name in ("", SERVICE_NAME):
        await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    log.info("job service listening", extra={"action": "jobservice.started", "port": port})
    return RunningJobService(server, port, service, servicer, health_servicer, lock)
