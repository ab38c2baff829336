"""Time from a Triton crash to an operational API again under `phonos serve` (issue 11).

    .venv/bin/python bench/triton_recovery.py [--kills 3] [--models esmfold]

Starts the real `phonos serve` (tiny weights), then `--kills` times: SIGKILL its tritonserver and
poll `/v1/health` every 50 ms. Prints, per kill, when the API first said degraded (503), when it
said operational (200) again, and whether valid requests (GET /v1/models with a key, polled at
the same time) were ever refused meanwhile: the API must keep answering through the restart.
The time splits into `phonos serve`'s restart backoff (PHONOS_RESTART_BACKOFF_S: 1 s for the first
crash, doubling per crash within the window), Triton's own start (model loading), and the job
service noticing that Triton is back (its gRPC channel reconnects with backoff); the second and
third are printed apart.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.serve_process import ServeProcess, health  # noqa: E402


def poll_models(base_url: str, key: str, stop: threading.Event, answers: Counter[int]) -> None:
    session = requests.Session()
    while not stop.is_set():
        try:
            answers[session.get(f"{base_url}/v1/models", headers={"Authorization": f"Bearer {key}"},
                                timeout=5).status_code] += 1
        except requests.RequestException:
            answers[0] += 1
        time.sleep(0.05)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kills", type=int, default=3)
    parser.add_argument("--models", default="esmfold")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        serve = ServeProcess(Path(tmp) / "var", PHONOS_MODELS=args.models, PHONOS_RESTART_MAX=str(args.kills + 1),
                             PHONOS_DEFAULT_RATE_LIMIT="100000")
        try:
            started = time.monotonic()
            base_url = serve.wait_for(r"REST gateway:\s+(http://\S+)/v1", 900).group(1)
            print(f"phonos serve ({args.models}) operational after {time.monotonic() - started:.1f} s")
            key = serve.find(r"API key .*: (pk_\S+)").group(1)
            triton_pid = int(serve.find(r"Triton ready:.*pid (\d+)").group(1))
            totals = []
            for kill in range(1, args.kills + 1):
                answers: Counter[int] = Counter()
                stop = threading.Event()
                poller = threading.Thread(target=poll_models, args=(base_url, key, stop, answers), daemon=True)
                poller.start()
                mark = len(serve.lines)
                killed_at = time.monotonic()
                os.kill(triton_pid, signal.SIGKILL)
                degraded_at = triton_ready_at = None
                while (status := health(base_url)) != (200, "operational") or degraded_at is None:
                    if status == (503, "degraded") and degraded_at is None:
                        degraded_at = time.monotonic()
                    if triton_ready_at is None and serve.find(r"tritonserver is ready again", mark):
                        triton_ready_at = time.monotonic()
                    if time.monotonic() - killed_at > 900:
                        raise TimeoutError("not operational again within 900 s")
                    time.sleep(0.05)
                back_at = time.monotonic()
                stop.set()
                poller.join(10)
                triton_pid = int(serve.wait_for(r"tritonserver is ready again .*\(pid (\d+)\)", 30, after=mark).group(1))
                totals.append(back_at - killed_at)
                triton_s = (triton_ready_at or back_at) - killed_at
                print(f"kill {kill}: degraded (503) after {degraded_at - killed_at:.2f} s; Triton restarted and "
                      f"ready after {triton_s:.1f} s; API operational (200) after {back_at - killed_at:.1f} s; "
                      f"GET /v1/models meanwhile: {dict(sorted(answers.items()))}")
            print(f"Triton SIGKILL -> operational again: median {statistics.median(totals):.1f} s, "
                  f"max {max(totals):.1f} s over {len(totals)} kills")
        finally:
            code = serve.stop()
        print(f"phonos serve stopped with status {code}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
