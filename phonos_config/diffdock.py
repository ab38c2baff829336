"""DiffDock settings, shared by the Triton model and the job-service spec.

Defaults are safe for a laptop or CI: no weights directory means tiny, randomly initialised score
and confidence models of the real architectures plus a tiny random ESM-2 (results then say "not a
real prediction"). Production points PHONOS_DIFFDOCK_WEIGHTS_DIR at the unzipped official release
(`score_model/` and `confidence_model/`, each a `model_parameters.yml` + `.pt` state dict) and
PHONOS_DIFFDOCK_ESM_DIR at a local transformers copy of `facebook/esm2_t33_650M_UR50D`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Self

from phonos_config.env import read_settings

# The public parameter ranges (seed: inference_steps 10–40, default 20; samples_per_complex default 10).
MIN_INFERENCE_STEPS = 10
MAX_INFERENCE_STEPS = 40
DEFAULT_INFERENCE_STEPS = 20  # reference default_inference_args.yaml
DEFAULT_SAMPLES = 10  # reference default_inference_args.yaml
MAX_SAMPLES = 40
MAX_SEED = 2**32 - 1  # numpy's seed range
MAX_PDB_BYTES = 5_000_000
MAX_SMILES_LENGTH = 2000


@dataclass(frozen=True)
class DiffDockSettings:
    weights_dir: Path | None = None  # None: tiny random score + confidence models
    esm_dir: Path | None = None  # None: tiny random ESM-2 (width matched to the score model)
    # Name of a Triton model serving ESM-2 (triton_models/esm2) to call instead of embedding in
    # process; "" = in process. Lets several DiffDock instances share one ESM-2 (650M) copy.
    esm_triton_model: str = ""
    device: str = "cpu"  # "cuda" in the GPU configuration
    batch_size: int = 10  # samples per forward pass; memory/speed only: the random numbers do not depend on it
    num_threads: int = 1  # torch intra-op threads per Triton instance
    tiny_seed: int = 0  # seed of the tiny random weights
    max_samples: int = MAX_SAMPLES
    timeout_s: int = 1800  # compute limit of one job (s): sent with each call, counted by the model (charged)
    # Wall-clock bound of one ligand's 3D embedding (RDKit ETKDG, s): past it the job fails as invalid input
    # naming the ligand's size. Drug-like ligands take well under a second; ~150 flexible atoms take 5-60 s.
    ligand_embed_s: int = 120

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Self:
        """Every field from PHONOS_DIFFDOCK_<FIELD NAME>, checked."""
        settings = read_settings(cls, env, "PHONOS_DIFFDOCK_")
        settings.check()
        return settings

    def check(self) -> None:
        """Reject settings that would only fail later, mid-request."""
        if self.batch_size < 1:
            raise ValueError(f"PHONOS_DIFFDOCK_BATCH_SIZE must be at least 1, got {self.batch_size}")
        if self.num_threads < 1:
            raise ValueError(f"PHONOS_DIFFDOCK_NUM_THREADS must be at least 1, got {self.num_threads}")
        if self.max_samples < 1:
            raise ValueError(f"PHONOS_DIFFDOCK_MAX_SAMPLES must be at least 1, got {self.max_samples}")
        if self.ligand_embed_s < 1:
            raise ValueError(f"PHONOS_DIFFDOCK_LIGAND_EMBED_S must be at least 1, got {self.ligand_embed_s}")
        if self.timeout_s < 1:
            raise ValueError(f"PHONOS_DIFFDOCK_TIMEOUT_S must be at least 1, got {self.timeout_s}")
        if not (self.device == "cpu" or self.device.startswith("cuda")):
            raise ValueError(f"PHONOS_DIFFDOCK_DEVICE must be 'cpu' or 'cuda[:N]', got {self.device!r}")
        for name, path in (("PHONOS_DIFFDOCK_WEIGHTS_DIR", self.weights_dir), ("PHONOS_DIFFDOCK_ESM_DIR", self.esm_dir)):
            if path is not None and not path.is_dir():
                raise ValueError(f"{name} is not a directory: {path}")
