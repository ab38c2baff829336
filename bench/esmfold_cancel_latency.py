"""ESMFold in-process: how long a fold keeps computing after a cancel, per-pass checks vs throttled checks.

    PYTHONPATH=.:triton_models .venv/bin/python bench/esmfold_cancel_latency.py [--quick] [--json out.json]

1. Cancel latency: a long fold of the tiny architecture with `--blocks` trunk blocks (the served tiny
   model has 1; esmfold_v1 has 48) at `--length` aa and `--passes` trunk passes, cancelled at each of
   `--cancel-at` seconds after it starts (spread over a pass), once with the checks at trunk pass starts
   only (`--per-pass-only` alone runs just that: the behaviour before phonos_models.esmfold.stopping) and
   once with the throttled checks (`stopping.STOP_CHECK_INTERVAL_S`). Printed: seconds from the cancel to
   the fold returning, and where it stopped.
2. Cost of the throttled checks on the served tiny model at `--short-length` aa (default 60, the service
   overhead bench's job), `--repeats` folds per mode taking turns: the median fold time each way and the
   number of `should_stop()` calls per fold (the cost that matters in Triton, ~0.4 ms each).

`should_stop()` here sleeps `--ask-ms` (default 0.4 ms, what one `is_cancelled()` round trip to
tritonserver costs) before reading an event the canceller sets, so both modes pay what Triton pays.
Timings only: the weights are random.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import threading
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "triton_models")]

import torch  # noqa: E402
from phonos_models.common.errors import Cancelled  # noqa: E402
from phonos_models.common.transformers_esm import EsmForProteinFolding  # noqa: E402
from phonos_models.esmfold.architecture import build_tiny_model  # noqa: E402
from phonos_models.esmfold.batching import FoldJob  # noqa: E402
from phonos_models.esmfold.predict import fold_batch  # noqa: E402
from phonos_models.esmfold.stopping import PER_PASS_ONLY, STOP_CHECK_INTERVAL_S  # noqa: E402

SEQUENCE = "MKTAYIAKQRQISFVKSHFSRQGSHMASMTGGQQMGRGSWLVEQ" * 25


class Canceller:
    """A should_stop that costs `ask_s` per call, like `is_cancelled()`, and turns true once `cancel()` ran."""

    def __init__(self, ask_s: float) -> None:
        self.ask_s = ask_s
        self.calls = 0
        self.cancelled_at: float | None = None
        self._event = threading.Event()

    def cancel(self) -> None:
        self.cancelled_at = time.perf_counter()
        self._event.set()

    def __call__(self) -> bool:
        self.calls += 1
        if self.ask_s:
            time.sleep(self.ask_s)
        return self._event.is_set()


def cancel_latency(model: EsmForProteinFolding, job: FoldJob, cancel_after_s: float, interval_s: float,
                   ask_s: float) -> dict[str, Any]:
    stop = Canceller(ask_s)
    timer = threading.Timer(cancel_after_s, stop.cancel)
    started = time.perf_counter()
    timer.start()
    where = "finished"
    try:
        fold_batch(model, [job], stop, check_interval_s=interval_s)
    except Cancelled as exc:
        where = str(exc)
    ended = time.perf_counter()
    timer.cancel()
    latency = None if stop.cancelled_at is None else ended - stop.cancelled_at
    return {"cancel_after_s": cancel_after_s, "latency_s": latency, "fold_s": ended - started, "where": where,
            "calls": stop.calls}


def fold_seconds(model: EsmForProteinFolding, job: FoldJob, interval_s: float, ask_s: float) -> tuple[float, int]:
    stop = Canceller(ask_s)
    started = time.perf_counter()
    fold_batch(model, [job], stop, check_interval_s=interval_s)
    return time.perf_counter() - started, stop.calls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--blocks", type=int, default=8, help="trunk blocks of the long fold's model")
    parser.add_argument("--length", type=int, default=200, help="residues of the long fold")
    parser.add_argument("--passes", type=int, default=3, help="trunk passes of the long fold")
    parser.add_argument("--cancel-at", type=float, nargs="+", default=[0.8, 1.6, 2.4],
                        help="seconds after the long fold starts at which it is cancelled")
    parser.add_argument("--per-pass-only", action="store_true", help="measure only the checks at pass starts")
    parser.add_argument("--short-length", type=int, default=60)
    parser.add_argument("--short-recycles", type=int, default=4, help="the service default: 5 trunk passes")
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--ask-ms", type=float, default=0.4, help="cost of one should_stop() call")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--quick", action="store_true", help="a shorter long fold and fewer repeats")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    if args.quick:
        args.length, args.repeats, args.cancel_at = 150, 6, [0.5, 1.0]
    torch.set_num_threads(args.threads)
    ask_s = args.ask_ms / 1000
    modes = {"per-pass only": PER_PASS_ONLY} if args.per_pass_only else {
        "per-pass only": PER_PASS_ONLY, f"throttled {STOP_CHECK_INTERVAL_S:g} s": STOP_CHECK_INTERVAL_S}
    figures: dict[str, Any] = {"args": {k: str(v) for k, v in vars(args).items()}, "latency": {}, "short": {}}

    deep = build_tiny_model(0, trunk_blocks=args.blocks).requires_grad_(False)
    long_job = FoldJob(SEQUENCE[: args.length], args.passes - 1, None)
    whole, _ = fold_seconds(deep, long_job, PER_PASS_ONLY, ask_s)
    print(f"long fold: tiny architecture, {args.blocks} trunk blocks, {args.length} aa, {args.passes} passes: "
          f"{whole:.2f} s uncancelled ({whole / args.passes:.2f} s a pass)", flush=True)
    for name, interval in modes.items():
        rows = [cancel_latency(deep, long_job, at, interval, ask_s) for at in args.cancel_at]
        figures["latency"][name] = rows
        for row in rows:
            print(f"  {name:>16}: cancelled at {row['cancel_after_s']:.1f} s -> returned {row['latency_s']:.2f} s "
                  f"later ({row['calls']} checks; {row['where']})", flush=True)
        print(f"  {name:>16}: mean {statistics.fmean(r['latency_s'] for r in rows):.2f} s, "
              f"max {max(r['latency_s'] for r in rows):.2f} s", flush=True)

    tiny = build_tiny_model(0).requires_grad_(False)
    short_job = FoldJob(SEQUENCE[: args.short_length], args.short_recycles, None)
    fold_seconds(tiny, short_job, PER_PASS_ONLY, ask_s)  # warm-up
    times: dict[str, list[float]] = {name: [] for name in modes}
    calls: dict[str, set[int]] = {name: set() for name in modes}
    for _ in range(args.repeats):  # the modes take turns, so the machine's load drifts over both alike
        for name, interval in modes.items():
            seconds, asked = fold_seconds(tiny, short_job, interval, ask_s)
            times[name].append(seconds)
            calls[name].add(asked)
    print(f"short fold: served tiny model, {args.short_length} aa, {args.short_recycles + 1} passes, "
          f"{args.repeats} folds each", flush=True)
    for name in modes:
        median = statistics.median(times[name])
        figures["short"][name] = {"median_s": median, "calls_per_fold": sorted(calls[name])}
        print(f"  {name:>16}: median {median * 1000:.1f} ms, should_stop() calls per fold "
              f"{'/'.join(map(str, sorted(calls[name])))}", flush=True)
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
