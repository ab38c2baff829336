"""Shared set-up for the DiffDock tests: import path, one CPU thread, the reference manifests."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[2]
# phonos_models is packaged from triton_models/ (pyproject package-dir); make it importable even
# when the project is not pip-installed into the venv.
if str(REPO / "triton_models") not in sys.path:
    sys.path.insert(0, str(REPO / "triton_models"))

from dd_helpers import REFERENCE_DIR  # noqa: E402  (after the sys.path set-up above)


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    # The test machine is shared; one intra-op thread keeps timings predictable.
    torch.set_num_threads(1)


@pytest.fixture(scope="session")
def reference_dir() -> Path:
    if not REFERENCE_DIR.is_dir():
        pytest.fail(f"DiffDock reference manifests not found at {REFERENCE_DIR} (a required test input: put "
                    "shared/reference beside the checkout or set PHONOS_TEST_REFERENCE_DIR)")
    return REFERENCE_DIR
