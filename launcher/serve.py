"""`phonos serve`: Triton + the job service (with the in-process gateway), supervised.

Starts tritonserver on internal ports, then the job service process, waits
until both are ready, prints the URLs (and, on a fresh data dir, the first API
key), and on Ctrl-C / SIGTERM stops everything it started. If a child dies, the
others are stopped and the exit status is non-zero.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading

from jobservice.admin import ensure_first_account
from launcher.triton import DEFAULT_MODEL_REPOSITORY, TritonPorts, TritonProcess, TritonStartError
from phonos_config.service import ServiceSettings

TRITON_READY_TIMEOUT_S = 900.0
JOBSERVICE_READY_TIMEOUT_S = 120.0


def served_triton_models(settings: ServiceSettings) -> list[str]:
    """The Triton models behind the served model ids (plus their helpers, e.g. an embedding model)."""
    from jobservice.modelspecs.registry import triton_models

    return triton_models(settings.models)


def jobservice_command(settings: ServiceSettings) -> list[str]:
    return [sys.executable, "-m", "jobservice", "--data-dir", str(settings.data_dir),
            "--grpc-port", str(settings.grpc_port), "--http-port", str(settings.http_port),
            "--triton-url", settings.triton_url, "--metrics-port", str(settings.metrics_port)]


def start_jobservice(settings: ServiceSettings, env: dict[str, str] | None = None) -> tuple[subprocess.Popen[str], dict]:
    """Start `python -m jobservice` and wait for its ready line."""
    process = subprocess.Popen(jobservice_command(settings), stdout=subprocess.PIPE, text=True,
                               env=env or dict(os.environ), start_new_session=True)
    ready = read_ready_line(process, JOBSERVICE_READY_TIMEOUT_S)
    if ready is None:
        process.kill()
        raise RuntimeError("the job service did not become ready; see its log above")
    return process, ready


def read_ready_line(process: subprocess.Popen[str], timeout_s: float) -> dict | None:
    """The job service's `{"event": "ready", ...}` stdout line, or None if none came within `timeout_s`."""
    ready: dict = {}

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            if line.startswith("{"):
                ready.update(json.loads(line))
                return

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(timeout_s)
    return ready or None


def serve(settings: ServiceSettings) -> int:
    data_dir = settings.data_dir.resolve()
    settings = settings.with_overrides(data_dir=data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    first_key = asyncio.run(ensure_first_account(
        settings.database_path, credits=settings.default_credits, rate_limit=settings.default_rate_limit
    ))
    if first_key is not None:
        # Printed at once: the key exists now, whether or not the rest starts.
        print(f"API key (account 'admin', {settings.default_credits} credits, shown once): {first_key.api_key}",
              flush=True)
    ports = TritonPorts.pick()
    models = served_triton_models(settings)
    print(f"starting Triton ({', '.join(models)}) ...", flush=True)
    triton = TritonProcess.start(DEFAULT_MODEL_REPOSITORY, models, ports=ports, log_path=data_dir / "triton.log",
                                 env={**os.environ, "PHONOS_DATA_DIR": str(data_dir)})
    settings = settings.with_overrides(triton_url=triton.grpc_url)
    jobservice: subprocess.Popen[str] | None = None
    stopping = threading.Event()

    def request_stop(signum: int, frame: object) -> None:
        stopping.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    try:
        env = {**os.environ, "PHONOS_DATA_DIR": str(data_dir), "PHONOS_TRITON_URL": triton.grpc_url,
               # The job service's /metrics re-exports Triton's own (Triton's port stays internal).
               "PHONOS_TRITON_METRICS_URLS": triton.metrics_url}
        jobservice, ready = start_jobservice(settings, env)
        triton.wait_ready(TRITON_READY_TIMEOUT_S)
        print(f"Triton ready:  {triton.grpc_url} (internal; models: {', '.join(models)}; log {data_dir / 'triton.log'})")
        print(f"REST gateway:  http://{settings.http_host}:{ready['http_port']}/v1  (try /v1/health)")
        print(f"gRPC:          {settings.grpc_host}:{ready['grpc_port']}  (reflection + health enabled)")
        if ready.get("metrics_port"):
            print(f"metrics:       http://{settings.metrics_host}:{ready['metrics_port']}/metrics  "
                  "(Prometheus; job service + Triton)")
        print(f"data dir:      {data_dir}")
        print("weights: tiny random weights unless PHONOS_*_WEIGHTS_DIR is set - NOT real predictions", flush=True)
        while not stopping.is_set():
            if triton.process.poll() is not None:
                print(f"tritonserver exited ({triton.process.returncode}); stopping", file=sys.stderr)
                return 1
            if jobservice.poll() is not None:
                print(f"job service exited ({jobservice.returncode}); stopping", file=sys.stderr)
                return 1
            stopping.wait(0.5)
        print("stopping ...", flush=True)
        return 0
    except (TritonStartError, RuntimeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        if jobservice is not None and jobservice.poll() is None:
            jobservice.send_signal(signal.SIGTERM)
            try:
                jobservice.wait(timeout=20)
            except subprocess.TimeoutExpired:
                jobservice.kill()
        triton.stop()

