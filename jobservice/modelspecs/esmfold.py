"""ESMFold: validation before credits, Triton tensors, and the result files.

Params (seed): `num_recycles` 1–24, default 4 — N recycling iterations, i.e.
N+1 trunk passes (AlphaFold2's meaning; the Triton model passes N straight to
transformers' forward, which does exactly that). `chunk_size` default 128
residues; 0 turns chunking off for sequences up to the server's
auto-chunk length (longer ones are always chunked). Sequences longer than
PHONOS_ESMFOLD_MAX_LENGTH are refused here, before any credit is taken.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import numpy as np
from phonos_models.common.structure import pdb_to_mmcif

from jobservice.modelspecs.base import (
    Artifact,
    JobOutputs,
    ModelInfo,
    ModelResult,
    ModelSpec,
    TritonInput,
    ValidatedJob,
)
from jobservice.modelspecs.params import ParamReader, protein_sequence
from phonos_config.env import current_env
from phonos_config.esmfold import (
    DEFAULT_CHUNK_SIZE,
    DEFAULT_RECYCLES,
    MAX_CHUNK_SIZE,
    MAX_RECYCLES,
    MIN_RECYCLES,
    EsmFoldSettings,
)

INFO = ModelInfo(
    id="esmfold",
    name="ESMFold",
    description="Fast protein structure prediction from Meta AI",
    type="structure_prediction",
    cost_credits=10,
)
OUTPUT_NAMES: tuple[str, ...] = ("PDB", "PLDDT", "PTM", "PAE", "METADATA")
JSON_NOTE = (
    "plddt: predicted lDDT-CA per residue, 0-100 (>90 very high, 70-90 confident, 50-70 low, <50 very low "
    "confidence; AlphaFold convention, also in the PDB B-factor column). mean_plddt: their mean. "
    "ptm: predicted TM-score of this sequence, 0-1. pae[i][j]: expected position error in Angstrom of "
    "residue j when the prediction is aligned on residue i."
)


class EsmFoldSpec:
    """Stateless apart from its settings (read once from the environment)."""

    def __init__(self, settings: EsmFoldSettings) -> None:
        self.settings = settings
        self.info = INFO
        self.triton_model = "esmfold"
        self.output_names = OUTPUT_NAMES
        self.timeout_s = float(settings.timeout_s)

    async def validate(self, sequence: str, params: Mapping[str, Any], outputs: JobOutputs) -> ValidatedJob:
        cleaned = protein_sequence(INFO.name, sequence, self.settings.max_length)
        reader = ParamReader(INFO.name, params)
        num_recycles = reader.integer("num_recycles", DEFAULT_RECYCLES, MIN_RECYCLES, MAX_RECYCLES)
        chunk_size = reader.integer("chunk_size", DEFAULT_CHUNK_SIZE, 0, MAX_CHUNK_SIZE)
        reader.finish()
        return ValidatedJob(sequence=cleaned, params={"num_recycles": num_recycles, "chunk_size": chunk_size})

    def triton_inputs(self, job: ValidatedJob) -> list[TritonInput]:
        return [
            TritonInput("SEQUENCE", np.array([[job.sequence.encode()]], dtype=object), "BYTES"),
            TritonInput("NUM_RECYCLES", np.array([[job.params["num_recycles"]]], dtype=np.int32), "INT32"),
            TritonInput("CHUNK_SIZE", np.array([[job.params["chunk_size"]]], dtype=np.int32), "INT32"),
        ]

    def decode(self, job: ValidatedJob, outputs: Mapping[str, np.ndarray]) -> ModelResult:
        length = len(job.sequence)
        pdb = _text(outputs["PDB"])
        meta = json.loads(_text(outputs["METADATA"]))
        plddt = np.asarray(outputs["PLDDT"], dtype=np.float32).reshape(-1)
        pae = np.asarray(outputs["PAE"], dtype=np.float32).reshape(length, length)
        ptm = float(np.asarray(outputs["PTM"]).reshape(-1)[0])
        if plddt.shape != (length,):
            raise ValueError(f"esmfold returned {plddt.shape[0]} pLDDT values for {length} residues")
        mean_plddt = round(float(plddt.mean()), 2)
        weights = meta["weights"]
        provenance = {
            "weights": weights["name"],
            "weights_sha256": weights["sha256"],
            "real_weights": "true" if meta["real_weights"] else "false",
            "num_recycles": str(job.params["num_recycles"]),
        }
        if "note" in meta:
            provenance["note"] = meta["note"]
        report = {
            "sequence": job.sequence,
            "length": length,
            "plddt": [round(float(v), 2) for v in plddt],
            "mean_plddt": mean_plddt,
            "ptm": round(ptm, 4),
            "pae": np.round(pae, 2).tolist(),
            "weights": weights,
            "real_weights": meta["real_weights"],
            "note": JSON_NOTE + (f" {meta['note']}." if "note" in meta else ""),
        }
        metadata = {
            "weights": weights,
            "real_weights": meta["real_weights"],
            "num_recycles": job.params["num_recycles"],
            "trunk_passes": meta.get("trunk_passes"),
            "chunk_size": meta.get("chunk_size"),
            "timings": meta.get("timings", {}),
        }
        if "note" in meta:
            metadata["note"] = meta["note"]
        return ModelResult(
            artifacts=(
                Artifact("pdb", "pdb", "chemical/x-pdb", pdb.encode()),
                Artifact("cif", "cif", "chemical/x-mmcif", pdb_to_mmcif(pdb, provenance).encode()),
                Artifact("json", "json", "application/json", json.dumps(report).encode()),
            ),
            metrics={"mean_plddt": mean_plddt, "ptm": round(ptm, 4)},
            metadata=metadata,
        )


def _text(tensor: np.ndarray) -> str:
    value = np.asarray(tensor, dtype=object).reshape(-1)[0]
    return value.decode() if isinstance(value, bytes) else str(value)


def build_spec(env: Mapping[str, str] | None = None) -> ModelSpec:
    return EsmFoldSpec(EsmFoldSettings.from_env(current_env() if env is None else env))
