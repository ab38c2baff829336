"""Build and run the grpc.aio server: PhonosService, health and reflection, behind the edge interceptor."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import grpc
from aiohttp import web
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from jobservice.admission import KeyAdmission
from jobservice.datadir_lock import DataDirLock
from jobservice.db_wait import Waiting, WaitingServicer, open_waiting
from jobservice.edge import EdgeInterceptor
from jobservice.fleet_inference import build_inference
from jobservice.grpc_in_flight import GrpcInFlight
from jobservice.inference import Inference
from jobservice.message_limits import MAX_REQUEST_BYTES, MAX_RESPONSE_BYTES
from jobservice.metrics_server import MetricsEndpoint, start_metrics_server
from jobservice.modelspecs.base import ModelSpec
from jobservice.modelspecs.registry import build_specs
from jobservice.private_files import secure_data_dir
from jobservice.readiness import API_SERVICE, ReadinessMonitor
from jobservice.reflection_pool import V1_SERVICE, V1ALPHA_SERVICE, enable_reflection
from jobservice.result_store_identity import claim_result_store
from jobservice.results import ResultStore
from jobservice.service import JobService
from jobservice.servicer import PhonosServicer
from jobservice.store import Store, open_store
from phonos.v1 import phonos_pb2, phonos_pb2_grpc
from phonos_common.ratelog import RateLimitedLog
from phonos_config.edge import EdgeSettings
from phonos_config.service import ServiceSettings, bracketed

log = logging.getLogger(__name__)

SERVICE_NAME = phonos_pb2.DESCRIPTOR.services_by_name["PhonosService"].full_name
HEALTH_SERVICE_NAME = health_pb2.DESCRIPTOR.services_by_name["Health"].full_name
ALWAYS_SERVING = (HEALTH_SERVICE_NAME, V1ALPHA_SERVICE, V1_SERVICE)


class CannotListen(RuntimeError):
    """A listener could not bind its address (in use by another process, or not this machine's)."""

    def __init__(self, what: str, host: str, port: int, settings: str) -> None:
        super().__init__(f"cannot listen for {what} on {host}:{port}: the port is in use (or the address is not "
                         f"this machine's); choose another with {settings}")


@dataclass
class RunningJobService:
    server: grpc.aio.Server
    port: int
    service: JobService
    servicer: PhonosServicer
    health: health.aio.HealthServicer
    readiness: ReadinessMonitor
    admission: KeyAdmission
    lock: DataDirLock | None  # SQLite: this service owns the data directory; PostgreSQL: no lock, many services
    metrics: MetricsEndpoint
    metrics_runner: web.AppRunner | None = None
    metrics_port: int | None = None  # None: PHONOS_METRICS_ENABLED=false
    in_flight: GrpcInFlight | None = None  # the gRPC port's downloads and request bytes in progress

    async def stop(self, grace_s: float = 5.0, phases: ShutdownPhases | None = None) -> None:
        """Stop serving: running jobs are handed back to pending (JobService.stop), then the database is closed.
        `phases`: the caller's, when it timed a phase of its own first (the in-process gateway)."""
        # Each phase is timed: a stop that outlasts a supervisor's patience says where it waits (ShutdownPhases).
        phases = ShutdownPhases() if phases is None else phases
        async with phases.timed("readiness"):
            await self.readiness.stop()
            await self.health.enter_graceful_shutdown()
        async with phases.timed("watchers"):
            await self.service.hub.close()  # watch streams end now (clients resume), not after the grace period
        async with phases.timed("grpc"):
            await self.server.stop(grace_s)
        async with phases.timed("metrics"):
            if self.metrics_runner is not None:
                await self.metrics_runner.cleanup()
            await self.metrics.close()
        async with phases.timed("service"):
            await self.service.stop()
        async with phases.timed("database"):
            await self.service.db.close()
        if self.lock is not None:
            self.lock.release()
        log.info("job service stopped: %s", phases)


class ShutdownPhases:
    """How long each phase of a stop took, said in one line at the end (`str`). A phase still running after
    SLOW_PHASE_S is said at INFO as it runs (and again every SLOW_PHASE_REPEAT_S), and once more when it ends:
    a stop that hangs names the phase it hangs in, while a quick stop (the usual Ctrl-C) shows one line, not
    one per phase (those are DEBUG)."""

    SLOW_PHASE_S = 1.0
    SLOW_PHASE_REPEAT_S = 5.0

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self._began = time.monotonic()

    @contextlib.asynccontextmanager
    async def timed(self, phase: str) -> AsyncIterator[None]:
        started = time.monotonic()
        loop = asyncio.get_running_loop()
        said: list[asyncio.TimerHandle] = []  # the pending "still running" line; any at all: the phase was slow

        def still_running() -> None:
            log.info("stop: %s still running after %.0f s", phase, time.monotonic() - started)
            said.append(loop.call_later(self.SLOW_PHASE_REPEAT_S, still_running))

        first = loop.call_later(self.SLOW_PHASE_S, still_running)
        try:
            yield
        finally:
            for handle in (first, *said):
                handle.cancel()
            self.seconds[phase] = took = time.monotonic() - started
            log.log(logging.INFO if said or took >= self.SLOW_PHASE_S else logging.DEBUG,
                    "stop: %s done in %.2f s", phase, took)

    def __str__(self) -> str:
        return (f"{time.monotonic() - self._began:.2f} s ("
                + ", ".join(f"{phase} {seconds:.2f} s" for phase, seconds in self.seconds.items()) + ")")


# HTTP/2 keepalive. A WatchJob stream on a queued or quiet job sends no message for minutes (gRPC has no SSE
# keep-alive comment), so nothing else crosses the connection:
# - the server pings each connection after KEEPALIVE_TIME_MS without traffic, with or without calls (and with
#   no data in between: grpc's default stops after 2 such pings), and closes it when no ack comes within
#   KEEPALIVE_TIMEOUT_MS (grpcio 1.85 closes on `ping_timeout_ms`: `keepalive_timeout_ms` alone left open a
#   connection whose peer had gone silent). A client gone without a FIN (a laptop shut, a NAT entry dropped)
#   then frees its watch streams, which count against PHONOS_WATCH_MAX_STREAMS_PER_ACCOUNT, within about a
#   minute and a half rather than PHONOS_WATCH_MAX_STREAM_S; and the pings keep idle-timeout middleboxes
#   (L4 balancers, NAT, conntrack) from dropping a quiet connection.
# - clients may ping every CLIENT_PING_MIN_INTERVAL_MS, also without calls. grpc's default policy allows one
#   ping in 5 minutes without data and answers the third early one with GOAWAY "too_many_pings", which ended
#   the quiet watch streams of clients set to ping every 10-60 s (the usual advice behind a load balancer).
# Module constants so a test can scale them down (tests/service/test_grpc_reflection_client.py).
KEEPALIVE_TIME_MS = 60_000
KEEPALIVE_TIMEOUT_MS = 20_000
CLIENT_PING_MIN_INTERVAL_MS = 10_000  # grpc-go's smallest client keepalive time


def server_options(handshake_timeout_s: float = EdgeSettings.grpc_handshake_timeout_s) -> list[tuple[str, int]]:
    return [
        # A connection that never finishes HTTP/2's opening (a raw idle socket, a preface and then silence) is
        # closed after this; grpc's default, 120 s, let anyone hold descriptors for two minutes each
        # (PHONOS_GRPC_HANDSHAKE_TIMEOUT_S).
        ("grpc.server_handshake_timeout_ms", max(1, round(handshake_timeout_s * 1000))),
        ("grpc.max_send_message_length", MAX_RESPONSE_BYTES),
        # Longer messages are refused from their length prefix, unbuffered (message_limits).
        ("grpc.max_receive_message_length", MAX_REQUEST_BYTES),
        # No cap on calls at once per connection (grpc's default). It was 100: one connection's 101st call, any
        # call, waited client-side until one of the 100 ended, so 100 quiet watch streams on one channel (a client
        # following 100 jobs, or a separate gateway, whose one channel carries every REST client's calls and SSE
        # streams) left every further call to its deadline. What a caller may hold is bounded per account and key
        # instead: PHONOS_WATCH_MAX_STREAMS_PER_ACCOUNT, the rate limits, the failed-auth throttle.
        ("grpc.so_reuseport", 0),
        ("grpc.keepalive_time_ms", KEEPALIVE_TIME_MS),
        ("grpc.keepalive_timeout_ms", KEEPALIVE_TIMEOUT_MS),
        ("grpc.http2.ping_timeout_ms", KEEPALIVE_TIMEOUT_MS),
        ("grpc.keepalive_permit_without_calls", 1),
        ("grpc.http2.max_pings_without_data", 0),
        # The server's receive policy, despite the name (core's GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS).
        ("grpc.http2.min_ping_interval_without_data_ms", CLIENT_PING_MIN_INTERVAL_MS),
    ]


def add_services(server: grpc.aio.Server, servicer: object) -> health.aio.HealthServicer:
    """PhonosService (`servicer`), health and reflection on `server`; the health servicer, to set."""
    phonos_pb2_grpc.add_PhonosServiceServicer_to_server(servicer, server)
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    # v1alpha and v1 (newer grpcurl, grpcui, Postman and Buf Studio ask v1 first): jobservice/reflection_pool.py
    enable_reflection(server, (SERVICE_NAME, HEALTH_SERVICE_NAME))
    return health_servicer


def bind_grpc(server: grpc.aio.Server, settings: ServiceSettings) -> int:
    """The port `server` listens on (settings.grpc_port; 0: any free one); CannotListen naming the setting."""
    try:
        return int(server.add_insecure_port(f"{bracketed(settings.grpc_host)}:{settings.grpc_port}"))
    except RuntimeError:  # grpc's "Failed to bind to address ..."
        raise CannotListen("gRPC", settings.grpc_host, settings.grpc_port,
                           "PHONOS_GRPC_PORT or --grpc-port") from None


async def create_server(
    settings: ServiceSettings, specs: Mapping[str, ModelSpec] | None = None, inference: Inference | None = None,
    *, store: Store | None = None,
) -> RunningJobService:
    """Open the store, recover jobs, and serve on `settings.grpc_port` (0 = any free port).

    SQLite (the default) is owned by one job service: the data-directory lock refuses a second one.
    PostgreSQL (`settings.database_url`) is shared: no lock, the data directory only holds result files.
    Either way the results directory must be the database's result store: ResultStoreMismatch if it names another
    database (or, on PostgreSQL, lacks the marker of one that marked its store already).

    `inference` defaults to the Triton server at `settings.triton_url` (or the fleet at `triton_urls`); tests
    pass the in-memory twin. `store`: already opened (`open_database_waiting`); else opened here, and a
    database that cannot be reached is an error at once."""
    secure_data_dir(settings.data_dir, settings.sqlite_path)  # result files live there on either store
    lock = None if settings.database_url else DataDirLock(settings.data_dir)
    if lock is not None:
        lock.acquire()
    try:
        db = await open_store(settings) if store is None else store
        secure_data_dir(settings.data_dir, settings.sqlite_path)  # the files SQLite just created
        await claim_results(db, settings)  # before any sweep, temporaries' removal or dispatch touches the files
        if lock is not None:  # the only writer of the results: what a killed one left half-written can go
            await asyncio.to_thread(ResultStore(settings.results_dir).remove_every_temporary)
        service = JobService(settings, db, build_specs(settings.models) if specs is None else specs,
                             build_inference(settings.triton_url, settings.triton_urls,
                                             settings.triton_health_interval_s, settings.triton_endpoint_label,
                                             api_secret=settings.triton_api_secret)
                             if inference is None else inference)
        await service.start()
    except BaseException:
        if lock is not None:
            lock.release()
        raise
    servicer = PhonosServicer(service)
    edge = settings.edge
    admission = KeyAdmission(service.auth, service.auth_throttle, service.rate_limits,
                             edge.shared_requests_per_minute)
    error_log = RateLimitedLog(logging.getLogger("jobservice.edge"), edge.client_error_logs_per_minute)
    in_flight = GrpcInFlight.create(downloads_per_client=edge.grpc_downloads_per_client,
                                    max_downloads=edge.grpc_max_downloads,
                                    upload_bytes_per_client=edge.grpc_upload_bytes_per_client,
                                    max_upload_bytes=edge.grpc_max_upload_bytes, log=error_log)
    server = grpc.aio.server(
        interceptors=[EdgeInterceptor(admission, body_timeout_s=edge.body_timeout_s, error_log=error_log,
                                      trusted_proxies=edge.trusted_proxies, in_flight=in_flight)],
        options=server_options(edge.grpc_handshake_timeout_s),
    )
    health_servicer = add_services(server, servicer)
    try:
        port = bind_grpc(server, settings)
    except CannotListen:
        await service.stop()
        await db.close()
        if lock is not None:
            lock.release()
        raise
    await server.start()
    await health_servicer.set("", health_pb2.HealthCheckResponse.SERVING)  # liveness
    # Every other service reflection lists answers by its own name too (health checkers and grpcurl users ask
    # per service; these were NOT_FOUND): they serve whenever the process does, so they follow "", not readiness.
    for always_on in ALWAYS_SERVING:
        await health_servicer.set(always_on, health_pb2.HealthCheckResponse.SERVING)
    readiness = ReadinessMonitor(service, health_servicer, SERVICE_NAME)
    await readiness.check()
    readiness.start()
    running = RunningJobService(server, port, service, servicer, health_servicer, readiness, admission, lock,
                                MetricsEndpoint(service.db, list(service.specs), settings.triton_metrics_urls,
                                                readiness=lambda: readiness.components, data_dir=settings.data_dir,
                                                triton_label=settings.triton_endpoint_label),
                                in_flight=in_flight)
    if settings.metrics_enabled:
        try:
            running.metrics_runner, running.metrics_port = await listen_for_metrics(running.metrics, settings)
        except BaseException:
            await running.stop(0)
            raise
    # The ports in the words too: the console's format (python -m jobservice, `phonos serve`) drops the extras.
    log.info("job service listening: gRPC on %s, /metrics %s", host_port(settings.grpc_host, port),
             "off (PHONOS_METRICS_ENABLED=false)" if running.metrics_port is None
             else f"on {host_port(settings.metrics_host, running.metrics_port)}",
             extra={"action": "jobservice.started", "port": port, "metrics_port": running.metrics_port})
    return running


async def claim_results(db: Store, settings: ServiceSettings) -> None:
    """The results directory is this database's result store (jobservice/result_store_identity.py), marked so on
    the first start; else the store is closed and ResultStoreMismatch (a ValueError: exit status 2) says what to fix."""
    try:
        await claim_result_store(db, settings.results_dir)
    except BaseException:
        await db.close()
        raise


def host_port(host: str, port: int) -> str:
    """`host:port` as a log line says where a listener is (an IPv6 address bracketed)."""
    return f"{bracketed(host)}:{port}"


async def listen_for_metrics(endpoint: MetricsEndpoint, settings: ServiceSettings) -> tuple[web.AppRunner, int]:
    """`/metrics` on PHONOS_METRICS_HOST/PORT; CannotListen naming the setting."""
    try:
        return await start_metrics_server(endpoint, settings.metrics_host, settings.metrics_port,
                                          allowed_hosts=settings.metrics_hosts)
    except OSError:
        raise CannotListen("metrics", settings.metrics_host, settings.metrics_port,
                           "PHONOS_METRICS_PORT or --metrics-port") from None


@dataclass
class WaitingEndpoints:
    """What listens while a starting job service waits for its database (jobservice/db_wait.py): gRPC health
    (liveness SERVING, PhonosService NOT_SERVING) and the waiting servicer, the REST gateway over it, and
    `/metrics` saying `phonos_database_up 0` (a scrape target down would read as the process gone, and
    PhonosDatabaseUnavailable would not fire)."""

    server: grpc.aio.Server
    grpc_port: int
    runner: web.AppRunner | None = None
    http_port: int | None = None
    metrics: MetricsEndpoint | None = None
    metrics_runner: web.AppRunner | None = None
    metrics_port: int | None = None  # None: PHONOS_METRICS_ENABLED=false

    async def stop(self) -> None:
        if self.metrics_runner is not None:
            await self.metrics_runner.cleanup()
        if self.metrics is not None:
            await self.metrics.close()
        if self.runner is not None:
            await self.runner.cleanup()
        await self.server.stop(0)


async def start_waiting_endpoints(settings: ServiceSettings, servicer: WaitingServicer,
                                  with_http: bool) -> WaitingEndpoints:
    """Listen where the job service will (its ports, so probes, clients and Prometheus find the answer there)
    with `servicer` in place of PhonosService; CannotListen as `create_server` says it."""
    server = grpc.aio.server(options=server_options(settings.edge.grpc_handshake_timeout_s))
    health_servicer = add_services(server, servicer)
    port = bind_grpc(server, settings)
    await server.start()
    for always_on in ("", *ALWAYS_SERVING):  # the process is alive: a restart would not bring the database
        await health_servicer.set(always_on, health_pb2.HealthCheckResponse.SERVING)
    for not_yet in (SERVICE_NAME, API_SERVICE):  # no database yet: every call but the health is refused
        await health_servicer.set(not_yet, health_pb2.HealthCheckResponse.NOT_SERVING)
    endpoints = WaitingEndpoints(server, port)
    if with_http:
        from gateway.dashboard import DashboardOptions
        from gateway.invoker import InProcessInvoker
        from gateway.server import start_gateway

        try:  # no admission: every call but the health is refused by the servicer itself
            endpoints.runner, endpoints.http_port = await start_gateway(
                InProcessInvoker(servicer), settings.http_host, settings.http_port, edge=settings.edge,
                dashboard_options=DashboardOptions(cookie_secure=settings.cookie_secure))
        except OSError:
            await server.stop(0)
            raise CannotListen("HTTP", settings.http_host, settings.http_port,
                               "PHONOS_HTTP_PORT or --http-port") from None
    if settings.metrics_enabled:  # no store yet: the database's gauge says 0, Triton's metrics are re-exported
        endpoints.metrics = MetricsEndpoint(None, list(settings.models), settings.triton_metrics_urls,
                                            data_dir=settings.data_dir, triton_label=settings.triton_endpoint_label)
        try:
            endpoints.metrics_runner, endpoints.metrics_port = await listen_for_metrics(endpoints.metrics, settings)
        except BaseException:
            await endpoints.stop()
            raise
    return endpoints


async def open_database_waiting(settings: ServiceSettings, with_http: bool,
                                announce: Callable[[WaitingEndpoints, Waiting], None]) -> tuple[Store, ServiceSettings]:
    """The PostgreSQL store once it answers (jobservice/db_wait.py), and the settings to serve with. After the
    first failed try the waiting endpoints listen (then `announce`) until it answers; the service then serves on
    the ports they had, the metrics port included (port 0 picks once). StartFailure when the database refuses or the wait ends."""
    waiting = Waiting()
    endpoints: WaitingEndpoints | None = None

    async def first_wait() -> None:
        nonlocal endpoints
        endpoints = await start_waiting_endpoints(settings, WaitingServicer(waiting), with_http)
        announce(endpoints, waiting)

    try:
        db = await open_waiting(settings, waiting, first_wait)
    finally:
        if endpoints is not None:
            await endpoints.stop()
    if endpoints is not None:
        settings = settings.with_overrides(grpc_port=endpoints.grpc_port, http_port=endpoints.http_port or
                                           settings.http_port, metrics_port=endpoints.metrics_port or
                                           settings.metrics_port)
    return db, settings


async def start_in_process_gateway(running: RunningJobService, settings: ServiceSettings) -> tuple[Any, int]:
    """The REST gateway in this process and event loop: it calls the servicer directly (no loopback gRPC
    hop), with the same admission (keys, failed-auth throttle) and message limits as the gRPC edge,
    and the dashboard's pages and sign-in routes.
    Returns the aiohttp runner (stop it with `cleanup()`) and the bound port. A port it cannot bind is a
    CannotListen, with `running` stopped."""
    try:
        return await _start_in_process_gateway(running, settings)
    except OSError:
        await running.stop(0)
        raise CannotListen("HTTP", settings.http_host, settings.http_port, "PHONOS_HTTP_PORT or --http-port") from None


async def _start_in_process_gateway(running: RunningJobService, settings: ServiceSettings) -> tuple[Any, int]:
    from gateway.dashboard import DashboardOptions
    from gateway.invoker import InProcessInvoker
    from gateway.server import start_gateway
    from jobservice.message_limits import SMALL_REQUEST_BYTES, by_full_method
    from phonos_common.limits import BodyLimits

    return await start_gateway(
        InProcessInvoker(running.servicer), settings.http_host, settings.http_port,
        body_limits=BodyLimits(default=SMALL_REQUEST_BYTES, per_method=by_full_method()),
        admission=running.admission, edge=settings.edge, sse_keepalive_s=settings.sse_keepalive_s,
        dashboard_options=DashboardOptions(cookie_secure=settings.cookie_secure),
    )
