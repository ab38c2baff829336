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

`--compare REV` times an earlier git revision of the science code (e.g. ecce335, the code before the
tensor-product rewrite) against the current tree in ONE process, on the same inputs and the same
weights (the current networks load the baseline's state dicts), interleaving the two so that load
from other processes hits both alike: score forwards at t = 1, 0.5, 0.1, the confidence forward,
and whole sampling runs (per step, confidence, total), with current/baseline ratios and the largest
differences between their poses and confidences. `--reps` sets the repetitions (minimum and median
reported); `--clock cpu` measures CPU time instead of wall time (for a busy shared machine).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable, Mapping
from functools import partial
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import diffdock_baseline
import gemmi
import torch
from phonos_models.diffdock import build, ligand, receptor
from phonos_models.diffdock.build import state_dict_sha256
from phonos_models.diffdock.esm_embedding import ESM2_650M, EsmEmbedder, TinyEsmShape
from phonos_models.diffdock.sampling import SamplingOptions, sample

REPO = Path(__file__).resolve().parent.parent
RECEPTOR = REPO / "tests" / "diffdock" / "data" / "receptor_small.pdb"
LIGAND = "CC(C)Cc1ccc(cc1)C(C)C(=O)NCC(=O)N1CCCC1"  # notes §10 timing ligand

def _reference_params() -> Path:
    """shared/reference/diffdock/params beside the checkout (or beside its worktree folder)."""
    candidates = [base / "shared" / "reference" / "diffdock" / "params" for base in (REPO.parent, REPO.parent.parent)]
    return next((c for c in candidates if c.is_dir()), candidates[0])


PARAMS = _reference_params()
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
    model = gemmi.Model(1)
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


def _networks(rev: diffdock_baseline.Revision, args: argparse.Namespace, config: str,
              like: tuple[torch.nn.Module, torch.nn.Module] | None = None) -> tuple[Any, Any, torch.nn.Module, torch.nn.Module]:
    """(score hp, confidence hp, score net, confidence net) of one revision; `like`: copy its weights."""
    score_dir, conf_dir = CONFIGS[config]
    build = rev.build
    score_hp = build.load_hyperparams(args.params / score_dir / "model_parameters.yml", kind="score")
    conf_hp = build.with_graph_mode_of(
        build.load_hyperparams(args.params / conf_dir / "model_parameters.yml", kind="confidence"), score_hp
    )
    score, confidence = build.build_score_model(score_hp, seed=0), build.build_confidence_model(conf_hp, seed=1)
    if like is not None:  # identical weights, whatever the two revisions' initialisation does
        score.load_state_dict(like[0].state_dict())
        confidence.load_state_dict(like[1].state_dict())
    return score_hp, conf_hp, score.to(args.device), confidence.to(args.device)


def _forward_batches(rev: diffdock_baseline.Revision, inputs: tuple, hps: tuple, t: float,
                     args: argparse.Namespace) -> tuple[object, object]:
    """A score batch at time t and a confidence batch (t = 0) of `args.samples` initial poses."""
    lig, rec, esm = inputs
    score_hp, conf_hp = hps
    sm, data = rev.sampling, rev.data
    options = sm.SamplingOptions(samples_per_complex=args.samples, batch_size=args.samples)
    pos = torch.stack([sm.initial_pose(lig, rec, score_hp, options, sm.sample_generator(0, i))
                       for i in range(args.samples)])
    times = torch.full((args.samples,), t)
    zeros = torch.zeros(args.samples)
    template = sm.complex_graph(lig, rec, esm, with_atoms=False)
    score_batch = data.collate([template] * args.samples).with_ligand_pos(pos.reshape(-1, 3))
    conf_graphs = [sm.complex_graph(lig, rec, esm, with_atoms=True).with_ligand_pos(p) for p in pos]
    if conf_hp.crop_beyond is not None:  # as sampling does (full-receptor graphs are not precomputed here)
        conf_graphs = [sm.crop_receptor(g, conf_hp.crop_beyond) for g in conf_graphs]
    conf_batch = data.collate(conf_graphs)
    return (score_batch.with_times(times, times, times).to(args.device),
            conf_batch.with_times(zeros, zeros, zeros).to(args.device))


CLOCKS: dict[str, Callable[[], float]] = {"wall": time.perf_counter, "cpu": time.process_time}
clock = time.perf_counter  # set from --clock


def _interleaved(calls: Mapping[str, Callable[[], object]], reps: int, device: str) -> dict[str, list[float]]:
    """Seconds of each call on `clock`, alternating between them `reps` times."""
    seconds: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(reps):
        for name, call in calls.items():
            sync(device)
            start = clock()
            call()
            sync(device)
            seconds[name].append(clock() - start)
    return seconds


def _summary(seconds: dict[str, list[float]], scale: float = 1.0) -> dict[str, object]:
    base, cur = min(seconds["baseline"]) * scale, min(seconds["current"]) * scale
    return {
        "baseline_s": round(base, 3), "current_s": round(cur, 3), "ratio": round(cur / base, 3),
        "baseline_median_s": round(statistics.median(seconds["baseline"]) * scale, 3),
        "current_median_s": round(statistics.median(seconds["current"]) * scale, 3),
    }


def _max_rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).abs().max() / b.abs().max().clamp(min=1e-12))


def _time_forwards(nets: dict[str, tuple], inputs: tuple, args: argparse.Namespace) -> dict[str, object]:
    """Score forwards at t = 1, 0.5, 0.1 and the confidence forward, baseline and current interleaved."""
    out: dict[str, object] = {}
    with torch.no_grad():
        for t in (1.0, 0.5, 0.1):
            batches = {name: _forward_batches(rev, inputs, hps, t, args) for name, (rev, hps, _) in nets.items()}
            calls = {name: partial(nets[name][2][0], batches[name][0]) for name in nets}
            outputs = {name: call() for name, call in calls.items()}  # also fills the receptor caches
            diff = max(_max_rel(c, b) for c, b in zip(outputs["current"], outputs["baseline"], strict=True))
            out[f"score_t{t}"] = {**_summary(_interleaved(calls, args.reps, args.device)), "max_rel_diff": diff}
        calls = {name: partial(nets[name][2][1], batches[name][1]) for name in nets}  # confidence: t = 0
        outputs = {name: call() for name, call in calls.items()}
        diff = float((outputs["current"] - outputs["baseline"]).abs().max())
        out["confidence"] = {**_summary(_interleaved(calls, args.reps, args.device)), "max_abs_diff": diff}
    return out


def _time_sampling(nets: dict[str, tuple], inputs: tuple, args: argparse.Namespace) -> dict[str, object]:
    """Whole docking runs (score steps + confidence), baseline and current interleaved."""
    lig, rec, esm = inputs
    results: dict[str, list] = {name: [] for name in nets}

    def run_once(name: str) -> None:
        rev, (score_hp, conf_hp), (score, confidence) = nets[name]
        options = rev.sampling.SamplingOptions(inference_steps=args.steps, samples_per_complex=args.samples,
                                               batch_size=args.samples, random_seed=0)
        results[name].append(rev.sampling.sample(lig, rec, esm, score, score_hp, options, confidence, conf_hp,
                                                 device=args.device))

    totals = _interleaved({name: partial(run_once, name) for name in nets}, args.sampling_reps, args.device)
    steps = args.steps - 1
    stage = {key: {name: [r.timings[key] for r in runs] for name, runs in results.items()}
             for key in ("score_steps", "confidence")}
    base, cur = results["baseline"][0], results["current"][0]
    return {
        "steps_run": steps,
        "per_step": _summary(stage["score_steps"], 1.0 / steps),
        "score_steps": _summary(stage["score_steps"]),
        "confidence": _summary(stage["confidence"]),
        "total": _summary(totals),
        "max_pose_diff_A": float((cur.positions - base.positions).abs().max()),
        "max_confidence_diff": float((cur.confidence - base.confidence).abs().max()),
        "same_ranking": cur.ranking() == base.ranking(),
        "repeatable": all(bool(torch.equal(r.positions, cur.positions)) for r in results["current"]),
    }


def compare(config: str, args: argparse.Namespace, pdb_text: str,
            revs: tuple[diffdock_baseline.Revision, diffdock_baseline.Revision]) -> dict[str, object]:
    """Baseline revision vs current tree, same inputs and weights, interleaved (see module doc)."""
    base, cur = revs
    for rev in revs:  # the samplers' stage timers read the same clock as the bench
        rev.sampling.time = SimpleNamespace(perf_counter=clock)  # type: ignore[attr-defined]
    b_score_hp, b_conf_hp, b_score, b_conf = _networks(base, args, config)
    c_score_hp, c_conf_hp, c_score, c_conf = _networks(cur, args, config, like=(b_score, b_conf))
    nets = {"baseline": (base, (b_score_hp, b_conf_hp), (b_score, b_conf)),
            "current": (cur, (c_score_hp, c_conf_hp), (c_score, c_conf))}
    shape = TinyEsmShape(hidden_size=c_score_hp.lm_embedding_dim or 32) if args.esm == "tiny" else ESM2_650M
    rec = receptor.featurize(pdb_text)
    lig = ligand.featurize(LIGAND, seed=0)
    esm_model = EsmEmbedder.tiny_random(shape)
    esm_model.model.to(args.device)
    with torch.no_grad():
        esm = esm_model.embed_residues(rec.chain_ids, rec.esm_sequences).cpu()
    inputs = (lig, rec, esm)
    same = all(state_dict_sha256(b) == state_dict_sha256(c) for b, c in ((b_score, c_score), (b_conf, c_conf)))
    return {
        "config": config, "device": args.device, "threads": torch.get_num_threads(), "samples": args.samples,
        "clock": args.clock, "baseline": base.name, "current": "working tree", "same_weights": same,
        "residues": rec.num_residues, "ligand_atoms": lig.num_atoms, "rotatable_bonds": lig.num_torsions,
        "forward": _time_forwards(nets, inputs, args),
        "sampling": _time_sampling(nets, inputs, args),
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
    parser.add_argument("--compare", metavar="REV", help="time this git revision against the current tree")
    parser.add_argument("--reps", type=int, default=3, help="--compare: repetitions of each forward")
    parser.add_argument("--sampling-reps", type=int, default=1, help="--compare: repetitions of each sampling run")
    parser.add_argument("--clock", choices=list(CLOCKS), default="wall",
                        help="--compare: wall time, or this process's CPU time (steadier on a shared machine "
                             "with --threads 1; with more threads it also counts their spinning)")
    args = parser.parse_args()
    global clock
    clock = CLOCKS[args.clock]
    if args.quick:
        args.samples, args.steps, args.esm = 2, 10, "tiny"
    torch.set_num_threads(args.threads)
    pdb_text = tiled_receptor()
    revs = (diffdock_baseline.load(args.compare), diffdock_baseline.current()) if args.compare else None
    for config in args.configs:
        result = compare(config, args, pdb_text, revs) if revs else run(config, args, pdb_text)
        print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
