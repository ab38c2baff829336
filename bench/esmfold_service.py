"""ESMFold through the whole service against the same model called in this process, side by side.

    PYTHONPATH=.:triton_models .venv/bin/python bench/esmfold_service.py [--length 60] [--jobs 12] [--concurrent 20]
        [--file-workers 0 1] [--wait watch|poll]

Starts a real tritonserver (the `esmfold` model as configured in triton_models/esmfold) and a real
`python -m jobservice` (REST gateway in process), and builds the same weights here (PHONOS_ESMFOLD_*
environment, default the tiny random model, the same torch threads per instance). Then, one run:

1. service path overhead, sequential jobs of `--length` aa (the API's defaults: 4 recycles,
   chunk 128): each job is folded here first (bare `fold()`, then the result files the model builds),
   then submitted through REST; the service time is the job's own `completed_at - created_at`
   (server-side stamps, millisecond precision), so client polling does not count. Prints p50 of each
   and the overhead over the bare fold (aim: at most 10 % for 60 aa), with the job's stage timings,
   and the overhead over the job's own forward pass as Triton ran it (`fold_s` in its metadata), then
   where a job's time goes (queue, forward pass, result files, file-worker wait, rest of the Triton
   call, storage) beside the bare result files and the part of them that is the two PNG plots.
2. throughput: `--concurrent` jobs submitted at once through the service (Triton batches them)
   against folding the same sequences one by one here; the ratio of the two wall times.

`--file-workers 0 1` runs one tritonserver + job service per PHONOS_ESMFOLD_FILE_WORKERS value (0: the
result files are built inside the model instance; 1: in a worker process beside the next forward pass),
all started at once: each sequential job is sent to every setup in turn, and the concurrent bursts
follow one another, so the settings are compared side by side in one run. Default: the config's.

`--baseline DIR` adds the same setups served from another checkout's model repository (DIR/triton_models,
e.g. `git archive main | tar -x -C DIR`: its model.py imports its own packages), named `baseline_...`:
old model code against new in one run, through this checkout's job service and against the same bare fold.
"""

from __future__ import annotations

import argparse
import contextlib
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


TERMINAL = ("completed", "failed", "cancelled")
WAIT = {"mode": "watch"}  # --wait: how the client learns that a job is done


def wait_done(client: ApiClient, job_id: str, timeout_s: float = 600) -> dict[str, Any]:
    """The finished job. `watch`: one SSE stream (GET /v1/jobs/{id}/events) until a terminal state event,
    as a client would wait, costing the service nothing while the job runs; `poll`: GET every 20 ms, which
    keeps the gateway and job service busy beside the fold on a small machine."""
    if WAIT["mode"] == "watch":
        url = f"{client.base_url}/v1/jobs/{job_id}/events"
        with client.session.get(url, stream=True, timeout=timeout_s) as stream:
            for line in stream.iter_lines(decode_unicode=True):
                if line and line.startswith("data: "):
                    event = json.loads(line[len("data: "):])
                    if event.get("type") == "state" and event.get("job", {}).get("status") in TERMINAL:
                        break
        job = client.get(f"/v1/jobs/{job_id}").json()
    else:
        deadline = time.monotonic() + timeout_s
        while (job := client.get(f"/v1/jobs/{job_id}").json())["status"] not in TERMINAL:
            if time.monotonic() > deadline:
                raise TimeoutError(job_id)
            time.sleep(0.02)
    if job["status"] != "completed":
        raise RuntimeError(f"job {job_id} {job['status']}: {job.get('error')}")
    return job


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
        model_result(result, self.loaded.weights, self.loaded.instance)
        return folded - started, time.perf_counter() - folded

    def plots(self, sequence: str) -> float:
        """Seconds to draw the two PNGs of one fold (the plots' part of the result files)."""
        from phonos_models.esmfold.files import plot_files
        from phonos_models.esmfold.predict import fold

        [result] = fold(self.loaded.model, [self.job(sequence)])
        started = time.perf_counter()
        plot_files(result, self.loaded.weights)
        return time.perf_counter() - started


def overhead(bare: Bare, clients: dict[str, ApiClient], sequences: list[str]) -> dict[str, Any]:
    folds, files = [], []
    service: dict[str, list[float]] = {name: [] for name in clients}
    stages: dict[str, list[dict[str, float]]] = {name: [] for name in clients}
    for sequence in sequences:
        fold_s, files_s = bare.fold(sequence)
        folds.append(fold_s)
        files.append(files_s)
        for name, client in clients.items():  # the same job through every setup, one after another
            job = wait_done(client, client.predict(sequence, params={"num_recycles": RECYCLES}).json()["job_id"])
            service[name].append(stamp(job["completed_at"]) - stamp(job["created_at"]))
            stages[name].append(job["metadata"]["timings"])
    p50 = statistics.median
    fold_p50 = p50(folds)
    fold_files_p50 = p50([a + b for a, b in zip(folds, files, strict=True)])
    report: dict[str, Any] = {"jobs": len(sequences), "bare_fold_p50_s": round(fold_p50, 4),
                              "bare_fold_plus_files_p50_s": round(fold_files_p50, 4),
                              "bare_files_p50_s": round(p50(files), 4),
                              "bare_plots_p50_s": round(p50([bare.plots(s) for s in sequences[:5]]), 4)}
    for name in clients:
        times, timings = service[name], stages[name]
        service_p50 = p50(times)
        report[name] = {
            "service_created_to_completed_p50_s": round(service_p50, 4),
            "stage_p50_s": {k: round(p50([s.get(k, 0.0) for s in timings]), 4) for k in (
                "queued_s", "triton_call_s", "fold_s", "files_s", "files_wait_s", "store_s", "service_total_s")},
            "overhead_vs_bare_fold": round(service_p50 / fold_p50 - 1, 3),
            "overhead_vs_fold_plus_files": round(service_p50 / fold_files_p50 - 1, 3),
            # The same job's forward pass as Triton's instance ran it (metadata fold_s): what the service path
            # adds around the fold, free of the difference between this process and the Triton stub.
            "overhead_vs_its_own_fold_p50": round(p50([t / s["fold_s"] - 1 for t, s in zip(times, timings, strict=True)]), 3),
            # ... in seconds: what the service path adds around the job's own forward pass. Steadier than the ratios
            # on a shared machine, where the same fold's time varies by tens of per cent between processes.
            "added_to_its_own_fold_p50_s": round(p50([t - s["fold_s"] for t, s in zip(times, timings, strict=True)]), 4),
            # ... and around the model's whole work for the job (forward pass + building its result files).
            "overhead_vs_its_own_fold_and_files_p50": round(
                p50([t / (s["fold_s"] + s["files_s"]) - 1 for t, s in zip(times, timings, strict=True)]), 3),
        }
    return report


def throughput(bare: Bare, clients: dict[str, ApiClient], sequences: list[str]) -> dict[str, Any]:
    started = time.perf_counter()
    for sequence in sequences:
        bare.fold(sequence)
    in_process_s = time.perf_counter() - started
    report: dict[str, Any] = {"jobs": len(sequences), "one_by_one_in_process_s": round(in_process_s, 3)}
    for name, client in clients.items():
        started = time.perf_counter()
        ids = [client.predict(s, params={"num_recycles": RECYCLES}).json()["job_id"] for s in sequences]
        jobs = [wait_done(client, job_id) for job_id in ids]
        service_s = time.perf_counter() - started
        report[name] = {
            "concurrent_through_service_s": round(service_s, 3),
            "service_vs_in_process": round(in_process_s / service_s, 3),
            "jobs_per_s": round(len(sequences) / service_s, 2),
            "mean_batch_size": round(statistics.fmean(j["metadata"]["batch_size"] for j in jobs), 2),
        }
    return report


def setup_name(workers: int | None, baseline: bool = False) -> str:
    name = "config" if workers is None else ("files_in_instance" if workers == 0 else f"file_workers_{workers}")
    return f"baseline_{name}" if baseline else name


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--length", type=int, default=60)
    parser.add_argument("--jobs", type=int, default=12, help="sequential jobs for the overhead")
    parser.add_argument("--concurrent", type=int, default=20, help="jobs submitted at once for the throughput")
    parser.add_argument("--file-workers", type=int, nargs="*", default=[],
                        help="PHONOS_ESMFOLD_FILE_WORKERS values to compare side by side (default: the config's)")
    parser.add_argument("--wait", choices=["watch", "poll"], default="watch",
                        help="how the client waits for a job: an SSE watch stream, or GET every 20 ms")
    parser.add_argument("--baseline", type=Path, help="another checkout whose triton_models to serve beside this one's")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    WAIT["mode"] = args.wait
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # unwind: stop the processes started here
    rng = random.Random(0)

    def sequence() -> str:
        return "".join(rng.choice(AMINO_ACIDS) for _ in range(args.length))

    workers_list: list[int | None] = list(args.file_workers) or [None]
    repositories = [(False, REPO / "triton_models")] + ([(True, args.baseline / "triton_models")] if args.baseline else [])
    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as stack:
        clients: dict[str, ApiClient] = {}
        for (baseline, repository), workers in [(r, w) for r in repositories for w in workers_list]:
            name = setup_name(workers, baseline)
            env = dict(os.environ) | ({} if workers is None else {"PHONOS_ESMFOLD_FILE_WORKERS": str(workers)})
            triton = stack.enter_context(TritonProcess.start(repository, models=["esmfold"], env=env,
                                                             log_path=Path(tmp) / f"triton_{name}.log"))
            triton.wait_ready(300)
            service = ServiceProcess.start(Path(tmp) / f"var_{name}", triton.grpc_url, {"PHONOS_MODELS": "esmfold"})
            stack.callback(service.stop)
            clients[name] = service.client(service.new_key(credits=10**9, rate_limit=10**9))
        bare = Bare()
        bare.fold(sequence())  # warm-up on every side
        for client in clients.values():
            wait_done(client, client.predict(sequence()).json()["job_id"])
        report = {
            "length_aa": args.length, "num_recycles": RECYCLES, "weights": bare.loaded.weights.name, "wait": args.wait,
            "torch_threads": bare.settings.num_threads, "setups": list(clients),
            "service_path": overhead(bare, clients, [sequence() for _ in range(args.jobs)]),
            "throughput": throughput(bare, clients, [sequence() for _ in range(args.concurrent)])
            if args.concurrent > 0 else {"jobs": 0},  # --concurrent 0: the service path only
        }
    print(json.dumps(report, indent=2))
    path, tput = report["service_path"], report["throughput"]
    print(f"{args.length} aa: bare fold p50 {path['bare_fold_p50_s']:.3f} s, bare fold + files "
          f"{path['bare_fold_plus_files_p50_s']:.3f} s (files {path['bare_files_p50_s']:.3f} s, of which the "
          f"two PNGs {path['bare_plots_p50_s']:.3f} s)")
    for name in clients:
        one = path[name]
        many = tput.get(name)
        burst = (f"{tput['jobs']} concurrent jobs {many['jobs_per_s']:.2f} jobs/s, "
                 f"{many['service_vs_in_process']:.2f}x the throughput of one by one in process "
                 f"(mean batch {many['mean_batch_size']})") if many else "no concurrent burst"
        print(f"  {name}: through the service {one['service_created_to_completed_p50_s']:.3f} s: "
              f"{one['overhead_vs_bare_fold'] * 100:+.1f} % over the bare fold "
              f"({one['overhead_vs_fold_plus_files'] * 100:+.1f} % over fold + files; "
              f"{one['overhead_vs_its_own_fold_p50'] * 100:+.1f} % over the job's own fold in Triton, i.e. "
              f"{one['added_to_its_own_fold_p50_s'] * 1000:.0f} ms added to it, "
              f"{one['overhead_vs_its_own_fold_and_files_p50'] * 100:+.1f} % over its fold + files there); {burst}")
        stage = one["stage_p50_s"]
        rest = stage["triton_call_s"] - stage["fold_s"] - stage["files_s"] - stage["files_wait_s"]
        print(f"    where a job's time goes (p50): queued {stage['queued_s']:.3f} s, forward pass {stage['fold_s']:.3f} s, "
              f"result files {stage['files_s']:.3f} s, waiting for a file worker {stage['files_wait_s']:.3f} s, "
              f"rest of the Triton call {rest:.3f} s, storing the files {stage['store_s']:.3f} s; "
              f"service path / bare fold = {one['service_created_to_completed_p50_s'] / path['bare_fold_p50_s']:.2f}x")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
