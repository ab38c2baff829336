"""Job-service benchmark (issue 2), one run, side by side:

* submit throughput through gRPC and through REST (jobs/s, each job also dispatched to Triton),
* GET /v1/jobs/{id} requests/s through REST and through direct gRPC, and their ratio,
* job overhead p50/p99 with a trivial model: (completed − submitted) − model execute time,
  sequential jobs on an idle service; timestamps from the job rows, execute time from Triton's
  per-request compute statistics.

    .venv/bin/python bench/service_overhead.py [--seconds 5] [--concurrency 32]

Runs a real tritonserver (the `echo` model) and a real `python -m jobservice` process; the load
comes from this process. On a 2-core machine the load generator shares the CPU with the service.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
import grpc
import tritonclient.grpc as triton_grpc

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from launcher.triton import TritonProcess  # noqa: E402
from phonos.v1 import phonos_pb2 as pb  # noqa: E402
from phonos.v1 import phonos_pb2_grpc  # noqa: E402
from tests.support import ServiceProcess  # noqa: E402


async def run_for(seconds: float, concurrency: int, call) -> tuple[int, float]:  # type: ignore[no-untyped-def]
    done = 0
    deadline = time.perf_counter() + seconds

    async def worker() -> None:
        nonlocal done
        while time.perf_counter() < deadline:
            await call()
            done += 1

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return done, time.perf_counter() - start


async def measure(service: ServiceProcess, key: str, seconds: float, concurrency: int) -> dict[str, float]:
    auth = (("authorization", f"Bearer {key}"),)
    headers = {"Authorization": f"Bearer {key}"}
    results: dict[str, float] = {}
    async with grpc.aio.insecure_channel(service.grpc_target) as channel, aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=concurrency)
    ) as http:
        stub = phonos_pb2_grpc.PhonosServiceStub(channel)
        predict = pb.PredictRequest(model="echo", sequence="MKTV")

        async def grpc_submit() -> None:
            await stub.Predict(predict, metadata=auth)

        async def rest_submit() -> None:
            async with http.post(f"{service.base_url}/v1/predict", json={"model": "echo", "sequence": "MKTV"},
                                 headers=headers) as response:
                assert response.status == 200, await response.text()
                await response.read()

        job_id = (await stub.Predict(predict, metadata=auth)).job_id
        get = pb.GetJobRequest(job_id=job_id)

        async def grpc_get() -> None:
            await stub.GetJob(get, metadata=auth)

        async def rest_get() -> None:
            async with http.get(f"{service.base_url}/v1/jobs/{job_id}", headers=headers) as response:
                assert response.status == 200
                await response.read()

        for name, call in (("submit_grpc", grpc_submit), ("submit_rest", rest_submit),
                           ("get_grpc", grpc_get), ("get_rest", rest_get)):
            await run_for(0.5, concurrency, call)  # warm-up
            count, elapsed = await run_for(seconds, concurrency, call)
            results[name] = count / elapsed
            await asyncio.sleep(1.0)  # let dispatch drain between phases
    return results


async def overhead(service: ServiceProcess, key: str, jobs: int) -> list[float]:
    auth = (("authorization", f"Bearer {key}"),)
    ids = []
    async with grpc.aio.insecure_channel(service.grpc_target) as channel:
        stub = phonos_pb2_grpc.PhonosServiceStub(channel)
        for _ in range(jobs):
            reply = await stub.Predict(pb.PredictRequest(model="echo", sequence="MKTV"), metadata=auth)
            ids.append(reply.job_id)
            # Polling is what a client does; the 2 ms step bounds the error it adds (finished_at is server-side).
            while (await stub.GetJob(pb.GetJobRequest(job_id=reply.job_id), metadata=auth)).status != "completed":  # noqa: ASYNC110
                await asyncio.sleep(0.002)
    with sqlite3.connect(service.data_dir / "phonos.sqlite3") as conn:
        rows = conn.execute(
            f"SELECT finished_at - created_at FROM jobs WHERE id IN ({','.join('?' * len(ids))})", ids
        ).fetchall()
    return [r[0] for r in rows]


def triton_compute_per_request_s(triton: TritonProcess) -> float:
    stats = triton_grpc.InferenceServerClient(triton.grpc_url).get_inference_statistics("echo", as_json=True)
    model = stats["model_stats"][0]["inference_stats"]
    count = int(model["success"]["count"])
    compute_ns = sum(int(model[k]["ns"]) for k in ("compute_input", "compute_infer", "compute_output"))
    return compute_ns / max(count, 1) / 1e9


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--overhead-jobs", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, TritonProcess.start(
        models=["echo"], log_path=Path(tmp) / "triton.log"
    ) as triton:
        triton.wait_ready(120)
        service = ServiceProcess.start(Path(tmp) / "var", triton.grpc_url, {"PHONOS_MODELS": "echo"})
        try:
            key = service.new_key(credits=10_000_000, rate_limit=10_000_000)
            durations = asyncio.run(overhead(service, key, args.overhead_jobs))
            compute = triton_compute_per_request_s(triton)
            rates = asyncio.run(measure(service, key, args.seconds, args.concurrency))
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
        "concurrency": args.concurrency,
        "seconds_per_phase": args.seconds,
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
