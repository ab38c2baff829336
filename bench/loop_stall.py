"""Does one big submission freeze the service for everyone else? Event-loop stalls, measured from outside.

    .venv/bin/python bench/loop_stall.py [--baseline DIR | --baseline-ref main] [--rounds 1]

A real `python -m jobservice` (its REST gateway in-process, on the same event loop) with AlphaFold2 enabled, and
a Triton twin (`--triton twin`, the default: a gRPC server of Triton's protocol in a process of its own, live and
ready, that reads each AlphaFold2 request whole and refuses it INVALID_ARGUMENT, so every big job is claimed, its
stored request read back, its tensor built and sent; ESMFold requests it holds for ever) or none (`--triton down`:
the jobs stay queued). While the biggest valid AlphaFold2 submissions the routes take are sent one after
another (POST /v1/predict with a 50M-character A3M, ~54 MB plain and ~130 KB gzip; POST /v1/batch with two jobs of
half that A3M each), another client, in a process of its own, keeps asking:

- REST GET /v1/health and GET /v1/jobs/{id} (one keep-alive connection each, back to back),
- gRPC GetHealth on the gRPC port directly,
- and reads an SSE stream (GET /v1/jobs/{id}/events, keep-alive comments every 50 ms): the gap between lines.

For each probe: p50/p99/max while the service is quiet, while the big bodies are in progress (from the first
byte sent to the answer) and, with the twin, after the last answer until every big job has been dispatched and
has failed ("dispatch"). The job service's own work on a submission (its A3M check, in threads but holding the
GIL; storing and dispatching the job) stalls it too, so a second figure isolates the REST gateway: the tree's
`gateway.server.start_gateway` alone in a process of its own, over a servicer that answers at once, with the same
bodies (and 1 and 10 MB ones before them), then GET /v1/jobs/{id}/input answering a 50M-character A3M (the biggest
reply it encodes), and GET /v1/health asked meanwhile; before those, 200 small POST /v1/predict one after another
with nothing else in flight (what a small body costs). With `--baseline` (a checkout) or `--baseline-ref` (a git ref, `git archive`d into a
temporary directory) the same run measures the old code too and prints both side by side.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import http.client
import json
import multiprocessing
import os
import subprocess
import sys
import tempfile
import time
from multiprocessing.synchronize import Event
from pathlib import Path

import edge_common
from edge_common import REPO, JobServiceUnderTest, start_jobservice, trees

from phonos_config.alphafold2 import MAX_A3M_CHARS

QUERY = "MKTAYIAKQRQISFVKSHFSRQ"
SSE_KEEPALIVE_S = 0.05
PROBES = ("rest_health", "rest_get_job", "grpc_health", "sse_gap")


def a3m(chars: int) -> str:
    """A valid A3M of `chars` characters: the query and many short aligned rows (the most lines, so the most
    JSON escapes, per character)."""
    head = f">q\n{QUERY}\n"
    row = f">r\n{QUERY}\n"
    return head + row * ((chars - len(head)) // len(row))


def bodies() -> list[tuple[str, str, bytes, dict[str, str]]]:
    """(label, path, body, extra headers) of the biggest valid submissions."""
    one = json.dumps({"model": "alphafold2", "sequence": QUERY,
                      "params": {"msa_mode": "a3m", "a3m": a3m(MAX_A3M_CHARS)}}).encode()
    half = {"model": "alphafold2", "sequence": QUERY, "params": {"msa_mode": "a3m", "a3m": a3m(MAX_A3M_CHARS // 2)}}
    batch = json.dumps({"jobs": [half, half]}).encode()
    return [
        (f"predict plain {len(one) / 1e6:.1f} MB", "/v1/predict", one, {}),
        (f"predict gzip {len(gzip.compress(one, 6)) / 1e3:.0f} KB", "/v1/predict", gzip.compress(one, 6),
         {"Content-Encoding": "gzip"}),
        (f"batch plain {len(batch) / 1e6:.1f} MB (2 x 25M-char A3M)", "/v1/batch", batch, {}),
    ]


# --- the other client: a process of its own, so the bench's own work never delays it ------------------


def probe_process(http_port: int, grpc_target: str, key: str, job_id: str, stop: Event,
                  out: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    samples = asyncio.run(_probes(http_port, grpc_target, key, job_id, stop))
    out.put(samples)


async def _probes(http_port: int, grpc_target: str, key: str, job_id: str,
                  stop: Event) -> dict[str, list[tuple[float, float]]]:
    import grpc

    from phonos.v1 import phonos_pb2 as pb

    samples: dict[str, list[tuple[float, float]]] = {name: [] for name in PROBES}
    auth = f"Authorization: Bearer {key}\r\n"

    async def rest(name: str, path: str) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", http_port)
        request = f"GET {path} HTTP/1.1\r\nHost: bench\r\n{auth}\r\n".encode()
        while not stop.is_set():
            started = time.monotonic()
            writer.write(request)
            length = 0
            status = await reader.readline()
            while (line := await reader.readline()) not in (b"\r\n", b""):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            await reader.readexactly(length)
            samples[name].append((started, time.monotonic() - started))
            if b" 200 " not in status and b" 503 " not in status:
                raise RuntimeError(f"{path}: {status!r}")
            await asyncio.sleep(0.005)
        writer.close()

    async def grpc_health() -> None:
        async with grpc.aio.insecure_channel(grpc_target) as channel:
            call = channel.unary_unary("/phonos.v1.PhonosService/GetHealth",
                                       request_serializer=pb.GetHealthRequest.SerializeToString,
                                       response_deserializer=pb.GetHealthResponse.FromString)
            while not stop.is_set():
                started = time.monotonic()
                try:
                    await call(pb.GetHealthRequest(), timeout=120)
                except grpc.aio.AioRpcError as exc:
                    if exc.code() != grpc.StatusCode.UNAVAILABLE:  # "degraded" (Triton down) is an answer too
                        raise
                samples["grpc_health"].append((started, time.monotonic() - started))
                await asyncio.sleep(0.005)

    async def sse() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", http_port)
        writer.write(f"GET /v1/jobs/{job_id}/events HTTP/1.1\r\nHost: bench\r\n{auth}"
                     "Accept: text/event-stream\r\n\r\n".encode())
        last = time.monotonic()
        while not stop.is_set():
            try:
                line = await asyncio.wait_for(reader.readline(), 0.5)
            except TimeoutError:
                continue
            if not line:
                raise RuntimeError("the SSE stream ended")
            now = time.monotonic()
            samples["sse_gap"].append((last, now - last))
            last = now
        writer.close()

    tasks = [asyncio.ensure_future(t) for t in (rest("rest_health", "/v1/health"),
                                                 rest("rest_get_job", f"/v1/jobs/{job_id}"), grpc_health(), sse())]
    await asyncio.to_thread(stop.wait)
    await asyncio.gather(*tasks)
    return samples


# --- the Triton twin: a process of its own ------------------------------------------------------------------


def triton_twin(port_out: multiprocessing.Queue, stop: Event) -> None:  # type: ignore[type-arg]
    asyncio.run(_triton_twin(port_out, stop))


async def _triton_twin(port_out: multiprocessing.Queue, stop: Event) -> None:  # type: ignore[type-arg]
    import grpc
    from tritonclient.grpc import service_pb2 as tpb
    from tritonclient.grpc import service_pb2_grpc as tpb_grpc

    class Twin(tpb_grpc.GRPCInferenceServiceServicer):
        async def ServerLive(self, request, context):  # type: ignore[no-untyped-def]
            return tpb.ServerLiveResponse(live=True)

        async def ServerReady(self, request, context):  # type: ignore[no-untyped-def]
            return tpb.ServerReadyResponse(ready=True)

        async def ModelReady(self, request, context):  # type: ignore[no-untyped-def]
            return tpb.ModelReadyResponse(ready=True)

        async def ModelStreamInfer(self, requests, context):  # type: ignore[no-untyped-def]
            async for request in requests:
                if request.model_name != "alphafold2":  # the probes' job: running (its SSE stream open) to the end
                    await asyncio.Event().wait()
                size = sum(len(raw) for raw in request.raw_input_contents)
                await context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"bench twin: {size} bytes taken, not computed")
            if False:  # an async generator: a stream's handler
                yield tpb.ModelStreamInferResponse()

    limit = 512 * 1024 * 1024
    server = grpc.aio.server(options=[("grpc.max_receive_message_length", limit),
                                      ("grpc.max_send_message_length", limit)])
    tpb_grpc.add_GRPCInferenceServiceServicer_to_server(Twin(), server)
    port_out.put(server.add_insecure_port("127.0.0.1:0"))
    await server.start()
    await asyncio.to_thread(stop.wait)
    await server.stop(0)


def start_with_twin(tree: Path, data_dir: Path, env: dict[str, str], triton_port: int | None) -> JobServiceUnderTest:
    """edge_common's job service, its Triton URL the twin's (edge_common picks a free port there: nothing
    listens)."""
    if triton_port is None:
        return start_jobservice(tree, data_dir, env)
    pick = edge_common.free_port
    edge_common.free_port = lambda: triton_port
    try:
        return start_jobservice(tree, data_dir, env)
    finally:
        edge_common.free_port = pick


# --- the gateway alone: its own work on a big body, nothing else -----------------------------------------

GATEWAY_ALONE = """
import asyncio, sys
from gateway.invoker import InProcessInvoker
from gateway.server import start_gateway
from jobservice.message_limits import by_full_method
from phonos.v1 import phonos_pb2 as pb, phonos_pb2_grpc as pb_grpc
from phonos_common.limits import BodyLimits

class Answers(pb_grpc.PhonosServiceServicer):
    async def GetHealth(self, request, context):
        return pb.GetHealthResponse(status="operational", version="v1")
    async def Predict(self, request, context):
        return pb.PredictResponse(success=True, job_id="j", model=request.model, status="pending")
    async def SubmitBatch(self, request, context):
        return pb.SubmitBatchResponse(success=True)
    async def GetJobInput(self, request, context):  # a job's input with the biggest A3M: the biggest reply encoded
        return BIG_INPUT

QUERY = "MKTAYIAKQRQISFVKSHFSRQ"
BIG_INPUT = pb.GetJobInputResponse(job_id="j", model="alphafold2", sequence=QUERY)
BIG_INPUT.params.update({"msa_mode": "a3m", "a3m": f">q\\n{QUERY}\\n" + f">r\\n{QUERY}\\n" * int(sys.argv[1])})

async def main():
    runner, port = await start_gateway(InProcessInvoker(Answers()), "127.0.0.1", 0,
                                       body_limits=BodyLimits(per_method=by_full_method()))
    print(port, flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)  # until the bench closes stdin
    await runner.cleanup()

asyncio.run(main())
"""


def health_probe(port: int, stop: Event, out: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    """Runs in its own process: GET /v1/health back to back on one connection, (start, latency) each."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    samples = []
    while not stop.is_set():
        started = time.monotonic()
        connection.request("GET", "/v1/health")
        connection.getresponse().read()
        samples.append((started, time.monotonic() - started))
        time.sleep(0.002)
    out.put(samples)


def gateway_bodies() -> list[tuple[str, str, bytes, dict[str, str]]]:
    """bodies(), after POST /v1/predict with 1 and 10 MB of A3M."""
    smaller = [(f"predict plain {len(one) / 1e6:.1f} MB", "/v1/predict", one, {}) for one in (
        json.dumps({"model": "alphafold2", "sequence": QUERY,
                    "params": {"msa_mode": "a3m", "a3m": a3m(chars)}}).encode() for chars in (10**6, 10**7))]
    return smaller + bodies()


def small_predicts(port: int, count: int = 200) -> list[float]:
    """Latencies (s) of `count` small POST /v1/predict one after another on one connection: a small body's cost."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    body = json.dumps({"model": "esmfold", "sequence": QUERY, "name": "small"}).encode()
    latencies = []
    for _ in range(count):
        started = time.monotonic()
        connection.request("POST", "/v1/predict", body=body, headers={"Content-Type": "application/json"})
        connection.getresponse().read()
        latencies.append(time.monotonic() - started)
    connection.close()
    return latencies


def get_input(port: int) -> int:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
    connection.request("GET", "/v1/jobs/j/input", headers={"Authorization": "Bearer none"})
    response = connection.getresponse()
    size = len(response.read())
    connection.close()
    if response.status != 200:
        raise RuntimeError(f"GET /v1/jobs/j/input answered {response.status}")
    return size


def gateway_alone(tree: Path, rounds: int) -> dict[str, list[float]]:
    """Per phase, the GET /v1/health latencies (s) that began within it, against the tree's gateway alone (phase
    "small predicts": the small POSTs' own latencies, asked with nothing else in flight)."""
    rows = (MAX_A3M_CHARS - 30) // len(f">r\n{QUERY}\n")
    server = subprocess.Popen([sys.executable, "-c", GATEWAY_ALONE, str(rows)], cwd=tree, stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True,
                              env={"PYTHONPATH": f"{tree}{os.pathsep}{tree / 'triton_models'}", "PATH": "/usr/bin:/bin"})
    try:
        assert server.stdout is not None
        port = int(server.stdout.readline())
        stop = multiprocessing.Event()
        out: multiprocessing.Queue = multiprocessing.Queue()  # type: ignore[type-arg]
        prober = multiprocessing.Process(target=health_probe, args=(port, stop, out))
        small = small_predicts(port)  # before the prober starts: nothing else in flight
        prober.start()
        time.sleep(1.0)
        windows = [("quiet", time.monotonic(), time.monotonic() + 2.0)]
        time.sleep(2.0)
        made = gateway_bodies()
        for _ in range(rounds):
            for label, path, body, headers in made:
                started = time.monotonic()
                status, answer = post(port, "none", path, body, headers)
                windows.append((label, started, time.monotonic()))
                if status != 200:
                    raise RuntimeError(f"{label} answered {status}: {answer[:300]!r}")
            started = time.monotonic()
            size = get_input(port)
            windows.append((f"GET a job's input, {size / 1e6:.1f} MB reply", started, time.monotonic()))
        stop.set()
        samples = out.get(timeout=60)
        prober.join(30)
    finally:
        server.terminate()
        server.wait(30)
    phases: dict[str, list[float]] = {}
    for label, begin, end in windows:
        phases.setdefault(label, []).extend(latency for at, latency in samples if begin <= at < end)
    return {**phases, "small predicts": small}


# --- the big submissions ---------------------------------------------------------------------------------


def post(port: int, key: str, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
    connection.request("POST", path, body=body, headers={
        "Authorization": f"Bearer {key}", "Content-Type": "application/json", **headers})
    response = connection.getresponse()
    answer = response.read()
    connection.close()
    return response.status, answer


def job_ids(answer: object) -> list[str]:
    """Every job id in a submission's answer (one job's, or a batch's)."""
    if isinstance(answer, dict):
        own = [answer["job_id"]] if isinstance(answer.get("job_id"), str) else []
        return own + [i for key, value in answer.items() if key != "job_id" for i in job_ids(value)]
    if isinstance(answer, list):
        return [i for value in answer for i in job_ids(value)]
    return []


def all_done(port: int, key: str, ids: list[str]) -> bool:
    for job_id in ids:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        connection.request("GET", f"/v1/jobs/{job_id}", headers={"Authorization": f"Bearer {key}"})
        status = json.loads(connection.getresponse().read()).get("status")
        connection.close()
        if status in ("pending", "running"):
            return False
    return True


def measure(service: JobServiceUnderTest, rounds: int, quiet_s: float,
            dispatched: bool) -> dict[str, dict[str, list[float]]]:
    """Per phase ("quiet", each body's label, "dispatch"): per probe, the latencies (s) that began within it."""
    port = service.process.http_port
    key = service.new_key()
    # The probes' job: ESMFold's, which the twin holds running (AlphaFold2's fail at once there).
    status, answer = post(port, key, "/v1/predict", json.dumps({"model": "esmfold", "sequence": QUERY}).encode(), {})
    if status != 200:
        raise RuntimeError(f"a small submission answered {status}: {answer[:300]!r}")
    job_id = json.loads(answer)["job_id"]
    stop = multiprocessing.Event()
    out: multiprocessing.Queue = multiprocessing.Queue()  # type: ignore[type-arg]
    prober = multiprocessing.Process(target=probe_process, args=(port, service.process.grpc_target, key, job_id,
                                                                 stop, out))
    prober.start()
    time.sleep(1.0)  # connected and streaming
    windows: list[tuple[str, float, float]] = []
    started = time.monotonic()
    time.sleep(quiet_s)
    windows.append(("quiet", started, time.monotonic()))
    made = bodies()
    big_jobs: list[str] = []
    for _ in range(rounds):
        for label, path, body, headers in made:
            started = time.monotonic()
            status, answer = post(port, key, path, body, headers)
            windows.append((label, started, time.monotonic()))
            if status != 200:
                raise RuntimeError(f"{label} answered {status}: {answer[:300]!r}")
            big_jobs += job_ids(json.loads(answer))
            print(f"  {label}: {status} in {windows[-1][2] - started:.2f} s", flush=True)
    if dispatched:  # the jobs still being claimed, read back and sent after the last answer
        started = time.monotonic()
        while not all_done(port, key, big_jobs) and time.monotonic() - started < 300:
            time.sleep(0.2)
        windows.append(("dispatch", started, time.monotonic()))
        print(f"  {len(big_jobs)} big jobs dispatched {time.monotonic() - started:.2f} s after the last answer",
              flush=True)
    stop.set()
    samples = out.get(timeout=120)
    prober.join(30)
    phases: dict[str, dict[str, list[float]]] = {}
    for label, begin, end in windows:
        phase = phases.setdefault(label, {name: [] for name in PROBES})
        for name in PROBES:
            phase[name] += [latency for at, latency in samples[name] if begin <= at < end]
    return phases


def stats(values: list[float]) -> tuple[float, float, float]:
    """(p50, p99, max) in ms."""
    if not values:
        return (float("nan"),) * 3
    ordered = sorted(values)
    return (ordered[len(ordered) // 2] * 1000, ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000,
            ordered[-1] * 1000)


def report(phases: dict[str, dict[str, list[float]]]) -> dict[str, float]:
    worst: dict[str, float] = {}
    for label, probes in phases.items():
        print(f"  {label}:")
        for name in PROBES:
            p50, p99, top = stats(probes[name])
            print(f"    {name:13s} n={len(probes[name]):5d}  p50 {p50:8.1f} ms  p99 {p99:8.1f} ms  max {top:8.1f} ms")
            if label != "quiet":
                worst[f"{name}_max_ms"] = max(worst.get(f"{name}_max_ms", 0.0), top)
                worst[f"{name}_p99_ms"] = max(worst.get(f"{name}_p99_ms", 0.0), p99)
    return worst


def archived(ref: str, into: Path) -> Path:
    """`git archive ref` unpacked into `into` (the old code, without touching any checkout)."""
    into.mkdir(parents=True)
    archive = subprocess.run(["git", "archive", ref], cwd=REPO, capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--baseline", type=Path, help="an earlier checkout, measured the same way in this run")
    parser.add_argument("--baseline-ref", help="a git ref (e.g. main), archived and measured as the baseline")
    parser.add_argument("--rounds", type=int, default=1, help="times each big body is sent")
    parser.add_argument("--quiet-seconds", type=float, default=3.0)
    parser.add_argument("--only", choices=("gateway", "service"), help="one figure of the two")
    parser.add_argument("--triton", choices=("twin", "down"), default="twin",
                        help="twin: the big jobs are dispatched (to a twin that refuses them); down: they stay queued")
    args = parser.parse_args()
    figures: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        baseline = archived(args.baseline_ref, Path(tmp) / "baseline") if args.baseline_ref else args.baseline
        for tree in trees(baseline):
            label = "this tree" if tree == REPO else f"baseline ({args.baseline_ref or tree})"
            print(f"== {label}", flush=True)
            worst = 0.0
            figures[label] = {}
            for phase, latencies in gateway_alone(tree, args.rounds).items() if args.only != "service" else ():
                if phase == "quiet":
                    print("  the REST gateway alone, GET /v1/health while each big body (or reply) is in flight:")
                if phase == "small predicts":
                    print("  the REST gateway alone, small POST /v1/predict one after another, nothing else in flight:")
                p50, p99, top = stats(latencies)
                print(f"    {phase:42s} n={len(latencies):5d}  p50 {p50:7.1f} ms  p99 {p99:7.1f} ms  max {top:7.1f} ms",
                      flush=True)
                if phase == "small predicts":
                    figures[label]["gateway_alone_small_predict_p50_ms"] = p50
                    figures[label]["gateway_alone_small_predict_p99_ms"] = p99
                    continue
                worst = worst if phase == "quiet" else max(worst, top)
                figures[label]["gateway_alone_health_max_ms"] = worst
                if phase != "quiet":
                    figures[label]["gateway_alone_health_p99_ms"] = max(
                        p99, figures[label].get("gateway_alone_health_p99_ms", 0.0))
            if args.only == "gateway":
                continue
            print("  the job service (its gateway in-process), while the big bodies are submitted:", flush=True)
            twin_stop = multiprocessing.Event()
            twin_port: multiprocessing.Queue = multiprocessing.Queue()  # type: ignore[type-arg]
            twin = multiprocessing.Process(target=triton_twin, args=(twin_port, twin_stop))
            if args.triton == "twin":
                twin.start()
            try:
                service = start_with_twin(tree, Path(tmp) / f"var{len(figures)}", {
                    "PHONOS_MODELS": "alphafold2,esmfold", "PHONOS_SSE_KEEPALIVE_S": str(SSE_KEEPALIVE_S)},
                    twin_port.get(timeout=60) if args.triton == "twin" else None)
                try:
                    figures[label].update(report(measure(service, args.rounds, args.quiet_seconds,
                                                         dispatched=args.triton == "twin")))
                finally:
                    service.stop()
            finally:
                if args.triton == "twin":
                    twin_stop.set()
                    twin.join(30)
    if len(figures) == 2:
        ours, base = figures.values()
        print("== worst while big bodies were in progress (baseline -> this tree)")
        for name in ours:
            print(f"  {name:20s} {base[name]:9.1f} -> {ours[name]:9.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
