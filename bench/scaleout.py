"""Scale-out benchmark (issue 10), one run, side by side:

* REST submissions/s and GET /v1/jobs/{id} requests/s with 1, 2 and 4 job services on one PostgreSQL,
  against one job service on SQLite (the default). Load goes to every service at once (one `wrk` per
  service, the connections split between them); every submitted job is also dispatched to Triton (echo).
* Reclaim time: a job service running jobs is killed with SIGKILL; the time until a surviving service has
  taken over all of its jobs (lease expiry + janitor), at the lease length given.

    .venv/bin/python bench/scaleout.py [--seconds 4] [--connections 32] [--lease 3]

Real processes throughout: tritonserver (echo), `python -m jobservice` (with its in-process gateway),
PostgreSQL from Debian's package (tests/postgres.py), `wrk` (Debian wrk). On a small machine every
process shares the same cores, so the figures show what more services cost and buy on one box; on
separate machines each service brings its own CPU.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from launcher.triton import TritonProcess  # noqa: E402
from tests.postgres import PostgresServer  # noqa: E402
from tests.support import ServiceProcess, wait_until  # noqa: E402

ACTIVE = "SELECT COUNT(*) FROM jobs WHERE status IN ('pending', 'running')"


def wrk_all(urls: list[str], key: str, seconds: float, connections: int, workdir: Path,
            body: str | None = None) -> float:
    """Requests/s summed over one wrk per URL, all running at once."""
    script = workdir / "wrk.lua"
    lines = [f'wrk.headers["Authorization"] = "Bearer {key}"']
    if body is not None:
        lines += ['wrk.method = "POST"', 'wrk.headers["Content-Type"] = "application/json"', f"wrk.body = {json.dumps(body)}"]
    script.write_text("\n".join(lines) + "\n")
    each = max(1, connections // len(urls))
    runs = [subprocess.Popen(["wrk", "-t", "1", "-c", str(each), "-d", f"{round(seconds)}s", "-s", str(script), url],
                             stdout=subprocess.PIPE, text=True) for url in urls]
    total = 0.0
    for run in runs:
        out, _ = run.communicate(timeout=seconds + 60)
        assert "Non-2xx" not in out, out
        total += float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    return total


def measure(services: list[ServiceProcess], seconds: float, connections: int, workdir: Path) -> dict[str, float]:
    key = services[0].new_key(credits=10**12, rate_limit=10**9)
    job_id = services[0].client(key).post("/v1/predict", json={"model": "echo", "sequence": "MKTV"}).json()["job_id"]
    wait_until(lambda: services[0].sql(ACTIVE) == [(0,)], 120, 0.5)
    gets = wrk_all([f"{s.base_url}/v1/jobs/{job_id}" for s in services], key, seconds, connections, workdir)
    submits = wrk_all([f"{s.base_url}/v1/predict" for s in services], key, seconds, connections, workdir,
                      body=json.dumps({"model": "echo", "sequence": "MKTV"}))
    wait_until(lambda: services[0].sql(ACTIVE) == [(0,)], 600, 0.5)  # the backlog drains before the next setup
    return {"submit_jobs_per_s": round(submits), "get_job_requests_per_s": round(gets)}


def reclaim(postgres: PostgresServer, triton: TritonProcess, workdir: Path, lease_s: float) -> dict[str, float]:
    env = {"PHONOS_DATABASE_URL": postgres.new_store_url("reclaim"), "PHONOS_MODELS": "echo",
           "PHONOS_JOB_LEASE_S": str(lease_s), "PHONOS_MAX_INFLIGHT_PER_MODEL": "4"}
    victim = ServiceProcess.start(workdir / "shared-r", triton.grpc_url, env)
    key = victim.new_key(credits=1000)
    client = victim.client(key)
    ids = [client.post("/v1/predict", json={"model": "echo", "sequence": "!sleep 60"}).json()["job_id"]
           for _ in range(4)]
    wait_until(lambda: victim.sql("SELECT COUNT(*) FROM jobs WHERE status = 'running'") == [(4,)], 30)
    survivor = ServiceProcess.start(workdir / "shared-r", triton.grpc_url, {**env, "PHONOS_MAX_INFLIGHT_PER_MODEL": "8"})
    try:
        victim.kill()
        killed = time.monotonic()
        wait_until(lambda: survivor.sql("SELECT COUNT(*) FROM jobs WHERE status = 'running' AND attempts = 2")
                   == [(len(ids),)], 10 * lease_s + 30, 0.05)
        return {"lease_s": lease_s, "jobs": len(ids), "reclaimed_after_s": round(time.monotonic() - killed, 2)}
    finally:
        for job_id in ids:
            survivor.client(key).post(f"/v1/jobs/{job_id}/cancel")
        survivor.stop()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=4)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--lease", type=float, default=3.0)
    args = parser.parse_args()
    report: dict[str, object] = {}
    with tempfile.TemporaryDirectory() as tmp, PostgresServer.start() as postgres, TritonProcess.start(
        models=["echo"], log_path=Path(tmp) / "triton.log"
    ) as triton:
        work = Path(tmp)
        triton.wait_ready(120)
        # One account submits hundreds of jobs a second here: lift its fair-share queue cap (a 429 past it).
        base = {"PHONOS_MODELS": "echo", "PHONOS_USAGE_FLUSH_INTERVAL_S": "0.5",
                "PHONOS_MAX_QUEUED_PER_ACCOUNT": str(10**9)}
        setups: list[tuple[str, int, dict[str, str]]] = [("sqlite", 1, {})]
        for count in (1, 2, 4):
            setups.append((f"postgres x{count}", count, {"PHONOS_DATABASE_URL": postgres.new_store_url(f"bench{count}")}))
        for name, count, env in setups:
            services = [ServiceProcess.start(work / name.replace(" ", ""), triton.grpc_url, {**base, **env})
                        for _ in range(count)]
            try:
                report[name] = measure(services, args.seconds, args.connections, work)
            finally:
                for service in services:
                    service.stop()
            print(name, report[name], file=sys.stderr, flush=True)
        report["reclaim"] = reclaim(postgres, triton, work, args.lease)
    report["connections"] = args.connections
    report["seconds_per_phase"] = args.seconds
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
