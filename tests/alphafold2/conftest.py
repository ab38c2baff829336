"""AlphaFold2 tests: make `phonos_models` importable and keep JAX small and shared."""

from __future__ import annotations

import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
for path in (REPO, REPO / "triton_models"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

# Before JAX is imported anywhere: one host thread pool, no GPU probing noise.
os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1")
