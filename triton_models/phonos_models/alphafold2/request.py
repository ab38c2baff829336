"""One AlphaFold2 request as the model receives it: the job service's normalised params, checked again
(Triton can be called directly)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from phonos_config.alphafold2 import (
    MAX_CHAINS,
    MAX_MODELS,
    MAX_MSA_SEQS,
    MAX_RECYCLES,
    MSA_MODES,
    MULTIMER,
    PRESETS,
    default_max_msa_seqs,
    default_recycles,
)
from phonos_config.json_text import json_value_text
from phonos_config.relax import RELAX_MODES
from phonos_models.common.chains import ChainLayout
from phonos_models.common.errors import BadInput
from phonos_models.common.letters import chains_message, fasta_header_message, residue_text
from phonos_models.common.requests import request_fields


class RequestError(BadInput):
    """The request cannot run; the message says what to fix (Triton answers it as an error)."""


@dataclass(frozen=True)
class Request:
    """A validated AlphaFold2 job."""

    sequence: str  # one-letter codes; a complex joins its chains with ':'
    model_preset: str = "monomer"
    msa_mode: str = "single_sequence"
    a3m: str | tuple[str, ...] | None = None  # one A3M text; a complex: one per chain
    max_msa_seqs: int | None = None  # cluster centres sampled per pass; None: the preset's default
    use_templates: bool = False
    num_recycles: int | None = None  # extra passes after the first; None: the preset's default
    random_seed: int = 0
    num_models: int = 1
    relax: str = "none"  # none | best (rank 1) | all
    templates_note: str | None = None  # why templates did not run, when the user did not ask for them

    @classmethod
    def from_json(cls, sequence: str, text: str) -> Request:
        params = request_fields(text, set(cls.__dataclass_fields__) - {"sequence"}, RequestError)
        if isinstance(params.get("a3m"), list):
            params["a3m"] = tuple(params["a3m"])
        # The job service's normalisation (phonos_models.common.letters; ESMFold's parse_chains does the same), for a
        # direct Triton call: before, a FASTA header was refused as the letters '>' and its name, and whitespace
        # inside the sequence (a wrapped paste) as the character U+0020 SPACE.
        fasta = fasta_header_message(sequence)
        if fasta:
            raise RequestError(fasta)
        request = cls(sequence=residue_text(sequence), **params).with_defaults()
        request.check()
        return request

    def with_defaults(self) -> Request:
        """The preset's defaults filled in (multimer: 20 recycles with early stop, 508 cluster centres)."""
        return dataclasses.replace(
            self,
            num_recycles=default_recycles(self.model_preset) if self.num_recycles is None else self.num_recycles,
            max_msa_seqs=default_max_msa_seqs(self.model_preset) if self.max_msa_seqs is None else self.max_msa_seqs,
        )

    @property
    def layout(self) -> ChainLayout:
        return ChainLayout.of(self.sequence)

    @property
    def multimer(self) -> bool:
        return self.model_preset == MULTIMER

    @property
    def a3m_texts(self) -> tuple[str, ...]:
        """One A3M per chain (msa_mode a3m)."""
        if self.a3m is None:
            return ()
        return (self.a3m,) if isinstance(self.a3m, str) else tuple(self.a3m)

    def check(self) -> None:
        chains = self.layout.sequences
        # The job service's rule and words, as ESMFold's (phonos_models.common.letters): an empty chain, a DNA/RNA
        # sequence (T, G, C, A are amino acids too: a pasted gene would fold as a meaningless protein), letters
        # AlphaFold2 has no residue type for, a chain of only X (it builds no atoms for X: the chain would be
        # missing from every file). Triton can be called directly, without the job service's check.
        problem = chains_message(chains)
        if problem:
            raise RequestError(problem)
        if len(chains) > MAX_CHAINS:
            raise RequestError(f"at most {MAX_CHAINS} chains, got {len(chains)}")
        if self.model_preset not in PRESETS:
            raise RequestError(f"model_preset must be one of {', '.join(PRESETS)}")
        if len(chains) > 1 and not self.multimer:
            raise RequestError(f"a complex ({len(chains)} chains) needs model_preset {json_value_text(MULTIMER)}")
        if self.msa_mode not in MSA_MODES:
            raise RequestError(f"msa_mode must be one of {', '.join(MSA_MODES)}")
        if (self.msa_mode == "a3m") != (self.a3m is not None):
            raise RequestError('a3m text is required exactly when msa_mode is "a3m"')
        if self.a3m is not None and len(self.a3m_texts) != len(chains):
            raise RequestError(f"one A3M per chain is needed: {len(chains)} chains, {len(self.a3m_texts)} A3Ms")
        if not 1 <= self.num_models <= MAX_MODELS:
            raise RequestError(f"num_models must be between 1 and {MAX_MODELS}")
        if self.num_recycles is None or not 0 <= self.num_recycles <= MAX_RECYCLES:
            raise RequestError(f"num_recycles must be between 0 and {MAX_RECYCLES}")
        if self.max_msa_seqs is None or not 1 <= self.max_msa_seqs <= MAX_MSA_SEQS:
            raise RequestError(f"max_msa_seqs must be between 1 and {MAX_MSA_SEQS}")
        if self.relax not in RELAX_MODES:
            raise RequestError(f"relax must be one of {', '.join(RELAX_MODES)}")

    def as_json(self) -> dict[str, Any]:
        """The parameters a result records (everything but the sequence and the A3M text)."""
        return {"model_preset": self.model_preset, "msa_mode": self.msa_mode, "max_msa_seqs": self.max_msa_seqs,
                "num_recycles": self.num_recycles, "num_models": self.num_models, "random_seed": self.random_seed,
                "relax": self.relax}
