"""Run the gateway in its own process, in front of a job service reached over gRPC.

    python -m gateway --target 127.0.0.1:50051 [--host 127.0.0.1] [--port 8080] [--timeout 30] [--metrics-port 9465]

The usual deployment runs the gateway inside the job service process (`python -m jobservice`,
InProcessInvoker); this entry point is for putting the HTTP edge on another process or host
(`python -m jobservice --no-http`). It prints one JSON line `{"event": "ready", "http_port": …, "metrics_port": …}`
when listening, and stops gracefully on SIGTERM/SIGINT. Its REST latency (`phonos_http_request_seconds`) is on its
own Prometheus listener (PHONOS_GATEWAY_METRICS_*, 127.0.0.1:9465 by default; gateway/metrics.py), never the public
port; `metrics_port` is null when PHONOS_GATEWAY_METRICS_ENABLED=false.

Every call carries the client's address (`x-phonos-client-address`: the peer, or behind a proxy in this
process's PHONOS_TRUSTED_PROXIES the client its X-Forwarded-For names); the job service believes it when
its own PHONOS_TRUSTED_PROXIES holds this gateway's address, and throttles per client (phonos_common/forwarded.py).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import sys

from gateway.dashboard import DashboardOptions
from gateway.invoker import DEFAULT_TIMEOUT_S, ChannelInvoker, open_channel
from gateway.metrics import start_metrics_listener
from gateway.server import start_gateway
from jobservice import tracing
from jobservice.log_format import configure_logging
from phonos_common.limits import BodyLimits
from phonos_common.rlimit import raise_open_files_limit
from phonos_config.edge import EdgeSettings
from phonos_config.service import ServiceSettings
from phonos_config.variables import unknown_variables


class CannotListen(RuntimeError):
    """The gateway's port could not be bound: printed as one `error:` line, exit status 2."""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m gateway", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--target", required=True, help="job service gRPC address, host:port")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080, help="0 picks a free port")
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT_S, help="per-call gRPC deadline, s")
    parser.add_argument("--metrics-port", type=int,
                        help="Prometheus /metrics port (default PHONOS_GATEWAY_METRICS_PORT, 9465; 0 = any free port)")
    return parser.parse_args(argv)


async def serve(args: argparse.Namespace, settings: ServiceSettings, edge: EdgeSettings) -> None:
    # The job service's own per-rpc limits. There is no admission here (no key store): the job
    # service checks keys after the transcoding, and the gRPC hop carries at most these sizes.
    from jobservice.message_limits import SMALL_REQUEST_BYTES, by_full_method

    limits = BodyLimits(default=SMALL_REQUEST_BYTES, per_method=by_full_method())
    # The settings a user sees at this edge are read here as the in-process gateway reads them
    # (jobservice.server): the session cookie's Secure flag, and the streams' first-message wait and
    # keep-alive interval (PHONOS_SSE_KEEPALIVE_S).
    async with open_channel(args.target) as channel:
        try:
            runner, port = await start_gateway(
                ChannelInvoker(channel, timeout=args.timeout), args.host, args.port, body_limits=limits,
                edge=edge,
                dashboard_options=DashboardOptions(cookie_secure=settings.cookie_secure),
                sse_keepalive_s=settings.sse_keepalive_s,
            )
        except OSError as exc:  # the port is in use, or the address is not this machine's
            raise CannotListen(f"cannot listen for HTTP on {args.host}:{args.port}: {exc.strerror or exc}; "
                               "choose another with --port or --host") from None
        metrics_runner, metrics_port = None, None
        if settings.gateway_metrics_enabled:
            try:
                metrics_runner, metrics_port = await start_metrics_listener(
                    settings.gateway_metrics_host, settings.gateway_metrics_port, settings.metrics_hosts)
            except OSError as exc:
                await runner.cleanup()
                raise CannotListen(
                    f"cannot listen for metrics on {settings.gateway_metrics_host}:{settings.gateway_metrics_port}: "
                    f"{exc.strerror or exc}; choose another with PHONOS_GATEWAY_METRICS_PORT or --metrics-port "
                    "(or PHONOS_GATEWAY_METRICS_ENABLED=false)") from None
        print(json.dumps({"event": "ready", "http_port": port, "metrics_port": metrics_port}), flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        await runner.cleanup()
        if metrics_runner is not None:
            await metrics_runner.cleanup()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    configure_logging()  # text until PHONOS_LOG_FORMAT is read: the records' fields (action=..., ...) too
    raise_open_files_limit()  # each client connection holds a descriptor (PHONOS_MAX_CONNECTIONS)
    # Read (and refused) before anything listens: one line naming the variable, exit status 2, as
    # `python -m jobservice` and `phonos` do, never a traceback.
    try:
        settings = ServiceSettings.from_env()
        if args.metrics_port is not None:
            settings = settings.with_overrides(gateway_metrics_port=args.metrics_port)
            settings.check()
        edge = EdgeSettings.from_env(os.environ)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    configure_logging(settings.log_format)
    for line in unknown_variables(os.environ):  # a misspelt setting, which would be ignored without a word
        logging.getLogger("gateway").warning(line, extra={"action": "settings.unknown_variable"})
    # The gateway's own spans (the request's root, continuing a caller's traceparent, handing its own to the
    # job service): without this, a gateway in its own process (deploy/) traced nothing.
    tracing.configure(settings.tracing_exporter, settings.tracing_otlp_endpoint, settings.tracing_service_name)
    try:
        asyncio.run(serve(args, settings, edge))
    except CannotListen as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        tracing.shutdown()  # sends the spans still queued
    return 0


if __name__ == "__main__":
    sys.exit(main())
