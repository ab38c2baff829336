"""Build and run the grpc.aio server: PhonosService, health and reflection."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass

import grpc
from aiohttp import web
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from jobservice.datadir_lock import DataDirLock
from jobservice.db import Database
from jobservice.inference import Inference
from jobservice.metrics_server import MetricsEndpoint, start_metrics_server
from jobservice.modelspecs.base import ModelSpec
from jobservice.modelspecs.registry import build_specs
from jobservice.service import JobService
from jobservice.servicer import PhonosServicer
from jobservice.triton_inference import MAX_MESSAGE_BYTES, TritonInference
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
    lock: DataDirLock
    metrics: MetricsEndpoint
    metrics_runner: web.AppRunner | None = None
    metrics_port: int | None = None  # None: PHONOS_METRICS_ENABLED=false

    async def stop(self, grace_s: float = 5.0) -> None:
        await self.health.enter_graceful_shutdown()
        await self.server.stop(grace_s)
        if self.metrics_runner is not None:
            await self.metrics_runner.cleanup()
        await self.metrics.close()
        await self.service.stop()
        await self.service.db.close()
        self.lock.release()


async def create_server(
    settings: ServiceSettings, specs: Mapping[str, ModelSpec] | None = None, inference: Inference | None = None,
) -> RunningJobService:
    """Open the data dir, recover jobs, and serve on `settings.grpc_port` (0 = any free port).

    `inference` defaults to the Triton server at `settings.triton_url`; tests pass the in-memory twin."""
    lock = DataDirLock(settings.data_dir)
    lock.acquire()
    try:
        db = await Database.open(settings.database_path)
        service = JobService(settings, db, build_specs(settings.models) if specs is None else specs,
                             TritonInference(settings.triton_url) if inference is None else inference)
        await service.start()
    except BaseException:
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
    running = RunningJobService(server, port, service, servicer, health_servicer, lock,
                                MetricsEndpoint(service.db, list(service.specs), settings.triton_metrics_urls))
    if settings.metrics_enabled:
        try:
            running.metrics_runner, running.metrics_port = await start_metrics_server(
                running.metrics, settings.metrics_host, settings.metrics_port)
        except BaseException:
            await running.stop(0)
            raise
    log.info("job service listening", extra={"action": "jobservice.started", "port": port,
                                             "metrics_port": running.metrics_port})
    return running
