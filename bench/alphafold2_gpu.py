"""Full-size AlphaFold2 (random params in DeepMind's layout) at 100 / 300 aa on a GPU, bare and served.

    python bench/alphafold2_gpu.py [--lengths 100,300] [--no-served] [--json out.json]

Needs JAX with CUDA (`pip install -c constraints.txt "jax[cuda12]"`, same
version as jaxlib). Writes random params shaped like DeepMind's
`params_model_1.npz` into a temp dir and loads them through the production
loader, then times one model (monomer preset, DeepMind's 3 recycles) on a
synthetic MSA deep enough (5,632 rows) to fill the full 512 cluster + 5,120
extra-MSA stacks, as a real uniref90/mgnify/BFD search does.
Reference: DeepMind's README (A100, model inference without MSA search):
100 aa 4.9 s, 300 aa 13 s. Templates are off here (no template database),
which DeepMind's timing included; expect a few percent less work.

Served: then the same params, lengths and MSA through a real tritonserver (`alphafold2` with
configs/gpu.pbtxt, the job service's own spec building the request and `TritonInference` sending it),
two calls per length; the steady (second) call against the bare one is the serving overhead.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "triton_models")]
# This process and the served tritonserver share the GPU: no 75 % preallocation here.
os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")

import jax  # noqa: E402
import numpy as np  # noqa: E402
from phonos_models.alphafold2 import architecture  # noqa: E402
from phonos_models.alphafold2 import weights as w  # noqa: E402
from phonos_models.alphafold2.pipeline import Engine, Request  # noqa: E402
from phonos_models.alphafold2.runner import CompiledModel  # noqa: E402

from phonos_config.alphafold2 import AlphaFold2Settings  # noqa: E402

DEEPMIND_A100_S = {100: 4.9, 300: 13.0}  # github.com/google-deepmind/alphafold README, "Running time"
MSA_ROWS = 512 + 5120  # fills model 1's cluster and extra-MSA stacks (AF2 Suppl. Table 5)
SEED_SEQUENCE = "MQIFVKTLTGKTITLEVEPSDTIENVKAKIQDKEGIPPDQQRLIFAGKQLEDGRTLSDYNIQKESTLHLVLRLRGG"


def deep_a3m(query: str, rows: int, seed: int = 0) -> str:
    """The query plus `rows - 1` random 30 %-substitution variants (timing only: content is irrelevant)."""
    rng = np.random.default_rng(seed)
    letters = np.array(list("ACDEFGHIKLMNPQRSTVWY"))
    base = np.array(list(query))
    out = [f">query\n{query}\n"]
    for i in range(rows - 1):
        row = base.copy()
        hit = rng.random(len(query)) < 0.3
        row[hit] = rng.choice(letters, size=int(hit.sum()))
        out.append(f">v{i}\n{''.join(row)}\n")
    return "".join(out)


def served(work: Path, lengths: list[int], queries: dict[int, str]) -> dict[int, dict[str, float]]:
    """Two calls per length through tritonserver, as the job service sends them."""
    from jobservice.modelspecs.alphafold2 import AlphaFold2Spec
    from jobservice.modelspecs.base import NoAccount
    from launcher.triton import TritonProcess
    from tests.support import infer_through_the_port

    env = {**os.environ, "PHONOS_ALPHAFOLD2_PARAMS_DIR": str(work),
           "PHONOS_ALPHAFOLD2_LENGTH_BUCKETS": ",".join(map(str, lengths)),
           "PHONOS_ALPHAFOLD2_COMPILE_CACHE": str(work / "jax_cache")}
    spec = AlphaFold2Spec(AlphaFold2Settings.from_env(env))
    out: dict[int, dict[str, float]] = {}
    with TritonProcess.start(models=["alphafold2"], extra_args=["--model-config-name=gpu"], env=env,
                             log_path=work / "triton.log") as triton:
        triton.wait_ready(timeout_s=1800)
        for length in lengths:
            query = queries[length]
            params = {"model_preset": "monomer", "num_recycles": 3, "msa_mode": "a3m",
                      "a3m": deep_a3m(query, MSA_ROWS), "max_msa_seqs": MSA_ROWS}
            job = asyncio.run(spec.validate(query, params, NoAccount()))
            times = []
            for _ in range(2):
                tick = time.perf_counter()
                infer_through_the_port(triton.grpc_url, "alphafold2", spec.inputs(job), timeout_s=3600)
                times.append(time.perf_counter() - tick)
            out[length] = {"first_call_s": round(times[0], 2), "steady_s": round(times[1], 2)}
            print(json.dumps({"length": length, "served": out[length]}), flush=True)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lengths", default="100,300")
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--no-served", action="store_true", help="skip the run through tritonserver")
    args = parser.parse_args()
    lengths = [int(x) for x in args.lengths.split(",")]
    devices = jax.devices()
    print(f"devices: {devices}", flush=True)
    if devices[0].platform != "gpu":
        print("warning: no GPU visible to JAX; this measures the CPU", flush=True)

    work = Path(tempfile.mkdtemp(prefix="phonos-af2-gpu-"))
    start = time.perf_counter()
    writer_cfg = architecture.build_config("model_1", "monomer", tiny=False, use_templates=True, num_recycles=3)
    w.write_npz(work / "params" / "params_model_1.npz",
                w.random_deepmind_params(CompiledModel(writer_cfg).param_shapes(), seed=0))
    print(f"random full-size params written in {time.perf_counter() - start:.1f} s", flush=True)

    engine = Engine(AlphaFold2Settings.from_env({
        "PHONOS_ALPHAFOLD2_PARAMS_DIR": str(work),
        "PHONOS_ALPHAFOLD2_LENGTH_BUCKETS": ",".join(map(str, lengths)),
        "PHONOS_ALPHAFOLD2_COMPILE_CACHE": str(work / "jax_cache"),
    }))
    rows = []
    queries = {n: (SEED_SEQUENCE * (n // len(SEED_SEQUENCE) + 1))[:n] for n in lengths}
    for length in lengths:
        query = queries[length]
        times = []
        for _ in range(2):
            tick = time.perf_counter()
            prediction = engine.predict(Request(sequence=query, model_preset="monomer", num_recycles=3, msa_mode="a3m",
                                                a3m=deep_a3m(query, MSA_ROWS), max_msa_seqs=MSA_ROWS))
            times.append(time.perf_counter() - tick)
        row = {"length": length, "first_call_s": round(times[0], 2), "steady_s": round(times[1], 2),
               "model_s": prediction.timings["models"]["model_1"], "deepmind_a100_s": DEEPMIND_A100_S.get(length)}
        rows.append(row)
        print(json.dumps(row), flush=True)
    if not args.no_served:
        through_triton = served(work, lengths, queries)
        for row in rows:
            row["served_steady_s"] = through_triton[row["length"]]["steady_s"]
            row["served_vs_bare"] = round(row["served_steady_s"] / row["steady_s"], 3)
            print(f"{row['length']} aa: bare {row['steady_s']} s, served {row['served_steady_s']} s "
                  f"({row['served_vs_bare']}x)", flush=True)
    report = {"device": str(devices[0]), "preset": "monomer", "model": "model_1", "num_recycles": 3,
              "weights": "full-size random (DeepMind layout), not a real prediction", "rows": rows}
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
