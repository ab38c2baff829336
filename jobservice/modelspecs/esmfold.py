"""ESMFold: validation before credits and the request's tensors (the model builds the files).

Params (seed): `num_recycles` 1–24, default 4 — N recycling iterations, i.e.
N+1 trunk passes (AlphaFold2's meaning; the Triton model passes N straight to
transformers' forward, which does exactly that). `chunk_size` default 128
residues; 0 turns chunking off for sequences up to the server's
auto-chunk length (longer ones are always chunked). Sequences longer than
PHONOS_ESMFOLD_MAX_LENGTH are refused here, before any credit is taken.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from jobservice.inference import Tensor, int32_tensor, text_tensor
from jobservice.modelspecs.base import JobOutputs, ModelInfo, ModelSpec, ValidatedJob
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
FORMATS = ("pdb", "cif", "json")


class EsmFoldSpec:
    """Stateless apart from its settings (read once from the environment)."""

    def __init__(self, settings: EsmFoldSettings) -> None:
        self.settings = settings
        self.info = INFO
        self.triton_model = "esmfold"
        self.formats = FORMATS
        self.provenance_params: tuple[str, ...] = ()
        self.timeout_s = float(settings.timeout_s)

    async def validate(self, sequence: str, params: Mapping[str, Any], outputs: JobOutputs) -> ValidatedJob:
        cleaned = protein_sequence(INFO.name, sequence, self.settings.max_length)
        reader = ParamReader(INFO.name, params)
        num_recycles = reader.integer("num_recycles", DEFAULT_RECYCLES, MIN_RECYCLES, MAX_RECYCLES)
        chunk_size = reader.integer("chunk_size", DEFAULT_CHUNK_SIZE, 0, MAX_CHUNK_SIZE)
        reader.finish()
        return ValidatedJob(sequence=cleaned, params={"num_recycles": num_recycles, "chunk_size": chunk_size})

    def inputs(self, job: ValidatedJob) -> tuple[Tensor, ...]:
        return (
            text_tensor("SEQUENCE", job.sequence, batched=True),
            int32_tensor("NUM_RECYCLES", job.params["num_recycles"], batched=True),
            int32_tensor("CHUNK_SIZE", job.params["chunk_size"], batched=True),
        )


def build_spec(env: Mapping[str, str] | None = None) -> ModelSpec:
    return EsmFoldSpec(EsmFoldSettings.from_env(current_env() if env is None else env))
