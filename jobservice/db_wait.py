"""A job service started while its PostgreSQL is away waits for it, as PgBouncer or Grafana do, instead of exiting.

A container started before its database, a database restarting, DNS not ready yet: the job service tries again,
1 s doubling to 15 s between tries, each failed try logged once with where and why, for up to
PHONOS_DATABASE_START_WAIT_S (0: for ever). Meanwhile `WaitingServicer` answers in place of PhonosService (on
the gRPC and HTTP ports the service will serve on): health is `degraded` with `database: unreachable` (gRPC
readiness NOT_SERVING, `/v1/health` 503), every other call UNAVAILABLE (503 with Retry-After). Once the
database answers, the service migrates and serves. Was: exit status 2 at once, which an orchestrator turned
into a crash loop with the reason buried in its restarts' logs.

A database that answers and refuses (a wrong password or user, no such database, SSL settings that cannot
work; `jobservice.pg.start_failure`) is not waited for: the start ends at once, EXIT_DATABASE_REFUSED.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, NoReturn, TypeVar

import grpc

from jobservice.edge import call_request_id
from jobservice.errors import DatabaseUnavailable
from jobservice.pg import PgDatabase, StartFailure, server_of
from jobservice.status_map import grpc_status
from phonos.v1 import phonos_pb2 as pb
from phonos_config.service import ServiceSettings

log = logging.getLogger(__name__)

RETRY_FIRST_S = 1.0
RETRY_MAX_S = 15.0
# `python -m jobservice`'s exit status for a database that refused it (README "PostgreSQL"): distinct from the
# 2 of every other unusable setting, so a supervisor can stop restarting (systemd's RestartPreventExitStatus=3).
EXIT_DATABASE_REFUSED = 3
# The gateway's HTTP status override (gateway.app HTTP_CODE_KEY; jobservice.servicer names it too).
HTTP_CODE_KEY = "x-http-code"
UNREACHABLE_COMPONENT = "unreachable"
_METHODS = pb.DESCRIPTOR.services_by_name["PhonosService"].methods_by_name


class Waiting:
    """How the wait for the database goes: the last failure's short reason (for the public health: no host or
    port, see `StartFailure.kind`), the tries so far and since when."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self.since = clock()
        self.tries = 0
        self.reason = ""

    def failed(self, failure: StartFailure) -> None:
        self.tries += 1
        self.reason = failure.kind

    def health_message(self) -> str:
        return (f"PHONOS API is starting: waiting for its database ({self.reason}; try {self.tries}, "
                f"{self._clock() - self.since:.0f} s so far)")


T = TypeVar("T")


async def retrying(attempt: Callable[[], Awaitable[T]], limit_s: float,
                   failed: Callable[[StartFailure, float], Awaitable[None]]) -> T:
    """`attempt()` until it does not raise a StartFailure worth waiting out, 1 s doubling to 15 s apart, for up to
    `limit_s` (0: for ever); `failed(failure, pause_s)` after each failed try. StartFailure: one that waiting cannot
    help (`retry` False), or the last one once `limit_s` passed (its reason says so)."""
    deadline = None if limit_s == 0 else time.monotonic() + limit_s
    delay_s = RETRY_FIRST_S
    while True:
        try:
            return await attempt()
        except StartFailure as failure:
            if not failure.retry:
                raise
            left_s = None if deadline is None else deadline - time.monotonic()
            if left_s is not None and left_s <= 0:
                raise StartFailure(f"{failure.reason}; gave up after {limit_s:g} s of trying "
                                   "(PHONOS_DATABASE_START_WAIT_S)", retry=True, kind=failure.kind) from failure
            pause_s = delay_s if left_s is None else min(delay_s, left_s)
            await failed(failure, pause_s)
            await asyncio.sleep(pause_s)
            delay_s = min(delay_s * 2, RETRY_MAX_S)


async def open_waiting(settings: ServiceSettings, waiting: Waiting,
                       first_wait: Callable[[], Awaitable[None]] | None = None) -> PgDatabase:
    """The database at `settings.database_url`, migrated, once it answers. `first_wait` runs after the first
    failed try (to put the waiting listeners up). StartFailure: the database refused us (`retry` False), or
    PHONOS_DATABASE_START_WAIT_S passed (`retry` True; the message says so)."""

    async def attempt() -> PgDatabase:
        return await PgDatabase.open(settings.database_url, connect_timeout_s=settings.database_connect_timeout_s,
                                     command_timeout_s=settings.database_command_timeout_s)

    async def failed(failure: StartFailure, pause_s: float) -> None:
        waiting.failed(failure)
        log.warning("cannot reach the database yet (try %d): %s; trying again in %.1f s", waiting.tries,
                    failure.reason, pause_s, extra={"action": "pg.start_waiting", "try": waiting.tries})
        if waiting.tries == 1 and first_wait is not None:
            await first_wait()

    db = await retrying(attempt, settings.database_start_wait_s, failed)
    if waiting.tries:
        db.reached_after_waiting = True
        log.info("database at %s reached after %d failed tries (%.0f s)", server_of(settings.database_url),
                 waiting.tries, time.monotonic() - waiting.since, extra={"action": "pg.start_reached"})
    return db


class WaitingServicer:
    """PhonosService while the database is awaited: GetHealth says so (HTTP 503, with Retry-After), every other
    method answers UNAVAILABLE with the outage's message (503 with Retry-After), streams included."""

    def __init__(self, waiting: Waiting) -> None:
        self._waiting = waiting

    async def GetHealth(self, request: pb.GetHealthRequest, context: grpc.aio.ServicerContext) -> pb.GetHealthResponse:
        request_id = call_request_id(dict(context.invocation_metadata() or ()))
        context.set_trailing_metadata((("x-request-id", request_id), (HTTP_CODE_KEY, "503"),
                                       ("retry-after", str(DatabaseUnavailable.retry_after_s))))
        return pb.GetHealthResponse(status="degraded", version="v1", message=self._waiting.health_message(),
                                    components={"database": UNREACHABLE_COMPONENT})

    def __getattr__(self, name: str) -> Any:
        method = _METHODS.get(name)
        if method is None:
            raise AttributeError(name)
        if method.server_streaming:
            async def stream(request: Any, context: grpc.aio.ServicerContext) -> Any:
                await _refuse(context)
                yield  # an async generator, as the service's own stream handlers are
            return stream

        async def unary(request: Any, context: grpc.aio.ServicerContext) -> NoReturn:
            await _refuse(context)
        return unary


async def _refuse(context: grpc.aio.ServicerContext) -> NoReturn:
    request_id = call_request_id(dict(context.invocation_metadata() or ()))
    error = DatabaseUnavailable("The service is starting and cannot reach its database yet; try again in a few "
                                "seconds.")
    code, metadata = grpc_status(error)
    await context.abort(code, error.message, trailing_metadata=(("x-request-id", request_id), *metadata))
    raise AssertionError("abort returned")  # unreachable: abort raises
