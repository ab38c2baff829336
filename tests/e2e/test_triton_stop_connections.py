"""Nothing phonos runs leaves a connection open to Triton's HTTP or metrics port, so Triton's stop waits for none.

Triton's stop waits, once a second up to its exit timeout (30 s), for every open connection to its HTTP port to
close, and is then killed (measured: one idle keep-alive client held it 30 s; launcher/triton.py STOP_TIMEOUT_S);
an open one to its metrics port adds ~1 s. The launcher polls the HTTP port (readiness, failed models) and the job
service's /metrics reads the metrics port with a keep-alive session. Checked without timing: the connections are
counted on the host (/proc/net/tcp) after each poller is done, and Triton's own log must not say it waited.
"""

from __future__ import annotations

import asyncio
import http.client
from pathlib import Path
from typing import Any, cast

import pytest

from jobservice.metrics_server import MetricsEndpoint
from launcher.serve import TritonChild
from launcher.triton import DEFAULT_MODEL_REPOSITORY, TritonProcess, open_connections
from phonos_config.service import ServiceSettings

pytestmark = pytest.mark.e2e

WAITED_FOR_HTTP = "HTTP service connections"  # Triton's "Timeout N: Found M HTTP service connections"


def scrape_and_close(metrics_url: str) -> bytes:
    """One job-service scrape that reads Triton's metrics, then the endpoint's close (the job service's stop)."""
    async def main() -> bytes:
        # No database: the scrape leaves its gauges out (a store outage's path) and still reads Triton.
        endpoint = MetricsEndpoint(cast(Any, None), [], [metrics_url])
        try:
            return await endpoint.render()
        finally:
            await endpoint.close()

    return asyncio.run(main())


def test_the_launchers_probes_and_the_metrics_scrape_leave_no_connection_for_tritons_stop_to_wait_for(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    log_path = tmp_path / "triton.log"
    process = TritonProcess.start(DEFAULT_MODEL_REPOSITORY, ["echo"], log_path=log_path)
    try:
        process.wait_ready(timeout_s=180)
        http_port, metrics_port = process.ports.http, process.ports.metrics
        # The counter sees a client that keeps its connection alive (what would hold the stop), and its end.
        keep_alive = http.client.HTTPConnection("127.0.0.1", http_port, timeout=10)
        keep_alive.request("GET", "/v2/health/live")
        assert keep_alive.getresponse().read() == b"" and open_connections(http_port) == 1
        keep_alive.close()
        assert open_connections(http_port) == 0

        # What `phonos serve` polls while it supervises Triton, and a job service's scrape of Triton's metrics.
        child = TritonChild(["echo"], process.ports, ServiceSettings(data_dir=tmp_path), {})
        child.process = process
        assert child.is_ready() and child.fatal_reason() is None and process.failed_models() == {}
        assert b"phonos_triton_metrics_up" in scrape_and_close(process.metrics_url)
        assert (open_connections(http_port), open_connections(metrics_port)) == (0, 0)

        capsys.readouterr()
        child.stop()
        out = capsys.readouterr().out
        assert "open connection" not in out and "Triton stopped" in out
        assert process.process.returncode == 0  # stopped, not killed at the bound
        assert WAITED_FOR_HTTP not in log_path.read_text(), log_path.read_text()[-2000:]
    finally:
        if process.process.poll() is None:  # only a server the test did not stop: its group's id is not reused yet
            process.reap()
