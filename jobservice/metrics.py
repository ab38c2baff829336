"""Prometheus metrics of the job service: how busy the model servers are and what comes out of them.

Counters and histograms are process-wide (prometheus_client's idiom): each part records where it
acts, with a one-line hook. `JobStore` records job transitions after they commit (so a counter never
counts a transition that did not happen), the inference implementations record their own calls
labelled with the endpoint they talk to (a fleet of Tritons reports per server), the servicer records
rpcs and rate-limit refusals, the webhook sender its deliveries. Gauges that describe state (queue
depth and age, webhook backlog) are read from SQLite at scrape time, so they are right after a
restart too. `jobservice/metrics_server.py` serves all of it, plus Triton's own metrics.

Names follow Prometheus conventions: `_total` counters, `_seconds` histograms, base units.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from prometheus_client import REGISTRY, Counter, Gauge, Histogram, disable_created_metrics
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from jobservice.failures import FAILURE_CAUSES, OUT_OF_MEMORY
from jobservice.inference import (
    ComputeLimitExceeded,
    InferenceError,
    InferenceTimeout,
    InferenceUnavailable,
    InvalidModelInput,
    ModelFailure,
    ModelOutOfMemory,
)
from jobservice.webhook_events import JOB_EVENTS, TEST_EVENT

if TYPE_CHECKING:
    from jobservice.jobs import JobRecord

# No `_created` series beside every counter and histogram: they double the scrape for no question asked.
disable_created_metrics()

# Jobs run from well under a second (tiny models) to hours (AlphaFold2 with database searches).
JOB_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 7200)
REQUEST_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)

JOBS_SUBMITTED = Counter("phonos_jobs_submitted", "Jobs accepted (charged and queued)", ["model"])
# This job service's own running jobs: phonos_jobs_running (read from the database) is every service's together,
# the same on each replica, and said nothing of how the work was shared between them.
JOBS_RUNNING_HERE = Gauge("phonos_jobs_running_here", "Jobs this job service is running now (its share of "
                          "phonos_jobs_running)", ["model"])
JOBS_COMPLETED = Counter("phonos_jobs_completed", "Jobs that completed", ["model"])
JOBS_FAILED = Counter("phonos_jobs_failed", "Jobs that failed, by cause (the job's error_code; out_of_memory: a "
                      "model_error that ran out of memory)", ["model", "cause"])
JOBS_CANCELLED = Counter("phonos_jobs_cancelled", "Jobs cancelled by their owner", ["model"])
JOB_WAIT = Histogram("phonos_job_wait_seconds", "Submission to the start of a run: time queued", ["model"],
                     buckets=JOB_BUCKETS)
JOB_RUN = Histogram("phonos_job_run_seconds", "Start of a run to its end (model server call and result storage)",
                    ["model", "status"], buckets=JOB_BUCKETS)
CREDITS_CHARGED = Counter("phonos_credits_charged", "Credits debited when jobs were submitted", ["model"])
CREDITS_REFUNDED = Counter("phonos_credits_refunded", "Credits returned: refunded failures, cancelled pending jobs",
                           ["model"])
TRITON_REQUESTS = Histogram(
    "phonos_triton_request_seconds", "Calls to a model server (queueing and batching at the server included)",
    ["endpoint", "model", "outcome"], buckets=JOB_BUCKETS,
)
TRITON_ERRORS = Counter("phonos_triton_request_errors", "Failed calls to a model server, by kind",
                        ["endpoint", "model", "kind"])
TRITON_ERROR_KINDS = ("unavailable", "timeout", "invalid_input", "compute_limit", OUT_OF_MEMORY, "model_error",
                      "internal")
WEBHOOK_DELIVERIES = Counter(
    "phonos_webhook_deliveries", "Webhook delivery attempts: delivered, retry (will be tried again), failed (gave up)",
    ["event", "outcome"],
)
RATE_LIMITED = Counter("phonos_rate_limit_rejections", "Requests refused for the key's rate limit (429)",
                       ["transport"])
RATE_LIMITED_TRANSPORTS = ("rest", "grpc")
DELIVERY_OUTCOMES = ("delivered", "retry", "failed")
# The gRPC port's in-progress budgets (jobservice/grpc_in_flight.py): limit "downloads" or "request_bytes", scope
# "client" (one address had its share: its own retries) or "server" (everyone's together: raise the PHONOS_GRPC_MAX_*).
IN_FLIGHT_LIMITS = ("downloads", "request_bytes")
IN_FLIGHT_SCOPES = ("client", "server")
IN_FLIGHT_REFUSED = Counter("phonos_grpc_in_flight_rejections",
                            "gRPC calls refused for downloads or request bytes in progress (RESOURCE_EXHAUSTED, a 429)",
                            ["limit", "scope"])
AUTH_THROTTLED = Counter("phonos_auth_throttle_rejections",
                         "Requests refused at the edge because their address kept failing authentication (429)")
RESULTS_SWEPT = Counter("phonos_result_retention_jobs",
                        "Completed jobs whose result files result retention deleted (PHONOS_RESULT_RETENTION_DAYS)")
ORPHAN_KINDS = ("file", "temporary")
RESULT_ORPHANS_REMOVED = Counter(
    "phonos_result_orphan_files_removed",
    "Result files and temporaries the orphan sweep removed: a day old or more and no job keeps them (its row gone or "
    "never committed, its results deleted; kind: file or temporary)", ["kind"])
RESULT_FILES_MISSING = Counter("phonos_result_files_missing",
                               "Downloads that found a completed job's result file missing from storage (a 410: "
                               "removed outside phonos, lost with a disk, a restore without its results)")
# What a full disk refused to store: "database" (SQLite met SQLITE_FULL: the call answered 503 or the write waits
# for space) or "results" (a job's result files met ENOSPC or the quota). Free bytes alone miss a disk out of inodes
# or a quota: this counts the refusals themselves (deploy/alerts.yml PhonosDiskRefusingWrites).
STORAGE_FULL_STORES = ("database", "results")
STORAGE_FULL = Counter("phonos_storage_full_errors",
                       "Writes a full disk refused (ENOSPC, a quota, SQLITE_FULL), by what was written", ["store"])
RPC_SECONDS = Histogram(
    "phonos_rpc_seconds", "API calls in the job service (REST ones included), by rpc, transport and gRPC code",
    ["rpc", "transport", "code"], buckets=REQUEST_BUCKETS,
)


class ResultsVolume(Collector):
    """Free and total bytes of the results directory's file system when it is not the data directory's (a mount
    of its own, as operators give big results): `phonos_data_dir_free_bytes` (jobservice/metrics_server.py) says
    only the data directory's, and result writes fail on the results volume's own full disk. Left out (the
    families without samples) when both are one file system: its alerts would say the same thing twice."""

    def __init__(self) -> None:
        self.dirs: tuple[Path, Path] | None = None  # (data directory, results directory) of the running service

    def collect(self) -> Iterator[GaugeMetricFamily]:
        free = GaugeMetricFamily("phonos_results_dir_free_bytes",
                                 "Bytes free to the service on the results directory's own file system")
        size = GaugeMetricFamily("phonos_results_dir_size_bytes",
                                 "Size in bytes of the results directory's own file system")
        stat = self._own_file_system()
        if stat is not None:
            free.add_metric([], float(stat.f_bavail * stat.f_frsize))
            size.add_metric([], float(stat.f_blocks * stat.f_frsize))
        yield free
        yield size

    def _own_file_system(self) -> os.statvfs_result | None:
        if self.dirs is None:
            return None
        data_dir, results_dir = self.dirs
        try:  # gone or unreadable: the gauges left out rather than the scrape failed
            if os.stat(results_dir).st_dev == os.stat(data_dir).st_dev:
                return None
            return os.statvfs(results_dir)
        except OSError:
            return None


RESULTS_VOLUME = ResultsVolume()
REGISTRY.register(RESULTS_VOLUME)


def initialise(models: Iterable[str]) -> None:
    """Export every served model's job counters at 0 from the start. A labelled counter appears only when first
    incremented, and Prometheus' rate()/increase() cannot see a series' first sample: the first model error after
    a restart would never reach a failure-rate alert (deploy/alerts.yml), and a ratio whose denominator series is
    missing (no job completed yet) is no value at all."""
    for model in models:
        JOBS_SUBMITTED.labels(model)
        JOBS_RUNNING_HERE.labels(model)
        JOBS_COMPLETED.labels(model)
        JOBS_CANCELLED.labels(model)
        CREDITS_CHARGED.labels(model)
        CREDITS_REFUNDED.labels(model)
        for cause in FAILURE_CAUSES:
            JOBS_FAILED.labels(model, cause)
    # The same for what alerts take rates of (deploy/alerts.yml): rate-limit refusals, webhook deliveries.
    for transport in RATE_LIMITED_TRANSPORTS:
        RATE_LIMITED.labels(transport)
    for event in (*JOB_EVENTS, TEST_EVENT):
        for outcome in DELIVERY_OUTCOMES:
            WEBHOOK_DELIVERIES.labels(event, outcome)
    for store in STORAGE_FULL_STORES:
        STORAGE_FULL.labels(store)
    for kind in ORPHAN_KINDS:
        RESULT_ORPHANS_REMOVED.labels(kind)
    for limit in IN_FLIGHT_LIMITS:
        for scope in IN_FLIGHT_SCOPES:
            IN_FLIGHT_REFUSED.labels(limit, scope)


def storage_full(store: str) -> None:
    """A write to `store` ("database" or "results") met a full disk."""
    STORAGE_FULL.labels(store).inc()


def job_submitted(model: str, cost: int) -> None:
    JOBS_SUBMITTED.labels(model).inc()
    if cost:
        CREDITS_CHARGED.labels(model).inc(cost)


def job_started(job: JobRecord) -> None:
    if job.started_at is not None:
        JOB_WAIT.labels(job.model).observe(max(0.0, job.started_at - job.created_at))


def job_finished(job: JobRecord, cause: str | None = None) -> None:
    """A committed transition into completed, failed or cancelled; `cause`: a failure's metrics cause
    (JobFailure.cause) where it says more than the job's error_code (out_of_memory)."""
    status = str(job.status)
    if status == "completed":
        JOBS_COMPLETED.labels(job.model).inc()
    elif status == "failed":
        JOBS_FAILED.labels(job.model, cause or job.error_code or "unknown").inc()
    elif status == "cancelled":
        JOBS_CANCELLED.labels(job.model).inc()
    if job.refunded:
        CREDITS_REFUNDED.labels(job.model).inc(job.refunded)
    if status in ("completed", "failed") and job.started_at is not None and job.finished_at is not None:
        JOB_RUN.labels(job.model, status).observe(max(0.0, job.finished_at - job.started_at))


def error_kind(exc: BaseException) -> str:
    """The label of a failed inference call; the same words as the jobs' error codes where they meet."""
    if isinstance(exc, InferenceUnavailable):
        return "unavailable"
    if isinstance(exc, InferenceTimeout):
        return "timeout"
    if isinstance(exc, InvalidModelInput):
        return "invalid_input"
    if isinstance(exc, ComputeLimitExceeded):
        return "compute_limit"
    if isinstance(exc, ModelOutOfMemory):
        return OUT_OF_MEMORY
    if isinstance(exc, ModelFailure):
        return "model_error"
    if isinstance(exc, asyncio.CancelledError):
        return "cancelled"
    return "internal"


# (endpoint, model) pairs whose error series are exported (at 0 until an error): the pairs are known at a call.
_triton_pairs: set[tuple[str, str]] = set()


@contextmanager
def triton_call(endpoint: str, model: str) -> Iterator[None]:
    """Time one model-server call; the inference implementation wraps its call in this."""
    if (endpoint, model) not in _triton_pairs:  # rate() cannot see a series' first sample: from the first call on
        _triton_pairs.add((endpoint, model))
        for kind in TRITON_ERROR_KINDS:
            TRITON_ERRORS.labels(endpoint, model, kind)
    started = time.perf_counter()
    outcome = "ok"
    try:
        yield
    except (InferenceError, asyncio.CancelledError) as exc:
        outcome = error_kind(exc)
        if outcome != "cancelled":  # a job cancelled by its owner is not a server error
            TRITON_ERRORS.labels(endpoint, model, outcome).inc()
        raise
    except Exception:
        outcome = "internal"
        TRITON_ERRORS.labels(endpoint, model, outcome).inc()
        raise
    finally:
        TRITON_REQUESTS.labels(endpoint, model, outcome).observe(time.perf_counter() - started)


def webhook_delivery(event: str, outcome: str) -> None:
    WEBHOOK_DELIVERIES.labels(event, outcome).inc()


def rate_limited(transport: str) -> None:
    RATE_LIMITED.labels(transport).inc()


def in_flight_refused(limit: str, scope: str) -> None:
    IN_FLIGHT_REFUSED.labels(limit, scope).inc()


def auth_throttled() -> None:
    AUTH_THROTTLED.inc()


# Per-request hooks keep their labelled children: `labels()` validates and locks on every call, which
# costs as much as the rest of the hook (label sets are few: rpcs x transports x codes).
_rpc_children: dict[tuple[str, str, str], Any] = {}


def rpc_finished(rpc: str, transport: str, code: str, elapsed_s: float) -> None:
    key = (rpc, transport, code)
    child = _rpc_children.get(key)
    if child is None:
        child = _rpc_children[key] = RPC_SECONDS.labels(*key)
    child.observe(elapsed_s)
