"""`phonos status`: whether a running phonos is healthy, in a few lines, from what it already publishes.

Two reads, both over HTTP so that the command works against any running install (it opens no database):

* the public `GET /v1/health` (no key): overall status, the API version, the message and every component's
  state (database, Triton, each model; a fleet's endpoints as `triton@host:port`). It is the verdict: 200
  `operational` is healthy, 503 `degraded` is not (the same body), anything else is "no phonos there";
* the loopback Prometheus endpoint (`jobservice/metrics_server.py`), when it answers: jobs queued and running
  per model and the oldest queued job's age, the webhook backlog, the data directory's free space. These
  gauges are read from the database at scrape time, so they are the service's state now. The metrics listener
  is loopback-only by design, so it is asked only on the machine that serves (the default address) or where
  `--metrics-url` says; without it the health lines still answer.
"""

from __future__ import annotations

import ipaddress
import json
import socket
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from phonos_client.columns import visible
from prometheus_client.parser import text_string_to_metric_families

from launcher.urls import reachable
from phonos_config.service import ServiceSettings

TIMEOUT_S = 5.0  # a health check answers in milliseconds; a hung host should not hang a monitor's script
# Exit statuses (README "Is it healthy?", `phonos --help`): 7 is the users' verbs' "nothing answers at the address".
# 9: a separate gateway answers but its job service does not. It was the degraded 1, with `database: unknown` and
# no models: a monitor could not tell "restart the job service" from "a model is loading"; no users' verb uses 9.
EXIT_OPERATIONAL, EXIT_DEGRADED, EXIT_UNREACHABLE, EXIT_NO_JOB_SERVICE = 0, 1, 7, 9
# The component a separate gateway reports when its job service cannot be reached (gateway/invoker.py,
# unreachable_health): then every other component (database, models) is unknown, not "not ready".
JOB_SERVICE = "job_service"
# The gauges this command shows (docs/observability.md); only their lines are parsed, so a Triton's own `nv_*`
# metrics re-exported in the same scrape can never make the read fail.
GAUGES = ("phonos_jobs_queued", "phonos_jobs_running", "phonos_queue_oldest_age_seconds", "phonos_model_ready",
          "phonos_database_up", "phonos_webhook_backlog", "phonos_webhook_backlog_oldest_age_seconds",
          "phonos_data_dir_free_bytes", "phonos_data_dir_size_bytes")


class Unreachable(Exception):
    """Nothing that speaks phonos' health answers at the address: the one line said instead of a traceback."""


@dataclass(frozen=True)
class ModelLoad:
    """One model's queue, from the metrics."""

    queued: int
    running: int
    oldest_queued_s: float  # 0 when none is queued (the gauge's own convention)


@dataclass(frozen=True)
class Metrics:
    """The scrape's figures; a gauge missing from it (an older server, no data directory) is None."""

    models: dict[str, ModelLoad] = field(default_factory=dict)
    model_ready: dict[str, bool] = field(default_factory=dict)
    database_up: bool | None = None
    webhook_backlog: int | None = None
    webhook_oldest_s: float | None = None
    free_bytes: int | None = None
    size_bytes: int | None = None

    def as_json(self) -> dict[str, Any]:
        return {"database_up": self.database_up,
                "models": {name: {"ready": self.model_ready.get(name), "queued": load.queued,
                                  "running": load.running, "oldest_queued_seconds": round(load.oldest_queued_s, 1)}
                           for name, load in self.models.items()},
                "webhook_backlog": self.webhook_backlog,
                "webhook_backlog_oldest_seconds": None if self.webhook_oldest_s is None
                else round(self.webhook_oldest_s, 1),
                "data_dir_free_bytes": self.free_bytes, "data_dir_size_bytes": self.size_bytes}


@dataclass(frozen=True)
class Status:
    url: str
    status: str  # "operational" or "degraded", as the health body says
    version: str
    message: str
    components: dict[str, str]
    metrics_url: str | None
    metrics: Metrics | None
    metrics_error: str | None  # why the metrics were not read (None when read, or not asked)

    @property
    def job_service_unreachable(self) -> bool:
        """A separate gateway answered for a job service it cannot reach (its health names only `job_service`)."""
        return self.status != "operational" and self.components.get(JOB_SERVICE, "ready") != "ready"

    @property
    def exit_code(self) -> int:
        if self.status == "operational":
            return EXIT_OPERATIONAL
        return EXIT_NO_JOB_SERVICE if self.job_service_unreachable else EXIT_DEGRADED

    def as_json(self) -> dict[str, Any]:
        return {"url": self.url, "status": self.status, "version": self.version, "message": self.message,
                "components": dict(sorted(self.components.items())), "metrics_url": self.metrics_url,
                "metrics": None if self.metrics is None else self.metrics.as_json(),
                "metrics_error": self.metrics_error}


def default_urls(settings: ServiceSettings) -> tuple[str, str]:
    """The gateway and the metrics listener of the `phonos serve` these settings start, as its banner prints them
    (launcher.urls: a wildcard bind is reached on loopback)."""
    return (reachable(settings.http_host).url(settings.http_port, ""),
            reachable(settings.metrics_host).url(settings.metrics_port, "/metrics"))


def base_url(text: str) -> str:
    """`--url` as the gateway's root: the banner's `http://127.0.0.1:8080/v1` and a trailing `/` are accepted."""
    url = text.rstrip("/")
    return url[:-3] if url.endswith("/v1") else url


def _loopback(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _get(url: str) -> tuple[int, bytes]:
    """(HTTP status, body) of a GET; an error status is an answer too (the 503 of a degraded health). A loopback
    address never goes through an HTTP_PROXY from the environment (a proxy cannot reach this machine's loopback)."""
    opener = urllib.request.build_opener(*([urllib.request.ProxyHandler({})] if _loopback(url) else []))
    try:
        with opener.open(urllib.request.Request(url, headers={"Accept": "application/json"}),
                         timeout=TIMEOUT_S) as response:
            return int(response.status), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()
    except urllib.error.URLError as exc:
        raise Unreachable(_reason(exc.reason)) from None
    except TimeoutError:
        raise Unreachable(f"no answer within {TIMEOUT_S:g} s") from None
    except (OSError, ValueError) as exc:  # a reset connection, a malformed URL
        raise Unreachable(_reason(exc)) from None


def _reason(reason: object) -> str:
    if isinstance(reason, ConnectionRefusedError):
        return "connection refused"
    if isinstance(reason, TimeoutError):
        return f"no answer within {TIMEOUT_S:g} s"
    if isinstance(reason, socket.gaierror):
        return "unknown host"
    return str(getattr(reason, "strerror", None) or reason)


def read_health(url: str) -> tuple[str, str, str, dict[str, str]]:
    """(status, version, message, components) from GET {url}/v1/health; Unreachable when no phonos answers."""
    code, body = _get(f"{url}/v1/health")
    try:
        health = json.loads(body)
    except ValueError:
        health = None
    if code not in (200, 503) or not isinstance(health, dict) or health.get("status") not in ("operational",
                                                                                             "degraded"):
        raise Unreachable(f"HTTP {code} from /v1/health, not a phonos health answer")
    components = health.get("components") or {}
    return (str(health["status"]), str(health.get("version", "")), str(health.get("message", "")),
            {str(k): str(v) for k, v in components.items()} if isinstance(components, dict) else {})


def parse_metrics(text: str) -> Metrics:
    """The gauges of GAUGES from a Prometheus text exposition (their lines only)."""
    wanted = "\n".join(line for line in text.splitlines()
                       if line.split("{", 1)[0].split(" ", 1)[0] in GAUGES
                       or (line.startswith("#") and len(line.split()) > 2 and line.split()[2] in GAUGES))
    values: dict[str, list[tuple[Mapping[str, str], float]]] = {}
    for family in text_string_to_metric_families(wanted + "\n"):
        for sample in family.samples:
            values.setdefault(sample.name, []).append((sample.labels, float(sample.value)))

    def per_model(name: str) -> dict[str, float]:
        return {labels["model"]: value for labels, value in values.get(name, []) if "model" in labels}

    def one(name: str) -> float | None:
        found = values.get(name)
        return found[0][1] if found else None

    queued, running, oldest = (per_model(name) for name in GAUGES[:3])
    models = {model: ModelLoad(int(queued.get(model, 0)), int(running.get(model, 0)), oldest.get(model, 0.0))
              for model in sorted(set(queued) | set(running))}
    database_up, backlog, free, size = (one(name) for name in (
        "phonos_database_up", "phonos_webhook_backlog", "phonos_data_dir_free_bytes", "phonos_data_dir_size_bytes"))
    return Metrics(models=models, model_ready={m: v == 1 for m, v in per_model("phonos_model_ready").items()},
                   database_up=None if database_up is None else database_up == 1,
                   webhook_backlog=None if backlog is None else int(backlog),
                   webhook_oldest_s=one("phonos_webhook_backlog_oldest_age_seconds"),
                   free_bytes=None if free is None else int(free), size_bytes=None if size is None else int(size))


def read_metrics(url: str) -> Metrics:
    code, body = _get(url)
    if code != 200:
        # a 4xx's first line says why (e.g. the Host check naming PHONOS_METRICS_ALLOWED_HOSTS)
        reason = body.decode("utf-8", "replace").strip().splitlines()[:1] if 400 <= code < 500 else []
        raise Unreachable(f"HTTP {code}" + (f": {visible(reason[0][:300])}" if reason else ""))  # no terminal escapes
    try:
        return parse_metrics(body.decode("utf-8", "replace"))
    except ValueError as exc:  # not a Prometheus exposition (another program on the port)
        raise Unreachable(f"not Prometheus metrics ({exc})") from None


def check(url: str, metrics_url: str | None) -> Status:
    """The service's status; Unreachable when its health does not answer. Metrics that do not answer are said in
    `metrics_error` and leave the health lines standing: they are an addition, not the verdict."""
    status, version, message, components = read_health(url)
    metrics: Metrics | None = None
    error: str | None = None
    if metrics_url is not None:
        try:
            metrics = read_metrics(metrics_url)
        except Unreachable as exc:
            error = str(exc)
    return Status(url, status, version, message, components, metrics_url, metrics, error)


# -- text ------------------------------------------------------------------------------------------------------


def age(seconds: float) -> str:
    """An age as a person reads it: `12 s`, `4 min`, `2.5 h`, `3.0 d`."""
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 2 * 3600:
        return f"{seconds / 60:.0f} min"
    if seconds < 48 * 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} d"


def _is_model(name: str, metrics: Metrics | None) -> bool:
    """A health component that is a model: every one but the database, Triton and a fleet's endpoints (the metrics
    name the models outright where they were read)."""
    if metrics is not None and (name in metrics.models or name in metrics.model_ready):
        return True
    return name not in ("database", "triton") and "@" not in name


def lines(status: Status, size: Callable[[int], str]) -> Iterator[tuple[str, ...]]:
    """The answer as lines of pieces (`tables.said` joins them with spaces, breaking between pieces on a narrow
    terminal); a line's first piece "" is an indented one. `size`: bytes as text (tables.size)."""
    if status.job_service_unreachable:  # nothing behind the gateway to ask: no database or model lines to guess
        yield (f"phonos at {status.url}:", "JOB SERVICE UNREACHABLE", *([f"(API {status.version})"] if status.version
                                                                       else []))
        yield ("", *"the gateway answers, but the job service it calls does not".split(" "),
               *(f"({status.message})".split(" ") if status.message else []))  # words: a narrow terminal breaks it
        # The health body does not carry the address (it is the gateway's `--target`); the gateway's log line
        # `gateway.job_service_unreachable` names the address it tried and gRPC's reason.
        yield ("", *("is the job service running? the gateway calls its --target address; the gateway's log "
                     "names the address each failed call tried, and why").split(" "))
        return
    verdict = status.status if status.status == "operational" else status.status.upper()  # seen at a glance
    yield (f"phonos at {status.url}:", verdict, *([f"(API {status.version})"] if status.version else []))
    if status.status != "operational" and status.message:  # which components, in the service's words
        yield ("", *status.message.split(" "))
    metrics = status.metrics
    components = status.components
    yield ("database:", components.get("database", "unknown"))
    if components.get("database") == "schema_too_new":  # not an outage to wait out: it stays until someone acts
        yield ("", *("a newer job service migrated the database past what this one knows: stop this job service, "
                     "or upgrade it to that version").split(" "))
    if components.get("database") == "unreachable":  # a job service starting before its database (db_wait.py)
        yield ("", *("the job service is starting and waits for its database; it serves once the database answers "
                     "(its log says where it tries and why)").split(" "))
    for name, state in sorted(components.items()):  # the same order each time, to compare by eye
        if name != "database" and not _is_model(name, metrics):
            yield (f"{name}:", state)
    models = sorted({n for n in components if _is_model(n, metrics)} | set(metrics.models if metrics else ()))
    for model in models:
        state = components.get(model, "unknown")
        pieces = [f"{model}:", "ready" if state == "ready" else f"NOT READY ({state})"]
        load = metrics.models.get(model) if metrics else None
        if load is not None:
            pieces[-1] += ","
            pieces += [f"{load.queued} queued,", f"{load.running} running"]
            if load.queued:
                pieces += [f"(oldest queued {age(load.oldest_queued_s)})"]
        yield tuple(pieces)
    if metrics is None:
        if status.metrics_url is None:
            yield ("metrics:", "not asked (queues, webhooks, disk: give --metrics-url)")
        else:
            yield ("metrics:", f"not read from {status.metrics_url}:", f"{status.metrics_error}")
        return
    if metrics.webhook_backlog is not None:
        waiting = [f"{metrics.webhook_backlog} {'delivery' if metrics.webhook_backlog == 1 else 'deliveries'} waiting"]
        if metrics.webhook_backlog and metrics.webhook_oldest_s is not None:
            waiting += [f"(oldest {age(metrics.webhook_oldest_s)})"]
        yield ("webhooks:", *waiting)
    if metrics.free_bytes is not None:
        total = [f"of {size(metrics.size_bytes)}"] if metrics.size_bytes else []
        yield ("data dir:", f"{size(metrics.free_bytes)} free", *total)
