"""Work before authentication, measured (issue 11), and compressed bodies that inflate past their route's limit:
three figures, optionally side by side with a baseline.

    .venv/bin/python bench/edge_pressure.py [--baseline DIR] [--attack-seconds 15] [--grpc-mb 400]
                                            [--only grpc|rest|gzip]

1. gRPC: the job service's memory while 3 unauthenticated messages of `--grpc-mb` MB (and 3 of 60 MB,
   under the Predict limit, where only checking the key before reading helps) arrive at once.
   Peak resident memory (VmHWM) before and after, and the status each call ended with.
2. REST: latency of valid requests (GET /v1/jobs, sequential, one keep-alive connection) while 60
   clients POST 8 MiB JSON bodies with bad keys as fast as they can, each from its own loopback
   address (127.0.0.2-61, as 60 hosts would). p50/p99/max against the same requests on a quiet
   server, and what the attackers got back.
3. gzip bombs: `--bombs` gzip bodies of ~120 KB that inflate to twice the AlphaFold2 route's limit (POST
   /v1/predict, a valid key, one after another). The job service's peak resident memory (VmHWM) before and
   after, and what they got back; then, in a process of its own, the tree's `gateway.body.inflate` on one such
   bomb under tracemalloc (the bytes Python held at the peak, without the allocator's slack).

Everything runs on this machine: the attackers in a separate process, the service in its own, the
measuring client here. Ratios between the trees come from one run.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import http.client
import multiprocessing
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import grpc
from edge_common import JobServiceUnderTest, start_jobservice, trees

from jobservice.message_limits import JOB_REQUEST_BYTES
from phonos.v1 import phonos_pb2 as pb

PREDICT = "/phonos.v1.PhonosService/Predict"
ATTACKERS = 60
BODY_MB = 8


# --- 1. unauthenticated gRPC messages ------------------------------------------------------------------


def grpc_memory(service: JobServiceUnderTest, size_mb: int) -> tuple[float, float, list[str]]:
    payload = pb.PredictRequest(model="esmfold", sequence="M" * (size_mb * 1_000_000)).SerializeToString()
    before = service.memory_mb()

    async def three() -> list[str]:
        options = [("grpc.max_send_message_length", -1), ("grpc.max_receive_message_length", -1)]
        async with grpc.aio.insecure_channel(service.process.grpc_target, options=options) as channel:
            call = channel.unary_unary(PREDICT)

            async def one(i: int) -> str:
                try:
                    await call(payload, metadata=(("authorization", f"Bearer pk_guess_{i}"),), timeout=120)
                except grpc.aio.AioRpcError as exc:
                    return exc.code().name
                return "OK"

            return list(await asyncio.gather(*(one(i) for i in range(3))))

    codes = asyncio.run(three())
    time.sleep(0.5)
    return before, service.memory_mb(), codes


# --- 2. valid requests under a flood of big bodies with bad keys ---------------------------------------


def attack(port: int, seconds: float, results: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    """Runs in its own process: 60 clients, each from 127.0.0.<2+i>, posting 8 MiB with a bad key."""
    body = b'{"model":"esmfold","sequence":"' + b"M" * (BODY_MB * 1024 * 1024 - 40) + b'"}'
    head = (f"POST /v1/predict HTTP/1.1\r\nHost: bench\r\nAuthorization: Bearer pk_bogus\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n").encode()
    answers: Counter[str] = Counter()

    async def client(i: int, deadline: float) -> None:
        while time.monotonic() < deadline:
            try:
                reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=(f"127.0.0.{2 + i}", 0))
            except OSError:
                answers["connect failed"] += 1
                await asyncio.sleep(0.05)
                continue
            try:
                writer.write(head)
                writer.write(body)
                status_line = await asyncio.wait_for(reader.readline(), 60)
                answers[status_line.split(b" ")[1].decode() if b" " in status_line else "closed"] += 1
            except (OSError, TimeoutError, IndexError):
                answers["reset"] += 1
            finally:
                writer.close()

    async def main() -> None:
        deadline = time.monotonic() + seconds
        await asyncio.gather(*(client(i, deadline) for i in range(ATTACKERS)))

    asyncio.run(main())
    results.put(dict(answers))


def latencies(port: int, key: str, seconds: float) -> list[float]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    headers = {"Authorization": f"Bearer {key}"}
    samples = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        started = time.perf_counter()
        connection.request("GET", "/v1/jobs?limit=5", headers=headers)
        response = connection.getresponse()
        response.read()
        samples.append((time.perf_counter() - started) * 1000)
        if response.status != 200:
            raise RuntimeError(f"valid request answered {response.status}")
    connection.close()
    return samples


def summary(samples: list[float]) -> str:
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return (f"n={len(samples):5d}  p50 {statistics.median(ordered):7.1f} ms  p99 {p99:8.1f} ms  "
            f"max {ordered[-1]:8.1f} ms")


def p99(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


def rest_flood(service: JobServiceUnderTest, seconds: float) -> tuple[list[float], list[float], dict[str, int], float]:
    key = service.new_key()
    quiet = latencies(service.process.http_port, key, 5)
    results: multiprocessing.Queue = multiprocessing.Queue()  # type: ignore[type-arg]
    attacker = multiprocessing.Process(target=attack, args=(service.process.http_port, seconds, results))
    attacker.start()
    time.sleep(1)  # let the flood build up
    loaded = latencies(service.process.http_port, key, seconds - 2)
    answers = results.get(timeout=seconds + 120)
    attacker.join(30)
    return quiet, loaded, answers, service.memory_mb()


# --- 3. compressed bodies that inflate past the route's limit ------------------------------------------


def gzip_bomb() -> bytes:
    return gzip.compress(b"\0" * (2 * JOB_REQUEST_BYTES), compresslevel=9, mtime=0)


def bomb_memory(service: JobServiceUnderTest, count: int) -> tuple[float, float, Counter[int]]:
    key = service.new_key()
    bomb = gzip_bomb()
    before = service.memory_mb()
    answers: Counter[int] = Counter()
    connection = http.client.HTTPConnection("127.0.0.1", service.process.http_port, timeout=120)
    for _ in range(count):
        connection.request("POST", "/v1/predict", body=bomb, headers={
            "Authorization": f"Bearer {key}", "Content-Type": "application/json", "Content-Encoding": "gzip"})
        response = connection.getresponse()
        response.read()
        answers[response.status] += 1
    connection.close()
    time.sleep(0.5)
    return before, service.memory_mb(), answers


# Run in a process of its own from the tree measured: its `inflate` on one bomb, under tracemalloc.
INFLATE_PEAK = """
import gzip, sys, tracemalloc
from gateway.body import inflate
from gateway.errors import HttpError
from jobservice.message_limits import JOB_REQUEST_BYTES as limit
bomb = gzip.compress(b"\\0" * (2 * limit), compresslevel=9, mtime=0)
tracemalloc.start()
try:
    inflate(bomb, "gzip", limit)
    status = 200
except HttpError as exc:
    status = exc.response.status
print(len(bomb), limit, tracemalloc.get_traced_memory()[1], status)
"""


def inflate_peak(tree: Path) -> tuple[int, int, int, int]:
    """(bomb bytes, route limit, peak bytes traced, status) of the tree's own `inflate`."""
    done = subprocess.run([sys.executable, "-c", INFLATE_PEAK], cwd=tree, capture_output=True, text=True,
                          env={"PYTHONPATH": f"{tree}", "PATH": "/usr/bin:/bin"}, timeout=120, check=True)
    bomb, limit, peak, status = (int(word) for word in done.stdout.split())
    return bomb, limit, peak, status


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--baseline", type=Path, help="an earlier checkout, measured the same way in this run")
    parser.add_argument("--attack-seconds", type=float, default=15)
    parser.add_argument("--grpc-mb", type=int, default=400)
    parser.add_argument("--bombs", type=int, default=8, help="gzip bombs sent one after another (figure 3)")
    parser.add_argument("--only", choices=("grpc", "rest", "gzip"), help="one figure of the three")
    args = parser.parse_args()
    figures: dict[str, dict[str, float]] = {}
    for tree in trees(args.baseline):
        label = "this tree" if tree == trees(None)[0] else f"baseline ({tree})"
        print(f"== {label}", flush=True)
        if args.only in (None, "gzip"):
            with tempfile.TemporaryDirectory() as tmp:
                service = start_jobservice(tree, Path(tmp) / "var")
                try:
                    before, after, statuses = bomb_memory(service, args.bombs)
                finally:
                    service.stop()
            size, limit, traced, status = inflate_peak(tree)
            print(f"gzip: {args.bombs} bodies of {size} bytes inflating past the {limit}-byte limit, one after "
                  f"another: job service peak memory {before:.0f} MB -> {after:.0f} MB; answers "
                  f"{sorted(statuses.items())}", flush=True)
            print(f"  inflate() of one, traced: peak {traced / 1e6:.1f} MB ({traced / limit:.2f}x the limit), "
                  f"answer {status}", flush=True)
            figures.setdefault(label, {})["gzip_rss_growth_mb"] = after - before
            figures[label]["gzip_inflate_peak_mb"] = traced / 1e6
        for size in (args.grpc_mb, 60) if args.only in (None, "grpc") else ():
            with tempfile.TemporaryDirectory() as tmp:  # a fresh process each: its peak memory is its own
                service = start_jobservice(tree, Path(tmp) / "var")
                try:
                    before, after, codes = grpc_memory(service, size)
                finally:
                    service.stop()
            print(f"gRPC, 3 unauthenticated {size} MB Predict messages at once: job service peak memory "
                  f"{before:.0f} MB -> {after:.0f} MB; answers {sorted(Counter(codes).items())}", flush=True)
            figures.setdefault(label, {})[f"grpc_{size}_peak_mb"] = after
        if args.only not in (None, "rest"):
            continue
        with tempfile.TemporaryDirectory() as tmp:
            service = start_jobservice(tree, Path(tmp) / "var")
            try:
                quiet, loaded, answers, peak = rest_flood(service, args.attack_seconds)
                print(f"REST GET /v1/jobs, quiet server:            {summary(quiet)}")
                print(f"REST GET /v1/jobs, {ATTACKERS} clients x {BODY_MB} MiB bad-key: {summary(loaded)}")
                print(f"  attackers got: {sorted(answers.items())}; job service peak memory {peak:.0f} MB", flush=True)
                figures.setdefault(label, {})["rest_p99_ms"] = p99(loaded)
                figures[label]["rest_quiet_p99_ms"] = p99(quiet)
            finally:
                service.stop()
    if len(figures) == 2:
        ours, base = figures.values()
        print("== side by side (baseline / this tree)")
        for name in ours:
            ratio = f"{base[name] / ours[name]:.1f}x" if ours[name] else "-"
            print(f"  {name}: {base[name]:.1f} / {ours[name]:.1f} = {ratio}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
