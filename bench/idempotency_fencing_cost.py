"""What fencing an Idempotency-Key's work costs a keyed call, against the code before it, side by side in one run.

Each keyed write now checks, in its own transaction, that its request still holds the key's claim (one more UPDATE
of the claim row, jobservice/idempotency.py KeyGuard), and the non-submission rpcs store their response in that
transaction instead of a write of its own after it. This times the same keyed calls with this tree's `jobservice/`
and with a baseline's (`git archive` of `--baseline`: the commit before the change, e.g. 635df23), each variant in a process of its own on a fresh store, taking
turns of a few calls so load on the machine falls on both alike, on SQLite and on PostgreSQL:

* `predict`: `Idempotency.once` around a one-job submission (JobStore.submit with the queued-jobs lock and count,
  as the service calls it), each call with a new key: claim, replay lookups, the jobs' transaction, release.
* `rotate`: `Idempotency.once` around a webhook secret rotation (Webhooks.rotate), each with a new key.

Each worker drives the code the way jobservice/servicer.py of its own version does. Prints the median and p90 (ms)
of `--calls` calls per variant, store and kind, and what fencing added to each.

    .venv/bin/python bench/idempotency_fencing_cost.py [--calls 300] [--chunk 10] [--baseline main] [--no-postgres]

PostgreSQL is Debian's package started as in the tests (tests/postgres.py).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
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


async def worker(store_at: str) -> None:
    """Time keyed calls with whichever jobservice/ is first on the path: for each line `KIND N` on stdin, N calls of
    that kind, each with a new key, answered as one line of JSON (each call's ms)."""
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
        keys = itertools.count()
        print("ready", flush=True)
        for line in sys.stdin:
            kind, count = line.split()
            make, method, response_class, request = works[kind]
            times = []
            for _ in range(int(count)):
                claim = idempotency.claim({"idempotency-key": f"{kind}-{next(keys)}"}, account, method, request)
                assert claim is not None
                started = time.perf_counter()
                _, _, replayed = await idempotency.once(claim, response_class, make(claim), None)
                times.append((time.perf_counter() - started) * 1000)
                assert not replayed
            print(json.dumps(times), flush=True)
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


class Worker:
    """A worker process on its own fresh store, with `root`'s jobservice/ (None: this tree's)."""

    def __init__(self, root: Path | None, store_at: str) -> None:
        env = {**os.environ, "BENCH_JOBSERVICE_ROOT": str(root) if root else ""}
        self._process = subprocess.Popen([sys.executable, __file__, "--worker", store_at], env=env, cwd=REPO,
                                         text=True, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        self._read()  # "ready"

    def _read(self) -> str:
        assert self._process.stdout is not None
        line = self._process.stdout.readline()
        if not line:
            raise SystemExit(f"a worker exited with {self._process.wait()}; its error is above")
        return line

    def calls(self, kind: str, count: int) -> list[float]:
        assert self._process.stdin is not None
        self._process.stdin.write(f"{kind} {count}\n")
        self._process.stdin.flush()
        return list(json.loads(self._read()))

    def close(self) -> None:
        assert self._process.stdin is not None
        self._process.stdin.close()
        self._process.wait(timeout=60)


def p90(values: list[float]) -> float:
    return statistics.quantiles(values, n=10)[-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=300, help="timed calls per variant, store and kind")
    parser.add_argument("--chunk", type=int, default=10, help="calls a variant makes before the other's turn")
    parser.add_argument("--baseline", default="main", help="the git ref whose jobservice/ is the code before")
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        asyncio.run(worker(args.worker))
        return

    from tests.postgres import PostgresServer

    with tempfile.TemporaryDirectory() as scratch:
        old = baseline_tree(args.baseline, Path(scratch) / "baseline")
        variants: dict[str, Path | None] = {f"before ({args.baseline})": old, "fenced (this tree)": None}
        server = None if args.no_postgres else PostgresServer.start()
        try:
            stores = ["SQLite"] + ([] if server is None else ["PostgreSQL"])
            pooled: dict[tuple[str, str, str], list[float]] = {}
            for store in stores:
                workers = {name: Worker(root, server.new_store_url("bench") if store == "PostgreSQL" and server
                                        else str(Path(scratch) / f"{name[:6]}.sqlite3"))
                           for name, root in variants.items()}
                try:
                    for kind in KINDS:
                        for worker_ in workers.values():
                            worker_.calls(kind, 20)  # warm up: statement caches, the pool
                        # In turns of `chunk` calls, the first turn alternating: load on the machine falls on both.
                        for turn in range(args.calls // args.chunk):
                            order = list(workers.items())
                            for name, worker_ in order if turn % 2 == 0 else order[::-1]:
                                pooled.setdefault((store, kind, name), []).extend(worker_.calls(kind, args.chunk))
                finally:
                    for worker_ in workers.values():
                        worker_.close()
        finally:
            if server is not None:
                server.stop()
    print(f"{args.calls} keyed calls per cell, in turns of {args.chunk}; ms per call")
    print(f"{'store':<11} {'call':<8} {'variant':<20} {'median':>8} {'p90':>8}")
    names = list(variants)
    for store in stores:
        for kind in KINDS:
            cells = [pooled[(store, kind, name)] for name in names]
            for name, times in zip(names, cells, strict=True):
                print(f"{store:<11} {kind:<8} {name:<20} {statistics.median(times):8.3f} {p90(times):8.3f}")
            added = [statistics.median(cells[1]) - statistics.median(cells[0]), p90(cells[1]) - p90(cells[0])]
            print(f"{store:<11} {kind:<8} {'added by fencing':<20} {added[0]:+8.3f} {added[1]:+8.3f}")


if __name__ == "__main__":
    main()
