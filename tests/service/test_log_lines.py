"""`python -m jobservice` writes its records' fields (action=..., port=...) with its log lines, and one JSON object a
line under PHONOS_LOG_FORMAT=json (jobservice/log_format.py). Was: "%(message)s" only, every `extra` field dropped,
so the action names the docs tell operators to look for never appeared in its log."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]


def _log_of_a_start_and_stop(data_dir: Path, **env: str) -> str:
    """The job service's stderr from its start (SQLite, no Triton needed) to a graceful stop."""
    popen = subprocess.Popen(
        [sys.executable, "-m", "jobservice", "--data-dir", str(data_dir), "--grpc-port", "0", "--no-http",
         "--metrics-port", "0", "--triton-url", "127.0.0.1:9"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO,
        env={**{k: v for k, v in os.environ.items() if not k.startswith("PHONOS_")}, "PHONOS_MODELS": "esmfold", **env})
    try:
        assert popen.stdout is not None
        ready = popen.stdout.readline()
        assert '"event": "ready"' in ready, ready
    finally:
        popen.terminate()
        _, err = popen.communicate(timeout=60)
    assert popen.returncode == 0, err
    return err


def test_the_job_service_log_names_each_records_action(tmp_path: Path) -> None:
    err = _log_of_a_start_and_stop(tmp_path / "var")
    started = next(line for line in err.splitlines() if "job service listening" in line)
    assert " INFO jobservice.server job service listening: gRPC on 127.0.0.1:" in started
    assert " action=jobservice.started port=" in started and " metrics_port=" in started


def test_the_job_service_log_as_json_lines(tmp_path: Path) -> None:
    err = _log_of_a_start_and_stop(tmp_path / "var", PHONOS_LOG_FORMAT="json")
    records = [json.loads(line) for line in err.splitlines() if line.strip()]
    started = next(r for r in records if r.get("action") == "jobservice.started")
    assert started["level"] == "INFO" and started["logger"] == "jobservice.server"
    assert started["message"].startswith("job service listening") and isinstance(started["port"], int)
