"""`phonos serve` and a job service that waits for its PostgreSQL (jobservice/db_wait.py): the `{"event":
"waiting"}` line it prints first is not its ready line (was: read as ready, so the banner and the supervisor took
a job service that served nothing for a ready one), and the supervisor gives it its wait before calling it hung."""

from __future__ import annotations

import subprocess
import sys
import threading

import pytest

from launcher.serve import (
    JOBSERVICE_READY_TIMEOUT_S,
    JobServiceChild,
    jobservice_ready_timeout_s,
    read_ready_line,
)
from phonos_config.service import ServiceSettings

pytestmark = pytest.mark.unit

LINES = ('{"event": "waiting", "grpc_port": 50051, "http_port": 8080, "reason": "connection refused"}',
         '{"event": "ready", "grpc_port": 50051, "http_port": 8080, "metrics_port": 9464}')


def _printing(*lines: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-c", "import sys; sys.stdout.write(sys.argv[1])", "\n".join(lines) + "\n"],
                            stdout=subprocess.PIPE, text=True)


def test_the_ready_line_is_the_ready_event_not_the_waiting_one() -> None:
    popen = _printing(*LINES)
    assert read_ready_line(popen, timeout_s=30) == {"event": "ready", "grpc_port": 50051, "http_port": 8080,
                                                   "metrics_port": 9464}
    popen.wait(timeout=30)


def test_the_job_service_child_waiting_for_its_database_is_not_ready_and_says_why(
        capsys: pytest.CaptureFixture[str]) -> None:
    child = JobServiceChild(ServiceSettings(), {})
    ready = threading.Event()
    popen = _printing(LINES[0])
    child._read_stdout(popen, ready)
    popen.wait(timeout=30)
    assert not ready.is_set() and child.ready_info == {}
    assert "job service: waiting for its database (connection refused)" in capsys.readouterr().out

    popen = _printing(*LINES)
    child._read_stdout(popen, ready)
    popen.wait(timeout=30)
    assert ready.is_set() and child.ready_info["event"] == "ready"


def test_the_supervisor_gives_the_job_service_its_wait_for_the_database() -> None:
    assert jobservice_ready_timeout_s(ServiceSettings()) == JOBSERVICE_READY_TIMEOUT_S  # SQLite: nothing to wait for
    postgres = ServiceSettings(database_url="postgresql://phonos@db:5432/phonos")
    assert jobservice_ready_timeout_s(postgres) == JOBSERVICE_READY_TIMEOUT_S + 300
    assert jobservice_ready_timeout_s(postgres.with_overrides(database_start_wait_s=0)) == float("inf")
