"""What the Triton adapter calls: the request's texts in, the job's result files out.

Kept out of `model.py` so everything except `pb_utils` runs in plain tests.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import torch

from phonos_models.common import bundle, plots
from phonos_models.common.errors import ResourceExhausted
from phonos_models.common.progress import Report, ignore
from phonos_models.common.result_files import ModelResult, ResultFile, text_file
from phonos_models.common.weights import TINY_WARNING
from phonos_models.diffdock.outputs import (
    CONFIDENCE_MEANING,
    HIGH_CONFIDENCE,
    LOW_CONFIDENCE,
    confidence_band,
    reported_confidence,
)
from phonos_models.diffdock.pipeline import DiffDockPipeline, DockingOutput, request_from_json
from phonos_models.diffdock.sampling import FAILED_CONFIDENCE

DESCRIPTIONS = {
    "pdb": "the complex: receptor as submitted + the rank-1 ligand pose (HETATM LIG, CONECT records)",
    "sdf": "every pose, best first, with rank, confidence and confidence_band properties",
    "json": "per-pose confidence and band, what the numbers mean, ligand/receptor summary, sampling, timings, weights",
    "confidence_plot": "confidence of every pose (PNG), coloured by the DiffDock README's bands",
}


def confidence_plot(out: DockingOutput, real: bool) -> ResultFile:
    bands = [confidence_band(c) for c in out.ranked_confidence]
    # A pose the confidence model could not score (the reference's -1000) is drawn as "n/a", not as a bar.
    scored = [None if c is None or not c > FAILED_CONFIDENCE else c for c in out.ranked_confidence]
    title = "DiffDock pose confidence" + ("" if real else "\n(tiny random weights: not a real prediction)")
    png = plots.pose_confidence_png(scored, bands, title, (HIGH_CONFIDENCE, LOW_CONFIDENCE))
    return bundle.png_file("confidence_plot", "confidence", png)


def summary(out: DockingOutput) -> bundle.Summary:
    body: dict[str, Any] = json.loads(out.result_json)
    ligand, receptor, sampling = body.get("ligand", {}), body.get("receptor", {}), body.get("sampling", {})
    pocket = body.get("pocket")
    poses = [(p["rank"], "n/a" if p["confidence"] is None else p["confidence"], p["confidence_band"], p["sample_index"])
             + ((p.get("pocket_distance"),) if pocket else ())
             for p in body.get("poses", [])]
    columns = ("rank", "confidence", "band", "sample") + (("distance to pocket centre (Å)",) if pocket else ())
    weights = [(role, f"{w.get('name')} (sha256 {str(w.get('sha256', ''))[:16]}...)")
               for role, w in body.get("weights", {}).items() if isinstance(w, dict)]
    sections = (
        bundle.Section("Input", bundle.table(("item", "value"), [
            ("ligand SMILES", f"`{ligand.get('smiles', '')}`"),
            ("ligand heavy atoms / rotatable bonds", f"{ligand.get('heavy_atoms')} / {ligand.get('rotatable_bonds')}"),
            ("receptor residues / chains", f"{receptor.get('residues')} / {', '.join(receptor.get('chains', []))}"),
        ])),
        bundle.Section("Run", bundle.table(("setting", "value"), [
            ("inference steps (run)", f"{sampling.get('inference_steps')} ({sampling.get('steps_run')})"),
            ("samples", sampling.get("samples_per_complex")),
            ("random seed", sampling.get("random_seed")),
            *([("pocket", _pocket_line(pocket))] if pocket else []),
            *weights,
        ])),
        bundle.Section("Poses", (*bundle.table(columns, poses), "",
                                 f"Confidence: {CONFIDENCE_MEANING['scale']}, trained for "
                                 f"{CONFIDENCE_MEANING['trained_for']}. Bands: high > 0, moderate -1.5 < c <= 0, "
                                 f"low <= -1.5 ({CONFIDENCE_MEANING['source']}).")),
    )
    warning = None if body.get("real_prediction", False) else TINY_WARNING
    return bundle.Summary("DiffDock docking", warning, sections, descriptions(out.metadata))


def descriptions(metadata: dict[str, Any]) -> dict[str, str]:
    """The bundle's file list, the complex's ligand residue named as the PDB names it: LG1 where the receptor has a
    LIG of its own (the README said LIG, and `grep LIG` found the receptor's own ligand: a chemist tester's find)."""
    residue = (metadata.get("complex_ligand") or {}).get("residue_name") or "LIG"
    return DESCRIPTIONS | {"pdb": DESCRIPTIONS["pdb"].replace("HETATM LIG", f"HETATM {residue}")}


def _pocket_line(pocket: dict[str, Any]) -> str:
    residues = f" from residues {', '.join(pocket['residues'])}" if pocket.get("residues") else ""
    return (f"centre {pocket['center']} radius {pocket['radius']} Å ({pocket['radius_source']}){residues}; "
            f"{pocket['receptor_residues_kept']} of {pocket['receptor_residues_total']} residues kept")


def result(out: DockingOutput) -> ModelResult:
    """Complex PDB (receptor + rank-1 pose), every pose as SDF, the JSON summary, the confidence plot and
    the zip of them all; rank-1 metrics."""
    best = out.ranked_confidence[0]
    metrics: dict[str, float | int | str] = {"num_poses": len(out.ranked_confidence),
                                             "confidence_band": confidence_band(best)}
    if best is not None:
        metrics["top_confidence"] = reported_confidence(best)
    files = (
        text_file("pdb", "chemical/x-pdb", out.complex_pdb),
        text_file("sdf", "chemical/x-mdl-sdfile", out.poses_sdf),
        text_file("json", "application/json", out.result_json),
        confidence_plot(out, bool(out.metadata.get("real_prediction", False))),
    )
    return ModelResult(files=bundle.with_bundle(files, "diffdock", summary(out)), metrics=metrics,
                       metadata=out.metadata)


def handle(pipeline: DiffDockPipeline, protein_pdb: str, ligand_smiles: str, request_json: str, max_samples: int,
           should_stop: Callable[[], bool], report: Report = ignore) -> ModelResult:
    docking = request_from_json(protein_pdb, ligand_smiles, request_json, max_samples)
    try:
        return result(pipeline.dock(docking, should_stop=should_stop, report=report))
    except torch.OutOfMemoryError:
        raise ResourceExhausted("out of memory: reduce samples_per_complex or the protein size") from None
