"""Our DiffDock sampling against a timing harness of the reference algorithm, side by side in one run.

    PYTHONPATH=.:triton_models .venv/bin/python bench/diffdock_reference_harness.py [--threads 2] [--reps 2]

The reference code cannot run here (it needs compiled torch-cluster/torch-scatter), so this harness
re-expresses, in our own code, how the reference computes the part that takes the time: the
equivariant convolutions (a profile of one forward puts nearly all of it there; notes §3.3, §10).
Everything else — featurisation, graph building, embeddings, heads, diffusion updates, the
confidence crop — is our code in both arms, on the same network objects (same state dicts), the
same inputs and the same sampling schedule (10 samples in one batch, 20-step grid → 19 steps, then
the confidence model at t = 0).

Inside `reference_convolutions()` every `TensorProductConvLayer` computes its messages as the
reference does (notes §3.3, read from its `TensorProductConvLayer` and `FasterTensorProduct`):

* per-edge weights from the FC on ALL edges of a layer at once (`[E, weight_numel]`, bias added by
  the Linear, no chunking, no per-sender contraction), one FC per edge group, concatenated; then
  multiplied by the layer's `edge_weight` (1.0: one more pass over that tensor, as in the reference);
* the product on every edge: the l ≤ 1 product of the DiffDock-S score model as the reference
  spells it (`reference_product`: candidates scaled by 1/√3, 1/√2 on the edges, each weight block
  reshaped and divided by √fan-in per edge, scalar outputs by a batched matmul, vector outputs by a
  broadcast multiply summed over the inputs), or e3nn's `FullyConnectedTensorProduct(in, sh, out,
  shared_weights=False)` (the v1.0 confidence model, and the score model's e3nn layers) called on
  `(h[sender], sh, w)`;
* a scatter mean onto the receivers (index_add_ + counts, standing in for torch_scatter's mean);
* then the layer's residual / BatchNorm order, which is ours (the same as the reference's).

Not swapped, because per call they cost the same in both: the torus score norm is a table look-up
in both (the reference fills its table by Monte Carlo once at import, outside sampling; ours ships
it), and so is the SO(3) score norm. Graph building uses our pure-torch kNN/radius code in both
arms, where the reference calls torch-cluster.

Before timing, one forward of each network per arm (t = 1, 0.5, 0.1 and the confidence model, fresh
batches) checks that the harness computes the same scores as our model (max abs / rel difference).
Then score forwards and whole sampling runs alternate between the two arms (`--reps`,
`--sampling-reps`); minima and medians, and ours/harness ratios, are printed as one JSON object.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import statistics
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from functools import partial
from pathlib import Path

import torch
from phonos_models.diffdock.edge_messages import FasterTensorProduct
from phonos_models.diffdock.layers import TensorProductConvLayer
from torch import Tensor

sys.path.insert(0, str(Path(__file__).resolve().parent))  # diffdock_bench, diffdock_baseline beside this file

# --- the reference algorithm of one convolution ------------------------------------------------------------


def reference_product(tp: FasterTensorProduct, x: Tensor, sh: Tensor, weight: Tensor) -> Tensor:
    """The l ≤ 1 weighted tensor product computed edge by edge the way the reference does.

    x [E, in], sh [E, 4], weight [E, weight_numel] (raw FC output) → [E, out]. Same result as
    `tp(x, sh, weight)`; the cost profile is the reference's: candidates built per edge with their
    constants, every weight block divided by √fan-in on the edges, vector outputs as an
    [E, in, out, 3] broadcast product summed over the inputs.
    """
    e = x.shape[0]
    y0, y1 = sh[:, 0:1], sh[:, 1:4].unsqueeze(1)  # [E, 1], [E, 1, 3]
    blocks: dict[str, Tensor] = {}
    for (mul, ir), sl in zip(tp.in_irreps, tp.in_irreps.slices(), strict=True):
        blocks[str(ir)] = x[:, sl].reshape(e, mul, 3) if ir.l == 1 else x[:, sl]
    cands: dict[str, list[Tensor]] = {"0e": [], "1o": [], "1e": [], "0o": []}
    if "0e" in blocks:
        cands["0e"].append(blocks["0e"] * y0)
        cands["1o"].append(blocks["0e"].unsqueeze(2) * y1)
    if "1o" in blocks:
        cands["0e"].append((blocks["1o"] * y1).sum(2) / math.sqrt(3))
        cands["1o"].append(blocks["1o"] * y0.unsqueeze(2))
        cands["1e"].append(torch.linalg.cross(blocks["1o"], y1.expand_as(blocks["1o"]), dim=-1) / math.sqrt(2))
    if "1e" in blocks:
        cands["1o"].append(torch.linalg.cross(blocks["1e"], y1.expand_as(blocks["1e"]), dim=-1) / math.sqrt(2))
        cands["1e"].append(blocks["1e"] * y0.unsqueeze(2))
        cands["0o"].append((blocks["1e"] * y1).sum(2) / math.sqrt(3))
    if "0o" in blocks:
        cands["1e"].append(blocks["0o"].unsqueeze(2) * y1)
        cands["0o"].append(blocks["0o"] * y0)
    out: dict[str, Tensor] = {}
    start = 0
    for key in ("0e", "1o", "1e", "0o"):
        n_in, n_out = tp.block_in[key], tp.out_mul[key]
        w = weight[:, start : start + n_in * n_out].reshape(e, n_in, n_out) / math.sqrt(max(n_in, 1))
        start += n_in * n_out
        if not cands[key]:
            out[key] = x.new_zeros(e, n_out * (3 if key in ("1o", "1e") else 1))
        elif key in ("1o", "1e"):  # [E, in, 1, 3] * [E, in, out, 1] summed over in
            out[key] = (torch.cat(cands[key], 1).unsqueeze(2) * w.unsqueeze(3)).sum(1).reshape(e, -1)
        else:
            out[key] = torch.matmul(torch.cat(cands[key], 1).unsqueeze(1), w).squeeze(1)
    return torch.cat([out[str(ir)] for _, ir in tp.out_irreps], dim=-1)


def scatter_mean(values: Tensor, index: Tensor, size: int) -> Tensor:
    """torch_scatter's mean over dim 0: sum per index, divided by the count (receivers with none: 0)."""
    total = values.new_zeros(size, values.shape[1]).index_add_(0, index, values)
    count = values.new_zeros(size).index_add_(0, index, values.new_ones(index.shape[0])).clamp(min=1)
    return total / count.unsqueeze(1)


def reference_messages(layer: TensorProductConvLayer, node_attr: Tensor, edge_index: Tensor, edge_attr: Tensor,
                       edge_sh: Tensor, n_out: int, group_bounds: Sequence[int] | None) -> Tensor:
    """Drop-in for `TensorProductConvLayer._messages`: the reference's per-edge computation."""
    receivers, senders = edge_index  # row 0 receives, row 1 sends (the reference's edge_src, edge_dst)
    if layer.edge_groups == 1:
        weight = layer.fc(edge_attr)
    else:
        assert isinstance(layer.fc, torch.nn.ModuleList) and group_bounds is not None
        bounds = list(group_bounds)
        weight = torch.cat([fc(edge_attr[bounds[g]:bounds[g + 1]]) for g, fc in enumerate(layer.fc)], 0)
    weight = weight * 1.0  # the reference's edge_weight (smooth_edges off): a full pass over [E, numel]
    x = node_attr[senders]
    if isinstance(layer.tp, FasterTensorProduct):
        msg = reference_product(layer.tp, x, edge_sh, weight)
    else:
        msg = layer.tp(x, edge_sh, weight)
    return scatter_mean(msg, receivers, n_out)


@contextlib.contextmanager
def reference_convolutions() -> Iterator[None]:
    """Every TensorProductConvLayer computes its messages as the reference does while inside."""
    ours = TensorProductConvLayer._messages
    TensorProductConvLayer._messages = reference_messages  # type: ignore[method-assign]
    try:
        yield
    finally:
        TensorProductConvLayer._messages = ours  # type: ignore[method-assign]


def as_reference(call: Callable[[], object]) -> object:
    with reference_convolutions():
        return call()


# --- the bench ---------------------------------------------------------------------------------------------

ARMS = ("ours", "harness")


def _arm(name: str, call: Callable[[], object]) -> Callable[[], object]:
    return partial(as_reference, call) if name == "harness" else call


def _interleaved(calls: Mapping[str, Callable[[], object]], reps: int) -> dict[str, list[float]]:
    """Wall seconds of each call, alternating between the arms `reps` times (diffdock_bench's loop)."""
    import diffdock_bench

    return diffdock_bench._interleaved(calls, reps, "cpu")


def _summary(seconds: Mapping[str, list[float]], scale: float = 1.0) -> dict[str, float]:
    ours, ref = min(seconds["ours"]) * scale, min(seconds["harness"]) * scale
    return {"ours_s": round(ours, 3), "harness_s": round(ref, 3), "ratio_ours_to_harness": round(ours / ref, 3),
            "ours_median_s": round(statistics.median(seconds["ours"]) * scale, 3),
            "harness_median_s": round(statistics.median(seconds["harness"]) * scale, 3)}


def _difference(ours: Sequence[Tensor], ref: Sequence[Tensor]) -> dict[str, float]:
    abs_diff = max(float((a - b).abs().max()) for a, b in zip(ours, ref, strict=True))
    scale = max(float(b.abs().max()) for b in ref)
    return {"max_abs_diff": abs_diff, "max_rel_diff": abs_diff / max(scale, 1e-12)}


def _forwards(nets: tuple, inputs: tuple, args: argparse.Namespace) -> dict[str, object]:
    """Faithfulness (one forward per arm, fresh batches) and interleaved forward times."""
    import diffdock_baseline
    from diffdock_bench import _forward_batches

    rev = diffdock_baseline.current()
    hps, (score, confidence) = nets
    out: dict[str, object] = {}
    with torch.no_grad():
        for t in (1.0, 0.5, 0.1):
            batches = {name: _forward_batches(rev, inputs, hps, t, args) for name in ARMS}
            calls = {name: _arm(name, partial(score, batches[name][0])) for name in ARMS}
            first = {name: call() for name, call in calls.items()}  # also fills each arm's receptor cache
            check = {part: _difference([o], [r]) for part, o, r in zip(("tr", "rot", "tor"), first["ours"],
                                                                        first["harness"], strict=True)}
            out[f"score_t{t}"] = {**_summary(_interleaved(calls, args.reps)), "check": check}
        calls = {name: _arm(name, partial(confidence, batches[name][1])) for name in ARMS}
        first = {name: call() for name, call in calls.items()}
        out["confidence"] = {**_summary(_interleaved(calls, args.reps)),
                             "check": _difference([first["ours"]], [first["harness"]])}
    return out


def _sampling(nets: tuple, inputs: tuple, args: argparse.Namespace) -> dict[str, object]:
    """Whole docking runs (19 score steps + confidence), the two arms alternating."""
    from phonos_models.diffdock.sampling import SamplingOptions, sample

    lig, rec, esm = inputs
    (score_hp, conf_hp), (score, confidence) = nets
    runs: dict[str, list] = {name: [] for name in ARMS}
    options = SamplingOptions(inference_steps=args.steps, samples_per_complex=args.samples,
                              batch_size=args.samples, random_seed=0)

    def run_once(name: str) -> None:
        runs[name].append(sample(lig, rec, esm, score, score_hp, options, confidence, conf_hp))

    totals = _interleaved({name: _arm(name, partial(run_once, name)) for name in ARMS}, args.sampling_reps)
    steps = options.steps_run
    stage = {key: {name: [r.timings[key] for r in results] for name, results in runs.items()}
             for key in ("score_steps", "confidence")}
    ours, ref = runs["ours"][0], runs["harness"][0]
    return {"steps_run": steps, "per_step": _summary(stage["score_steps"], 1.0 / steps),
            "score_steps": _summary(stage["score_steps"]), "confidence": _summary(stage["confidence"]),
            "total": _summary(totals),
            "max_pose_diff_A": float((ours.positions - ref.positions).abs().max()),
            "max_confidence_diff": float((ours.confidence - ref.confidence).abs().max()),
            "same_ranking": ours.ranking() == ref.ranking()}


def main() -> None:
    import diffdock_baseline
    from diffdock_bench import CONFIGS, LIGAND, PARAMS, _networks, tiled_receptor
    from phonos_models.diffdock import ligand, receptor
    from phonos_models.diffdock.esm_embedding import TinyEsmShape

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--config", default="diffdock-s", choices=list(CONFIGS))
    parser.add_argument("--samples", type=int, default=10)
    parser.add_argument("--steps", type=int, default=20, help="time-grid length; one step fewer runs")
    parser.add_argument("--reps", type=int, default=2, help="repetitions of each forward")
    parser.add_argument("--sampling-reps", type=int, default=2, help="repetitions of each sampling run")
    parser.add_argument("--params", type=Path, default=PARAMS, help="folder with the reference ymls")
    args = parser.parse_args()
    args.device = "cpu"
    torch.set_num_threads(args.threads)
    score_hp, conf_hp, score, confidence = _networks(diffdock_baseline.current(), args, args.config)
    rec = receptor.featurize(tiled_receptor())
    lig = ligand.featurize(LIGAND, seed=0)
    with torch.no_grad():  # ESM is outside sampling in both arms: a tiny random one
        from phonos_models.diffdock.esm_embedding import EsmEmbedder

        esm_model = EsmEmbedder.tiny_random(TinyEsmShape(hidden_size=score_hp.lm_embedding_dim or 32))
        esm = esm_model.embed_residues(rec.chain_ids, rec.esm_sequences)
    nets = ((score_hp, conf_hp), (score, confidence))
    inputs = (lig, rec, esm)
    result = {"config": args.config, "threads": torch.get_num_threads(), "samples": args.samples,
              "residues": rec.num_residues, "ligand_atoms": lig.num_atoms, "rotatable_bonds": lig.num_torsions,
              "score_class": score_hp.model_class, "confidence_class": conf_hp.model_class,
              "forward": _forwards(nets, inputs, args), "sampling": _sampling(nets, inputs, args)}
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
