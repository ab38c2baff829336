"""`phonos serve` supervises: kill its Triton and its job service with SIGKILL, as a crash would.

One `phonos serve` (the echo model: its Triton starts in ~1.5 s, ESMFold's in ~8 s, and what is checked here is the
launcher's supervision, the same for every model) goes through: Triton killed → the API keeps answering
(degraded, 503), a job submitted meanwhile completes after the restart; the job service killed →
back on the same port with Triton untouched; the job service killed again within the window →
more than PHONOS_RESTART_MAX=1 crashes: everything stops, exit status 1, with a message, Triton's stop said
from its start (with its bound) to its end.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import grpc
import pytest
import requests
from grpc_health.v1 import health_pb2, health_pb2_grpc

from tests.serve_process import ServeProcess, health
from tests.support import process_alive, wait_until

pytestmark = pytest.mark.e2e


def grpc_ready(target: str) -> int:
    """The readiness the standard gRPC health service reports for PhonosService."""
    with grpc.insecure_channel(target) as channel:
        request = health_pb2.HealthCheckRequest(service="phonos.v1.PhonosService")
        return int(health_pb2_grpc.HealthStub(channel).Check(request, timeout=5).status)


def test_serve_restarts_crashed_children_and_gives_up_on_repeated_crashes(tmp_path: Path) -> None:
    # A 3 s backoff keeps Triton down long enough for the checks below to see it down (the job service probes
    # it every 0.2 s) and to submit a job meanwhile; ESMFold's slow start used to give that time.
    serve = ServeProcess(tmp_path / "var", PHONOS_MODELS="echo", PHONOS_RESTART_MAX="1", PHONOS_RESTART_BACKOFF_S="3",
                         PHONOS_TRITON_HEALTH_INTERVAL_S="0.2")
    try:
        base_url = serve.wait_for(r"REST gateway:\s+(http://\S+)/v1", 400).group(1)
        key = serve.find(r"API key .*: (pk_\S+)").group(1)
        triton_pid = int(serve.find(r"Triton ready:.*pid (\d+)").group(1))
        jobs_pid = int(serve.find(r"job service:\s+pid (\d+)").group(1))
        auth = {"Authorization": f"Bearer {key}"}
        assert health(base_url) == (200, "operational")

        grpc_target = serve.find(r"gRPC:\s+(\S+)").group(1)
        assert grpc_ready(grpc_target) == health_pb2.HealthCheckResponse.SERVING

        # 1. Triton dies. The API keeps answering, degraded; a job submitted now waits and then runs.
        killed_at = time.monotonic()
        os.kill(triton_pid, signal.SIGKILL)
        assert wait_until(lambda: health(base_url) == (503, "degraded"), 30)
        assert wait_until(lambda: grpc_ready(grpc_target) == health_pb2.HealthCheckResponse.NOT_SERVING, 30)
        assert requests.get(f"{base_url}/v1/models", headers=auth, timeout=5).status_code == 200
        submitted = requests.post(f"{base_url}/v1/predict", headers=auth, timeout=10,
                                  json={"model": "echo", "sequence": "MKTVRQERLKSIVRIL"})
        assert submitted.status_code == 200, submitted.text
        wait_until(lambda: health(base_url) == (200, "operational"), 300, 0.1)
        print(f"\nTriton SIGKILL -> /v1/health operational again: {time.monotonic() - killed_at:.1f} s")
        assert wait_until(lambda: grpc_ready(grpc_target) == health_pb2.HealthCheckResponse.SERVING, 30)
        assert serve.find(r"tritonserver exited with signal SIGKILL; restarting")
        new_triton_pid = int(serve.wait_for(r"tritonserver is ready again .*\(pid (\d+)\)", 30).group(1))
        assert new_triton_pid != triton_pid and not process_alive(triton_pid)
        job_id = submitted.json()["job_id"]
        job = wait_until(lambda: (j := requests.get(f"{base_url}/v1/jobs/{job_id}", headers=auth, timeout=5)
                                  .json())["status"] in ("completed", "failed") and j, 180)
        assert job["status"] == "completed", job

        # 2. The job service dies: back on the same port, Triton untouched.
        mark = len(serve.lines)
        os.kill(jobs_pid, signal.SIGKILL)
        serve.wait_for(r"job service is ready again", 120, after=mark)
        assert health(base_url) == (200, "operational")
        # Its metrics too, on the socket `phonos serve` holds and hands to each start (--metrics-fd).
        metrics_url = serve.find(r"metrics:\s+(http://\S+/metrics)").group(1)
        assert "\nphonos_database_up 1.0\n" in requests.get(metrics_url, timeout=10).text
        assert requests.get(f"{base_url}/v1/jobs/{job_id}", headers=auth, timeout=5).json()["status"] == "completed"
        assert process_alive(new_triton_pid)
        jobs_pid = int(serve.find(r"job service is ready again .*\(pid (\d+)\)", mark).group(1))

        # 3. A second job-service crash within the window is one more than PHONOS_RESTART_MAX=1 allows.
        os.kill(jobs_pid, signal.SIGKILL)
        assert serve.popen.wait(timeout=120) == 1
        assert serve.find(r"error: job service exited with signal SIGKILL; it crashed 2 times within 600 s, "
                          r"more than PHONOS_RESTART_MAX=1: giving up; stopping everything")
        assert not process_alive(new_triton_pid)
        # Triton's stop is said, with its bound, and its end: it takes seconds (its models unload) after the
        # job service's last lines, a silence that read as a hang.
        stopped = float(serve.wait_for(r"^Triton stopped \((\d+\.\d) s\)$", 10).group(1))
        assert serve.find(r"^stopping Triton \(unloading its models; killed if not done within 30 s\) \.\.\.$")
        print(f"\nTriton's stop (echo model): {stopped:.1f} s")
    finally:
        serve.stop()
