"""Dispatch under trouble, and one account against another (issue 11), optionally side by side with a baseline.

    .venv/bin/python bench/dispatch_hardening.py [--baseline DIR] [--jobs 200] [--window-s 2] [--blip-s 10]

Each figure is measured in process on the inference twin (tests.support.InProcessService: the real job service
and gateway on a real SQLite file, the twin instead of Triton), by the same script for each tree (`--baseline
DIR`: an earlier checkout, e.g. `git archive <commit> | tar -x -C /tmp/phonos-base`, measured in the same run):

* outage: the model server down with `--jobs` jobs waiting (8 in flight per model, the default) and a retry
  window of `--window-s`: seconds from the first submission until every job has failed (refunded), the
  spread between the first and the last failure, the attempts they used and the calls the server was sent;
* resume: the server down while 20 jobs wait for 10 s, then back: seconds from its return until every job
  has completed, and the attempts they used;
* storage: the results directory unusable for `--blip-s` s (a plain file where it goes: the service runs as
  root here, which a read-only mode would not stop) while 80 jobs finish: how many of them failed;
* flood: account A queues 60 jobs (0.1 s each, 2 in flight), then account B submits one: B's wait;
* lists: 40 AlphaFold2 jobs with a 2 MB A3M each: the median GET /v1/jobs?limit=40 (20 requests).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
SEQ = "MKTVRQERLKSIVRILERSKEPV"


def terminal(client: Any, ids: list[str], timeout_s: float) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout_s
    done: dict[str, dict[str, Any]] = {}
    while len(done) < len(ids) and time.monotonic() < deadline:
        for job_id in ids:
            if job_id not in done:
                job = client.get(f"/v1/jobs/{job_id}").json()
                if job["status"] in ("completed", "failed", "cancelled"):
                    done[job_id] = job
        time.sleep(0.05)
    return list(done.values())


def submit_many(client: Any, count: int, job: dict[str, Any] | None = None) -> list[str]:
    ids: list[str] = []
    while len(ids) < count:
        size = min(10, count - len(ids))
        answer = client.post("/v1/batch", json={"jobs": [job or {"model": "esmfold", "sequence": SEQ}] * size})
        ids += [r["job_id"] for r in answer.json()["results"]]
    return ids


def stamp(job: dict[str, Any]) -> float:
    """A terminal job's completion time (epoch s), from its ms ISO timestamp."""
    from datetime import datetime

    text = job.get("completed_at") or job["updated_at"]
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def outage(root: Path, jobs: int, window_s: float) -> dict[str, Any]:
    from tests.support import InProcessService

    service = InProcessService(root / "outage", {"PHONOS_TRITON_RETRY_WINDOW_S": str(window_s)})
    try:
        service.inference.available = False
        client = service.client(service.new_key(credits=10**6))
        started = time.monotonic()
        ids = submit_many(client, jobs)
        ended = terminal(client, ids, timeout_s=jobs * window_s + 60)
        seconds = time.monotonic() - started
        attempts = sum(r[0] for r in service.sql("SELECT attempts FROM jobs"))
        stamps = [stamp(j) for j in ended]
        return {"jobs": jobs, "window_s": window_s, "all_failed_s": round(seconds, 2),
                "failure_spread_s": round(max(stamps) - min(stamps), 2) if stamps else None,
                "failed": f"{sum(j['status'] == 'failed' for j in ended)}/{jobs}",
                "attempts_used": attempts, "calls_sent": len(service.inference.calls)}
    finally:
        service.stop()


def resume(root: Path) -> dict[str, Any]:
    from tests.support import InProcessService

    service = InProcessService(root / "resume", {"PHONOS_TRITON_RETRY_WINDOW_S": "120"})
    try:
        service.inference.available = False
        client = service.client(service.new_key(credits=10**6))
        ids = submit_many(client, 20)
        time.sleep(10.0)  # long enough for a per-job backoff to have grown to its cap
        back = time.monotonic()
        service.inference.available = True
        ended = terminal(client, ids, timeout_s=120)
        seconds = time.monotonic() - back
        attempts = sum(r[0] for r in service.sql("SELECT attempts FROM jobs"))
        return {"jobs": 20, "all_done_after_return_s": round(seconds, 2),
                "completed": f"{sum(j['status'] == 'completed' for j in ended)}/20", "attempts_used": attempts}
    finally:
        service.stop()


def storage(root: Path, blip_s: float) -> dict[str, Any]:
    from jobservice.memory_inference import Slow
    from tests.support import InProcessService

    service = InProcessService(root / "storage", {"PHONOS_MAX_INFLIGHT_PER_MODEL": "4"})
    try:
        service.inference.script("esmfold", *[Slow(0.1)] * 80)
        client = service.client(service.new_key(credits=10**6))
        results = service.data_dir / "results"
        shutil.rmtree(results, ignore_errors=True)
        results.write_text("not a directory")
        ids = submit_many(client, 80)
        time.sleep(blip_s)
        results.unlink()
        ended = terminal(client, ids, timeout_s=120)
        return {"jobs": 80, "blip_s": blip_s, "failed": f"{sum(j['status'] == 'failed' for j in ended)}/80",
                "completed": f"{sum(j['status'] == 'completed' for j in ended)}/80"}
    finally:
        service.stop()


def flood(root: Path) -> dict[str, Any]:
    from jobservice.memory_inference import Slow
    from tests.support import InProcessService

    service = InProcessService(root / "flood", {"PHONOS_MAX_INFLIGHT_PER_MODEL": "2"})
    try:
        service.inference.script("esmfold", *[Slow(0.1)] * 61)
        a, b = (service.client(service.new_key(credits=10**6)) for _ in range(2))
        backlog = submit_many(a, 60)
        time.sleep(0.2)
        started = time.monotonic()
        [job_id] = submit_many(b, 1)
        terminal(b, [job_id], timeout_s=120)
        waited = time.monotonic() - started
        behind = sum(1 for j in backlog if a.get(f"/v1/jobs/{j}").json()["status"] == "completed")
        terminal(a, backlog, timeout_s=120)
        return {"b_waited_s": round(waited, 2), "a_jobs_done_before_b": behind}
    finally:
        service.stop()


def lists(root: Path) -> dict[str, Any]:
    from tests.support import InProcessService

    service = InProcessService(root / "lists", {"PHONOS_MODELS": "alphafold2", "PHONOS_MAX_INFLIGHT_PER_MODEL": "1"})
    try:
        service.inference.available = False  # the jobs stay waiting; lists read them
        client = service.client(service.new_key(credits=10**6))
        a3m = f">query\n{SEQ}\n" + "".join(f">hit{i}\n{SEQ}\n" for i in range(60_000))  # ~2 MB
        job = {"model": "alphafold2", "sequence": SEQ, "params": {"a3m": a3m}}
        for _ in range(40):
            assert client.post("/v1/predict", json=job).status_code == 200
        timings = []
        for _ in range(20):
            started = time.perf_counter()
            page = client.get("/v1/jobs?limit=40")
            timings.append(time.perf_counter() - started)
            assert len(page.json()["jobs"]) == 40
        return {"a3m_mb": round(len(a3m) / 1e6, 1), "list_median_ms": round(statistics.median(timings) * 1000, 1)}
    finally:
        service.stop()


def child(jobs: int, window_s: float, blip_s: float) -> None:
    with tempfile.TemporaryDirectory(prefix="phonos-bench-") as tmp:
        root = Path(tmp)
        figures = {"outage": outage(root, jobs, window_s), "resume": resume(root), "storage": storage(root, blip_s),
                   "flood": flood(root), "lists": lists(root)}
    print(json.dumps(figures))


def measure(tree: Path, jobs: int, window_s: float, blip_s: float) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PHONOS_")}
    env["PYTHONPATH"] = f"{tree}{os.pathsep}{tree / 'triton_models'}"
    done = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--child", "--jobs", str(jobs),
                           "--window-s", str(window_s), "--blip-s", str(blip_s)],
                          cwd=tree, env=env, capture_output=True, text=True, timeout=3600)
    if done.returncode != 0:
        raise RuntimeError(f"{tree}: {done.stderr[-3000:]}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--baseline", type=Path, help="an earlier checkout, measured the same way in this run")
    parser.add_argument("--jobs", type=int, default=200)
    parser.add_argument("--window-s", type=float, default=2.0)
    parser.add_argument("--blip-s", type=float, default=10.0, help="how long the results directory is unusable")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.jobs, args.window_s, args.blip_s)
        return
    trees = [REPO] + ([args.baseline.resolve()] if args.baseline else [])
    for tree in trees:
        label = "this tree" if tree == REPO else f"baseline ({tree})"
        figures = measure(tree, args.jobs, args.window_s, args.blip_s)
        print(f"== {label}")
        for case, values in figures.items():
            print(f"  {case:8s} " + ", ".join(f"{k}={v}" for k, v in values.items()))


if __name__ == "__main__":
    main()
