"""AlphaFold2 tests: make `phonos_models` importable, share one engine and its compiled programs.

Compile time dominates (see docs/alphafold2.md): every test runs one length
bucket (48) through one session-wide `Engine`, and the persistent XLA cache
lives in a fixed temp directory so reruns skip compiling.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
for path in (REPO, REPO / "triton_models"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

# Before JAX is imported anywhere: CPU only, one compute thread (the machine is shared).
os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1")


@pytest.fixture(scope="session")
def engine():
    """The tiny-weight engine without databases, shared by every test of the session."""
    from af2_helpers import settings_env
    from phonos_models.alphafold2.pipeline import Engine

    from phonos_config.alphafold2 import AlphaFold2Settings

    return Engine(AlphaFold2Settings.from_env(settings_env()))
