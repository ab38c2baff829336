"""What fencing an Idempotency-Key's work costs a keyed call, against the code before it, side by side in one run.

Each keyed write now checks, in its own transaction, that its request still holds the key's claim (one more UPDATE
of the claim row, jobservice/idempotency.py KeyGuard), and the non-submission rpcs store their response in that
transaction instead of a write of its own after it. This times the same keyed calls with this tree's `jobservice/`
and with a baseline's (`git archive`, default `main`), each variant in a process of its own on a fresh store, in
alternating rounds so load on the machine falls on both alike, on SQLite and on PostgreSQL:

* `predict`: `Idempotency.once` around a one-job submission (JobStore.submit with the queued-jobs lock and count,
  as the service calls it), each call with a new key: claim, replay lookups, the jobs' transaction, release.
* `rotate`: `Idempotency.once` around a webhook secret rotation (Webhooks.rotate), each with a new key.

Each worker drives the code the way jobservice/servicer.py of its own version does. Prints the median and p90 (ms)
of `--calls` calls per round, all rounds pooled.

    .venv/bin/python bench/idempotency_fencing_cost.py [--calls 300] [--rounds 3] [--baseline main] [--no-postgres]

PostgreSQL is Debian's package started as in the tests (tests/postgres.py).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Awaitable, Callable
from io import BytesIO
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
if os.environ.get("BENCH_JOBSERVICE_ROOT"):  # a worker of the baseline: its jobservice/ before this tree's
    sys.path.insert(0, os.environ["BENCH_JOBSERVICE_ROOT"])

KINDS = ("predict", "rotate")


async def worker(store_at: str, calls: int) -> dict[str, list[float]]:
    """Time `calls` keyed calls of each kind with whichever jobservice/ is first on the path."""
    from jobservice.db import Database, now
    from jobservice.idempotency import Claim, Idempotency
    from jobservice.jobs import JobStore, NewJob
    from jobservice.modelspecs.base import ValidatedJob
    from jobservice.pg import PgDatabase
    from jobservice.store import Store
    from jobservice.webhooks import Webhooks
    from phonos.v1 import phonos_pb2 as pb

    store: Store
    if store_at.startswith("postgresql://"):
        store = await PgDatabase.open(store_at, connect_timeout_s=10, command_timeout_s=30)
    else:
        store = await Database.open(Path(store_at))
    fenced = hasattr(Claim, "guard")  # this tree's API; the baseline's records the response itself
    idempotency = Idempotency(store, 3600, owner="bench", lease_s=30)
    jobs = JobStore(store)
    hooks = Webhooks(store, max_per_account=5, allow_http_loopback=True, timeout_s=10)
    try:
        account = (await store.write_one("insert_account", {
            "username": "bench", "email": None, "credits": 10**9, "now": now()}))["id"]
        hook, _ = await hooks.create(account, "http://127.0.0.1:9/hook", [])
        job = NewJob("esmfold", None, ValidatedJob("MKTVRQERLK", {}), 1)

        def predict(claim: Claim) -> Callable[[], Awaitable[tuple[Any, None]]]:
            def respond(ids: list[str]) -> Any:
                return pb.PredictResponse(success=True, job_id=ids[0], model="esmfold", credits_used=1)

            async def work() -> tuple[Any, None]:
                if fenced:
                    ids = await jobs.submit(account, [job], claim.guard(respond), max_queued=10**6)  # type: ignore[attr-defined]
                else:
                    ids = await jobs.submit(account, [job], lambda ids: ("insert_idempotency_key",  # type: ignore[arg-type]
                                                                         claim.row(respond(ids))), max_queued=10**6)
                    claim.stored = True
                return respond(ids), None
            return work

        def rotate(claim: Claim) -> Callable[[], Awaitable[tuple[Any, None]]]:
            def respond(rotation: Any) -> Any:
                return pb.RotateWebhookSecretResponse(success=True, secret=rotation.secret)

            async def work() -> tuple[Any, None]:
                if fenced:
                    rotation = await hooks.rotate(account, hook.id, None, claim.guard(respond))  # type: ignore[attr-defined,call-arg]
                else:
                    rotation = await hooks.rotate(account, hook.id, None)
                return respond(rotation), None
            return work

        works = {"predict": (predict, "Predict", pb.PredictResponse,
                             pb.PredictRequest(model="esmfold", sequence="MKTVRQERLK")),
                 "rotate": (rotate, "RotateWebhookSecret", pb.RotateWebhookSecretResponse,
                            pb.RotateWebhookSecretRequest(webhook_id=hook.id))}
        times: dict[str, list[float]] = {kind: [] for kind in KINDS}
        for kind in KINDS:
            make, method, response_class, request = works[kind]
            for n in range(calls + 10):  # the first 10 warm up (statement caches, the pool)
                claim = idempotency.claim({"idempotency-key": f"{kind}-{n}"}, account, method, request)
                assert claim is not None
                started = time.perf_counter()
                _, _, replayed = await idempotency.once(claim, response_class, make(claim), None)
                elapsed_ms = (time.perf_counter() - started) * 1000
                assert not replayed
                if n >= 10:
                    times[kind].append(elapsed_ms)
        return times
    finally:
        await idempotency.stop()
        await store.close()


def baseline_tree(ref: str, into: Path) -> Path:
    """`ref`'s jobservice/ (queries and migrations included), unpacked under `into`."""
    archive = subprocess.run(["git", "-C", str(REPO), "archive", ref, "jobservice"], check=True,
                             capture_output=True).stdout
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    return into


def run_worker(root: Path | None, store_at: str, calls: int) -> dict[str, list[float]]:
    env = {**os.environ, "BENCH_JOBSERVICE_ROOT": str(root) if root else ""}
    done = subprocess.run([sys.executable, __file__, "--worker", store_at, "--calls", str(calls)], env=env,
                          capture_output=True, text=True, cwd=REPO)
    if done.returncode != 0:
        raise SystemExit(f"the worker on {store_at} failed:\n{done.stderr[-3000:]}")
    return dict(json.loads(done.stdout.splitlines()[-1]))


def p90(values: list[float]) -> float:
    return statistics.quantiles(values, n=10)[-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--baseline", default="main", help="the git ref whose jobservice/ is the code before")
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(asyncio.run(worker(args.worker, args.calls))))
        return

    from tests.postgres import PostgresServer

    with tempfile.TemporaryDirectory() as scratch:
        old = baseline_tree(args.baseline, Path(scratch) / "baseline")
        variants: dict[str, Path | None] = {f"before ({args.baseline})": old, "fenced (this tree)": None}
        server = None if args.no_postgres else PostgresServer.start()
        try:
            stores = ["SQLite"] + ([] if server is None else ["PostgreSQL"])
            pooled: dict[tuple[str, str, str], list[float]] = {}
            for round_ in range(args.rounds):
                for store in stores:
                    for name, root in variants.items():
                        at = (server.new_store_url("bench") if store == "PostgreSQL" and server is not None
                              else str(Path(scratch) / f"{round_}-{name[:6]}.sqlite3"))
                        for kind, times in run_worker(root, at, args.calls).items():
                            pooled.setdefault((store, kind, name), []).extend(times)
        finally:
            if server is not None:
                server.stop()
    print(f"{args.calls} keyed calls x {args.rounds} rounds per cell; ms per call")
    print(f"{'store':<11} {'call':<8} {'variant':<20} {'median':>8} {'p90':>8}")
    for (store, kind, name), times in pooled.items():
        print(f"{store:<11} {kind:<8} {name:<20} {statistics.median(times):8.3f} {p90(times):8.3f}")


if __name__ == "__main__":
    main()
