"""ESMFold through a real tritonserver: dynamic batching vs one-at-a-time, and latency per length.

    PYTHONPATH=.:triton_models .venv/bin/python bench/esmfold_batching.py [--quick] [--json out.json]

Starts tritonserver (launcher/triton.py) with the `esmfold` model of this repository and
the weights the PHONOS_ESMFOLD_* environment selects (default: the tiny random model), then:

1. latency: one request at a time at each `--lengths` (default 50/100/200/400 aa), `--repeats`
   each; p50 and mean seconds. With `--direct`, the same model built in this process and called
   directly (no Triton) at the same lengths, and the ratio Triton/direct.
2. throughput at `--throughput-length` aa (sequences differ, lengths equal ±10 %):
   - one-at-a-time: the next request is sent when the previous returns;
   - dynamic batching: `--concurrency` requests in flight, the model's config as written;
   - concurrent without batching: the same load after reloading the model with its
     `dynamic_batching` block removed (Triton's load-with-config API), to separate what
     batching buys from what concurrency alone buys.
   Requests/s for each and the ratios. The mean batch size comes from each response's result metadata.

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


class StreamingClient:
    """The esmfold model is decoupled (progress responses, then the result): every request goes over one
    gRPC stream, and the response holding RESULT is the request's answer. Same calls as the plain client."""

    def __init__(self, url: str) -> None:
        self._client = grpcclient.InferenceServerClient(url)
        self._callbacks: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._ids = iter(range(1 << 62))
        self._client.start_stream(callback=self._on_response)

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
        return self._client.get_model_config(model, as_json=as_json)

    def load_model(self, model: str, config: str) -> None:
        self._client.load_model(model, config=config)

    def close(self) -> None:
        self._client.stop_stream()
        self._client.close()


def metadata_of(result: Any) -> dict[str, Any]:
    """The metadata of a response's result envelope (phonos_models.common.result_files)."""
    return result_files.decode({name: result.as_numpy(name) for name in result_files.OUTPUT_NAMES}).metadata


def batch_size_of(result: Any) -> int:
    return int(metadata_of(result)["batch_size"])


def latency(client: StreamingClient, sequences: Sequence[str], args: argparse.Namespace) -> list[float]:
    times = []
    for sequence in sequences:
        started = time.perf_counter()
        client.infer(MODEL, make_inputs(sequence, args.num_recycles, args.chunk_size), client_timeout=args.timeout)
        times.append(time.perf_counter() - started)
    return times


def concurrent(
    client: StreamingClient, sequences: Sequence[str], concurrency: int, args: argparse.Namespace
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


def reload_without_batching(client: StreamingClient) -> None:
    config = client.get_model_config(MODEL, as_json=True)["config"]
    config.pop("dynamic_batching", None)
    client.load_model(MODEL, config=json.dumps(config))


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
    parser.add_argument("--throughput-length", type=int, default=50)
    parser.add_argument("--requests", type=int, default=48, help="requests per throughput mode; 0 skips throughput")
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

    rng = random.Random(0)
    sequences = {n: [random_sequence(rng, n) for _ in range(args.repeats)] for n in args.lengths}
    around = args.throughput_length
    load = [random_sequence(rng, rng.randint(int(around * 0.9), int(around * 1.1))) for _ in range(args.requests)]
    extra = [f"--model-config-name={args.config_name}"] if args.config_name else []
    report: dict[str, Any] = {"num_recycles": args.num_recycles, "chunk_size": args.chunk_size}

    with TritonProcess.start(models=[MODEL], extra_args=extra, log_path=Path("/tmp/esmfold_bench_triton.log")) as triton:
        started = time.perf_counter()
        triton.wait_ready(timeout_s=900)
        report["triton_ready_s"] = round(time.perf_counter() - started, 1)
        client = StreamingClient(triton.grpc_url)
        warm = client.infer(MODEL, make_inputs(random_sequence(rng, 30), args.num_recycles, args.chunk_size))
        metadata = metadata_of(warm)
        report["weights"] = metadata["weights"] | {"real": metadata["real_weights"]}
        report["triton_latency"] = {}
        for length in args.lengths:
            times = latency(client, sequences[length], args)
            report["triton_latency"][length] = {"p50_s": statistics.median(times), "mean_s": statistics.fmean(times)}
            print(f"latency {length:4d} aa via Triton: p50 {statistics.median(times):.3f} s", flush=True)
        if args.requests:
            sequential = latency(client, load, args)
            one_at_a_time = len(load) / sum(sequential)
            batched, mean_batch = concurrent(client, load, args.concurrency, args)
            reload_without_batching(client)
            unbatched, _ = concurrent(client, load, args.concurrency, args)
            report["throughput"] = {
                "length_aa": around,
                "requests": len(load),
                "concurrency": args.concurrency,
                "one_at_a_time_rps": one_at_a_time,
                "dynamic_batching_rps": batched,
                "mean_batch_size": mean_batch,
                "concurrent_unbatched_rps": unbatched,
                "batching_vs_one_at_a_time": batched / one_at_a_time,
                "batching_vs_concurrent_unbatched": batched / unbatched,
            }
        client.close()
    if args.direct:
        direct = direct_latency(args.lengths, sequences, args)
        report["direct_latency"] = direct["latency"]
        report["triton_vs_direct"] = {
            n: report["triton_latency"][n]["p50_s"] / direct["latency"][n]["p50_s"] for n in args.lengths
        }
    print(json.dumps(report, indent=2))
    if "throughput" in report:
        t = report["throughput"]
        print(
            f"throughput at ~{around} aa: one-at-a-time {t['one_at_a_time_rps']:.2f} req/s, dynamic batching "
            f"{t['dynamic_batching_rps']:.2f} req/s (mean batch {t['mean_batch_size']:.1f}), ratio "
            f"{t['batching_vs_one_at_a_time']:.2f}x; concurrent without batching {t['concurrent_unbatched_rps']:.2f} req/s"
        )
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    return report


if __name__ == "__main__":
    main()
