"""AlphaFold2: validation before credits and the request's tensors (the model builds the files).

Params (seed + issues 4 and 12), all checked here before any credit is taken:
- `sequence`: one chain, or a complex written with ':' chain breaks ("SEQA:SEQB"), at most
  MAX_CHAINS chains and the server's longest length in all.
- `model_preset`: monomer (default for one chain) | monomer_casp14 (8× input ensembling) |
  monomer_ptm (adds pTM and PAE) | multimer (AlphaFold-Multimer v3; the default, and the only
  preset, for a complex).
- `msa_mode`: single_sequence | a3m | search. Default: search when the server has sequence
  databases configured, else single_sequence. Giving `a3m` without `msa_mode` means msa_mode a3m.
- `a3m`: A3M text (a complex: a list with one A3M per chain), required exactly when msa_mode is a3m;
  each first record must be its chain.
- `max_msa_seqs`: MSA cluster centres sampled per pass (DeepMind's max_msa_clusters / num_msa;
  1–10000, default 512, multimer 508); every other row feeds the extra-MSA stack.
- `use_templates`: default true when a template database is configured. Explicitly true on a
  server without one → 400; left unset → the job runs without templates and its metadata says why.
- `num_recycles`: 0–24, default 3 (DeepMind's); multimer 20 with DeepMind's early stop.
- `random_seed`: 0–2^31-1, default 0. `num_models`: 1–5, default 1, ranked by mean pLDDT
  (multimer: 0.8·ipTM + 0.2·pTM).
- `relax`: none (default) | best (the rank-1 structure) | all: DeepMind's Amber relax.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from phonos_models.common.letters import chain_name

from jobservice import big_work
from jobservice.errors import InvalidArgument, json_value_text
from jobservice.inference import Tensor, text_tensor
from jobservice.modelspecs import a3m_fast
from jobservice.modelspecs.base import JobOutputs, ModelInfo, ModelSpec, ValidatedJob
from jobservice.modelspecs.params import ParamReader, protein_chains
from jobservice.modelspecs.text_checks import off_loop
from phonos_config.alphafold2 import (
    MAX_A3M_CHARS,
    MAX_CHAINS,
    MAX_MODELS,
    MAX_MSA_SEQS,
    MAX_RECYCLES,
    MAX_SEED,
    MSA_MODES,
    MULTIMER,
    PRESETS,
    AlphaFold2Settings,
    default_max_msa_seqs,
    default_recycles,
)
from phonos_config.complexes import CHAIN_BREAK
from phonos_config.env import current_env
from phonos_config.relax import RELAX_MODES

INFO = ModelInfo(
    id="alphafold2",
    name="AlphaFold2",
    description="High-accuracy protein structure prediction from DeepMind",
    type="structure_prediction",
    cost_credits=50,
)
# Every result has these; `pae` and `pae_plot` (the presets with a PAE head: monomer_ptm and multimer, never
# monomer or monomer_casp14), `rank_N_pdb` and the relaxed files come with the jobs that make them: a job's own
# `formats` (its stored file index) is what lists them.
FORMATS = ("pdb", "cif", "json", "a3m", "timings", "plddt_plot", "coverage_plot", "zip")
NO_TEMPLATE_DB = "this server has no template database configured"
BYTE_ORDER_MARK = "\ufeff"


@dataclass(frozen=True)
class AlphaFold2Spec:
    settings: AlphaFold2Settings
    info: ModelInfo = INFO
    triton_model: str = "alphafold2"
    formats: tuple[str, ...] = FORMATS
    provenance_params: tuple[str, ...] = ()
    stored_only_params: tuple[str, ...] = ("templates_note",)

    @property
    def timeout_s(self) -> float:
        return float(self.settings.timeout_s)

    async def validate(self, sequence: str, params: Mapping[str, Any], outputs: JobOutputs) -> ValidatedJob:
        chains = protein_chains(INFO.name, sequence, self.settings.max_length, MAX_CHAINS)
        reader = ParamReader(INFO.name, params)
        preset = reader.choice("model_preset", MULTIMER if len(chains) > 1 else "monomer", PRESETS) or "monomer"
        if len(chains) > 1 and preset != MULTIMER:
            raise InvalidArgument(f"the sequence has {len(chains)} chains (':' chain breaks): a complex needs "
                                  f"model_preset \"multimer\", not {json_value_text(preset)}")
        max_msa_seqs = reader.integer("max_msa_seqs", default_max_msa_seqs(preset), 1, MAX_MSA_SEQS)
        num_recycles = reader.integer("num_recycles", default_recycles(preset), 0, MAX_RECYCLES)
        random_seed = reader.integer("random_seed", 0, 0, MAX_SEED)
        num_models = reader.integer("num_models", 1, 1, MAX_MODELS)
        relax = reader.choice("relax", "none", RELAX_MODES)
        a3m = self._a3m(reader, chains)
        default_mode = "a3m" if a3m is not None else ("search" if self.settings.search_configured else "single_sequence")
        msa_mode = reader.choice("msa_mode", default_mode, MSA_MODES)
        use_templates, templates_note = self._templates(reader)
        reader.finish()
        if msa_mode == "a3m":
            if a3m is None:
                what = "one A3M per chain, each starting with its chain" if len(chains) > 1 else \
                    "A3M text whose first record is the query"
                raise InvalidArgument(f"params.a3m ({what}) is required when msa_mode is \"a3m\"")
            # Parsing an A3M is pure Python (50 MB, MAX_A3M_CHARS: 18 s): in the submission-text threads, never on
            # the event loop, where it froze every call of every user; one of them at a time per account.
            await off_loop(outputs.account_id, _check_a3m, a3m, chains)
        elif a3m is not None:
            raise InvalidArgument(f"params.a3m is only used with msa_mode \"a3m\", not {json_value_text(msa_mode)}; drop "
                                  "one of them")
        if msa_mode == "search" and not self.settings.search_configured:
            raise InvalidArgument('msa_mode "search" needs sequence databases and this server has none configured; '
                                  'use "single_sequence" or send your own MSA with msa_mode "a3m"')
        normalised: dict[str, Any] = {
            "model_preset": preset,
            "msa_mode": msa_mode,
            "max_msa_seqs": max_msa_seqs,
            "use_templates": use_templates,
            "num_recycles": num_recycles,
            "random_seed": random_seed,
            "num_models": num_models,
            "relax": relax,
        }
        if a3m is not None:
            normalised["a3m"] = a3m if len(chains) > 1 else a3m[0]
        if templates_note is not None:
            normalised["templates_note"] = templates_note
        return ValidatedJob(sequence=CHAIN_BREAK.join(chains), params=normalised)

    @staticmethod
    def _a3m(reader: ParamReader, chains: list[str]) -> list[str] | None:
        """One A3M per chain: a string for one chain, a list of strings for a complex. A byte-order mark (U+FEFF)
        at the start of one, as Windows editors save UTF-8, is dropped (the model's parser drops it too)."""
        if len(chains) == 1:
            text = reader.string("a3m", None, MAX_A3M_CHARS)
            return None if text is None else [text.removeprefix(BYTE_ORDER_MARK)]
        if isinstance(reader.peek("a3m"), str):
            raise InvalidArgument(f"params.a3m must be a list with one A3M per chain for a complex "
                                  f"({len(chains)} chains), in the order of the sequence")
        texts = reader.string_list("a3m", MAX_CHAINS, MAX_A3M_CHARS)
        if texts is not None and len(texts) != len(chains):
            raise InvalidArgument(f"params.a3m has {len(texts)} A3Ms for {len(chains)} chains; "
                                  "send one per chain, in the order of the sequence")
        return None if texts is None else [text.removeprefix(BYTE_ORDER_MARK) for text in texts]

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
            # json.dumps' text; a 50 MB A3M's escaped a piece at a time (jobservice/big_work.py: the GIL handed on)
            text_tensor("REQUEST", big_work.dumps(job.params), batched=False),
        )


def _check_a3m(texts: list[str], chains: list[str]) -> None:
    """The same checks the model runs, here so a bad A3M costs nothing (HTTP 400)."""
    from phonos_models.alphafold2.msa import A3MError, copies_message, parse_a3m

    # The usual A3M is accepted by whole-block string operations (a 50M-character one: ~0.5 s, not the parser's
    # 8.4 s of GIL); copies of one chain must then be the same text. Anything else, and every refusal, is the
    # parser's (its messages).
    if all(a3m_fast.accepts(text, chain) for text, chain in zip(texts, chains, strict=True)) and \
            all(texts[chains.index(chain)] == text for text, chain in zip(texts, chains, strict=True)):
        return
    parsed = []
    for index, (text, chain) in enumerate(zip(texts, chains, strict=True)):
        try:
            parsed.append(parse_a3m(text, chain))
        except A3MError as exc:
            where = f"{chain_name(index)}: " if len(chains) > 1 else ""
            raise InvalidArgument(where + str(exc)) from exc
    problem = copies_message(chains, parsed)
    if problem:
        raise InvalidArgument(problem)


def build_spec(env: Mapping[str, str] | None = None) -> ModelSpec:
    return AlphaFold2Spec(AlphaFold2Settings.from_env(current_env() if env is None else env))
