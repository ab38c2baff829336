"""AlphaFold2: validation before credits and the request's tensors (the model builds the files).

Params (seed + issue 4), all checked here before any credit is taken:
- `model_preset`: monomer (default) | monomer_casp14 (8× input ensembling) | monomer_ptm (adds pTM and PAE).
- `msa_mode`: single_sequence | a3m | search. Default: search when the server has sequence
  databases configured, else single_sequence. Giving `a3m` without `msa_mode` means msa_mode a3m.
- `a3m`: A3M text, required exactly when msa_mode is a3m; its first record must be the query.
- `max_msa_seqs`: MSA rows kept, query included (1–10000, default 512); the stored A3M shows the cut.
- `use_templates`: default true when a template database is configured. Explicitly true on a
  server without one → 400; left unset → the job runs without templates and its metadata says why.
- `num_recycles`: 0–24, default 3 (DeepMind's): N extra passes after the first.
- `random_seed`: 0–2^31-1, default 0. `num_models`: 1–5, default 1, ranked by mean pLDDT.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from jobservice.errors import InvalidArgument
from jobservice.inference import Tensor, text_tensor
from jobservice.modelspecs.base import JobOutputs, ModelInfo, ModelSpec, ValidatedJob
from jobservice.modelspecs.params import ParamReader, protein_sequence
from phonos_config.alphafold2 import (
    DEFAULT_MAX_MSA_SEQS,
    DEFAULT_RECYCLES,
    MAX_A3M_CHARS,
    MAX_MODELS,
    MAX_MSA_SEQS,
    MAX_RECYCLES,
    MAX_SEED,
    MSA_MODES,
    PRESETS,
    AlphaFold2Settings,
)
from phonos_config.env import current_env

INFO = ModelInfo(
    id="alphafold2",
    name="AlphaFold2",
    description="High-accuracy protein structure prediction from DeepMind",
    type="structure_prediction",
    cost_credits=50,
)
# pae_plot only for monomer_ptm: the other presets have no PAE head.
FORMATS = ("pdb", "cif", "json", "a3m", "timings", "plddt_plot", "pae_plot", "coverage_plot", "zip")
NO_TEMPLATE_DB = "this server has no template database configured"


@dataclass(frozen=True)
class AlphaFold2Spec:
    settings: AlphaFold2Settings
    info: ModelInfo = INFO
    triton_model: str = "alphafold2"
    formats: tuple[str, ...] = FORMATS
    provenance_params: tuple[str, ...] = ()

    @property
    def timeout_s(self) -> float:
        return float(self.settings.timeout_s)

    async def validate(self, sequence: str, params: Mapping[str, Any], outputs: JobOutputs) -> ValidatedJob:
        cleaned = protein_sequence(INFO.name, sequence, self.settings.max_length)
        reader = ParamReader(INFO.name, params)
        preset = reader.choice("model_preset", "monomer", PRESETS)
        max_msa_seqs = reader.integer("max_msa_seqs", DEFAULT_MAX_MSA_SEQS, 1, MAX_MSA_SEQS)
        num_recycles = reader.integer("num_recycles", DEFAULT_RECYCLES, 0, MAX_RECYCLES)
        random_seed = reader.integer("random_seed", 0, 0, MAX_SEED)
        num_models = reader.integer("num_models", 1, 1, MAX_MODELS)
        a3m = reader.string("a3m", None, MAX_A3M_CHARS)
        default_mode = "a3m" if a3m is not None else ("search" if self.settings.search_configured else "single_sequence")
        msa_mode = reader.choice("msa_mode", default_mode, MSA_MODES)
        use_templates, templates_note = self._templates(reader)
        reader.finish()
        if msa_mode == "a3m":
            if a3m is None:
                raise InvalidArgument("params.a3m (A3M text whose first record is the query) is required when msa_mode is 'a3m'")
            _check_a3m(a3m, cleaned)
        elif a3m is not None:
            raise InvalidArgument(f"params.a3m is only used with msa_mode 'a3m', not {msa_mode!r}; drop one of them")
        if msa_mode == "search" and not self.settings.search_configured:
            raise InvalidArgument("msa_mode 'search' needs sequence databases and this server has none configured; "
                                  "use 'single_sequence' or send your own MSA with msa_mode 'a3m'")
        normalised: dict[str, Any] = {
            "model_preset": preset,
            "msa_mode": msa_mode,
            "max_msa_seqs": max_msa_seqs,
            "use_templates": use_templates,
            "num_recycles": num_recycles,
            "random_seed": random_seed,
            "num_models": num_models,
        }
        if a3m is not None:
            normalised["a3m"] = a3m
        if templates_note is not None:
            normalised["templates_note"] = templates_note
        return ValidatedJob(sequence=cleaned, params=normalised)

    def _templates(self, reader: ParamReader) -> tuple[bool, str | None]:
        explicit = reader.has("use_templates")
        wanted = reader.boolean("use_templates", True)
        if not self.settings.templates_configured:
            if explicit and wanted:
                raise InvalidArgument(f"params.use_templates is true but {NO_TEMPLATE_DB}; "
                                      "set use_templates to false or leave it out")
            return False, None if explicit else NO_TEMPLATE_DB
        return bool(wanted), None

    def inputs(self, job: ValidatedJob) -> tuple[Tensor, ...]:
        # max_batch_size 0: the tensors are exactly the config's dims [1].
        return (
            text_tensor("SEQUENCE", job.sequence, batched=False),
            text_tensor("REQUEST", json.dumps(job.params), batched=False),
        )


def _check_a3m(text: str, query: str) -> None:
    """The same checks the model runs, here so a bad A3M costs nothing (HTTP 400)."""
    from phonos_models.alphafold2.msa import A3MError, parse_a3m

    try:
        parse_a3m(text, query)
    except A3MError as exc:
        raise InvalidArgument(str(exc)) from exc


def build_spec(env: Mapping[str, str] | None = None) -> ModelSpec:
    return AlphaFold2Spec(AlphaFold2Settings.from_env(current_env() if env is None else env))
