"""Where a graceful stop of tritonserver spends its time (`phonos serve`'s "Triton stopped (N s)").

    python bench/triton_stop.py [--models esmfold,alphafold2,diffdock] [--repeats 3] [--checkout DIR]

DIR holds a `triton_models/` tree to run instead of this checkout's (an older version to compare against comes
from `git archive <rev> triton_models phonos_config | tar -x -C DIR`; each model.py puts its own checkout's
packages first on sys.path).

Each run starts one server with the models (as `phonos serve` does: launcher.triton.TritonProcess), waits until
they are ready, then stops it as `phonos serve` does (`TritonProcess.stop`: SIGTERM to its process group, SIGKILL
after STOP_TIMEOUT_S) while a thread notes, every 20 ms, when each process of the group is gone: the server, each
model's python-backend stub (named by the model it serves) and whatever the stubs started (file workers, the
relax and ligand-embedding processes). The server's log adds when Triton saw each model unloaded. Printed per
run, in seconds from the SIGTERM: each model's "unloaded", each process's exit, the total, and any /dev/shm file
(python-backend region, multiprocessing semaphore) of the server's left behind; then the median of the totals.
The load average is printed beside each run (2 shared cores: a busy host stretches every figure).
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import sys
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO)]

from launcher.triton import DEFAULT_MODEL_REPOSITORY, SHM_DIR, TritonProcess  # noqa: E402

UNLOADED = re.compile(r"^I\d{4} (\d\d:\d\d:\d\d\.\d+) .*successfully unloaded '(\w+)'")


def group_processes(pgid: int) -> dict[int, str]:
    """pid -> a short name for every live process of process group `pgid`."""
    found: dict[int, str] = {}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
            if int(fields[2]) != pgid or fields[0] == "Z":
                continue
            argv = (proc / "cmdline").read_bytes().split(b"\0")
        except (OSError, ValueError, IndexError):
            continue
        words = [a.decode(errors="replace") for a in argv if a]
        if not words:
            continue
        program = Path(words[0]).name
        if program == "triton_python_backend_stub":
            model = Path(words[1]).parent.parent.name if len(words) > 1 else "?"
            found[int(proc.name)] = f"stub {model}"
        elif program == "tritonserver":
            found[int(proc.name)] = "tritonserver"
        else:
            found[int(proc.name)] = f"{program} {' '.join(words[1:3])}"[:60]
    return found


def stop_once(repository: Path, models: list[str], log_dir: Path) -> float:
    log_path = log_dir / f"triton-{time.time_ns()}.log"
    process = TritonProcess.start(repository, models=models, log_path=log_path)
    process.wait_ready(timeout_s=600)
    time.sleep(1.0)  # let the model processes settle (warm-ups, file workers)
    names = group_processes(process.process.pid)
    mapped = process.shm_files()  # shm regions and multiprocessing semaphores: none should outlive the stop
    gone: dict[int, float] = {}
    watching = threading.Event()
    watching.set()

    def watch(began: float) -> None:
        while watching.is_set() and len(gone) < len(names):
            live = set(group_processes(process.process.pid))
            for pid in names:
                if pid not in live and pid not in gone:
                    gone[pid] = time.monotonic() - began
            time.sleep(0.02)

    load = os.getloadavg()[0]
    print(f"\nSIGTERM at epoch {time.time():.3f}; log {log_path}")
    began = time.monotonic()
    began_wall = datetime.now()
    watcher = threading.Thread(target=watch, args=(began,), daemon=True)
    watcher.start()
    process.stop()
    total = time.monotonic() - began
    watching.clear()
    watcher.join()
    live = set(group_processes(process.process.pid))
    gone.update({pid: total for pid in names if pid not in live and pid not in gone})  # between the last look and now
    print(f"\nrun: stop took {total:.2f} s (load average {load:.2f} at the SIGTERM)")
    for line in log_path.read_text(errors="replace").splitlines():
        match = UNLOADED.match(line)
        if match:
            at = datetime.combine(began_wall.date(), datetime.strptime(match.group(1), "%H:%M:%S.%f").time())
            print(f"  {(at - began_wall).total_seconds():6.2f} s  Triton: unloaded {match.group(2)}")
    for pid, seconds in sorted(gone.items(), key=lambda item: item[1]):
        print(f"  {seconds:6.2f} s  exited: {names[pid]} (pid {pid})")
    for pid in names.keys() - gone.keys():
        print(f"     -     still there: {names[pid]} (pid {pid})")
    left = sorted(name for name in mapped if (SHM_DIR / name).exists())
    print(f"  /dev/shm files of the server left after the stop: {left or 'none'} (of {len(mapped)})")
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default="esmfold,alphafold2,diffdock")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--checkout", type=Path, help="a directory whose triton_models/ to run (default: this one)")
    parser.add_argument("--log-dir", type=Path, help="keep the servers' logs there (default: a temporary directory)")
    args = parser.parse_args()
    models = [m for m in args.models.split(",") if m]
    with tempfile.TemporaryDirectory(prefix="triton-stop-") as scratch:
        log_dir = args.log_dir or Path(scratch)
        log_dir.mkdir(parents=True, exist_ok=True)
        repository = DEFAULT_MODEL_REPOSITORY if args.checkout is None else args.checkout.resolve() / "triton_models"
        totals = [stop_once(repository, models, log_dir) for _ in range(args.repeats)]
    print(f"\nstop: median {statistics.median(totals):.2f} s, runs {', '.join(f'{t:.2f}' for t in totals)}")


if __name__ == "__main__":
    main()
