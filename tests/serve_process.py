"""`phonos serve` as a subprocess on free ports, its output collected (the supervision test and bench); a separate
gateway process (`python -m gateway`) in front of a job service."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import requests

from launcher.serve import read_ready_line
from tests.support import REPO, wait_until


class ServeProcess:
    def __init__(self, data_dir: Path, **env: str) -> None:
        clean = {k: v for k, v in os.environ.items() if not k.startswith("PHONOS_")}
        self.lines: list[str] = []
        self.popen = subprocess.Popen(
            [sys.executable, "-m", "launcher.cli", "serve", "--http-port", "0", "--grpc-port", "0",
             "--data-dir", str(data_dir)],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=REPO,
            env={**clean, "PHONOS_MODELS": "esmfold", **env},
        )
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.popen.stdout is not None
        for line in self.popen.stdout:
            self.lines.append(line.rstrip())

    def find(self, pattern: str, after: int = 0) -> re.Match[str] | None:
        for line in self.lines[after:]:
            match = re.search(pattern, line)
            if match:
                return match
        return None

    def wait_for(self, pattern: str, timeout_s: float, after: int = 0) -> re.Match[str]:
        return wait_until(lambda: self.find(pattern, after), timeout_s, 0.1)

    def stop(self) -> int:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
        return self.popen.wait(timeout=60)


def health(base_url: str) -> tuple[int, str]:
    try:
        response = requests.get(f"{base_url}/v1/health", timeout=5)
    except requests.ConnectionError:
        return 0, "unreachable"
    return response.status_code, response.json()["status"]


@contextmanager
def gateway_process(grpc_target: str, *args: str, stderr: int = subprocess.PIPE,
                    **env: str) -> Iterator[tuple[subprocess.Popen[str], dict[str, Any] | None]]:
    """`python -m gateway` in front of the job service at `grpc_target` (extra flags `args`, settings `env` on
    top of a clean PHONOS_ environment); yields the process and its ready line (None if it stopped first)."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("PHONOS_")}
    popen = subprocess.Popen([sys.executable, "-m", "gateway", "--target", grpc_target, "--port", "0", *args],
                             stdout=subprocess.PIPE, stderr=stderr, text=True, cwd=REPO,
                             env={**clean, "PYTHONPATH": os.environ.get("PYTHONPATH", str(REPO)), **env})
    try:
        yield popen, read_ready_line(popen, timeout_s=30)
    finally:
        if popen.poll() is None:
            popen.send_signal(signal.SIGTERM)
        try:
            popen.wait(timeout=10)
        except subprocess.TimeoutExpired:
            popen.kill()
            popen.wait()


@contextmanager
def separate_gateway(grpc_target: str, **env: str) -> Iterator[str]:
    """`python -m gateway` in front of the job service at `grpc_target`; yields its base URL."""
    with gateway_process(grpc_target, "--metrics-port", "0", stderr=subprocess.DEVNULL, **env) as (_, ready):
        assert ready is not None and ready["event"] == "ready"
        yield f"http://127.0.0.1:{ready['http_port']}"
