"""A separate gateway's `/metrics` (`python -m gateway`) serves its own series only: its REST latency and the process
collectors, never the job service's counters. The process registry is shared by whatever the process imports, and
the gateway imports job-service modules; a job-service module that registered its counters at import (as
jobservice/metrics.py does) showed them here with no samples, series a Prometheus user read as a dead job service.
Real processes on loopback ports; no job service is needed (the scrape never reaches it)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import requests
from prometheus_client.metrics import MetricWrapperBase

import jobservice.metrics
from launcher.serve import read_ready_line
from tests.support import REPO, parse_scrape

pytestmark = pytest.mark.integration

# The job service's own families: jobservice/metrics.py's counters, histograms and gauges, as the module names them.
JOB_SERVICE_FAMILIES = {m._name for m in vars(jobservice.metrics).values() if isinstance(m, MetricWrapperBase)}
# `python -m gateway`, in a process where a shared module has registered the job service's series first.
AFTER_JOB_SERVICE_METRICS = "import jobservice.metrics, runpy; runpy.run_module('gateway', run_name='__main__')"


@contextmanager
def scraped(*command: str) -> Iterator[tuple[str, int]]:
    """Start a gateway (`command` after the interpreter) on free ports; yield its base URL and metrics port."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("PHONOS_")}
    popen = subprocess.Popen([sys.executable, *command, "--target", "127.0.0.1:1", "--port", "0",
                              "--metrics-port", "0"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                             cwd=REPO, env={**clean, "PYTHONPATH": os.environ.get("PYTHONPATH", str(REPO))})
    try:
        ready = read_ready_line(popen, timeout_s=30)
        assert ready is not None and isinstance(ready["metrics_port"], int), ready
        yield f"http://127.0.0.1:{ready['http_port']}", ready["metrics_port"]
    finally:
        popen.terminate()
        popen.wait(timeout=10)


@pytest.mark.parametrize("command", [("-m", "gateway"), ("-c", AFTER_JOB_SERVICE_METRICS)],
                         ids=["plain", "job_service_metrics_imported"])
def test_the_separate_gateway_serves_only_its_own_series(command: tuple[str, ...]) -> None:
    assert {"phonos_jobs_submitted", "phonos_rpc_seconds"} <= JOB_SERVICE_FAMILIES  # what the check looks for
    with scraped(*command) as (base, metrics_port):
        # One request (503: no job service behind it), which the gateway records.
        assert requests.get(f"{base}/v1/jobs", timeout=10).status_code == 503
        text = requests.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10).text
    names = {name for name, _labels in parse_scrape(text)}
    families = {line.split()[2] for line in text.splitlines() if line.startswith("# TYPE ")}
    assert not {f for f in families if f in JOB_SERVICE_FAMILIES or f.startswith(tuple(JOB_SERVICE_FAMILIES))}, text
    assert "phonos_http_request_seconds_count" in names and "process_resident_memory_bytes" in names
    # Nothing else (`_created`: prometheus_client writes the histogram's creation time as a family of its own).
    assert all(f.startswith(("phonos_http_request_seconds", "process_", "python_")) for f in families), families
