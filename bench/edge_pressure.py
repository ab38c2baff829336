"""Work before authentication, measured (issue 11): two figures, optionally side by side with a baseline.

    .venv/bin/python bench/edge_pressure.py [--baseline DIR] [--attack-seconds 15] [--grpc-mb 400]

1. gRPC: the job service's memory while 3 unauthenticated messages of `--grpc-mb` MB (and 3 of 60 MB,
   under the Predict limit, where only checking the key before reading helps) arrive at once.
   Peak resident memory (VmHWM) before and after, and the status each call ended with.
2. REST: latency of valid requests (GET /v1/jobs, sequential, one keep-alive connection) while 60
   clients POST 8 MiB JSON bodies with bad keys as fast as they can, each from its own loopback
   address (127.0.0.2-61, as 60 hosts would). p50/p99/max against the same requests on a quiet
   server, and what the attackers got back.

Everything runs on this machine: the attackers in a separate process, the service in its own, the
measuring client here. Ratios between the trees come from one run.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import multiprocessing
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import grpc
from edge_common import JobServiceUnderTest, start_jobservice, trees

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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--baseline", type=Path, help="an earlier checkout, measured the same way in this run")
    parser.add_argument("--attack-seconds", type=float, default=15)
    parser.add_argument("--grpc-mb", type=int, default=400)
    args = parser.parse_args()
    figures: dict[str, dict[str, float]] = {}
    for tree in trees(args.baseline):
        print(f"== {'this tree' if tree == trees(None)[0] else f'baseline ({tree})'}", flush=True)
        for size in (args.grpc_mb, 60):
            with tempfile.TemporaryDirectory() as tmp:  # a fresh process each: its peak memory is its own
                service = start_jobservice(tree, Path(tmp) / "var")
                try:
                    before, after, codes = grpc_memory(service, size)
                finally:
                    service.stop()
            print(f"gRPC, 3 unauthenticated {size} MB Predict messages at once: job service peak memory "
                  f"{before:.0f} MB -> {after:.0f} MB; answers {sorted(Counter(codes).items())}", flush=True)
            figures.setdefault(service.label, {})[f"grpc_{size}_peak_mb"] = after
        with tempfile.TemporaryDirectory() as tmp:
            service = start_jobservice(tree, Path(tmp) / "var")
            try:
                quiet, loaded, answers, peak = rest_flood(service, args.attack_seconds)
                print(f"REST GET /v1/jobs, quiet server:            {summary(quiet)}")
                print(f"REST GET /v1/jobs, {ATTACKERS} clients x {BODY_MB} MiB bad-key: {summary(loaded)}")
                print(f"  attackers got: {sorted(answers.items())}; job service peak memory {peak:.0f} MB", flush=True)
                figures[service.label]["rest_p99_ms"] = p99(loaded)
                figures[service.label]["rest_quiet_p99_ms"] = p99(quiet)
            finally:
                service.stop()
    if len(figures) == 2:
        ours, base = figures.values()
        print("== side by side (baseline / this tree)")
        for name in ours:
            print(f"  {name}: {base[name]:.1f} / {ours[name]:.1f} = {base[name] / ours[name]:.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
