"""Settings of the AlphaFold2 model server, read from PHONOS_ALPHAFOLD2_* variables.

Safe defaults: tiny randomly initialised weights of the real architecture, no
sequence databases (single-sequence mode), no template database. A deployment
points `params_dir` at DeepMind's released parameters and the database paths at
its local copies of uniref90 / mgnify / small_bfd.
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Self

from phonos_config.env import env_int, env_path, env_str
from phonos_config.relax import RelaxSettings

# The public parameter ranges, defined once for the job-service spec and the model alike.
MULTIMER = "multimer"  # DeepMind's AlphaFold-Multimer v3 models (params_model_N_multimer_v3)
PRESETS = ("monomer", "monomer_casp14", "monomer_ptm", MULTIMER)
MSA_MODES = ("single_sequence", "a3m", "search")
MAX_MODELS = 5  # DeepMind released five models per preset
DEFAULT_RECYCLES = 3  # DeepMind's num_recycle for the monomer models (AF2 Suppl. 1.10)
# AlphaFold 2.3's multimer default: up to 20 recycles, stopping early once the CA distance
# matrix moves less than 0.5 Å between passes (config.py CONFIG_MULTIMER).
DEFAULT_MULTIMER_RECYCLES = 20
MAX_RECYCLES = 24  # ColabFold accepts up to 48; 24 keeps one job well under the call timeout on GPU
# `max_msa_seqs` is DeepMind's number of MSA cluster centres sampled per pass (monomer
# `data.eval.max_msa_clusters` 512, multimer v3 `num_msa` 508); every other row of the MSA goes
# to the extra-MSA stack up to the model's own cap.
DEFAULT_MAX_MSA_SEQS = 512  # the API seed's default = DeepMind's monomer max_msa_clusters
DEFAULT_MULTIMER_MAX_MSA_SEQS = 508
MAX_MSA_SEQS = 10_000
MAX_CHAINS = 26  # a complex ("SEQA:SEQB") has at most this many chains, labelled A-Z
MAX_A3M_CHARS = 50_000_000  # ~ a deep uniref90 MSA of a 1,000-aa protein
MAX_SEED = 2**31 - 1

# Padded lengths: every input is padded up to the next bucket so a new length
# reuses an already compiled XLA program. The last bucket is the longest
# accepted sequence. Roughly ColabFold's "recompile every 64 aa" policy, coarser
# above 512 aa where one compile is cheap next to the run itself.
DEFAULT_LENGTH_BUCKETS = (64, 128, 192, 256, 384, 512, 768, 1024, 1536, 2048, 2500)


def default_recycles(preset: str) -> int:
    return DEFAULT_MULTIMER_RECYCLES if preset == MULTIMER else DEFAULT_RECYCLES


def default_max_msa_seqs(preset: str) -> int:
    return DEFAULT_MULTIMER_MAX_MSA_SEQS if preset == MULTIMER else DEFAULT_MAX_MSA_SEQS


def _buckets(text: str) -> tuple[int, ...]:
    try:
        values = tuple(sorted({int(part) for part in text.split(",") if part.strip()}))
    except ValueError as exc:
        raise ValueError(f"PHONOS_ALPHAFOLD2_LENGTH_BUCKETS must be comma-separated integers, got {text!r}") from exc
    if not values or values[0] < 8:
        raise ValueError("PHONOS_ALPHAFOLD2_LENGTH_BUCKETS needs at least one length >= 8")
    return values


@dataclass(frozen=True)
class SequenceDatabase:
    """One FASTA database searched with jackhmmer in `msa_mode: search`."""

    name: str  # "uniref90", "mgnify", "small_bfd"
    path: Path  # FASTA file
    max_hits: int  # AlphaFold's per-database cap (uniref90 10000, mgnify 501, small_bfd unlimited→ 10000 here)


@dataclass(frozen=True)
class AlphaFold2Settings:
    params_dir: Path | None  # DeepMind layout: <dir>/params/params_model_N[_ptm].npz; None = tiny random weights
    tiny_seed: int  # seed of the tiny random weights (their content hash is reported with every result)
    compile_cache_dir: Path  # persistent XLA compile cache (survives restarts)
    length_buckets: tuple[int, ...]  # padded lengths; the last one is the longest accepted sequence
    databases: tuple[SequenceDatabase, ...]  # empty = no search mode
    pdb_seqres: Path | None  # template search database: PDB chain sequences (AlphaFold's pdb_seqres.txt layout)
    template_mmcif_dir: Path | None  # <pdb id>.cif files the template hits are read from
    max_template_date: str  # YYYY-MM-DD: templates released after this are ignored (DeepMind's --max_template_date)
    jackhmmer_binary: str
    hmmsearch_binary: str
    hmmbuild_binary: str
    kalign_binary: str  # realigns a hit whose mmCIF sequence differs from the seqres entry
    search_threads: int
    num_threads: int  # XLA CPU threads per Triton instance; 0 = XLA's default (all cores)
    timeout_s: float  # compute limit of one job (s): sent with each call, counted by the model (charged)
    relax: RelaxSettings = RelaxSettings()  # Amber relax (PHONOS_RELAX_*), shared with ESMFold

    @property
    def max_length(self) -> int:
        return self.length_buckets[-1]

    @property
    def search_configured(self) -> bool:
        return bool(self.databases)

    @property
    def templates_configured(self) -> bool:
        return self.pdb_seqres is not None and self.template_mmcif_dir is not None

    @property
    def real_weights(self) -> bool:
        return self.params_dir is not None

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Self:
        data_dir = env_path(env, "PHONOS_DATA_DIR")
        default_cache = (data_dir / "jax_cache") if data_dir else Path(tempfile.gettempdir()) / "phonos-jax-cache"
        cache = env_path(env, "PHONOS_ALPHAFOLD2_COMPILE_CACHE") or default_cache
        databases: list[SequenceDatabase] = []
        # AlphaFold's run_alphafold.py caps: uniref90 10,000 hits, mgnify 501; small_bfd uncapped.
        for name, cap in (("uniref90", 10_000), ("mgnify", 501), ("small_bfd", 10_000)):
            path = env_path(env, f"PHONOS_ALPHAFOLD2_{name.upper()}")
            if path is not None:
                databases.append(SequenceDatabase(name=name, path=path, max_hits=cap))
        return cls(
            params_dir=env_path(env, "PHONOS_ALPHAFOLD2_PARAMS_DIR"),
            tiny_seed=env_int(env, "PHONOS_ALPHAFOLD2_TINY_SEED", 0),
            compile_cache_dir=cache,
            length_buckets=_buckets(env_str(env, "PHONOS_ALPHAFOLD2_LENGTH_BUCKETS", ",".join(map(str, DEFAULT_LENGTH_BUCKETS)))),
            databases=tuple(databases),
            pdb_seqres=env_path(env, "PHONOS_ALPHAFOLD2_PDB_SEQRES"),
            template_mmcif_dir=env_path(env, "PHONOS_ALPHAFOLD2_TEMPLATE_MMCIF_DIR"),
            max_template_date=env_str(env, "PHONOS_ALPHAFOLD2_MAX_TEMPLATE_DATE", "2100-01-01"),
            jackhmmer_binary=env_str(env, "PHONOS_ALPHAFOLD2_JACKHMMER", "jackhmmer"),
            hmmsearch_binary=env_str(env, "PHONOS_ALPHAFOLD2_HMMSEARCH", "hmmsearch"),
            hmmbuild_binary=env_str(env, "PHONOS_ALPHAFOLD2_HMMBUILD", "hmmbuild"),
            kalign_binary=env_str(env, "PHONOS_ALPHAFOLD2_KALIGN", "kalign"),
            search_threads=env_int(env, "PHONOS_ALPHAFOLD2_SEARCH_THREADS", 2),
            num_threads=env_int(env, "PHONOS_ALPHAFOLD2_NUM_THREADS", 0),
            timeout_s=float(env_int(env, "PHONOS_ALPHAFOLD2_TIMEOUT_S", 3600)),
            relax=RelaxSettings.from_env(env),
        )
