"""What the Triton shared-memory guard (launcher/shm_guard.py) costs while idle, and how long a new region stays
readable by others, woken by inotify against a look every 20 ms, side by side in one run.

    python bench/shm_guard_window.py [--regions 40] [--idle-s 10] [--others 100]

For each mode a guard watches /dev/shm for this run's own prefix (as `phonos serve`'s does for its Triton), with
`--others` files of another prefix there (as other programs' semaphores and regions are). Idle: the process's CPU
seconds over `--idle-s` with nothing created (a ratio of one core). Window: `--regions` files created 0644 one
after another, each timed from its creation until a tight loop here sees it 0600 (the loop itself keeps one core
busy, so the figures are an upper bound on a quiet host). Printed: the idle CPU share, and the window's median and
maximum in milliseconds. Every file it made is removed.
"""

from __future__ import annotations

import argparse
import os
import resource
import secrets
import stat
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO)]

from launcher.shm_guard import RegionGuard  # noqa: E402

SHM = Path("/dev/shm")


def cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def idle_share(guard: RegionGuard, idle_s: float) -> float:
    guard.start()
    time.sleep(0.5)  # its first look done
    before, started = cpu_s(), time.monotonic()
    time.sleep(idle_s)
    return (cpu_s() - before) / (time.monotonic() - started)


def windows(prefix: str, regions: int) -> list[float]:
    seen: list[float] = []
    for i in range(regions):
        path = SHM / f"{prefix}{i}"
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
        os.fchmod(fd, 0o644)  # as Boost.Interprocess does, whatever the umask
        made = time.perf_counter()
        os.close(fd)
        while stat.S_IMODE(os.stat(path).st_mode) & 0o077:
            if time.perf_counter() - made > 5:
                raise SystemExit(f"{path} still readable by others after 5 s")
        seen.append((time.perf_counter() - made) * 1000)
        time.sleep(0.05)
    return seen


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--regions", type=int, default=40)
    parser.add_argument("--idle-s", type=float, default=10.0)
    parser.add_argument("--others", type=int, default=100, help="files of another prefix in /dev/shm")
    args = parser.parse_args()
    run = secrets.token_hex(4)
    others = [SHM / f"phonos_bench_other_{run}_{i}" for i in range(args.others)]
    for path in others:
        path.write_bytes(b"\0")
    try:
        print(f"/dev/shm: {len(os.listdir(SHM))} entries; load average {os.getloadavg()[0]:.2f}")
        for name, inotify in (("poll every 20 ms", False), ("inotify", True)):
            prefix = f"phonos_bench_{run}_{'i' if inotify else 'p'}_"
            guard = RegionGuard(SHM, prefix, inotify=inotify)
            try:
                share = idle_share(guard, args.idle_s)
                window = windows(prefix, args.regions)
            finally:
                guard.stop()
                for path in SHM.glob(f"{prefix}*"):
                    path.unlink()
            print(f"{name:17s} idle CPU {share * 100:5.2f}% of a core; a region readable by others for "
                  f"{statistics.median(window):6.2f} ms median, {max(window):6.2f} ms max ({args.regions} regions)")
    finally:
        for path in others:
            path.unlink(missing_ok=True)


if __name__ == "__main__":
    main()
