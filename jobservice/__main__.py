"""Run the job service (gRPC) and, in the same event loop, the REST gateway.

    python -m jobservice [--data-dir D] [--grpc-port P] [--http-port P | --no-http] [--metrics-port P]

Settings come from PHONOS_* variables (phonos_config.service); flags override.
Port 0 picks a free port. When both servers are up, one JSON line
`{"event": "ready", "grpc_port": …, "http_port": …, "metrics_port": …}` is printed to stdout for
the launcher and the tests. SIGTERM/SIGINT stop gracefully.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal
import sys
from pathlib import Path

from jobservice import tracing
from jobservice.datadir_lock import DataDirLocked
from jobservice.private_files import private_umask
from jobservice.server import CannotListen, ShutdownPhases, create_server, start_in_process_gateway
from jobservice.store import STORE_UNUSABLE, store_unusable_message
from phonos_config.service import ServiceSettings


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m jobservice", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path)
    parser.add_argument("--grpc-port", type=int)
    parser.add_argument("--http-port", type=int)
    parser.add_argument("--no-http", action="store_true", help="serve gRPC only (run the gateway elsewhere)")
    parser.add_argument("--triton-url")
    parser.add_argument("--metrics-port", type=int, help="Prometheus /metrics port (0 = any free port)")
    return parser.parse_args(argv)


async def serve(settings: ServiceSettings, with_http: bool) -> None:
    tracing.configure(settings.tracing_exporter, settings.tracing_otlp_endpoint, settings.tracing_service_name)
    running = await create_server(settings)
    runner = None
    http_port = None
    if with_http:
        runner, http_port = await start_in_process_gateway(running, settings)
    print(json.dumps({"event": "ready", "grpc_port": running.port, "http_port": http_port,
                      "metrics_port": running.metrics_port}), flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    if runner is not None:
        async with ShutdownPhases().timed("gateway"):  # logged like the job service's own stop phases
            await runner.cleanup()
    await running.stop()
    tracing.shutdown()  # sends the spans still queued


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    private_umask()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s",
                        stream=sys.stderr)
    overrides: dict[str, object] = {}
    if args.data_dir is not None:
        overrides["data_dir"] = args.data_dir
    if args.grpc_port is not None:
        overrides["grpc_port"] = args.grpc_port
    if args.http_port is not None:
        overrides["http_port"] = args.http_port
    if args.triton_url:
        overrides["triton_url"] = args.triton_url
    if args.metrics_port is not None:
        overrides["metrics_port"] = args.metrics_port
    try:
        settings = ServiceSettings.from_env().with_overrides(**overrides)
        settings.check()  # the flags too
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        asyncio.run(serve(settings, with_http=not args.no_http))
    except (DataDirLocked, CannotListen, ValueError) as exc:  # ValueError: a setting that cannot be used (e.g. a bad URL list)
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except STORE_UNUSABLE as exc:
        print(f"error: {store_unusable_message(settings, exc)}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
