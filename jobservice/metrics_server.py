"""The Prometheus endpoint of the job service: `GET /metrics` on its own listener.

The listener is separate from the REST gateway (PHONOS_METRICS_HOST/PORT, loopback:9464 by default),
so metrics never leak through the public port; it answers only a Host that is an IP address or one of its own
names (PHONOS_METRICS_ALLOWED_HOSTS; phonos_common/hosts.py), against DNS rebinding. One scrape returns, in Prometheus' text format:

* the process-wide counters and histograms of `jobservice.metrics` and the gateway (`gateway/observe.py`),
  plus prometheus_client's process and Python collectors;
* state read from SQLite now: jobs queued and running per model, the age of the oldest queued job,
  the webhook backlog and its oldest delivery; whether that read worked (`phonos_database_up`; 0 too while a
  starting job service still waits for its PostgreSQL, jobservice/db_wait.py, with no store to read yet);
* each served model's readiness as the readiness monitor last saw it (`phonos_model_ready`), and the free and
  total bytes of the file system under the data directory (result files, SQLite);
* each Triton server's own metrics (PHONOS_TRITON_METRICS_URLS), re-exported under their own names
  (`nv_*`, as NVIDIA's dashboards expect them) with an `endpoint` label added (host:port of that
  metrics URL), and `phonos_triton_metrics_up{endpoint}` saying whether the fetch worked, so one
  scrape target covers the whole stack.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from urllib.parse import urlsplit

import aiohttp
from aiohttp import web
from prometheus_client import REGISTRY, CollectorRegistry, Metric, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.registry import Collector

from jobservice import metrics
from jobservice.db import now
from jobservice.store import Store
from phonos_common.hosts import METRICS_HOSTS_SETTING, host_check, listener_names
from phonos_common.listener import start_listener

log = logging.getLogger(__name__)
STORE_FAILURE_LOG_S = 60.0  # one warning a minute while scrapes find the database unreadable

TRITON_FETCH_TIMEOUT_S = 2.0


class _Families(Collector):
    """A collector that yields families gathered before the scrape (prometheus_client collects synchronously)."""

    def __init__(self, families: Iterable[Metric]) -> None:
        self._families = list(families)

    def collect(self) -> Iterator[Metric]:
        yield from self._families


def _gauge(name: str, documentation: str) -> Metric:
    return Metric(name, documentation, "gauge")


async def state_families(db: Store, models: Sequence[str]) -> list[Metric]:
    """Queue depth and age per model and the webhook backlog, from the database as it is now."""
    at = now()
    queued = _gauge("phonos_jobs_queued", "Jobs waiting to run (pending)")
    running = _gauge("phonos_jobs_running", "Jobs running at a model server")
    age = _gauge("phonos_queue_oldest_age_seconds", "Age of the oldest pending job (0 when none)")
    counts: dict[tuple[str, str], tuple[int, float | None]] = {}
    for row in await db.read.fetch_all("metrics_active_jobs"):
        counts[(row["model"], row["status"])] = (int(row["jobs"]), row["oldest_created"])
    for model in sorted(set(models) | {m for m, _ in counts}):
        pending, oldest = counts.get((model, "pending"), (0, None))
        queued.add_sample("phonos_jobs_queued", {"model": model}, pending)
        running.add_sample("phonos_jobs_running", {"model": model}, counts.get((model, "running"), (0, None))[0])
        age.add_sample("phonos_queue_oldest_age_seconds", {"model": model},
                       0.0 if oldest is None else max(0.0, at - float(oldest)))
    backlog_row = await db.read.fetch_one("metrics_webhook_backlog")
    pending_deliveries = int(backlog_row["pending"]) if backlog_row else 0
    oldest_delivery = backlog_row["oldest_created"] if backlog_row else None
    backlog = _gauge("phonos_webhook_backlog", "Webhook deliveries waiting to be sent or retried")
    backlog.add_sample("phonos_webhook_backlog", {}, pending_deliveries)
    backlog_age = _gauge("phonos_webhook_backlog_oldest_age_seconds", "Age of the oldest waiting delivery (0 when none)")
    backlog_age.add_sample("phonos_webhook_backlog_oldest_age_seconds", {},
                           0.0 if oldest_delivery is None else max(0.0, at - float(oldest_delivery)))
    return [queued, running, age, backlog, backlog_age]


def database_family(up: bool) -> Metric:
    """1 when this scrape could read the database. Alerting on the gauges' absence would need to know that the
    target itself is up; an explicit 0 is one expression (`phonos_database_up == 0`)."""
    family = _gauge("phonos_database_up", "1 when the database could be read at this scrape (queue gauges need it)")
    family.add_sample("phonos_database_up", {}, 1.0 if up else 0.0)
    return family


def readiness_families(models: Sequence[str], components: Mapping[str, str] | None) -> list[Metric]:
    """`phonos_model_ready{model}` from the readiness monitor's last health check (JobService.health, once a
    second): read from memory, so a scrape never waits on a Triton that hangs. None: no check ran yet."""
    if components is None:
        return []
    family = _gauge("phonos_model_ready", "1 when the model is ready at some model server (the service's health)")
    for model in models:
        family.add_sample("phonos_model_ready", {"model": model}, 1.0 if components.get(model) == "ready" else 0.0)
    return [family]


def disk_families(data_dir: Path | None) -> list[Metric]:
    """Free and total bytes of the file system holding the data directory: result files fill it, and SQLite
    (or a result write) that meets a full disk fails jobs. Free means what an unprivileged writer may use."""
    if data_dir is None:
        return []
    try:
        stat = os.statvfs(data_dir)
    except OSError:  # the directory gone or unreadable: leave the gauges out rather than fail the scrape
        return []
    free = _gauge("phonos_data_dir_free_bytes", "Bytes free to the service on the data directory's file system")
    free.add_sample("phonos_data_dir_free_bytes", {}, float(stat.f_bavail * stat.f_frsize))
    size = _gauge("phonos_data_dir_size_bytes", "Size in bytes of the data directory's file system")
    size.add_sample("phonos_data_dir_size_bytes", {}, float(stat.f_blocks * stat.f_frsize))
    return [free, size]


def endpoint_label(url: str) -> str:
    return urlsplit(url).netloc or url


async def _fetch(session: aiohttp.ClientSession, url: str) -> str | None:
    try:
        async with session.get(url, timeout=aiohttp.ClientTimeout(total=TRITON_FETCH_TIMEOUT_S)) as response:
            if response.status != 200:
                return None
            return await response.text()
    except (aiohttp.ClientError, TimeoutError, OSError):
        return None


def _with_endpoint(sample: str, endpoint: str) -> str:
    """`name{a="b"} 1` → `name{endpoint="x",a="b"} 1`; `name 1` → `name{endpoint="x"} 1`."""
    label = f'endpoint="{endpoint}"'
    brace = sample.find("{")
    space = sample.find(" ")
    if brace != -1 and (space == -1 or brace < space):
        rest = sample[brace + 1:]
        return f"{sample[:brace + 1]}{label}{'' if rest.startswith('}') else ','}{rest}"
    return f"{sample[:space]}{{{label}}}{sample[space:]}"


def relabel(texts: Iterable[tuple[str, str]]) -> str:
    """Several servers' expositions as one: each family once (HELP, TYPE, then every server's samples),
    each sample with its server's `endpoint` label. Text in, text out, so Triton's names stay exactly
    as Triton writes them (a parse-and-render round trip would rename its counters to `_total`)."""
    headers: dict[str, list[str]] = {}
    samples: dict[str, list[str]] = {}
    for endpoint, text in texts:
        family = ""
        for line in text.splitlines():
            if not line.strip():
                continue
            if line.startswith("#"):
                parts = line.split(maxsplit=3)
                if len(parts) >= 3 and parts[1] in ("HELP", "TYPE"):
                    family = parts[2]
                    known = headers.setdefault(family, [])
                    if len(known) < 2 and line not in known:
                        known.append(line)
                continue
            name = line.split("{", 1)[0].split(" ", 1)[0]
            if not family or not name.startswith(family):
                family = name  # a sample without (or outside) a TYPE block is its own family
                headers.setdefault(family, [])
            samples.setdefault(family, []).append(_with_endpoint(line, endpoint))
    lines = [line for family in headers for line in (*headers[family], *samples.get(family, []))]
    return "\n".join(lines) + "\n" if lines else ""


async def triton_metrics(session: aiohttp.ClientSession, urls: Sequence[str], label: str = "") -> tuple[Metric, str]:
    """`phonos_triton_metrics_up` per server and the servers' own metrics, relabelled: `endpoint` is each URL's
    host:port, or `label` for the one server (PHONOS_TRITON_ENDPOINT_LABEL)."""
    texts = await asyncio.gather(*(_fetch(session, url) for url in urls))
    up = _gauge("phonos_triton_metrics_up", "1 when the Triton server's own metrics could be read at this scrape")
    fetched: list[tuple[str, str]] = []
    for url, text in zip(urls, texts, strict=True):
        endpoint = label if label and len(urls) == 1 else endpoint_label(url)
        up.add_sample("phonos_triton_metrics_up", {"endpoint": endpoint}, 0.0 if text is None else 1.0)
        if text is not None:
            fetched.append((endpoint, text))
    return up, relabel(fetched)


class MetricsEndpoint:
    """What one scrape returns."""

    def __init__(self, db: Store | None, models: Sequence[str], triton_metrics_urls: Sequence[str], *,
                 readiness: Callable[[], Mapping[str, str] | None] | None = None,
                 data_dir: Path | None = None, triton_label: str = "") -> None:
        """`db` None: the database not reached yet (a start waiting for it): `phonos_database_up 0` and the rest,
        so Prometheus sees a live target saying so rather than a target down. `readiness`: the latest health
        components (ReadinessMonitor.components); `data_dir`: the directory whose file system's free space is
        exported."""
        self._db = db
        self._models = tuple(models)
        metrics.initialise(self._models)
        self._triton_urls = tuple(triton_metrics_urls)
        self._triton_label = triton_label  # the one Triton's `endpoint` label; "": its host:port
        self._readiness = readiness
        self._data_dir = data_dir
        self._session: aiohttp.ClientSession | None = None
        self._store_failure_logged = float("-inf")

    async def render(self) -> bytes:
        if self._db is None:  # waiting for the database at start: its log says each failed try already
            families = [database_family(False)]
        else:
            families = await self._database_families(self._db)
        families += readiness_families(self._models, self._readiness() if self._readiness else None)
        families += disk_families(self._data_dir)
        triton_text = ""
        if self._triton_urls:
            if self._session is None:
                self._session = aiohttp.ClientSession()
            up, triton_text = await triton_metrics(self._session, self._triton_urls, self._triton_label)
            families.append(up)
        extra = CollectorRegistry(auto_describe=False)
        extra.register(_Families(families))
        return generate_latest(REGISTRY) + generate_latest(extra) + triton_text.encode()

    async def _database_families(self, db: Store) -> list[Metric]:
        try:
            return [*await state_families(db, self._models), database_family(True)]
        except Exception as exc:  # the database unreachable (PostgreSQL restarting, a full disk): serve the rest
            # A 500 would make Prometheus mark the target down and lose every counter and Triton's own metrics
            # just when an operator looks; the database's gauges are left out of this scrape instead.
            at = asyncio.get_running_loop().time()
            if at - self._store_failure_logged >= STORE_FAILURE_LOG_S:
                self._store_failure_logged = at
                log.warning("metrics: the database could not be read; queue and backlog gauges left out: %s", exc,
                            extra={"action": "metrics.store_failed"})
            return [database_family(False)]

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


ENDPOINT_KEY = web.AppKey("phonos_metrics_endpoint", MetricsEndpoint)


async def _metrics(request: web.Request) -> web.Response:
    body = await request.app[ENDPOINT_KEY].render()
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


def create_metrics_app(endpoint: MetricsEndpoint, host: str = "127.0.0.1",
                       allowed_hosts: Sequence[str] = ()) -> web.Application:
    """`/metrics` answering only IP addresses and its own names as the Host (phonos_common/hosts.py): a page of
    another site rebinding its name to 127.0.0.1 would otherwise read the queues, models and counters from a
    person's browser. `host`: the address or name it binds; `allowed_hosts`: the configured names
    (ServiceSettings.metrics_hosts)."""
    app = web.Application(middlewares=[host_check(listener_names(host, allowed_hosts), METRICS_HOSTS_SETTING)])
    app[ENDPOINT_KEY] = endpoint
    app.router.add_get("/metrics", _metrics)
    return app


# A listening socket this process was handed for /metrics (`python -m jobservice --metrics-fd`: `phonos serve` binds
# the metrics port once, serves it itself while it waits for its database, and hands the same socket to each job
# service it starts). Was: the launcher closed its listener and the job service bound the port again, and in
# between another process could take it (the job service then failed with CannotListen). Held for the process's
# life: each server on it listens on a duplicate, so stopping one (the job service's own wait for its database,
# then its service) never frees the port.
_handed: socket.socket | None = None


def adopt_listening_socket(sock: socket.socket) -> None:
    """Serve /metrics on `sock` (bound and listening) whenever a metrics server starts on its port."""
    global _handed
    sock.getsockname()  # OSError now, not at the first scrape, for an fd that is not a bound socket
    _handed = sock


def handed_socket(port: int) -> socket.socket | None:
    """The adopted socket, if it is the one on `port`."""
    if _handed is None or _handed.fileno() < 0 or int(_handed.getsockname()[1]) != port:
        return None
    return _handed


def listening_socket(host: str, port: int) -> socket.socket:
    """A socket listening on (host, port) (0: any free port), bound as aiohttp binds its own (SO_REUSEADDR, an IPv6
    one for IPv6 only), for a server to adopt. One address: a name with two (`localhost`) gets its IPv4 one, where
    a client tries first. OSError when it cannot be had."""
    addresses = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    family, kind, proto, _, address = min(addresses, key=lambda found: found[0] != socket.AF_INET)
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.bind(address)
        sock.listen(128)
    except BaseException:
        sock.close()
        raise
    return sock


async def start_metrics_server(endpoint: MetricsEndpoint, host: str, port: int,
                               sock: socket.socket | None = None, *,
                               allowed_hosts: Sequence[str] = ()) -> tuple[web.AppRunner, int]:
    """Serve `/metrics` on (host, port); port 0 picks a free one. Stop with `runner.cleanup()`. On `sock` (or the
    adopted socket on `port`), already listening, instead of binding: it stays open when the server stops.
    `allowed_hosts`: DNS names it answers to besides its own (`create_metrics_app`)."""
    sock = sock if sock is not None else handed_socket(port)
    app = create_metrics_app(endpoint, host, allowed_hosts)
    if sock is None:
        return await start_listener(app, host, port)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    duplicate = socket.socket(fileno=os.dup(sock.fileno()))  # the server closes it when it stops; `sock` stays
    try:
        await web.SockSite(runner, duplicate).start()
    except BaseException:
        duplicate.close()
        await runner.cleanup()
        raise
    return runner, int(sock.getsockname()[1])
