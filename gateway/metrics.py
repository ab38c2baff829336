"""The Prometheus endpoint of a gateway run in its own process (`python -m gateway`): `GET /metrics`.

In `python -m jobservice` the gateway runs in the job service's process and the job service's `/metrics`
serves its `phonos_http_request_seconds` (gateway/observe.py) with everything else; a separate gateway records
the histogram in its own process, so it serves it itself. Like the job service's, the listener is its own,
never the public REST port (PHONOS_GATEWAY_METRICS_HOST/PORT, loopback:9465 by default: 9464 is the job
service's, so both fit on one host), and like it answers a Host that is neither an IP address nor one of its names
with a 400 (phonos_common/hosts.py, against DNS rebinding). One scrape returns the gateway's own series only: the
REST histogram and prometheus_client's process and Python collectors. The process registry is shared by every
module the process imports, and the gateway imports job-service modules (jobservice.tracing, message_limits): any
that registered a metric at import (jobservice/metrics.py's counters, say) would be scraped here as series that
never get a sample, which a Prometheus user reads as a dead job service. So families are served by name
(`OwnSeries`).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from aiohttp import web
from prometheus_client import REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.metrics_core import Metric

from gateway.observe import HTTP_SECONDS_NAME
from phonos_common.hosts import METRICS_HOSTS_SETTING, host_check, listener_names
from phonos_common.listener import start_listener

# The families this process records: its REST histogram (gateway/observe.py), and those of prometheus_client's
# process and Python collectors (by prefix: process_cpu_seconds, python_gc_*, ...).
OWN_FAMILIES = frozenset({HTTP_SECONDS_NAME})
OWN_PREFIXES = ("process_", "python_")


class OwnSeries:
    """The process registry less what other modules registered in it: a collector `generate_latest` takes."""

    def __init__(self, registry: CollectorRegistry = REGISTRY) -> None:
        self._registry = registry

    def collect(self) -> Iterator[Metric]:
        for family in self._registry.collect():
            if family.name in OWN_FAMILIES or family.name.startswith(OWN_PREFIXES):
                yield family


async def _metrics(_request: web.Request) -> web.Response:
    return web.Response(body=generate_latest(OwnSeries()), headers={"Content-Type": CONTENT_TYPE_LATEST})


def create_metrics_app(host: str = "127.0.0.1", allowed_hosts: Sequence[str] = ()) -> web.Application:
    """`/metrics` answering only IP addresses and its own names as the Host, against DNS rebinding, as the job
    service's does (phonos_common/hosts.py; `allowed_hosts`: ServiceSettings.metrics_hosts)."""
    app = web.Application(middlewares=[host_check(listener_names(host, allowed_hosts), METRICS_HOSTS_SETTING)])
    app.router.add_get("/metrics", _metrics)
    return app


async def start_metrics_listener(host: str, port: int,
                                 allowed_hosts: Sequence[str] = ()) -> tuple[web.AppRunner, int]:
    """Serve `/metrics` on (host, port); port 0 picks a free one. Stop with `runner.cleanup()`."""
    return await start_listener(create_metrics_app(host, allowed_hosts), host, port)
