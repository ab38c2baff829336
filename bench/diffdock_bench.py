"""DiffDock time per complex with random weights at the released sizes, split by stage.

    PYTHONPATH=.:triton_models .venv/bin/python bench/diffdock_bench.py [--quick] [--device cuda] [--threads 2]

For each configuration (the v1.0 paper score model = CGOldModel 20.2 M parameters, and the
Confidence-Bootstrapping DiffDock-S score model = CGModel 4.1 M; both with the v1.0 all-atom
confidence model, AAOldModel 4.8 M, the likely DiffDock-L confidence model) it docks one complex
with the reference defaults (10 samples in one batch, 20-step grid → 19 steps, confidence at t=0)
and reports seconds for featurisation, ESM-2, the score steps and the confidence model.

The complex: four tiled copies of the test receptor (two RDKit-built peptide chains each,
120 residues, ~1000 heavy atoms) and the notes' 23-heavy-atom, 8-rotatable-bond ligand, the same
ligand the reference was timed with (notes §10: ~3–4.5 s per 10-sample step at DiffDock-S size,
~44 s for 19 steps + confidence, 2 CPU threads, ESM excluded). ESM is the real esm2_t33_650M
architecture with random weights (`--esm tiny` skips its cost). `--quick`: 2 samples, 10-step grid,
tiny ESM — a smoke run. Prints one JSON object per configuration. Runs on a GPU with --device cuda.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import gemmi
import torch
from phonos_models.diffdock import build, ligand, receptor
from phonos_models.diffdock.esm_embedding import ESM2_650M, EsmEmbedder, TinyEsmShape
from phonos_models.diffdock.sampling import SamplingOptions, sample

REPO = Path(__file__).resolve().parent.parent
RECEPTOR = REPO / "tests" / "diffdock" / "data" / "receptor_small.pdb"
LIGAND = "CC(C)Cc1ccc(cc1)C(C)C(=O)NCC(=O)N1CCCC1"  # notes §10 timing ligand
PARAMS = REPO.parent / "shared" / "reference" / "diffdock" / "params"  # shared/ beside the checkout
CONFIGS = {
    "v1.0-paper": ("v1.0_paper_score", "v1.0_paper_confidence"),
    "diffdock-s": ("cb_diffdock_s_score", "v1.0_paper_confidence"),
}


def tiled_receptor(copies: int = 4, spacing: float = 16.0) -> str:
    """The test receptor repeated on a 2-D grid with fresh chain ids (a ~100-residue-class protein)."""
    base = gemmi.read_pdb_string(RECEPTOR.read_text())
    base.setup_entities()
    base.remove_ligands_and_waters()
    out = gemmi.Structure()
    model = gemmi.Model("1")
    names = iter("ABCDEFGHIJKLMNOPQRSTUVWXYZ")
    for k in range(copies):
        shift = gemmi.Position((k % 2) * spacing, (k // 2) * spacing, 0.0)
        for chain in base[0]:
            copy = chain.clone()
            copy.name = next(names)
            for residue in copy:
                for atom in residue:
                    atom.pos = atom.pos + shift
            model.add_chain(copy)
    out.add_model(model)
    out.setup_entities()
    return out.make_pdb_string()


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def run(config: str, args: argparse.Namespace, pdb_text: str) -> dict[str, object]:
    score_dir, conf_dir = CONFIGS[config]
    score_hp = build.load_hyperparams(args.params / score_dir / "model_parameters.yml", kind="score")
    conf_hp = build.with_graph_mode_of(
        build.load_hyperparams(args.params / conf_dir / "model_parameters.yml", kind="confidence"), score_hp
    )
    score = build.build_score_model(score_hp, seed=0).to(args.device)
    confidence = build.build_confidence_model(conf_hp, seed=1).to(args.device)
    shape = TinyEsmShape(hidden_size=score_hp.lm_embedding_dim or 32) if args.esm == "tiny" else ESM2_650M
    t = time.perf_counter()
    esm_model = EsmEmbedder.tiny_random(shape)
    esm_model.model.to(args.device)
    esm_init = time.perf_counter() - t

    t0 = time.perf_counter()
    rec = receptor.featurize(pdb_text)
    lig = ligand.featurize(LIGAND, seed=0)
    t1 = time.perf_counter()
    esm = esm_model.embed_residues(rec.chain_ids, rec.esm_sequences)
    sync(args.device)
    t2 = time.perf_counter()
    options = SamplingOptions(
        inference_steps=args.steps, samples_per_complex=args.samples, batch_size=args.samples, random_seed=0
    )
    result = sample(lig, rec, esm, score, score_hp, options, confidence, conf_hp, device=args.device)
    sync(args.device)
    steps = options.steps_run
    return {
        "config": config,
        "device": args.device,
        "threads": torch.get_num_threads(),
        "score_class": score_hp.model_class,
        "score_params": sum(p.numel() for p in score.parameters()),
        "confidence_class": conf_hp.model_class,
        "confidence_params": sum(p.numel() for p in confidence.parameters()),
        "esm": f"{shape.num_layers} layers x {shape.hidden_size} (random)",
        "residues": rec.num_residues,
        "receptor_atoms": int(rec.atom_pos.shape[0]),
        "ligand_atoms": lig.num_atoms,
        "rotatable_bonds": lig.num_torsions,
        "samples": args.samples,
        "steps_run": steps,
        "seconds": {
            "featurisation": round(t1 - t0, 3),
            "esm": round(t2 - t1, 3),
            "score_steps": round(result.timings["score_steps"], 3),
            "per_step": round(result.timings["score_steps"] / steps, 3),
            "confidence": round(result.timings["confidence"], 3),
            "total_excluding_esm": round(t1 - t0 + result.timings["score_steps"] + result.timings["confidence"], 3),
            "total": round(time.perf_counter() - t0, 3),
            "esm_model_init": round(esm_init, 3),
        },
        "finite_poses": bool(torch.isfinite(result.positions).all()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="2 samples, 10-step grid, tiny ESM")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--samples", type=int, default=10)
    parser.add_argument("--steps", type=int, default=20, help="time-grid length; one step fewer runs")
    parser.add_argument("--esm", choices=["full", "tiny"], default="full")
    parser.add_argument("--configs", nargs="+", default=list(CONFIGS), choices=list(CONFIGS))
    parser.add_argument("--params", type=Path, default=PARAMS, help="folder with the reference ymls")
    args = parser.parse_args()
    if args.quick:
        args.samples, args.steps, args.esm = 2, 10, "tiny"
    torch.set_num_threads(args.threads)
    pdb_text = tiled_receptor()
    for config in args.configs:
        print(json.dumps(run(config, args, pdb_text)), flush=True)


if __name__ == "__main__":
    main()
