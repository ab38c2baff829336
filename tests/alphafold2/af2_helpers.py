"""Constants and helpers shared by the AlphaFold2 tests (imported by module name)."""

from __future__ import annotations

import tempfile
from pathlib import Path

BUCKET = 48
COMPILE_CACHE = Path(tempfile.gettempdir()) / "phonos-af2-test-jax-cache"
QUERY = "MKTVRQERLKSIVRILERSKEPVSGAQLAEELSVSRQVIVQ"  # 41 aa, bucket 48


def settings_env(**extra: str) -> dict[str, str]:
    return {
        "PHONOS_ALPHAFOLD2_LENGTH_BUCKETS": str(BUCKET),
        "PHONOS_ALPHAFOLD2_COMPILE_CACHE": str(COMPILE_CACHE),
        **extra,
    }


def mutate(sequence: str, every: int, offset: int = 0) -> str:
    """A homolog: every `every`-th residue swapped for a chemically different one."""
    swap = str.maketrans("ACDEFGHIKLMNPQRSTVWY", "GSEDYAKRVIFQSNKTSILF")
    return "".join(c.translate(swap) if (i + offset) % every == 0 else c for i, c in enumerate(sequence))
