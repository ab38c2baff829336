"""Amber relax settings, shared by every structure model that offers `params.relax` (AlphaFold2, ESMFold).

Read from PHONOS_RELAX_* variables (a Triton model passes them through from its config.pbtxt
parameters and the server's environment). DeepMind's minimisation constants (stiffness, tolerance,
outer iterations) are not settings: they are fixed in phonos_models.common.relax as in
AlphaFold's run_alphafold.py.
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Self

from phonos_config.env import read_settings

# The public `params.relax` values: nothing, the rank-1 structure, or every structure the job made.
RELAX_MODES = ("none", "best", "all")
# DeepMind's relax chooses between OpenMM's CUDA and CPU platforms (its `use_gpu` switch).
PLATFORMS = ("auto", "CPU", "CUDA")


@dataclass(frozen=True)
class RelaxSettings:
    # The whole relax step of one job (all its structures); past it the step fails cleanly and the
    # unrelaxed structures are delivered. Generous for CPU: ~1 s per 10 residues on one core.
    timeout_s: float = 600.0
    # OpenMM platform: "auto" = CUDA when OpenMM has it (pip `openmm[cuda12]`), else CPU.
    platform: str = "auto"
    # OpenMM CPU platform threads; 0 = OpenMM's default (all cores). 1 (the default) makes a CPU relax
    # bit-repeatable: several threads sum forces in an order that varies run to run (docs/alphafold2.md).
    cpu_threads: int = 1
    # Interpreter of the relax worker process; empty = this process's Python (or `python3` on PATH
    # inside Triton's stub, whose PATH starts with the serving venv).
    python: str = ""
    # Persistent XLA cache of the worker: DeepMind's violation check runs ~100 small JAX programs that
    # take ~10 s to compile in every new worker, ~1.5 s once cached. None: $TMPDIR/phonos-relax-jax-cache.
    compile_cache_dir: Path | None = None

    @property
    def jax_cache(self) -> Path:
        return self.compile_cache_dir or Path(tempfile.gettempdir()) / "phonos-relax-jax-cache"

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Self:
        settings = read_settings(cls, env, "PHONOS_RELAX_")
        settings.check()
        return settings

    def check(self) -> None:
        if self.timeout_s <= 0:
            raise ValueError(f"PHONOS_RELAX_TIMEOUT_S must be positive, got {self.timeout_s}")
        if self.platform not in PLATFORMS:
            raise ValueError(f"PHONOS_RELAX_PLATFORM must be one of {', '.join(PLATFORMS)}, got {self.platform!r}")
        if self.cpu_threads < 0:
            raise ValueError(f"PHONOS_RELAX_CPU_THREADS must be 0 or more, got {self.cpu_threads}")
