"""Run the job service (gRPC) and, in the same event loop, the REST gateway.

    python -m jobservice [--data-dir D] [--grpc-port P] [--http-port P | --no-http] [--metrics-port P [--metrics-fd FD]]

Settings come from PHONOS_* variables (phonos_config.service); flags override.
Port 0 picks a free port. When both servers are up, one JSON line
`{"event": "ready", "grpc_port": …, "http_port": …, "metrics_port": …}` is printed to stdout for
the launcher and the tests. With PostgreSQL away at start, `{"event": "waiting", "grpc_port": …,
"http_port": …, "metrics_port": …, "reason": …}` comes first (/metrics says `phonos_database_up 0` meanwhile), and health answers not ready until it answers (jobservice/db_wait.py).
SIGTERM/SIGINT stop gracefully, at once while waiting. Exit status 2: a setting or store that cannot be used;
3: the database refused this job service (a wrong password, no such database, SSL settings).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import signal
import socket
import sys
from pathlib import Path
from typing import Any

from jobservice import tracing
from jobservice.datadir_lock import DataDirLocked
from jobservice.db_wait import EXIT_DATABASE_REFUSED, Waiting
from jobservice.log_format import configure_logging
from jobservice.metrics_server import adopt_listening_socket
from jobservice.modelspecs.registry import check_model_ids
from jobservice.new_sqlite_guard import new_sqlite_refusal
from jobservice.pg import StartFailure
from jobservice.private_files import private_umask
from jobservice.process_exit import end_without_teardown
from jobservice.server import (
    CannotListen,
    RunningJobService,
    ShutdownPhases,
    WaitingEndpoints,
    create_server,
    host_port,
    open_database_waiting,
    start_in_process_gateway,
)
from jobservice.store import STORE_UNUSABLE, store_unusable_message
from phonos_common.rlimit import raise_open_files_limit
from phonos_common.stack_dump import enable_stack_dumps
from phonos_config.service import ServiceSettings
from phonos_config.variables import unknown_variables

log = logging.getLogger("jobservice")  # not "__main__", as `python -m` names this module


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m jobservice", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path)
    parser.add_argument("--grpc-port", type=int)
    parser.add_argument("--http-port", type=int)
    parser.add_argument("--no-http", action="store_true", help="serve gRPC only (run the gateway elsewhere)")
    parser.add_argument("--triton-url")
    parser.add_argument("--metrics-port", type=int, help="Prometheus /metrics port (0 = any free port)")
    parser.add_argument("--metrics-fd", type=int, help="serve /metrics on this inherited socket, already bound to "
                        "--metrics-port and listening (`phonos serve` hands its own over: the port is never free "
                        "between the two)")
    return parser.parse_args(argv)


async def serve(settings: ServiceSettings, with_http: bool) -> None:
    tracing.configure(settings.tracing_exporter, settings.tracing_otlp_endpoint, settings.tracing_service_name)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    # A stop while the start waits for its database ends the wait at once (PHONOS_DATABASE_START_WAIT_S may be
    # minutes, or for ever): the start is cancelled, its waiting listeners closed. Once the database answered,
    # the start is let finish and the service stopped as usual (a start cancelled half-way would leave its
    # servers and background tasks unstopped).
    reached = asyncio.Event()
    starting = asyncio.create_task(start(settings, with_http, reached), name="start")
    stopped = asyncio.create_task(stop.wait(), name="stop-signal")
    await asyncio.wait((starting, stopped), return_when=asyncio.FIRST_COMPLETED)
    if not starting.done() and not reached.is_set():
        starting.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await starting
        tracing.shutdown()
        return
    stopped.cancel()
    running, runner, http_port = await starting
    print(json.dumps({"event": "ready", "grpc_port": running.port, "http_port": http_port,
                      "metrics_port": running.metrics_port}), flush=True)
    await stop.wait()
    phases = ShutdownPhases()  # the gateway's stop is timed and said with the job service's own phases
    if runner is not None:
        async with phases.timed("gateway"):
            await runner.cleanup()
    await running.stop(phases=phases)
    tracing.shutdown()  # sends the spans still queued


async def start(settings: ServiceSettings, with_http: bool,
                reached: asyncio.Event) -> tuple[RunningJobService, Any, int | None]:
    """The job service and its gateway; `reached` is set once the database answered (nothing to wait for after)."""
    store = None
    if settings.database_url:  # PostgreSQL may not answer yet: waited for (jobservice/db_wait.py)
        store, settings = await open_database_waiting(settings, with_http, announce_waiting)
    reached.set()
    running = await create_server(settings, store=store)
    runner = None
    http_port = None
    if with_http:
        runner, http_port = await start_in_process_gateway(running, settings)
        log.info("REST gateway and dashboard listening on %s", host_port(settings.http_host, http_port),
                 extra={"action": "gateway.started", "port": http_port})
    return running, runner, http_port


def announce_waiting(endpoints: WaitingEndpoints, waiting: Waiting) -> None:
    """One `{"event": "waiting", ...}` line: `phonos serve` says the job service waits, and claims nothing ready."""
    print(json.dumps({"event": "waiting", "grpc_port": endpoints.grpc_port, "http_port": endpoints.http_port,
                      "metrics_port": endpoints.metrics_port, "reason": waiting.reason}), flush=True)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    private_umask()
    configure_logging()  # text until PHONOS_LOG_FORMAT is read: the records' fields (action=..., job_id=...) too
    enable_stack_dumps()  # `kill -USR1 PID`: every thread's stack to the log, the process left running
    raise_open_files_limit()  # client connections and the service's own files share the descriptors
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
        check_model_ids(settings.models)  # before the data directory and a fresh database are made
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    refusal = new_sqlite_refusal(settings)  # before the store is opened, which would make the stray database
    if refusal is not None:
        print(f"error: {refusal}", file=sys.stderr)
        return 2
    configure_logging(settings.log_format)
    for line in unknown_variables(os.environ):  # a misspelt setting, which would be ignored without a word
        log.warning(line, extra={"action": "settings.unknown_variable"})
    if args.metrics_fd is not None:
        try:
            adopt_listening_socket(socket.socket(fileno=args.metrics_fd))
        except OSError as exc:
            print(f"error: --metrics-fd {args.metrics_fd}: not a listening socket ({exc.strerror})", file=sys.stderr)
            return 2
    try:
        asyncio.run(serve(settings, with_http=not args.no_http))
    except (DataDirLocked, CannotListen, ValueError) as exc:  # ValueError: a setting that cannot be used (e.g. a bad URL list)
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except StartFailure as exc:
        print(f"error: {store_unusable_message(settings, exc)}", file=sys.stderr)
        return 2 if exc.retry else EXIT_DATABASE_REFUSED  # retry: it waited PHONOS_DATABASE_START_WAIT_S
    except STORE_UNUSABLE as exc:
        print(f"error: {store_unusable_message(settings, exc)}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    status = main()
    tracing.shutdown()  # a start that failed half-way too: its spans were left to atexit, which is skipped now
    end_without_teardown(status)
