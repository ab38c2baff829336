"""AlphaFold2: validation before credits, Triton tensors, and the result files.

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

import numpy as np

from jobservice.errors import InvalidArgument
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
from phonos_config.alphafold2 import AlphaFold2Settings
from phonos_config.env import current_env

INFO = ModelInfo(
    id="alphafold2",
    name="AlphaFold2",
    description="High-accuracy protein structure prediction from DeepMind",
    type="structure_prediction",
    cost_credits=50,
)
OUTPUT_NAMES = ("PDB", "CIF", "SCORES", "MSA", "METADATA")
PRESETS = ("monomer", "monomer_casp14", "monomer_ptm")
MSA_MODES = ("single_sequence", "a3m", "search")
DEFAULT_RECYCLES = 3
MAX_RECYCLES = 24
DEFAULT_MAX_MSA_SEQS = 512
MAX_MSA_SEQS = 10_000
MAX_A3M_CHARS = 50_000_000  # ~ a deep uniref90 MSA of a 1,000-aa protein
MAX_SEED = 2**31 - 1
NO_TEMPLATE_DB = "this server has no template database configured"


@dataclass(frozen=True)
class AlphaFold2Spec:
    settings: AlphaFold2Settings
    info: ModelInfo = INFO
    triton_model: str = "alphafold2"
    output_names: tuple[str, ...] = OUTPUT_NAMES

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
        num_models = reader.integer("num_models", 1, 1, 5)
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

    def triton_inputs(self, job: ValidatedJob) -> list[TritonInput]:
        # max_batch_size 0: the tensors are exactly the config's dims [1].
        return [
            TritonInput("SEQUENCE", np.array([job.sequence.encode()], dtype=object), "BYTES"),
            TritonInput("REQUEST", np.array([json.dumps(job.params).encode()], dtype=object), "BYTES"),
        ]

    def decode(self, job: ValidatedJob, outputs: Mapping[str, np.ndarray]) -> ModelResult:
        scores = json.loads(_text(outputs["SCORES"]))
        meta = json.loads(_text(outputs["METADATA"]))
        if len(scores["plddt"]) != len(job.sequence):
            raise ValueError(f"alphafold2 returned {len(scores['plddt'])} pLDDT values for {len(job.sequence)} residues")
        metrics: dict[str, float | int | str] = {"mean_plddt": round(float(scores["mean_plddt"]), 2)}
        if "ptm" in scores:
            metrics["ptm"] = round(float(scores["ptm"]), 4)
        timings = meta.get("timings", {})
        return ModelResult(
            artifacts=(
                Artifact("pdb", "pdb", "chemical/x-pdb", _text(outputs["PDB"]).encode()),
                Artifact("cif", "cif", "chemical/x-mmcif", _text(outputs["CIF"]).encode()),
                Artifact("json", "json", "application/json", json.dumps(scores).encode()),
                Artifact("a3m", "a3m", "text/plain", _text(outputs["MSA"]).encode()),
                Artifact("timings", "timings.json", "application/json", json.dumps(timings).encode()),
            ),
            metrics=metrics,
            metadata=meta,
        )


def _check_a3m(text: str, query: str) -> None:
    """The same checks the model runs, here so a bad A3M costs nothing (HTTP 400)."""
    from phonos_models.alphafold2.msa import A3MError, parse_a3m

    try:
        parse_a3m(text, query)
    except A3MError as exc:
        raise InvalidArgument(str(exc)) from exc


def _text(tensor: np.ndarray) -> str:
    value = np.asarray(tensor, dtype=object).reshape(-1)[0]
    return value.decode() if isinstance(value, bytes) else str(value)


def build_spec(env: Mapping[str, str] | None = None) -> ModelSpec:
    return AlphaFold2Spec(AlphaFold2Settings.from_env(current_env() if env is None else env))
