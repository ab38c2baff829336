"""ESMFold: validation before credits and the request's tensors (the model builds the files).

A sequence with `:` chain breaks folds as a complex (chains A, B, … joined by a 25-glycine linker,
removed from the outputs; phonos_models.esmfold.chains). Params (seed): `num_recycles` 1–24, default 4 — N recycling iterations, i.e.
N+1 trunk passes (AlphaFold2's meaning; the Triton model passes N straight to
transformers' forward, which does exactly that). `chunk_size` default 128
residues; 0 turns chunking off for sequences up to the server's
auto-chunk length (longer ones are always chunked). Sequences longer than
PHONOS_ESMFOLD_MAX_LENGTH folded residues (linkers included) or with more
than PHONOS_ESMFOLD_MAX_CHAINS chains are refused here, before any credit is taken.
`relax`: none (default) | best | all — DeepMind's Amber relax of the predicted structure (a fold has one
structure, so best and all are the same), as AlphaFold2 offers it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from phonos_models.esmfold.chains import ChainError, parse_chains

from jobservice.errors import InvalidArgument
from jobservice.inference import Tensor, int32_tensor, text_tensor
from jobservice.modelspecs.base import JobOutputs, ModelInfo, ModelSpec, ValidatedJob
from jobservice.modelspecs.params import ParamReader
from phonos_config.env import current_env
from phonos_config.esmfold import (
    DEFAULT_CHUNK_SIZE,
    DEFAULT_RECYCLES,
    MAX_CHUNK_SIZE,
    MAX_RECYCLES,
    MIN_RECYCLES,
    EsmFoldSettings,
)
from phonos_config.relax import RELAX_MODES

INFO = ModelInfo(
    id="esmfold",
    name="ESMFold",
    description="Fast protein structure prediction from Meta AI",
    type="structure_prediction",
    cost_credits=10,
)
# Every result has these; `relaxed_pdb` and `relaxed_cif` come with the jobs that ask for relax (after `pae`).
# `pae`: the PAE as the AlphaFold Database's JSON (phonos_models.common.pae_file); ESMFold always has a pTM head.
FORMATS = ("pdb", "cif", "json", "pae", "plddt_plot", "pae_plot", "zip")


class EsmFoldSpec:
    """Stateless apart from its settings (read once from the environment)."""

    def __init__(self, settings: EsmFoldSettings) -> None:
        self.settings = settings
        self.info = INFO
        self.triton_model = "esmfold"
        self.formats = FORMATS
        self.provenance_params: tuple[str, ...] = ()
        self.stored_only_params: tuple[str, ...] = ()
        # The compute limit the model counts for the forward pass. An Amber relax afterwards has its own
        # (PHONOS_RELAX_TIMEOUT_S, in the model): one that runs out of time ends as a clean "timed_out"
        # relax with the unrelaxed files delivered, never as a failed job.
        self.timeout_s = float(settings.timeout_s)

    async def validate(self, sequence: str, params: Mapping[str, Any], outputs: JobOutputs) -> ValidatedJob:
        try:
            layout = parse_chains(sequence, max_length=self.settings.max_length, max_chains=self.settings.max_chains)
        except ChainError as exc:
            raise InvalidArgument(str(exc)) from None
        cleaned = layout.sequence
        reader = ParamReader(INFO.name, params)
        num_recycles = reader.integer("num_recycles", DEFAULT_RECYCLES, MIN_RECYCLES, MAX_RECYCLES)
        chunk_size = reader.integer("chunk_size", DEFAULT_CHUNK_SIZE, 0, MAX_CHUNK_SIZE)
        relax = reader.choice("relax", "none", RELAX_MODES)
        reader.finish()
        return ValidatedJob(sequence=cleaned, params={"num_recycles": num_recycles, "chunk_size": chunk_size,
                                                      "relax": relax})

    def inputs(self, job: ValidatedJob) -> tuple[Tensor, ...]:
        return (
            text_tensor("SEQUENCE", job.sequence, batched=True),
            int32_tensor("NUM_RECYCLES", job.params["num_recycles"], batched=True),
            int32_tensor("CHUNK_SIZE", job.params["chunk_size"], batched=True),
            # Jobs stored before relax existed have no such param: they ran unrelaxed.
            text_tensor("RELAX", job.params.get("relax", "none"), batched=True),
        )


def build_spec(env: Mapping[str, str] | None = None) -> ModelSpec:
    return EsmFoldSpec(EsmFoldSettings.from_env(current_env() if env is None else env))
