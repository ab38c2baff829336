"""What the Triton adapter calls: the request's texts in, the job's result files out.

Kept out of `model.py` so everything except `pb_utils` runs in plain tests.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from phonos_models.common.errors import ResourceExhausted
from phonos_models.common.progress import Report, ignore
from phonos_models.common.result_files import ModelResult, text_file
from phonos_models.diffdock.outputs import confidence_band
from phonos_models.diffdock.pipeline import DiffDockPipeline, DockingOutput, request_from_json


def result(out: DockingOutput) -> ModelResult:
    """Complex PDB (receptor + rank-1 pose), every pose as SDF, the JSON summary; rank-1 metrics."""
    best = out.ranked_confidence[0]
    metrics: dict[str, float | int | str] = {"num_poses": len(out.ranked_confidence),
                                             "confidence_band": confidence_band(best)}
    if best is not None:
        metrics["top_confidence"] = round(best, 4)
    return ModelResult(
        files=(
            text_file("pdb", "chemical/x-pdb", out.complex_pdb),
            text_file("sdf", "chemical/x-mdl-sdfile", out.poses_sdf),
            text_file("json", "application/json", out.result_json),
        ),
        metrics=metrics,
        metadata=out.metadata,
    )


def handle(pipeline: DiffDockPipeline, protein_pdb: str, ligand_smiles: str, request_json: str, max_samples: int,
           should_stop: Callable[[], bool], report: Report = ignore) -> ModelResult:
    docking = request_from_json(protein_pdb, ligand_smiles, request_json, max_samples)
    try:
        return result(pipeline.dock(docking, should_stop=should_stop, report=report))
    except torch.OutOfMemoryError:
        raise ResourceExhausted("out of memory: reduce samples_per_complex or the protein size") from None
