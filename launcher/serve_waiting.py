"""`phonos serve` waiting for its PostgreSQL before it starts anything: it answers on its HTTP and metrics ports as
a waiting job service does.

The launcher opens the database itself first (the first account: launcher/serve.py `first_account_waiting`) and
waits for it as the job service does (jobservice/db_wait.py). Meanwhile only its metrics port answered: `phonos
status` asked the gateway's address, where nothing listened, and said "nothing answers ... (is `phonos serve`
running?)", exit status 7, about a serve that was up and waiting, `--metrics-url` answering `phonos_database_up 0`
or not; and `phonos status --data-dir` had no recorded address to ask (it is recorded once the job service listens).

Now, from its first failed try, the launcher answers on its HTTP port as a job service waiting for its database does
(jobservice/server.py `start_waiting_endpoints`, the same servicer: jobservice/db_wait.py `WaitingServicer`):
`/v1/health` 503 `degraded` with `database: unreachable` and the wait's reason, tries and seconds so far, every other
call 503 with Retry-After; and `/metrics` (`phonos_database_up 0`) on the socket it hands the job service. Their
addresses are recorded for `phonos status` (launcher/serve_address.py). Once the database answers they close and the
job service binds the same HTTP port (port 0: the one picked here), as a job service's own waiting listeners hand
over to it. Not its gRPC port: a gRPC server in the launcher leaves gRPC's threads running in it, and every child it
starts after (Triton, the job service, their restarts) then logs "Other threads are currently calling into gRPC,
skipping fork() handlers"; a gRPC client meanwhile finds the port refused (UNAVAILABLE, which it retries), as before.
"""

from __future__ import annotations

import os
import socket

from aiohttp import web

from jobservice.db_wait import Waiting, WaitingServicer
from jobservice.metrics_server import MetricsEndpoint, start_metrics_server
from jobservice.pg import StartFailure
from launcher.serve_address import ServeAddress
from launcher.serve_address import forget as forget_address
from launcher.serve_address import record as record_address
from launcher.urls import reachable
from phonos_config.service import ServiceSettings


class ServeWaiting:
    """The listeners of one `phonos serve` start while its database is awaited (`failed` after each failed try,
    `close` once the wait ends, either way)."""

    def __init__(self, settings: ServiceSettings, metrics_socket: socket.socket | None = None) -> None:
        self.settings = settings
        self.metrics_socket = metrics_socket
        self.waiting = Waiting()
        self.runner: web.AppRunner | None = None  # the REST gateway over WaitingServicer
        self.http_port: int | None = None
        self._metrics: tuple[MetricsEndpoint, web.AppRunner] | None = None
        self.recorded = False

    async def failed(self, failure: StartFailure, pause_s: float) -> None:
        """One failed try: said; the first one puts the listeners up (before the line that says it waits) and
        records where they are. CannotListen: the HTTP port was taken since `taken_port` looked."""
        self.waiting.failed(failure)
        first = self.waiting.tries == 1
        metrics_url = None
        if first:
            await self._listen()
            metrics_url = await self._serve_metrics()
            self._record(metrics_url)
        print(f"waiting for the database: {failure.reason}; trying again in {pause_s:.1f} s "
              "(PHONOS_DATABASE_START_WAIT_S)", flush=True)
        if first and self.http_port is not None:
            health = reachable(self.settings.http_host).url(self.http_port, "/v1/health")
            print(f"  meanwhile {health} answers 503, waiting for the database (`phonos status` says so)", flush=True)
        if metrics_url:  # the port too: with --metrics-port 0 nothing else says it before the banner
            print(f"  meanwhile {metrics_url} answers, with phonos_database_up 0", flush=True)

    async def _listen(self) -> None:
        from gateway.dashboard import DashboardOptions
        from gateway.invoker import InProcessInvoker
        from gateway.server import start_gateway
        from jobservice.server import CannotListen

        settings = self.settings
        try:  # no admission: every call but the health is refused by the servicer itself
            self.runner, self.http_port = await start_gateway(
                InProcessInvoker(WaitingServicer(self.waiting)), settings.http_host, settings.http_port,
                edge=settings.edge, dashboard_options=DashboardOptions(cookie_secure=settings.cookie_secure))
        except OSError:  # taken since `taken_port` looked
            raise CannotListen("HTTP", settings.http_host, settings.http_port,
                               "PHONOS_HTTP_PORT or --http-port") from None

    async def _serve_metrics(self) -> str | None:
        if not self.settings.metrics_enabled:
            return None
        endpoint = MetricsEndpoint(None, self.settings.models, (), data_dir=self.settings.data_dir)
        try:  # its port was found free (taken_port); lost since, the wait goes on unscraped
            runner = (await start_metrics_server(endpoint, self.settings.metrics_host, self.settings.metrics_port,
                                                 self.metrics_socket, allowed_hosts=self.settings.metrics_hosts))[0]
        except OSError:
            await endpoint.close()
            return None
        self._metrics = endpoint, runner
        return reachable(self.settings.metrics_host).url(self.settings.metrics_port, "/metrics")

    def _record(self, metrics_url: str | None) -> None:
        if self.http_port is None:
            return
        try:  # for `phonos status`; a data directory that cannot take it is said by the start's own checks
            record_address(self.settings.data_dir, ServeAddress(
                os.getpid(), reachable(self.settings.http_host).url(self.http_port, ""), metrics_url))
        except OSError:
            return
        self.recorded = True

    def serving(self, settings: ServiceSettings) -> ServiceSettings:
        """`settings` with the HTTP port the gateway had (port 0 picks once): the job service serves there next."""
        return settings if self.http_port is None else settings.with_overrides(http_port=self.http_port)

    def forget(self) -> None:
        """The start ended without serving: its address is taken out."""
        if self.recorded:
            forget_address(self.settings.data_dir, os.getpid())
            self.recorded = False

    async def close(self) -> None:
        """The listeners stop (the metrics socket stays open, for the job service)."""
        if self._metrics is not None:
            endpoint, runner = self._metrics
            self._metrics = None
            await runner.cleanup()
            await endpoint.close()
        if self.runner is not None:
            runner, self.runner = self.runner, None
            await runner.cleanup()
