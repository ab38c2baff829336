"""Job-service benchmark (issue 2), one run, side by side:

* submit throughput through gRPC and through REST (jobs/s; every job is also dispatched to Triton),
* GET /v1/jobs/{id} requests/s through REST and through direct gRPC, and their ratio,
* job overhead p50/p99 with a trivial model: (completed − submitted) − model execute time,
  sequential jobs on an idle service; timestamps from the job rows, execute time from Triton's
  per-request compute statistics.

    .venv/bin/python bench/service_overhead.py [--seconds 5] [--connections 32]

Runs a real tritonserver (the `echo` model) and a real `python -m jobservice` process. Load comes
from C load generators so the client does not eat the CPU it measures: `h2load` (gRPC over HTTP/2,
Debian nghttp2-client) and `wrk` (REST, Debian wrk). Between phases the dispatch backlog drains.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import secrets
import sqlite3
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import grpc
import tritonclient.grpc as triton_grpc

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from launcher.triton import TritonProcess  # noqa: E402
from phonos.v1 import phonos_pb2 as pb  # noqa: E402
from phonos.v1 import phonos_pb2_grpc  # noqa: E402
from phonos_config.triton_access import grpc_headers  # noqa: E402
from tests.support import ServiceProcess  # noqa: E402

SERVICE = "phonos.v1.PhonosService"


def h2load_grpc(target: str, method: str, request: bytes, key: str, seconds: float, connections: int,
                workdir: Path) -> tuple[float, int]:
    """Unary gRPC calls per second from h2load (length-prefixed protobuf body, gRPC headers), and how many
    it counted as succeeded: HTTP 2xx, which for gRPC includes calls that ended with an error status in
    their trailers (h2load does not read them), so the caller checks what they did."""
    body = workdir / f"{method}.bin"
    body.write_bytes(struct.pack(">?I", False, len(request)) + request)
    out = subprocess.run(
        ["h2load", "-D", str(int(seconds)), "-c", str(connections), "-m", "8", "-t", "1", "-d", str(body),
         "-H", "content-type: application/grpc", "-H", "te: trailers", "-H", f"authorization: Bearer {key}",
         f"http://{target}/{SERVICE}/{method}"],
        capture_output=True, text=True, check=True,
    ).stdout
    match = re.search(r"finished in .*?, ([\d.]+) req/s", out)
    succeeded = re.search(r"(\d+) succeeded", out)
    assert match and succeeded and " 0 failed" in out, out
    return float(match.group(1)), int(succeeded.group(1))


def job_count(database: Path) -> int:
    with sqlite3.connect(database) as conn:
        return int(conn.execute("SELECT COUNT(*) FROM jobs").fetchone()[0])


def wrk(url: str, key: str, seconds: float, connections: int, workdir: Path, body: str | None = None) -> float:
    script = workdir / "wrk.lua"
    lines = [f'wrk.headers["Authorization"] = "Bearer {key}"']
    if body is not None:
        lines += ['wrk.method = "POST"', 'wrk.headers["Content-Type"] = "application/json"',
                  f"wrk.body = {json.dumps(body)}"]
    script.write_text("\n".join(lines) + "\n")
    out = subprocess.run(
        ["wrk", "-t", "1", "-c", str(connections), "-d", f"{seconds}s", "-s", str(script), url],
        capture_output=True, text=True, check=True,
    ).stdout
    assert "Non-2xx" not in out, out
    return float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]


def drain(database: Path, timeout_s: float = 300) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with sqlite3.connect(database) as conn:
            if conn.execute("SELECT COUNT(*) FROM jobs WHERE status IN ('pending', 'running')").fetchone()[0] == 0:
                return
        time.sleep(0.5)
    raise TimeoutError("dispatch backlog did not drain")


async def overhead(service: ServiceProcess, key: str, jobs: int) -> list[float]:
    auth = (("authorization", f"Bearer {key}"),)
    ids = []
    async with grpc.aio.insecure_channel(service.grpc_target) as channel:
        stub = phonos_pb2_grpc.PhonosServiceStub(channel)
        for _ in range(jobs):
            reply = await stub.Predict(pb.PredictRequest(model="echo", sequence="MKTV"), metadata=auth)
            ids.append(reply.job_id)
            # Polling is what a client does; finished_at is stamped server-side, so the 10 ms step adds no
            # error (and polls rarely enough not to slow the job it waits for).
            while (await stub.GetJob(pb.GetJobRequest(job_id=reply.job_id), metadata=auth)).job.status != "completed":  # noqa: ASYNC110
                await asyncio.sleep(0.01)
    with sqlite3.connect(service.data_dir / "phonos.sqlite3") as conn:
        rows = conn.execute(
            f"SELECT finished_at - created_at FROM jobs WHERE id IN ({','.join('?' * len(ids))})", ids
        ).fetchall()
    return [r[0] for r in rows]


def triton_compute_per_request_s(triton: TritonProcess) -> float:
    stats = triton_grpc.InferenceServerClient(triton.grpc_url).get_inference_statistics(
        "echo", as_json=True, headers=grpc_headers(triton.api_secret))
    model = stats["model_stats"][0]["inference_stats"]
    count = int(model["success"]["count"])
    compute_ns = sum(int(model[k]["ns"]) for k in ("compute_input", "compute_infer", "compute_output"))
    return compute_ns / max(count, 1) / 1e9


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--overhead-jobs", type=int, default=300)
    args = parser.parse_args()
    secret = secrets.token_urlsafe(32)  # locked as `phonos serve` locks its Triton: the header's cost is measured too
    with tempfile.TemporaryDirectory() as tmp, TritonProcess.start(
        models=["echo"], log_path=Path(tmp) / "triton.log", api_secret=secret
    ) as triton:
        work = Path(tmp)
        triton.wait_ready(120)
        # One account submits thousands of jobs a second here: lift its fair-share queue cap (a 429 past it).
        service = ServiceProcess.start(work / "var", triton.grpc_url,
                                       {"PHONOS_MODELS": "echo", "PHONOS_MAX_QUEUED_PER_ACCOUNT": str(10**9),
                                        "PHONOS_TRITON_API_SECRET": secret})
        database = service.data_dir / "phonos.sqlite3"
        try:
            key = service.new_key(credits=100_000_000, rate_limit=100_000_000)
            durations = asyncio.run(overhead(service, key, args.overhead_jobs))
            compute = triton_compute_per_request_s(triton)
            job_id = service.client(key).predict("MKTV", model="echo").json()["job_id"]
            drain(database)
            get = pb.GetJobRequest(job_id=job_id).SerializeToString()
            rates = {
                "get_grpc": h2load_grpc(service.grpc_target, "GetJob", get, key, args.seconds, args.connections, work)[0],
                "get_rest": wrk(f"{service.base_url}/v1/jobs/{job_id}", key, args.seconds, args.connections, work),
            }
            predict = pb.PredictRequest(model="echo", sequence="MKTV").SerializeToString()
            jobs_before = job_count(database)
            rates["submit_grpc"], submitted = h2load_grpc(service.grpc_target, "Predict", predict, key, args.seconds,
                                                          args.connections, work)
            made = job_count(database) - jobs_before  # calls still in flight at the deadline may add a few
            assert made >= submitted, f"h2load counted {submitted} submissions but only {made} jobs were made"
            drain(database)
            rates["submit_rest"] = wrk(f"{service.base_url}/v1/predict", key, args.seconds, args.connections, work,
                                       body=json.dumps({"model": "echo", "sequence": "MKTV"}))
            drain(database)
        finally:
            service.stop()
    over_ms = sorted((d - compute) * 1000 for d in durations)
    report = {
        "submit_jobs_per_s": {"grpc": round(rates["submit_grpc"]), "rest": round(rates["submit_rest"])},
        "get_job_requests_per_s": {"grpc": round(rates["get_grpc"]), "rest": round(rates["get_rest"]),
                                   "rest_over_grpc": round(rates["get_rest"] / rates["get_grpc"], 3)},
        "job_overhead_ms": {"p50": round(statistics.median(over_ms), 3),
                            "p99": round(over_ms[min(len(over_ms) - 1, int(len(over_ms) * 0.99))], 3),
                            "model_execute_ms": round(compute * 1000, 4), "jobs": len(over_ms)},
        "connections": args.connections,
        "seconds_per_phase": args.seconds,
        "load_generators": "h2load (gRPC), wrk (REST)",
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
