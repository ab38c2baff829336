"""Result files and provenance for ESMFold: PDB text, mmCIF, scores JSON, metadata.

Every file says which weights made it; tiny-weight files say plainly that they
are not real predictions.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from phonos_models.common.result_files import ModelResult, json_file, text_file
from phonos_models.common.structure import ProteinChain, to_mmcif, to_pdb
from phonos_models.common.weights import TINY_NOTE, WeightsInfo
from phonos_models.esmfold.predict import FoldResult

JSON_NOTE = (
    "plddt: predicted lDDT-CA per residue, 0-100 (>90 very high, 70-90 confident, 50-70 low, <50 very low "
    "confidence; AlphaFold convention, also in the PDB B-factor column). mean_plddt: their mean. "
    "ptm: predicted TM-score of this sequence, 0-1. pae[i][j]: expected position error in Angstrom of "
    "residue j when the prediction is aligned on residue i."
)
CONFIDENCE_NOTE = (
    "B-factor column: pLDDT 0-100 per residue (higher is more confident). "
    "pTM 0-1 for this sequence alone. PAE in Angstrom."
)


def provenance(result: FoldResult, weights: WeightsInfo) -> dict[str, str]:
    chunk = "off" if result.chunk_size is None else str(result.chunk_size)
    facts = {
        "model": "ESMFold (transformers EsmForProteinFolding)",
        "weights": weights.name,
        "weights_sha256": weights.sha256,
        "real_weights": "true" if weights.real else "false",
        "num_recycles": f"{result.num_recycles} (trunk passes: {result.trunk_passes})",
        "chunk_size": chunk,
        "confidence": CONFIDENCE_NOTE,
    }
    if not weights.real:
        facts["note"] = TINY_NOTE
    return facts


def _chain(result: FoldResult) -> ProteinChain:
    return ProteinChain(
        sequence=result.sequence,
        atom_positions=result.atom_positions,
        atom_mask=result.atom_mask,
        residue_plddt=result.plddt.clip(0.0, 100.0),
    )


def pdb_text(result: FoldResult, weights: WeightsInfo) -> str:
    remarks = [f"{key}: {value}" for key, value in provenance(result, weights).items()]
    if not weights.real:
        remarks.insert(0, "NOT A REAL PREDICTION. " + TINY_NOTE)
    return to_pdb(_chain(result), remarks, title="ESMFOLD PREDICTION")


def mmcif_text(result: FoldResult, weights: WeightsInfo) -> str:
    return to_mmcif(_chain(result), provenance(result, weights), title="esmfold_prediction")


def metadata(result: FoldResult, weights: WeightsInfo, load_s: float) -> dict[str, Any]:
    """The job's provenance and timings (what `GET /v1/jobs/{id}` shows as `metadata`)."""
    facts: dict[str, Any] = {
        "weights": {"name": weights.name, "sha256": weights.sha256},
        "real_weights": weights.real,
        "num_recycles": result.num_recycles,
        "trunk_passes": result.trunk_passes,
        "chunk_size": result.chunk_size,
        "batch_size": result.batch_size,
        "timings": {"fold_s": round(result.fold_s, 4), "model_load_s": round(load_s, 3)},
    }
    if not weights.real:
        facts["note"] = TINY_NOTE
    return facts


def scores(result: FoldResult, weights: WeightsInfo) -> dict[str, Any]:
    """The `json` download: per-residue pLDDT, pTM, PAE and what they mean."""
    return {
        "sequence": result.sequence,
        "length": len(result.sequence),
        "plddt": [round(float(v), 2) for v in result.plddt],
        "mean_plddt": round(result.mean_plddt, 2),
        "ptm": round(result.ptm, 4),
        "pae": np.round(result.pae.astype(np.float64), 2).tolist(),
        "weights": {"name": weights.name, "sha256": weights.sha256},
        "real_weights": weights.real,
        "note": JSON_NOTE + ("" if weights.real else f" {TINY_NOTE}."),
    }


def model_result(result: FoldResult, weights: WeightsInfo, load_s: float) -> ModelResult:
    """Every file of one fold (PDB with pLDDT in B-factors, mmCIF, scores JSON), its metrics and provenance."""
    return ModelResult(
        files=(
            text_file("pdb", "chemical/x-pdb", pdb_text(result, weights)),
            text_file("cif", "chemical/x-mmcif", mmcif_text(result, weights)),
            json_file("json", scores(result, weights)),
        ),
        metrics={"mean_plddt": round(result.mean_plddt, 2), "ptm": round(result.ptm, 4)},
        metadata=metadata(result, weights, load_s),
    )
