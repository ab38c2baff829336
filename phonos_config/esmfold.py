"""ESMFold settings, shared by the Triton model and the job-service spec.

Defaults are safe for a laptop or CI: no weights directory means the built-in
tiny, randomly initialised model of the real architecture (not a real
prediction). Production points PHONOS_ESMFOLD_WEIGHTS_DIR at a local copy of
`facebook/esmfold_v1` (`config.json` + `model.safetensors` or `pytorch_model.bin`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Self

from phonos_config.env import read_settings

# The seed's documented range for `params.num_recycles` and `params.chunk_size`.
MIN_RECYCLES = 1
MAX_RECYCLES = 24
DEFAULT_RECYCLES = 4
DEFAULT_CHUNK_SIZE = 128
MAX_CHUNK_SIZE = 4096
MAX_CHAINS = 26  # chain ids A-Z


@dataclass(frozen=True)
class EsmFoldSettings:
    weights_dir: Path | None = None  # None: built-in tiny random model (tests, `phonos serve`)
    # Folded residues (a complex's chains plus its 25-glycine linkers); longer submissions get a 400
    # before credits are taken.
    max_length: int = 1000
    max_chains: int = 8  # chains of one complex (`:`-separated); at most 26 (one-letter chain ids)
    # Above this length chunking is forced even when a request asks for 0 (off):
    # unchunked long sequences exhaust memory and are reported to go silently
    # wrong above ~1,000 aa (esm#641, #560).
    auto_chunk_length: int = 512  # residues
    auto_chunk_size: int = DEFAULT_CHUNK_SIZE  # the chunk used when chunking is forced
    num_threads: int = 1  # torch intra-op threads per Triton instance (instances share the cores)
    tiny_seed: int = 0  # seed of the random weights used when no weights_dir is set
    # Without weights_dir: "tiny" (default) or "full" (esmfold_v1's size, random: GPU timing runs only).
    random_architecture: str = "tiny"
    timeout_s: int = 600  # compute limit of one job (s): sent with each call, counted by the model (charged)
    # Padded residues (sequences x longest) per forward pass; 0 = no budget (Triton's max_batch_size
    # alone bounds a pass). Batching pays for short sequences only on CPU (docs/esmfold.md).
    max_tokens_per_batch: int = 0
    # Processes that build each job's result files (structures, plots, bundle) beside the next forward
    # pass, so they never hold the model instance; 0 = build them in the instance.
    file_workers: int = 1

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Self:
        """Every field from PHONOS_ESMFOLD_<FIELD NAME>, checked."""
        settings = read_settings(cls, env, "PHONOS_ESMFOLD_")
        settings.check()
        return settings

    def check(self) -> None:
        """Reject settings that would only fail later, mid-request."""
        if self.max_length < 1:
            raise ValueError(f"PHONOS_ESMFOLD_MAX_LENGTH must be at least 1, got {self.max_length}")
        if not 1 <= self.max_chains <= MAX_CHAINS:
            raise ValueError(f"PHONOS_ESMFOLD_MAX_CHAINS must be between 1 and {MAX_CHAINS}, got {self.max_chains}")
        if self.auto_chunk_length < 1:
            raise ValueError(f"PHONOS_ESMFOLD_AUTO_CHUNK_LENGTH must be at least 1, got {self.auto_chunk_length}")
        if not 1 <= self.auto_chunk_size <= MAX_CHUNK_SIZE:
            raise ValueError(
                f"PHONOS_ESMFOLD_AUTO_CHUNK_SIZE must be between 1 and {MAX_CHUNK_SIZE}, got {self.auto_chunk_size}"
            )
        if self.num_threads < 1:
            raise ValueError(f"PHONOS_ESMFOLD_NUM_THREADS must be at least 1, got {self.num_threads}")
        if self.random_architecture not in ("tiny", "full"):
            raise ValueError(
                f"PHONOS_ESMFOLD_RANDOM_ARCHITECTURE must be tiny or full, got {self.random_architecture!r}"
            )
        if self.max_tokens_per_batch < 0:
            raise ValueError(f"PHONOS_ESMFOLD_MAX_TOKENS_PER_BATCH must be 0 (off) or positive, "
                             f"got {self.max_tokens_per_batch}")
        if self.file_workers < 0:
            raise ValueError(f"PHONOS_ESMFOLD_FILE_WORKERS must be 0 (build in the instance) or more, "
                             f"got {self.file_workers}")
        if self.timeout_s < 1:
            raise ValueError(f"PHONOS_ESMFOLD_TIMEOUT_S must be at least 1, got {self.timeout_s}")

    @property
    def uses_tiny_weights(self) -> bool:
        return self.weights_dir is None

    def effective_chunk_size(self, length: int, requested: int) -> int | None:
        """The trunk chunk size for one sequence; None means unchunked.

        `requested` 0 means off, which is honoured only up to `auto_chunk_length`.
        """
        if requested > 0:
            return requested
        return self.auto_chunk_size if length > self.auto_chunk_length else None
