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
     (what a server configured for single requests gives);
   - each `--served-configs` entry `IxT@D`: I instances with T torch threads each, dynamic batching
     with a D µs queue delay, `--concurrency` requests kept in flight. The model is reloaded with
     that config through Triton's load-with-config API (no restart), so every mode runs on the
     same server and weights.
   Requests/s for each and the ratio to one-at-a-time. The mean batch size comes from each
   response's result metadata.

`--num-recycles` applies to every request (default 1: N recycles = N+1 trunk passes).
bench/esmfold_gpu.sh runs the full-size architecture on a GPU with this script.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
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
    ):
        tensor = grpcclient.InferInput(name, list(array.shape), datatype)
        tensor.set_data_from_numpy(array)
        tensors.append(tensor)
    return tensors


def metadata_of(result: Any) -> dict[str, Any]:
    """The metadata of a response's result envelope (phonos_models.common.result_files)."""
    return result_files.decode({name: result.as_numpy(name) for name in result_files.OUTPUT_NAMES}).metadata


def batch_size_of(result: Any) -> int:
    return int(metadata_of(result)["batch_size"])


def latency(client: grpcclient.InferenceServerClient, sequences: Sequence[str], args: argparse.Namespace) -> list[float]:
    times = []
    for sequence in sequences:
        started = time.perf_counter()
        client.infer(MODEL, make_inputs(sequence, args.num_recycles, args.chunk_size), client_timeout=args.timeout)
        times.append(time.perf_counter() - started)
    return times


def concurrent(
    client: grpcclient.InferenceServerClient, sequences: Sequence[str], concurrency: int, args: argparse.Namespace
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
            MODEL, make_inputs(sequence, args.num_recycles, args.chunk_size), callback=finished,
            client_timeout=args.timeout,
        )
    if not done.wait(timeout=args.timeout * len(sequences)):
        raise TimeoutError("concurrent requests did not finish")
    elapsed = time.perf_counter() - started
    if errors:
        raise RuntimeError(f"{len(errors)} requests failed, first: {errors[0]}")
    return len(sequences) / elapsed, statistics.fmean(batch_sizes)


def parse_served(text: str) -> tuple[int, int, int]:
    """`IxT@D` → (instances, threads per instance, queue delay µs), e.g. `2x1@0`."""
    shape, _, delay = text.partition("@")
    instances, _, threads = shape.partition("x")
    return int(instances), int(threads or 1), int(delay or 0)


def reload(client: grpcclient.InferenceServerClient, base: dict[str, Any], instances: int, threads: int,
           delay_us: int | None) -> None:
    """Reload the model with I instances of T threads; `delay_us` None turns dynamic batching off."""
    config = json.loads(json.dumps(base))
    config["instance_group"] = [{**config["instance_group"][0], "count": instances}]
    config.setdefault("parameters", {})["PHONOS_ESMFOLD_NUM_THREADS"] = {"string_value": str(threads)}
    if delay_us is None:
        config.pop("dynamic_batching", None)
    else:
        config["dynamic_batching"] = {"max_queue_delay_microseconds": delay_us}
    client.load_model(MODEL, config=json.dumps(config))


def throughput(client: grpcclient.InferenceServerClient, rng: random.Random, args: argparse.Namespace) -> dict:
    """One-at-a-time against each served config, at every throughput length, on one server."""
    base = client.get_model_config(MODEL, as_json=True)["config"]
    loads = {n: [random_sequence(rng, rng.randint(int(n * 0.9), int(n * 1.1))) for _ in range(args.requests)]
             for n in args.throughput_lengths}
    rows: dict[int, dict[str, Any]] = {n: {"length_aa": n, "requests": args.requests} for n in loads}
    reload(client, base, 1, 1, None)
    for n, load in loads.items():
        sequential = latency(client, load[: max(4, len(load) // 2)], args)
        rows[n]["one_at_a_time_rps"] = len(sequential) / sum(sequential)
        print(f"{n:4d} aa one at a time: {rows[n]['one_at_a_time_rps']:.2f} req/s", flush=True)
    for served in args.served_configs:
        instances, threads, delay = parse_served(served)
        reload(client, base, instances, threads, delay)
        for n, load in loads.items():
            rps, mean_batch = concurrent(client, load, args.concurrency, args)
            ratio = rps / rows[n]["one_at_a_time_rps"]
            rows[n][served] = {"rps": rps, "mean_batch_size": mean_batch, "vs_one_at_a_time": ratio}
            print(f"{n:4d} aa served {served}: {rps:.2f} req/s, mean batch {mean_batch:.1f}, {ratio:.2f}x", flush=True)
    client.load_model(MODEL, config=json.dumps(base))  # as configured again
    return {"concurrency": args.concurrency, "by_length": list(rows.values())}


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
                     auto_chunk_length=settings.auto_chunk_length, auto_chunk_size=settings.auto_chunk_size)
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


def main(argv: Sequence[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lengths", type=int, nargs="*", default=[50, 100, 200, 400])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--throughput-lengths", type=int, nargs="*", default=[50, 100, 200])
    parser.add_argument("--served-configs", nargs="*", default=["1x1@20000", "1x1@0", "2x1@0"],
                        help="IxT@D: instances x torch threads per instance @ dynamic-batching queue delay (µs)")
    parser.add_argument("--requests", type=int, default=32, help="requests per throughput mode; 0 skips throughput")
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
    if args.quick:
        args.lengths, args.repeats, args.requests, args.concurrency = [50, 100], 2, 16, 8
        args.throughput_lengths = [50]

    rng = random.Random(0)
    sequences = {n: [random_sequence(rng, n) for _ in range(args.repeats)] for n in args.lengths}
    extra = [f"--model-config-name={args.config_name}"] if args.config_name else []
    report: dict[str, Any] = {"num_recycles": args.num_recycles, "chunk_size": args.chunk_size}

    with TritonProcess.start(models=[MODEL], extra_args=extra, log_path=Path("/tmp/esmfold_bench_triton.log")) as triton:
        started = time.perf_counter()
        triton.wait_ready(timeout_s=900)
        report["triton_ready_s"] = round(time.perf_counter() - started, 1)
        client = grpcclient.InferenceServerClient(triton.grpc_url)
        warm = client.infer(MODEL, make_inputs(random_sequence(rng, 30), args.num_recycles, args.chunk_size))
        metadata = metadata_of(warm)
        report["weights"] = metadata["weights"] | {"real": metadata["real_weights"]}
        report["triton_latency"] = {}
        for length in args.lengths:
            times = latency(client, sequences[length], args)
            report["triton_latency"][length] = {"p50_s": statistics.median(times), "mean_s": statistics.fmean(times)}
            print(f"latency {length:4d} aa via Triton: p50 {statistics.median(times):.3f} s", flush=True)
        if args.requests:
            report["throughput"] = throughput(client, rng, args)
        client.close()
    if args.direct:
        direct = direct_latency(args.lengths, sequences, args)
        report["direct_latency"] = direct["latency"]
        report["triton_vs_direct"] = {
            n: report["triton_latency"][n]["p50_s"] / direct["latency"][n]["p50_s"] for n in args.lengths
        }
    print(json.dumps(report, indent=2))
    for row in report.get("throughput", {}).get("by_length", []):
        served = ", ".join(f"{c} {row[c]['rps']:.2f} req/s ({row[c]['vs_one_at_a_time']:.2f}x, batch "
                           f"{row[c]['mean_batch_size']:.1f})" for c in args.served_configs)
        print(f"throughput ~{row['length_aa']} aa: one at a time {row['one_at_a_time_rps']:.2f} req/s; {served}")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    return report


if __name__ == "__main__":
    main()
