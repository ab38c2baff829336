"""Relax tests: make the science code importable; the relax worker runs one OpenMM thread."""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
for path in (REPO, REPO / "triton_models"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))
