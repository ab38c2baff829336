"""Result files and provenance for ESMFold: PDB text, mmCIF, metadata.

Every file says which weights made it; tiny-weight files say plainly that they
are not real predictions.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from phonos_models.common.structure import ProteinChain, to_mmcif, to_pdb
from phonos_models.common.weights import TINY_NOTE, WeightsInfo
from phonos_models.esmfold.predict import FoldResult

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
    """The METADATA tensor's JSON: provenance and timings of one request."""
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


def output_arrays(result: FoldResult, weights: WeightsInfo, load_s: float) -> dict[str, np.ndarray]:
    """The Triton output tensors of one request, batch dimension 1 included (see config.pbtxt)."""
    return {
        "PDB": np.array([[pdb_text(result, weights).encode()]], dtype=object),
        "PLDDT": result.plddt.astype(np.float32)[None, :],  # [1, L] 0-100
        "PTM": np.array([[result.ptm]], dtype=np.float32),  # [1, 1]
        "PAE": result.pae.astype(np.float32)[None, :, :],  # [1, L, L] Å
        "METADATA": np.array([[json.dumps(metadata(result, weights, load_s)).encode()]], dtype=object),
    }
