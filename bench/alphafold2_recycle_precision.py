"""Our float32 recycle state against ColabFold's float16 one, same weights, same input, side by side.

    python bench/alphafold2_recycle_precision.py [--length 60] [--num-recycles 3] [--seeds 0,1,2] [--json out.json]

The fork's `RunModel.predict()` (what colabfold_batch runs) casts every output of a pass but the final
coordinates to float16 inside the jitted apply, and the recycled state (`prev`: MSA first row, pair
representation, positions) with it, so each pass starts from rounded inputs. phonos' runner keeps
float32 throughout. One monomer_ptm model runs three ways on each seed:

  colabfold   the fork's RunModel.predict()
  fp16_state  phonos' recycle loop with `prev` rounded to float16 between passes (ColabFold's state)
  phonos      phonos' runner as served (float32 state)

and the script prints the largest CA and pLDDT differences. colabfold vs fp16_state shows whether the
two loops are the same computation (bit-identical coordinates when they are); phonos vs colabfold is
what the float16 state changes. Weights: random, DeepMind's layout, in the tiny architecture widened
to the 256/128 recycle channels RunModel.predict() hard-codes; the size of the effect on real
weights differs (point --params-dir at DeepMind's parameters to measure it there).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "triton_models")]
os.environ.setdefault("JAX_PLATFORMS", "cpu")

import numpy as np  # noqa: E402
from alphafold.model.model import RunModel  # noqa: E402
from phonos_models.alphafold2 import architecture  # noqa: E402
from phonos_models.alphafold2 import features as feats  # noqa: E402
from phonos_models.alphafold2 import weights as w  # noqa: E402
from phonos_models.alphafold2.colabfold_reference import run_with_float16_state  # noqa: E402
from phonos_models.alphafold2.msa import Alignment  # noqa: E402
from phonos_models.alphafold2.runner import CompiledModel, configure_compile_cache  # noqa: E402
from phonos_models.common.chains import ChainLayout  # noqa: E402

SEED_SEQUENCE = "MQIFVKTLTGKTITLEVEPSDTIENVKAKIQDKEGIPPDQQRLIFAGKQLEDGRTLSDYNIQKESTLHLVLRLRGG"  # ubiquitin
MODEL = "model_3_ptm"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--length", type=int, default=60)
    parser.add_argument("--num-recycles", type=int, default=3)
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--params-dir", type=Path, default=None, help="DeepMind's params (default: random weights)")
    parser.add_argument("--cache-dir", type=Path, default=Path(tempfile.gettempdir()) / "phonos-af2-bench-cache")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    configure_compile_cache(args.cache_dir)

    query = (SEED_SEQUENCE * (args.length // len(SEED_SEQUENCE) + 1))[:args.length]
    bucket = feats.bucket_for(len(query), (64, 128, 256, 512, 1024))
    tiny = args.params_dir is None
    cfg = architecture.build_config(MODEL, "monomer_ptm", tiny=tiny, use_templates=False, num_recycles=args.num_recycles)
    if tiny:  # RunModel.predict() builds its recycle buffers with 256 / 128 channels
        cfg.model.embeddings_and_evoformer.msa_channel = 256
        cfg.model.embeddings_and_evoformer.pair_channel = 128
    alignment = Alignment.single(query)
    sizing = architecture.size_msa(cfg, "monomer_ptm", alignment.depth, 512, tiny)
    model = CompiledModel(cfg)
    shapes = model.param_shapes()
    if tiny:
        params = w.select_expected(w.from_deepmind_layout(w.random_deepmind_params(shapes, seed=3)), shapes, "random")
    else:
        params = w.select_expected(w.from_deepmind_layout(w.load_npz(w.npz_path(args.params_dir, MODEL))), shapes, "npz")
    colabfold = RunModel(cfg, params, extended_ptm_config={"calc_extended_ptm": True, "use_probs_extended": False})
    layout = ChainLayout.of(query)
    rows = []
    for seed in (int(s) for s in args.seeds.split(",")):
        processed = feats.pad_msa_rows(feats.process(feats.raw_features(query, alignment), cfg, bucket, seed), cfg, sizing)
        processed.pop("all_atom_positions", None)  # RunModel would take it as an initial guess
        tick = time.perf_counter()
        theirs, _ = colabfold.predict(dict(processed), random_seed=seed)
        colabfold_s = time.perf_counter() - tick
        state16 = run_with_float16_state(model, params, processed, args.num_recycles, seed)
        tick = time.perf_counter()
        ours = model.run(MODEL, params, processed, layout, args.num_recycles, seed, lambda: False)
        phonos_s = time.perf_counter() - tick
        n = len(query)
        ca_theirs = np.asarray(theirs["structure_module"]["final_atom_positions"][:n, 1], np.float32)
        ca_state16 = np.asarray(state16["structure_module"]["final_atom_positions"][:n, 1], np.float32)
        ca_ours = ours.positions[:, 1]
        plddt_theirs = np.asarray(theirs["plddt"][:n], np.float32)
        rows.append({
            "seed": seed,
            "colabfold_vs_fp16_state_max_ca_A": float(np.abs(ca_theirs - ca_state16).max()),
            "colabfold_vs_fp16_state_bit_identical": bool(np.array_equal(ca_theirs, ca_state16)),
            "phonos_vs_colabfold_max_ca_A": float(np.abs(ca_ours - ca_theirs).max()),
            "phonos_vs_colabfold_rms_ca_A": float(np.sqrt(((ca_ours - ca_theirs) ** 2).sum(-1).mean())),
            "phonos_vs_colabfold_max_plddt": float(np.abs(ours.plddt - plddt_theirs).max()),
            "colabfold_s": round(colabfold_s, 2), "phonos_s": round(phonos_s, 2),
        })
        print(json.dumps(rows[-1]))
    summary = {"model": MODEL, "length": len(query), "bucket": bucket, "num_recycles": args.num_recycles,
               "weights": "random (tiny, 256/128 recycle channels)" if tiny else str(args.params_dir), "runs": rows}
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
