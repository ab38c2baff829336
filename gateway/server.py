"""Start and stop the gateway's HTTP listener (the launcher owns settings and the process)."""

from __future__ import annotations

import logging

from aiohttp import web
from google.protobuf.descriptor import ServiceDescriptor

from gateway.app import DEFAULT_MAX_BODY_BYTES, create_app
from gateway.invoker import Invoker


async def start_gateway(
    invoker: Invoker,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    service_descriptor: ServiceDescriptor | None = None,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    access_log: logging.Logger | None = None,
    sse_keepalive_s: float = 15.0,
) -> tuple[web.AppRunner, int]:
    """Serve on (host, port) and return the runner and the bound port (port 0: any free port).

    Stop with `await runner.cleanup()`. Access logging is off unless a logger is given: at several
    thousand requests/s a log line per request costs more than the transcoding.
    """
    app = create_app(invoker, service_descriptor=service_descriptor, max_body_bytes=max_body_bytes,
                     sse_keepalive_s=sse_keepalive_s)
    runner = web.AppRunner(app, access_log=access_log, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    bound = runner.addresses[0][1]
    return runner, int(bound)
