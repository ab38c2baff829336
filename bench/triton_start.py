"""Time to READY of one tritonserver serving some models, for one or more checkouts side by side.

    python bench/triton_start.py [--models esmfold,echo] [--repeats 3] [CHECKOUT ...]

Each CHECKOUT is a directory holding a `triton_models/` tree (default: this one); an older version to
compare against comes from `git archive <rev> | tar -x -C DIR`. Each model.py puts its own checkout's
packages first on sys.path, so each tree runs its own code. Runs alternate between checkouts (A B A B ...)
so machine load drifts hit both alike; the load average is printed beside every run, and the CPU seconds the
server's process group spent until ready (less sensitive to load than wall time). Every server is
reaped (SIGKILL of its process group, its shm regions and semaphores freed) once ready: only the start
is timed. Also prints any /dev/shm file the server's processes mapped that is still there after the reap
(should be none).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO)]

from launcher.triton import SHM_DIR, TritonProcess  # noqa: E402


def group_cpu_s(pgid: int) -> float:
    """CPU seconds (user + system) spent so far by the live processes of process group `pgid`: the server, its
    stubs and their workers. Less sensitive than wall time to what else the machine runs."""
    ticks = 0
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid:  # fields after the name: state, ppid, pgrp, ..., utime (12), stime (13)
            ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def start_once(repository: Path, models: list[str], log_dir: Path) -> tuple[float, float]:
    started = time.perf_counter()
    process = TritonProcess.start(repository, models=models, log_path=log_dir / f"triton-{time.time_ns()}.log")
    mapped: set[str] = set()
    try:
        process.wait_ready(timeout_s=300)
        seconds = time.perf_counter() - started
        cpu = group_cpu_s(process.process.pid)
        mapped = process.shm_files()
        return seconds, cpu
    finally:
        process.reap()
        left = [name for name in mapped if (SHM_DIR / name).exists()]
        if left:
            print(f"    its /dev/shm files left after reap: {sorted(left)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkouts", nargs="*", type=Path, default=[REPO])
    parser.add_argument("--models", default="esmfold,echo")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    models = args.models.split(",")
    times: dict[Path, list[float]] = {c: [] for c in args.checkouts}
    cpus: dict[Path, list[float]] = {c: [] for c in args.checkouts}
    with tempfile.TemporaryDirectory() as logs:
        for repeat in range(args.repeats):
            for checkout in args.checkouts:
                load = os.getloadavg()[0]
                seconds, cpu = start_once(checkout / "triton_models", models, Path(logs))
                times[checkout].append(seconds)
                cpus[checkout].append(cpu)
                print(f"run {repeat + 1} {checkout}: ready in {seconds:.2f} s, {cpu:.2f} s CPU (load {load:.2f})",
                      flush=True)
    for checkout, values in times.items():
        print(f"{checkout}: ready median {statistics.median(values):.2f} s, min {min(values):.2f} s "
              f"(runs {', '.join(f'{v:.2f}' for v in values)}); CPU median {statistics.median(cpus[checkout]):.2f} s "
              f"(runs {', '.join(f'{v:.2f}' for v in cpus[checkout])})")


if __name__ == "__main__":
    main()
