"""Start and stop the gateway's HTTP listener (the launcher owns settings and the process)."""

from __future__ import annotations

import logging

from aiohttp import web
from google.protobuf.descriptor import ServiceDescriptor

from gateway.admission import Admission
from gateway.app import DEFAULT_MAX_BODY_BYTES, create_app
from gateway.body import UPLOAD_BUDGET_KEY
from gateway.dashboard import DashboardOptions
from gateway.downloads import DownloadSlots
from gateway.invoker import Invoker
from gateway.protocol import ConnectionCap, EdgeAppRunner
from gateway.uploads import UploadBudget
from phonos_common.limits import BodyLimits
from phonos_common.ratelog import RateLimitedLog
from phonos_config.edge import EdgeSettings

logger = logging.getLogger("gateway.edge")

# After answering a request without reading its body (a refused key, 413), aiohttp reads and drops
# what the client still sends for this long before closing, so the client sees the answer rather
# than a reset. Short: dropping bytes is cheap, holding a connection for a refused upload is not.
LINGERING_S = 2.0


async def start_gateway(
    invoker: Invoker,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    service_descriptor: ServiceDescriptor | None = None,
    body_limits: BodyLimits | None = None,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    admission: Admission | None = None,
    edge: EdgeSettings | None = None,
    access_log: logging.Logger | None = None,
    dashboard_options: DashboardOptions | None = None,
    sse_keepalive_s: float = 15.0,
) -> tuple[web.AppRunner, int]:
    """Serve on (host, port) and return the runner and the bound port (port 0: any free port).

    Stop with `await runner.cleanup()`. Access logging is off unless a logger is given: at several
    thousand requests/s a log line per request costs more than the transcoding.
    """
    edge = edge or EdgeSettings()
    app = create_app(invoker, service_descriptor=service_descriptor,
                     body_limits=body_limits or BodyLimits(default=max_body_bytes),
                     body_timeout_s=edge.body_timeout_s, admission=admission, dashboard_options=dashboard_options,
                     sse_keepalive_s=sse_keepalive_s, trusted_proxies=edge.trusted_proxies,
                     forwarded_header=edge.forwarded_header, allowed_hosts=edge.allowed_hosts)
    error_log = RateLimitedLog(logger, edge.client_error_logs_per_minute)
    # Innermost, so a download's slot is taken after the host check and admission (gateway/downloads.py), and
    # request bodies are counted per client address while their requests run (gateway/uploads.py).
    downloads = DownloadSlots(per_client=edge.downloads_per_client, total=edge.max_downloads,
                              send_timeout_s=edge.download_send_timeout_s, log=error_log)
    app.middlewares.append(downloads.middleware())
    uploads = UploadBudget(per_client=edge.upload_bytes_per_client, total=edge.max_upload_bytes, log=error_log)
    app.middlewares.append(uploads.middleware())
    app[UPLOAD_BUDGET_KEY] = uploads
    _warn_if_connections_exceed_open_files(edge.max_connections)
    runner = EdgeAppRunner(
        app, access_log=access_log, handle_signals=False,
        header_timeout_s=edge.header_timeout_s, error_log=error_log,
        connections=ConnectionCap(edge.connections_per_client, edge.max_connections, edge.trusted_proxies),
        keepalive_timeout=edge.keepalive_timeout_s, lingering_time=LINGERING_S,
        auto_decompress=False,  # gateway.body inflates, bounded by the route's limit
    )
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    try:
        await site.start()
    except BaseException:  # e.g. the port is taken: close what setup() opened
        await runner.cleanup()
        raise
    bound = runner.addresses[0][1]
    return runner, int(bound)


def _warn_if_connections_exceed_open_files(max_connections: int) -> None:
    """PHONOS_MAX_CONNECTIONS protects the process's descriptors only below its open-files limit (raised to the
    hard limit at start: phonos_common/rlimit.py); above it, accept() and file writes fail before the cap is met."""
    try:
        import resource
    except ImportError:  # not POSIX
        return
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and max_connections + 256 > soft:
        logger.warning("PHONOS_MAX_CONNECTIONS (%d) is not well under this process's open-files limit (%d): raise the "
                       "limit (LimitNOFILE=, ulimit -n) or lower PHONOS_MAX_CONNECTIONS", max_connections, soft,
                       extra={"action": "gateway.connections_over_open_files"})
