"""Ctrl-C of `phonos serve`, timed line by line: where the stop's seconds go between the launcher, the job service and
Triton (README, "Ctrl-C ... Triton stopped (N s)").

    python bench/serve_stop.py [--models esmfold,alphafold2,diffdock] [--repeats 3] [--checkout LABEL=DIR ...]

Each run starts `phonos serve` on free ports with a fresh data directory, waits for its banner, sends SIGINT (as
Ctrl-C does) and notes when each line of its output arrives and when it exits. Printed per run, in seconds from the
SIGINT: the job service's last line, when its process is gone (the launcher waits for it before it signals Triton),
"stopping Triton", "Triton stopped (N s)" and the launcher's exit; then the median of the totals and of Triton's own
figure. Bench bench/triton_stop.py breaks Triton's part down further.

`--checkout LABEL=DIR` (repeatable) runs another source tree's `phonos serve` (e.g. main's, `git archive main | tar -x
-C DIR`) with the same interpreter, its runs interleaved with the others' so a busy spell of a shared host falls on
each alike; then each checkout's medians side by side, the job service's exit after its last line, the launcher's
"stopping Triton" after the job service's exit and its own exit after "Triton stopped" among them. Without it: this
checkout only.

The job service's exit is seen by a pidfd (exact), not by polling. Measured with it (esmfold, 4 runs each, a shared
2-core host at load 8-17): the launcher's own waits for its children (subprocess.Popen.wait, which polls) cost
nothing worth a change: "stopping Triton" 0.01 s (median) after the job service was gone, and its exit 0.02 s after
"Triton stopped"; a pidfd wait in the launcher (tried) gave 0.01 s and 0.03 s.
"""

from __future__ import annotations

import argparse
import os
import re
import select
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO)]

from launcher.ports import free_port  # noqa: E402


def exit_seen(pid: int) -> float:
    """When process `pid` (not ours: the launcher's child) exits, to the kernel's word (a pidfd turns readable)."""
    try:
        fd = os.pidfd_open(pid)
    except OSError:  # gone already
        return time.monotonic()
    try:
        select.select([fd], [], [])
        return time.monotonic()
    finally:
        os.close(fd)


def stop_once(models: str, data_dir: Path, checkout: Path = REPO) -> dict[str, float]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("PHONOS_")}
    path = os.pathsep.join(str(checkout / part) for part in ("", "triton_models", "clients/python"))
    popen = subprocess.Popen(
        [sys.executable, "-m", "launcher.cli", "serve", "--data-dir", str(data_dir), "--http-port", str(free_port()),
         "--grpc-port", str(free_port()), "--metrics-port", str(free_port())],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=checkout,
        env={**clean, "PHONOS_MODELS": models, "PYTHONPATH": path})
    lines: list[tuple[float, str]] = []
    bannered = threading.Event()

    def read() -> None:
        assert popen.stdout is not None
        for line in popen.stdout:
            lines.append((time.monotonic(), line.rstrip()))
            if line.startswith("weights:"):
                bannered.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        if not bannered.wait(900):
            raise SystemExit("no banner within 900 s:\n" + "\n".join(text for _, text in lines[-30:]))
        jobs_pid = int(next(m.group(1) for _, text in lines if (m := re.search(r"job service:\s+pid (\d+)", text))))
        time.sleep(2.0)
        load = os.getloadavg()[0]
        gone_at: list[float] = []
        watcher = threading.Thread(target=lambda: gone_at.append(exit_seen(jobs_pid)), daemon=True)
        watcher.start()
        began = time.monotonic()
        popen.send_signal(signal.SIGINT)
        popen.wait()
        total = time.monotonic() - began
        watcher.join(10)
        jobs_gone = gone_at[0] - began if gone_at else None
        reader.join(10)
    finally:
        if popen.poll() is None:
            popen.kill()
            popen.wait()
    after = [(at - began, text) for at, text in lines if at >= began]
    said = {key: next((at for at, text in after if pattern in text), None) for key, pattern in (
        ("job service stopped (its last line)", "job service stopped"),
        ("stopping Triton", "stopping Triton"),
        ("Triton stopped", "Triton stopped ("))}
    triton = next((float(m.group(1)) for _, text in after if (m := re.match(r"Triton stopped \((\d+\.\d) s\)", text))),
                  float("nan"))
    print(f"\nrun ({checkout}): Ctrl-C to exit {total:.2f} s, Triton's own figure {triton:.1f} s (load average {load:.2f})")
    events = [*said.items(), ("job service process gone", jobs_gone), ("launcher exited", total)]
    for what, at in sorted(events, key=lambda item: float("inf") if item[1] is None else item[1]):
        print(f"  {'-' if at is None else f'{at:6.2f}'} s  {what}")
    nan = float("nan")
    last_line, tritons_end = said["job service stopped (its last line)"], said["Triton stopped"]
    stopping_triton = said["stopping Triton"]
    return {"Ctrl-C to exit": total, "Triton's own figure": triton,
            "job service: last line to gone": nan if last_line is None or jobs_gone is None else jobs_gone - last_line,
            # How late the launcher sees the job service gone (its wait for the process), then signals Triton.
            "launcher: job service gone to stopping Triton": nan if jobs_gone is None or stopping_triton is None
            else stopping_triton - jobs_gone,
            "launcher: Triton stopped to exit": nan if tritons_end is None else total - tritons_end}


def checkouts(given: list[str]) -> dict[str, Path]:
    if not given:
        return {"this": REPO}
    found = {}
    for item in given:
        label, _, where = item.partition("=")
        if not where:
            raise SystemExit(f"--checkout {item}: say LABEL=DIR")
        found[label] = Path(where).resolve()
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default="esmfold,alphafold2,diffdock")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--checkout", action="append", default=[], metavar="LABEL=DIR",
                        help="a source tree to run (repeatable; default: this one)")
    args = parser.parse_args()
    trees = checkouts(args.checkout)
    runs: dict[str, list[dict[str, float]]] = {label: [] for label in trees}
    for _ in range(args.repeats):
        for label, tree in trees.items():  # interleaved: a busy spell of the host falls on each alike
            with tempfile.TemporaryDirectory(prefix="serve-stop-") as data_dir:
                runs[label].append(stop_once(args.models, Path(data_dir) / "var", tree))
    print()
    for figure in runs[next(iter(runs))][0]:
        for label, measured in runs.items():
            values = [run[figure] for run in measured]
            print(f"{figure} ({label}): median {statistics.median(values):.2f} s, runs "
                  f"{', '.join(f'{v:.2f}' for v in values)}")


if __name__ == "__main__":
    main()
