"""ESMFold through the whole service against the same model called in this process, side by side.

    PYTHONPATH=.:triton_models .venv/bin/python bench/esmfold_service.py [--length 60] [--jobs 12] [--concurrent 20]

Starts a real tritonserver (the `esmfold` model as configured in triton_models/esmfold) and a real
`python -m jobservice` (REST gateway in process), and builds the same weights here (PHONOS_ESMFOLD_*
environment, default the tiny random model, the same torch threads per instance). Then, one run:

1. service path overhead, sequential jobs of `--length` aa (the API's defaults: 4 recycles,
   chunk 128): each job is folded here first (bare `fold()`, then the result files the model builds),
   then submitted through REST; the service time is the job's own `completed_at - created_at`
   (server-side stamps, millisecond precision), so client polling does not count. Prints p50 of each
   and the overhead over the bare fold (aim: at most 10 % for 60 aa), with the job's stage timings,
   and the overhead over the job's own forward pass as Triton ran it (`fold_s` in its metadata).
2. throughput: `--concurrent` jobs submitted at once through the service (Triton batches them)
   against folding the same sequences one by one here; the ratio of the two wall times.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import statistics
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "triton_models")]

from launcher.triton import TritonProcess  # noqa: E402
from tests.support import ApiClient, ServiceProcess  # noqa: E402

AMINO_ACIDS = "ACDEFGHIKLMNPQRSTVWY"
RECYCLES = 4  # the API's default
CHUNK = 128  # the API's default


def stamp(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


def wait_done(client: ApiClient, job_id: str, timeout_s: float = 600) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        job = client.get(f"/v1/jobs/{job_id}").json()
        if job["status"] in ("completed", "failed", "cancelled"):
            if job["status"] != "completed":
                raise RuntimeError(f"job {job_id} {job['status']}: {job.get('error')}")
            return job
        time.sleep(0.02)
    raise TimeoutError(job_id)


class Bare:
    """The model the service runs, in this process."""

    def __init__(self) -> None:
        import torch
        from phonos_models.esmfold.loading import load_model

        from phonos_config.esmfold import EsmFoldSettings

        self.settings = EsmFoldSettings.from_env(os.environ)
        torch.set_num_threads(self.settings.num_threads)
        s = self.settings
        self.loaded = load_model(s.weights_dir, s.tiny_seed, "cpu", s.random_architecture)

    def job(self, sequence: str) -> Any:
        from phonos_models.esmfold.batching import make_job

        s = self.settings
        return make_job(sequence, RECYCLES, CHUNK, max_length=s.max_length, auto_chunk_length=s.auto_chunk_length,
                        auto_chunk_size=s.auto_chunk_size, max_chains=s.max_chains)

    def fold(self, sequence: str) -> tuple[float, float]:
        """(fold seconds, result-file seconds) for one sequence."""
        from phonos_models.esmfold.files import model_result
        from phonos_models.esmfold.predict import fold

        started = time.perf_counter()
        [result] = fold(self.loaded.model, [self.job(sequence)])
        folded = time.perf_counter()
        model_result(result, self.loaded.weights, self.loaded.load_s)
        return folded - started, time.perf_counter() - folded


def overhead(bare: Bare, client: ApiClient, sequences: list[str]) -> dict[str, Any]:
    folds, files, service, stages = [], [], [], []
    for sequence in sequences:
        fold_s, files_s = bare.fold(sequence)
        folds.append(fold_s)
        files.append(files_s)
        job = wait_done(client, client.predict(sequence, params={"num_recycles": RECYCLES}).json()["job_id"])
        service.append(stamp(job["completed_at"]) - stamp(job["created_at"]))
        stages.append(job["metadata"]["timings"])
    p50 = statistics.median
    fold_p50 = p50(folds)
    fold_files_p50 = p50([a + b for a, b in zip(folds, files, strict=True)])
    service_p50 = p50(service)
    return {
        "jobs": len(sequences),
        "bare_fold_p50_s": round(fold_p50, 4),
        "bare_fold_plus_files_p50_s": round(fold_files_p50, 4),
        "service_created_to_completed_p50_s": round(service_p50, 4),
        "stage_p50_s": {k: round(p50([s[k] for s in stages]), 4)
                        for k in ("queued_s", "triton_call_s", "fold_s", "files_s", "store_s", "service_total_s")},
        "overhead_vs_bare_fold": round(service_p50 / fold_p50 - 1, 3),
        "overhead_vs_fold_plus_files": round(service_p50 / fold_files_p50 - 1, 3),
        # The same job's forward pass as Triton's instance ran it (metadata fold_s): what the service path
        # adds around the fold, free of the difference between this process and the Triton stub.
        "overhead_vs_its_own_fold_p50": round(p50([t / s["fold_s"] - 1 for t, s in zip(service, stages, strict=True)]), 3),
        # ... and around the model's whole work for the job (forward pass + building its result files).
        "overhead_vs_its_own_fold_and_files_p50": round(
            p50([t / (s["fold_s"] + s["files_s"]) - 1 for t, s in zip(service, stages, strict=True)]), 3),
    }


def throughput(bare: Bare, client: ApiClient, sequences: list[str]) -> dict[str, Any]:
    started = time.perf_counter()
    for sequence in sequences:
        bare.fold(sequence)
    in_process_s = time.perf_counter() - started
    started = time.perf_counter()
    ids = [client.predict(s, params={"num_recycles": RECYCLES}).json()["job_id"] for s in sequences]
    jobs = [wait_done(client, job_id) for job_id in ids]
    service_s = time.perf_counter() - started
    return {
        "jobs": len(sequences),
        "one_by_one_in_process_s": round(in_process_s, 3),
        "concurrent_through_service_s": round(service_s, 3),
        "service_vs_in_process": round(in_process_s / service_s, 3),
        "mean_batch_size": round(statistics.fmean(j["metadata"]["batch_size"] for j in jobs), 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--length", type=int, default=60)
    parser.add_argument("--jobs", type=int, default=12, help="sequential jobs for the overhead")
    parser.add_argument("--concurrent", type=int, default=20, help="jobs submitted at once for the throughput")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # unwind: stop the processes started here
    rng = random.Random(0)

    def sequence() -> str:
        return "".join(rng.choice(AMINO_ACIDS) for _ in range(args.length))

    with tempfile.TemporaryDirectory() as tmp, TritonProcess.start(
        models=["esmfold"], log_path=Path(tmp) / "triton.log"
    ) as triton:
        triton.wait_ready(300)
        service = ServiceProcess.start(Path(tmp) / "var", triton.grpc_url, {"PHONOS_MODELS": "esmfold"})
        try:
            client = service.client(service.new_key(credits=10**9, rate_limit=10**9))
            bare = Bare()
            bare.fold(sequence())  # warm-up on both sides
            wait_done(client, client.predict(sequence()).json()["job_id"])
            report = {
                "length_aa": args.length, "num_recycles": RECYCLES, "weights": bare.loaded.weights.name,
                "torch_threads": bare.settings.num_threads,
                "service_path": overhead(bare, client, [sequence() for _ in range(args.jobs)]),
                "throughput": throughput(bare, client, [sequence() for _ in range(args.concurrent)]),
            }
        finally:
            service.stop()
    print(json.dumps(report, indent=2))
    path, tput = report["service_path"], report["throughput"]
    print(f"{args.length} aa: bare fold p50 {path['bare_fold_p50_s']:.3f} s, through the service "
          f"{path['service_created_to_completed_p50_s']:.3f} s: {path['overhead_vs_bare_fold'] * 100:+.1f} % "
          f"({path['overhead_vs_fold_plus_files'] * 100:+.1f} % over fold + files; "
          f"{path['overhead_vs_its_own_fold_p50'] * 100:+.1f} % over the job's own fold in Triton, "
          f"{path['overhead_vs_its_own_fold_and_files_p50'] * 100:+.1f} % over its fold + files there); "
          f"{tput['jobs']} concurrent jobs "
          f"through the service {tput['service_vs_in_process']:.2f}x the throughput of one by one in process "
          f"(mean batch {tput['mean_batch_size']})")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
