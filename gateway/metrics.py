"""The Prometheus endpoint of a gateway run in its own process (`python -m gateway`): `GET /metrics`.

In `python -m jobservice` the gateway runs in the job service's process and the job service's `/metrics`
serves its `phonos_http_request_seconds` (gateway/observe.py) with everything else; a separate gateway records
the histogram in its own process, so it serves it itself. Like the job service's, the listener is its own,
never the public REST port (PHONOS_GATEWAY_METRICS_HOST/PORT, loopback:9465 by default: 9464 is the job
service's, so both fit on one host). One scrape returns the process registry: the REST histogram and
prometheus_client's process and Python collectors.
"""

from __future__ import annotations

from aiohttp import web
from prometheus_client import REGISTRY, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from phonos_common.listener import start_listener


async def _metrics(_request: web.Request) -> web.Response:
    return web.Response(body=generate_latest(REGISTRY), headers={"Content-Type": CONTENT_TYPE_LATEST})


def create_metrics_app() -> web.Application:
    app = web.Application()
    app.router.add_get("/metrics", _metrics)
    return app


async def start_metrics_listener(host: str, port: int) -> tuple[web.AppRunner, int]:
    """Serve `/metrics` on (host, port); port 0 picks a free one. Stop with `runner.cleanup()`."""
    return await start_listener(create_metrics_app(), host, port)
