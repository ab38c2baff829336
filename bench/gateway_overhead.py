"""REST through the gateway vs direct gRPC: requests/s on GetJob against a fixed servicer.

    PYTHONPATH=. .venv/bin/python bench/gateway_overhead.py [--seconds 5] [--concurrency 32] [--clients 1]

One server process holds, on one event loop (as deployed): a grpc.aio server with the servicer, a
gateway calling it in-process (InProcessInvoker) and a gateway calling it over loopback gRPC
(ChannelInvoker). Client processes then drive each surface in turn with keep-alive connections and
report requests/s. The target is REST (in-process) >= 60 % of direct gRPC.

Caveat: the clients are Python too and share the machine's cores with the server, so absolute
numbers are lower bounds and the ratio is what to read; run on an otherwise idle machine.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import time
from multiprocessing.connection import Connection
from typing import Any

import aiohttp
import grpc
from google.protobuf import timestamp_pb2

from gateway.invoker import ChannelInvoker, InProcessInvoker, open_channel
from gateway.server import start_gateway
from phonos.v1 import phonos_pb2 as pb
from phonos.v1 import phonos_pb2_grpc as pb_grpc

JOB_ID = "550e8400-e29b-41d4-a716-446655440000"
AUTH = "Bearer pk_bench"


class BenchServicer(pb_grpc.PhonosServiceServicer):
    """GetJob with a realistic completed-job payload and a metadata read, nothing else."""

    def __init__(self) -> None:
        job = pb.Job(
            job_id=JOB_ID, name="My Protein Structure", status="completed", model="esmfold"
        )
        job.created_at.CopyFrom(timestamp_pb2.Timestamp(seconds=1765967400))
        job.updated_at.CopyFrom(timestamp_pb2.Timestamp(seconds=1765967520))
        job.output_file = f"{JOB_ID}.pdb"
        job.download_url = f"/v1/jobs/{JOB_ID}/download"
        job.credits_used = 10
        job.formats.extend(["pdb", "cif"])
        job.metrics.update({"mean_plddt": 87.25, "ptm": 0.81})
        self._job = pb.GetJobResponse(job=job)

    async def GetJob(self, request: pb.GetJobRequest, context: Any) -> pb.GetJobResponse:
        if dict(context.invocation_metadata()).get("authorization") != AUTH:
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, "Invalid or missing API key")
        return self._job


def serve(conn: Connection) -> None:
    async def main() -> None:
        servicer = BenchServicer()
        server = grpc.aio.server()
        pb_grpc.add_PhonosServiceServicer_to_server(servicer, server)
        grpc_port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        channel = open_channel(f"127.0.0.1:{grpc_port}")
        in_process, rest_port = await start_gateway(InProcessInvoker(servicer))
        via_channel, channel_port = await start_gateway(ChannelInvoker(channel))
        conn.send({"grpc": grpc_port, "rest": rest_port, "rest_channel": channel_port})
        await asyncio.get_running_loop().run_in_executor(None, conn.recv)  # wait for "stop"
        await in_process.cleanup()
        await via_channel.cleanup()
        await channel.close()
        await server.stop(None)

    asyncio.run(main())


async def drive_rest(port: int, seconds: float, concurrency: int) -> int:
    url = f"http://127.0.0.1:{port}/v1/jobs/{JOB_ID}"
    headers = {"Authorization": AUTH}
    done = 0
    deadline = time.perf_counter() + seconds
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def worker() -> None:
            nonlocal done
            while time.perf_counter() < deadline:
                async with session.get(url, headers=headers) as response:
                    await response.read()
                    assert response.status == 200, response.status
                done += 1

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return done


async def drive_grpc(port: int, seconds: float, concurrency: int) -> int:
    done = 0
    deadline = time.perf_counter() + seconds
    async with open_channel(f"127.0.0.1:{port}") as channel:
        stub = pb_grpc.PhonosServiceStub(channel)
        metadata = (("authorization", AUTH),)

        async def worker() -> None:
            nonlocal done
            while time.perf_counter() < deadline:
                await stub.GetJob(pb.GetJobRequest(job_id=JOB_ID), metadata=metadata, timeout=10)
                done += 1

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return done


def client(kind: str, port: int, seconds: float, concurrency: int, out: Connection) -> None:
    drive = drive_grpc if kind == "grpc" else drive_rest
    out.send(asyncio.run(drive(port, seconds, concurrency)))


def measure(kind: str, port: int, args: argparse.Namespace) -> float:
    ctx = mp.get_context("spawn")
    pipes = []
    procs = []
    for _ in range(args.clients):
        receiver, sender = ctx.Pipe(duplex=False)
        proc = ctx.Process(target=client, args=(kind, port, args.seconds, args.concurrency, sender))
        proc.start()
        pipes.append(receiver)
        procs.append(proc)
    total = sum(p.recv() for p in pipes)
    for proc in procs:
        proc.join()
    return total / args.seconds


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--concurrency", type=int, default=32, help="in-flight requests per client process")
    parser.add_argument("--clients", type=int, default=1, help="client processes")
    args = parser.parse_args()
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe()
    server = ctx.Process(target=serve, args=(child,))
    server.start()
    ports = parent.recv()
    try:
        results = {kind: measure(kind, ports[kind], args) for kind in ("grpc", "rest", "rest_channel")}
    finally:
        parent.send("stop")
        server.join(timeout=10)
    print(
        f"GetJob, {args.clients} client process(es) x {args.concurrency} in flight, {args.seconds:.0f} s each"
    )
    for kind, label in (
        ("grpc", "direct gRPC"),
        ("rest", "REST, in-process invoker"),
        ("rest_channel", "REST, channel invoker"),
    ):
        ratio = results[kind] / results["grpc"]
        print(f"  {label:26s} {results[kind]:8.0f} req/s  ({ratio:5.0%} of direct gRPC)")


if __name__ == "__main__":
    main()
