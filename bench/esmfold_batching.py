"""ESMFold through a real tritonserver: dynamic batching vs one-at-a-time, and latency per length.

    PYTHONPATH=.:triton_models .venv/bin/python bench/esmfold_batching.py [--quick] [--json out.json]

Starts tritonserver (launcher/triton.py) with the `esmfold` model of this repository and
the weights the PHONOS_ESMFOLD_* environment selects (default: the tiny random model), then:

1. latency: one request at a time at each `--lengths` (default 50/100/200/400 aa), `--repeats`
   each; p50 and mean seconds. With `--direct`, the same model built in this process and called
   directly (no Triton) at the same lengths, and the ratio Triton/direct.
2. throughput at each `--throughput-lengths` (default 50, 100, 200 aa; sequences differ, lengths
   equal ±10 %), all in one run, side by side:
   - one-at-a-time: one instance, batching off, the next request sent when the previous returns
     (what a server configured for single requests gives), with the config's torch threads and, for
     each `--baseline-threads` T, with T threads (one request that may use T cores);
   - each `--served-configs` entry `IxT@D/B[+W]`: I instances with T torch threads each, dynamic batching
     with a D µs queue delay and a token budget of B padded residues per forward pass, W processes
     building the result files beside the forward pass (PHONOS_ESMFOLD_FILE_WORKERS; 0 = inside the
     instance, as before they existed; default: what the config ships), bursts of `--requests` with
     `--concurrency` in flight.
   Every mode is a copy of the model (same model.py, same weights) loaded at once in one extra
   tritonserver, and the modes take turns in `--rounds` rounds, so the background load of a shared
   machine drifts over all of them alike. Requests/s for each and the ratio to one-at-a-time with the
   same file workers (there is one such baseline per W in the modes); the mean batch size comes from
   each response's result metadata. So `1x1@2000/256+0 1x1@2000/256+1` measures the shipped config
   with the files built in the instance and in a worker, side by side.

`--num-recycles` applies to every request (default 1: N recycles = N+1 trunk passes).
bench/esmfold_gpu.sh runs the full-size architecture on a GPU with this script.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "triton_models")]

import numpy as np  # noqa: E402
import tritonclient.grpc as grpcclient  # noqa: E402
from phonos_models.common import result_files  # noqa: E402

from launcher.triton import TritonProcess  # noqa: E402
from phonos_config.triton_access import grpc_headers  # noqa: E402

AMINO_ACIDS = "ACDEFGHIKLMNPQRSTVWY"
MODEL = "esmfold"


def random_sequence(rng: random.Random, length: int) -> str:
    return "".join(rng.choice(AMINO_ACIDS) for _ in range(length))


def make_inputs(sequence: str, num_recycles: int, chunk_size: int) -> list[grpcclient.InferInput]:
    tensors = []
    for name, array, datatype in (
        ("SEQUENCE", np.array([[sequence.encode()]], dtype=object), "BYTES"),
        ("NUM_RECYCLES", np.array([[num_recycles]], dtype=np.int32), "INT32"),
        ("CHUNK_SIZE", np.array([[chunk_size]], dtype=np.int32), "INT32"),
        ("RELAX", np.array([[b"none"]], dtype=object), "BYTES"),
    ):
        tensor = grpcclient.InferInput(name, list(array.shape), datatype)
        tensor.set_data_from_numpy(array)
        tensors.append(tensor)
    return tensors


class StreamingClient:
    """The esmfold model is decoupled (progress responses, then the result): every request goes over one
    gRPC stream, and the response holding RESULT is the request's answer. Same calls as the plain client."""

    def __init__(self, url: str, api_secret: str = "") -> None:
        self._client = grpcclient.InferenceServerClient(url)
        self._headers = grpc_headers(api_secret)  # the server's key when its APIs are locked (launcher.triton)
        self._callbacks: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._ids = iter(range(1 << 62))
        self._client.start_stream(callback=self._on_response, headers=self._headers)

    def _on_response(self, result: Any, error: Any) -> None:
        if error is not None:  # stream errors carry no request id: fail every waiting request
            with self._lock:
                waiting, self._callbacks = self._callbacks, {}
            for callback in waiting.values():
                callback(None, error)
            return
        response = result.get_response()
        if result_files.RESULT not in {output.name for output in response.outputs}:
            return  # a progress response
        with self._lock:
            callback = self._callbacks.pop(response.id)
        callback(result, None)

    def async_infer(self, model: str, inputs: list, callback: Any, client_timeout: float | None = None) -> None:
        request_id = str(next(self._ids))
        with self._lock:
            self._callbacks[request_id] = callback
        self._client.async_stream_infer(model, inputs, request_id=request_id)

    def infer(self, model: str, inputs: list, client_timeout: float | None = None) -> Any:
        answered = threading.Event()
        answer: list[Any] = []

        def done(result: Any, error: Any) -> None:
            answer.append(error if error is not None else result)
            answered.set()

        self.async_infer(model, inputs, done)
        if not answered.wait(client_timeout):
            raise TimeoutError(f"{model} did not answer within {client_timeout} s")
        if isinstance(answer[0], Exception):
            raise answer[0]
        return answer[0]

    def get_model_config(self, model: str, as_json: bool = False) -> Any:
        return self._client.get_model_config(model, as_json=as_json, headers=self._headers)

    def load_model(self, model: str, config: str) -> None:
        self._client.load_model(model, config=config, headers=self._headers)

    def close(self) -> None:
        self._client.stop_stream()
        self._client.close()


def metadata_of(result: Any) -> dict[str, Any]:
    """The metadata of a response's result envelope (phonos_models.common.result_files)."""
    return result_files.decode({name: result.as_numpy(name) for name in result_files.OUTPUT_NAMES}).metadata


def batch_size_of(result: Any) -> int:
    return int(metadata_of(result)["batch_size"])


def latency(client: StreamingClient, sequences: Sequence[str], args: argparse.Namespace,
            model: str = MODEL) -> list[float]:
    times = []
    for sequence in sequences:
        started = time.perf_counter()
        client.infer(model, make_inputs(sequence, args.num_recycles, args.chunk_size), client_timeout=args.timeout)
        times.append(time.perf_counter() - started)
    return times


def concurrent(
    client: StreamingClient, sequences: Sequence[str], concurrency: int, args: argparse.Namespace,
    model: str = MODEL,
) -> tuple[float, float]:
    """(requests/s, mean batch size) with `concurrency` requests kept in flight."""
    slots = threading.Semaphore(concurrency)
    done = threading.Event()
    lock = threading.Lock()
    batch_sizes: list[int] = []
    errors: list[str] = []

    def finished(result: Any, error: Any) -> None:
        with lock:
            if error is not None:
                errors.append(str(error))
            else:
                batch_sizes.append(batch_size_of(result))
            if len(batch_sizes) + len(errors) == len(sequences):
                done.set()
        slots.release()

    started = time.perf_counter()
    for sequence in sequences:
        slots.acquire()
        client.async_infer(
            model, make_inputs(sequence, args.num_recycles, args.chunk_size), callback=finished,
            client_timeout=args.timeout,
        )
    if not done.wait(timeout=args.timeout * len(sequences)):
        raise TimeoutError("concurrent requests did not finish")
    elapsed = time.perf_counter() - started
    if errors:
        raise RuntimeError(f"{len(errors)} requests failed, first: {errors[0]}")
    return len(sequences) / elapsed, statistics.fmean(batch_sizes)


def parse_mode(text: str) -> tuple[int, int, int, int, int | None]:
    """`IxT@D/B[+W]` → (instances, torch threads per instance, queue delay µs, token budget, file workers or
    None for the config's), e.g. `2x1@2000/256+1`."""
    text, _, workers = text.partition("+")
    rest, _, budget = text.partition("/")
    shape, _, delay = rest.partition("@")
    instances, _, threads = shape.partition("x")
    return int(instances), int(threads or 1), int(delay or 0), int(budget or 0), int(workers) if workers else None


def mode_name(text: str) -> str:
    return "esmfold_" + "".join(c if c.isalnum() else "_" for c in text)


def baseline(workers: int | None, threads: int | None = None) -> str:
    """The one-at-a-time mode with these file workers and torch threads: `one` (the config's), `one+W`,
    `onexT+W` (T threads: what one request at a time gets when it may use T cores)."""
    return "one" + (f"x{threads}" if threads else "") + ("" if workers is None else f"+{workers}")


def parse_baseline(name: str) -> tuple[int | None, int | None]:
    """`baseline()`'s name back to (torch threads or None for the config's, file workers or None)."""
    rest = name.removeprefix("one")
    shape, _, workers = rest.partition("+")
    return (int(shape[1:]) if shape else None), (int(workers) if workers else None)


def variant_repository(root: Path, config_name: str, modes: Sequence[str],
                       baseline_threads: Sequence[int] = ()) -> dict[str, str]:
    """A model repository holding the ESMFold model once per mode (the same model.py, by symlink): one
    one-at-a-time baseline (one instance, batching off) per file-worker setting among `modes`, and each
    mode. Returns {mode: model name}."""
    from google.protobuf import text_format
    from tritonclient.grpc import model_config_pb2

    source = REPO / "triton_models" / MODEL
    base_text = (source / "configs" / f"{config_name}.pbtxt" if config_name else source / "config.pbtxt").read_text()
    worker_settings = sorted({parse_mode(mode)[4] for mode in modes}, key=lambda w: -1 if w is None else w)
    baselines = [baseline(w, t) for w in (worker_settings or [None]) for t in (None, *baseline_threads)]
    names = {}
    for mode in (*baselines, *modes):
        config = text_format.Parse(base_text, model_config_pb2.ModelConfig())
        config.name = mode_name(mode)
        if mode in baselines:
            threads_or_none, workers = parse_baseline(mode)
            instances, delay, budget = 1, 0, 0
            threads = threads_or_none or int(config.parameters["PHONOS_ESMFOLD_NUM_THREADS"].string_value)
        else:
            instances, threads, delay, budget, workers = parse_mode(mode)
        config.instance_group[0].count = instances
        config.parameters["PHONOS_ESMFOLD_NUM_THREADS"].string_value = str(threads)
        config.parameters["PHONOS_ESMFOLD_MAX_TOKENS_PER_BATCH"].string_value = str(budget)
        if workers is not None:
            config.parameters["PHONOS_ESMFOLD_FILE_WORKERS"].string_value = str(workers)
        if mode in baselines:
            config.ClearField("dynamic_batching")
        else:
            config.dynamic_batching.max_queue_delay_microseconds = delay
        (root / config.name / "1").mkdir(parents=True)
        (root / config.name / "1" / "model.py").symlink_to(source / "1" / "model.py")
        (root / config.name / "config.pbtxt").write_text(text_format.MessageToString(config))
        names[mode] = config.name
    return names


def throughput(rng: random.Random, args: argparse.Namespace, work: Path) -> dict:
    """One-at-a-time against each served mode at every throughput length, interleaved in rounds on one
    server (every mode is loaded at once), so drifting background load hits all modes alike."""
    names = variant_repository(work / "models", args.config_name, args.served_configs, args.baseline_threads)
    baselines = [mode for mode in names if mode.startswith("one")]
    with TritonProcess.start(work / "models", list(names.values()), log_path=work / "triton_variants.log") as triton:
        triton.wait_ready(timeout_s=900)
        client = StreamingClient(triton.grpc_url, triton.api_secret)
        for name in names.values():  # first requests pay for imports, font caches, allocator growth
            latency(client, [random_sequence(rng, 40)] * 2, args, model=name)
        rows = []
        for n in args.throughput_lengths:
            def load(count: int, n: int = n) -> list[str]:
                return [random_sequence(rng, rng.randint(int(n * 0.9), int(n * 1.1))) for _ in range(count)]

            totals = {mode: [0, 0.0] for mode in names}  # requests, seconds
            batches: dict[str, list[float]] = {mode: [] for mode in args.served_configs}
            for _ in range(args.rounds):
                for mode in baselines:
                    sequential = latency(client, load(args.sequential_per_round), args, model=names[mode])
                    totals[mode][0] += len(sequential)
                    totals[mode][1] += sum(sequential)
                for mode in args.served_configs:
                    burst = load(args.requests)
                    started = time.perf_counter()
                    _, mean_batch = concurrent(client, burst, args.concurrency, args, model=names[mode])
                    totals[mode][0] += len(burst)
                    totals[mode][1] += time.perf_counter() - started
                    batches[mode].append(mean_batch)
            rates = {mode: totals[mode][0] / totals[mode][1] for mode in names}
            row: dict[str, Any] = {"length_aa": n, "one_at_a_time_rps": {mode: rates[mode] for mode in baselines}}
            for mode in args.served_configs:
                workers = parse_mode(mode)[4]
                one = rates[baseline(workers)]
                more_threads = {f"one at a time, {t} threads": rates[baseline(workers, t)] for t in args.baseline_threads}
                row[mode] = {"rps": rates[mode], "vs_one_at_a_time": rates[mode] / one,
                             "mean_batch_size": statistics.fmean(batches[mode]),
                             **{f"vs_{name}": rates[mode] / rps for name, rps in more_threads.items()}}
                against = "".join(f"; vs {name} {rps:.2f}: {rates[mode] / rps:.2f}x" for name, rps in more_threads.items())
                print(f"{n:4d} aa {mode}: {rates[mode]:.2f} req/s vs one at a time {one:.2f}: {rates[mode] / one:.2f}x "
                      f"(mean batch {row[mode]['mean_batch_size']:.1f}){against}", flush=True)
            rows.append(row)
        client.close()
    return {"concurrency": args.concurrency, "rounds": args.rounds, "by_length": rows}


def direct_latency(lengths: Sequence[int], sequences: dict[int, list[str]], args: argparse.Namespace) -> dict:
    """The same model in this process, no Triton: the reference for the serving overhead."""
    import torch
    from phonos_models.esmfold.batching import make_job
    from phonos_models.esmfold.loading import load_model
    from phonos_models.esmfold.predict import fold

    from phonos_config.esmfold import EsmFoldSettings

    settings = EsmFoldSettings.from_env(os.environ)
    torch.set_num_threads(settings.num_threads)
    device = "cuda:0" if args.device == "cuda" else "cpu"
    loaded = load_model(settings.weights_dir, settings.tiny_seed, device, settings.random_architecture)
    out: dict[int, dict[str, float]] = {}
    for length in lengths:
        jobs = [
            make_job(s, args.num_recycles, args.chunk_size, max_length=10**6,
                     auto_chunk_length=settings.auto_chunk_length, auto_chunk_size=settings.auto_chunk_size,
                     max_chains=settings.max_chains)
            for s in sequences[length]
        ]
        fold(loaded.model, jobs[:1])  # warm-up (CUDA kernels, allocator)
        times = []
        for job in jobs:
            if device != "cpu":
                torch.cuda.synchronize()
            started = time.perf_counter()
            fold(loaded.model, [job])
            if device != "cpu":
                torch.cuda.synchronize()
            times.append(time.perf_counter() - started)
        out[length] = {"p50_s": statistics.median(times), "mean_s": statistics.fmean(times)}
    return {"weights": loaded.weights.short, "latency": out}


def latency_via_triton(args: argparse.Namespace, rng: random.Random, sequences: dict[int, list[str]],
                       report: dict[str, Any]) -> None:
    extra = [f"--model-config-name={args.config_name}"] if args.config_name else []
    with TritonProcess.start(models=[MODEL], extra_args=extra, log_path=Path("/tmp/esmfold_bench_triton.log")) as triton:
        started = time.perf_counter()
        triton.wait_ready(timeout_s=900)
        report["triton_ready_s"] = round(time.perf_counter() - started, 1)
        client = StreamingClient(triton.grpc_url, triton.api_secret)
        warm = client.infer(MODEL, make_inputs(random_sequence(rng, 30), args.num_recycles, args.chunk_size))
        metadata = metadata_of(warm)
        report["weights"] = metadata["weights"] | {"real": metadata["real_weights"]}
        report["triton_latency"] = {}
        for length in args.lengths:
            times = latency(client, sequences[length], args)
            report["triton_latency"][length] = {"p50_s": statistics.median(times), "mean_s": statistics.fmean(times)}
            print(f"latency {length:4d} aa via Triton: p50 {statistics.median(times):.3f} s", flush=True)
        client.close()


def main(argv: Sequence[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lengths", type=int, nargs="*", default=[50, 100, 200, 400])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--throughput-lengths", type=int, nargs="*", default=[50, 100, 200])
    parser.add_argument("--served-configs", nargs="*", default=["2x1@2000/256", "1x1@2000/256", "2x1@2000/0"],
                        help="IxT@D/B[+W]: instances x torch threads per instance @ dynamic-batching queue delay (µs) "
                             "/ token budget per forward pass (0 = none) + result-file worker processes (0 = in "
                             "the instance; default: the config's); the first is what config.pbtxt ships")
    parser.add_argument("--baseline-threads", type=int, nargs="*", default=[],
                        help="also time one request at a time with T torch threads (e.g. 2: one request may use two "
                             "cores), and print each mode's ratio to it")
    parser.add_argument("--requests", type=int, default=16,
                        help="requests per served burst (per round); 0 skips throughput")
    parser.add_argument("--sequential-per-round", type=int, default=2, help="one-at-a-time requests per round")
    parser.add_argument("--rounds", type=int, default=2, help="rounds of (one at a time, each served mode)")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--num-recycles", type=int, default=1)
    parser.add_argument("--chunk-size", type=int, default=0, help="0 = off (auto above the threshold)")
    parser.add_argument("--config-name", default="", help="Triton --model-config-name, e.g. gpu")
    parser.add_argument("--direct", action="store_true", help="also time the model called directly")
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu", help="device of the --direct model")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds per request")
    parser.add_argument("--quick", action="store_true", help="smoke run: short lengths, few requests")
    parser.add_argument("--json", type=Path, help="also write the report here")
    args = parser.parse_args(argv)
    # SIGTERM unwinds like Ctrl-C, so the tritonservers started here are stopped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if args.quick:
        args.lengths, args.repeats, args.requests, args.concurrency = [50, 100], 2, 16, 8
        args.throughput_lengths, args.rounds = [50], 1

    rng = random.Random(0)
    sequences = {n: [random_sequence(rng, n) for _ in range(args.repeats)] for n in args.lengths}
    report: dict[str, Any] = {"num_recycles": args.num_recycles, "chunk_size": args.chunk_size}

    if args.lengths:
        latency_via_triton(args, rng, sequences, report)
    if args.requests:
        with tempfile.TemporaryDirectory() as work:
            report["throughput"] = throughput(rng, args, Path(work))
    if args.direct:
        direct = direct_latency(args.lengths, sequences, args)
        report["direct_latency"] = direct["latency"]
        report["triton_vs_direct"] = {
            n: report["triton_latency"][n]["p50_s"] / direct["latency"][n]["p50_s"] for n in args.lengths
        }
    print(json.dumps(report, indent=2))
    for row in report.get("throughput", {}).get("by_length", []):
        ones = ", ".join(f"{mode} {rps:.2f}" for mode, rps in row["one_at_a_time_rps"].items())
        served = ", ".join(f"{c} {row[c]['rps']:.2f} req/s ({row[c]['vs_one_at_a_time']:.2f}x, batch "
                           f"{row[c]['mean_batch_size']:.1f})" for c in args.served_configs)
        print(f"throughput ~{row['length_aa']} aa: one at a time {ones} req/s; {served}")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    return report


if __name__ == "__main__":
    main()
