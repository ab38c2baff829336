"""A short load on a real `phonos serve`, scraped by a real Prometheus: does every series move?

    PYTHONPATH=.:triton_models .venv/bin/python bench/metrics_load.py

Starts `phonos serve` (ESMFold, tiny weights) and Debian's `prometheus` scraping its /metrics every
second (the job of deploy/prometheus.yml, pointed at the printed metrics port), then drives a short,
bounded load on loopback: a job that outlives its time limit (a timeout failure and a Triton error),
20 folds in two batches queued behind it (one job in flight per model, so the queue lasts several
scrapes instead of racing them), a pending job cancelled, a webhook receiver that fails once
then accepts, a key that hits its rate limit, bad requests, a few gRPC calls. It prints, from Prometheus' own API, each
series at the start and the end of the load (counters) or its peak (gauges), and whether it moved,
then evaluates every query of deploy/grafana/phonos-dashboard.json, counts those with data and names the
others (on a host without a GPU: Triton's GPU utilisation).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import requests

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "triton_models")]

from launcher.ports import free_port  # noqa: E402
from tests.support import WebhookReceiver, wait_until  # noqa: E402

COUNTERS = [
    "phonos_jobs_submitted_total", "phonos_jobs_completed_total", "phonos_jobs_failed_total",
    "phonos_jobs_cancelled_total", "phonos_credits_charged_total", "phonos_credits_refunded_total",
    "phonos_job_wait_seconds_count", "phonos_job_run_seconds_count", "phonos_triton_request_seconds_count",
    "phonos_triton_request_errors_total", "phonos_webhook_deliveries_total", "phonos_rate_limit_rejections_total",
    "phonos_http_request_seconds_count", "phonos_rpc_seconds_count", "nv_inference_request_success",
    "nv_inference_compute_infer_duration_us",
]
GAUGES = ["phonos_jobs_queued", "phonos_jobs_running", "phonos_queue_oldest_age_seconds", "phonos_webhook_backlog",
          "phonos_webhook_backlog_oldest_age_seconds", "phonos_triton_metrics_up"]
SEQUENCE_60 = "MKTVRQERLKSIVRILERSKEPVSGAQLAEELSVSRQVIVQDIAYLRSLGYNIVATPRGYV"


class Serve:
    def __init__(self, data_dir: Path, env: dict[str, str]) -> None:
        self.lines: list[str] = []
        self.popen = subprocess.Popen(
            [sys.executable, "-m", "launcher.cli", "serve", "--http-port", "0", "--grpc-port", "0",
             "--metrics-port", "0", "--data-dir", str(data_dir)],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, cwd=REPO,
        )
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.popen.stdout is not None
        for line in self.popen.stdout:
            self.lines.append(line.rstrip())

    def find(self, pattern: str) -> str | None:
        for line in self.lines:
            match = re.search(pattern, line)
            if match:
                return match.group(1)
        return None

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            self.popen.wait(timeout=60)


def start_prometheus(work: Path, target: str) -> tuple[subprocess.Popen[bytes], str]:
    config = work / "prometheus.yml"
    config.write_text(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
        f"scrape_configs:\n  - job_name: phonos\n    static_configs:\n      - targets: ['{target}']\n"
    )
    address = f"127.0.0.1:{free_port('127.0.0.1')}"
    process = subprocess.Popen(
        ["prometheus", f"--config.file={config}", f"--storage.tsdb.path={work / 'tsdb'}",
         f"--web.listen-address={address}", "--log.level=warn"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )
    url = f"http://{address}"
    wait_until(lambda: _ok(f"{url}/-/ready"), 60, 0.2)
    return process, url


def _ok(url: str) -> bool:
    try:
        return requests.get(url, timeout=2).status_code == 200
    except requests.RequestException:
        return False


def query(prometheus: str, expr: str, at: float) -> list[dict[str, Any]]:
    body = requests.get(f"{prometheus}/api/v1/query", params={"query": expr, "time": str(at)}, timeout=10).json()
    if body["status"] != "success":
        raise RuntimeError(f"{expr}: {body}")
    return list(body["data"]["result"])


def scalar(prometheus: str, expr: str, at: float) -> float:
    result = query(prometheus, expr, at)
    return float(result[0]["value"][1]) if result else 0.0


def grpc_calls(target: str, key: str, count: int) -> None:
    import grpc

    from phonos.v1 import phonos_pb2 as pb
    from phonos.v1 import phonos_pb2_grpc

    with grpc.insecure_channel(target) as channel:
        stub = phonos_pb2_grpc.PhonosServiceStub(channel)
        for _ in range(count):
            stub.ListModels(pb.ListModelsRequest(), metadata=(("authorization", f"Bearer {key}"),))


def load(base_url: str, key: str, limited_key: str, receiver: WebhookReceiver) -> None:
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {key}"

    def wait(job_id: str) -> str:
        return str(wait_until(lambda: (j := session.get(f"{base_url}/v1/jobs/{job_id}", timeout=30).json())
                              ["status"] in ("completed", "failed", "cancelled") and j["status"], 300, 0.1))

    session.post(f"{base_url}/v1/webhooks", json={"url": receiver.url, "events": ["job.completed", "job.failed"]},
                 timeout=30).raise_for_status()
    # First a job that outlives its time limit: with one job in flight per model (main's environment), the
    # folds submitted next wait behind it for a few scrapes, so the queue gauges are seen, not raced.
    too_long = session.post(f"{base_url}/v1/predict", timeout=30, json={
        "model": "esmfold", "sequence": "M" * 400, "params": {"num_recycles": 24}}).json()["job_id"]
    ids = []
    for _ in range(2):
        batch = session.post(f"{base_url}/v1/batch", timeout=30, json={"jobs": [
            {"model": "esmfold", "sequence": SEQUENCE_60[: 50 + i], "params": {"num_recycles": 1}} for i in range(10)]})
        ids += [r["job_id"] for r in batch.json()["results"]]
    cancelled = session.post(f"{base_url}/v1/predict", json={"model": "esmfold", "sequence": SEQUENCE_60},
                             timeout=30).json()["job_id"]
    session.post(f"{base_url}/v1/jobs/{cancelled}/cancel", timeout=30)
    print(f"a job past its time limit: {wait(too_long)}", flush=True)
    print(f"20 folds: {sorted({wait(i) for i in ids})}", flush=True)
    session.post(f"{base_url}/v1/predict", json={"model": "esmfold", "sequence": "NOT A PROTEIN!"}, timeout=30)
    limited = requests.Session()
    limited.headers["Authorization"] = f"Bearer {limited_key}"
    statuses = [limited.get(f"{base_url}/v1/account", timeout=30).status_code for _ in range(8)]
    print(f"rate-limited key: {statuses}", flush=True)
    wait_until(lambda: len(receiver.requests) >= 3, 60)  # one failed delivery retried, then accepted


def main() -> int:
    if not shutil.which("prometheus"):
        print("needs Debian's prometheus package (scripts/install.sh installs it)", file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    with tempfile.TemporaryDirectory() as tmp, WebhookReceiver(statuses=[500]) as receiver:
        work = Path(tmp)
        env = {k: v for k, v in os.environ.items() if not k.startswith("PHONOS_")}
        env.update({"PHONOS_MODELS": "esmfold", "PHONOS_ESMFOLD_TIMEOUT_S": "3", "PHONOS_MAX_INFLIGHT_PER_MODEL": "1",
                    "PHONOS_WEBHOOK_ALLOW_HTTP_LOOPBACK": "true", "PHONOS_WEBHOOK_BACKOFF_BASE_S": "2"})
        serve = Serve(work / "var", env)
        prometheus = None
        try:
            base_url = wait_until(lambda: serve.find(r"REST gateway:\s+(http://\S+)/v1"), 600, 0.2)
            metrics_url = serve.find(r"metrics:\s+(http://\S+/metrics)")
            assert metrics_url, serve.lines
            def new_key(name: str, rate_limit: int) -> str:
                return subprocess.run(
                    [sys.executable, "-m", "launcher.cli", "keys", "create", "--data-dir", str(work / "var"),
                     "--username", name, "--rate-limit", str(rate_limit), "--credits", "100000"],
                    capture_output=True, text=True, env=env, cwd=REPO, check=True).stdout.strip()

            key, limited_key = new_key("load", 100_000), new_key("limited", 5)
            prometheus, prometheus_url = start_prometheus(work, metrics_url.split("/")[2])
            wait_until(lambda: scalar(prometheus_url, "up{job='phonos'}", time.time()) == 1, 30, 0.5)
            started = time.time()
            load(base_url, key, limited_key, receiver)
            grpc_calls(str(serve.find(r"gRPC:\s+(\S+)")), key, 5)
            time.sleep(3)  # two more scrapes
            ended = time.time()
            window = f"{int(ended - started) + 2}s"
            rows = []
            for name in COUNTERS:
                before, after = scalar(prometheus_url, f"sum({name})", started), scalar(prometheus_url, f"sum({name})", ended)
                rows.append((name, f"{before:g} -> {after:g}", after > before))
            for name in GAUGES:
                peak = scalar(prometheus_url, f"max(max_over_time({name}[{window}]))", ended)
                rows.append((name, f"peak {peak:g}", peak > 0))
            width = max(len(r[0]) for r in rows)
            for name, shown, went in rows:
                print(f"{name:<{width}}  {shown:<22} {'moved' if went else 'DID NOT MOVE'}")
            dashboard = json.loads((REPO / "deploy" / "grafana" / "phonos-dashboard.json").read_text())
            exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
            empty = [e for e in exprs if not query(prometheus_url, e.replace("[5m]", f"[{window}]")
                                                   .replace("[1h]", f"[{window}]"), ended)]
            moved = sum(1 for r in rows if r[2])
            print(f"{moved}/{len(rows)} series moved during {ended - started:.0f} s of load; "
                  f"{len(exprs) - len(empty)}/{len(exprs)} dashboard queries return data")
            for expr in empty:
                print(f"  no data: {expr}")
        finally:
            if prometheus is not None:
                prometheus.terminate()
                prometheus.wait(timeout=30)
            serve.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
