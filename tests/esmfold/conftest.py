"""ESMFold tests: make the science code importable and keep torch to one thread."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
for path in (REPO, REPO / "triton_models"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))


@pytest.fixture(scope="session", autouse=True)
def _one_thread() -> None:
    import torch

    torch.set_num_threads(1)  # the machine is shared; tiny models do not gain from more


@pytest.fixture(scope="session")
def tiny():
    """The built-in tiny model, loaded once per session (read-only in tests)."""
    from phonos_models.esmfold.loading import load_model

    return load_model(None, tiny_seed=0)
