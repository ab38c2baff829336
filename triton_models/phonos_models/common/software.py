"""The versions of the software that produced a result, read once per model load.

A structure or a pose depends on more than its weights: a numerical library's new release can move coordinates,
and a user reproducing a job needs to know what ran. Each model names the packages it runs; the versions come from
the installed distributions' metadata (importlib.metadata: no import, no GPU touched), plus phonos's own and
Python's. Job metadata `software` (phonos_models.common.instance) carries them; OpenMM's is added by a relax
(relax_step), which runs it in its own worker process.
"""

from __future__ import annotations

import importlib.metadata
import platform
import tomllib
from collections.abc import Sequence
from pathlib import Path

_CHECKOUT = Path(__file__).resolve().parents[3]  # triton_models/phonos_models/common → the repository root
UNKNOWN = "unknown"

ESMFOLD = ("torch", "transformers", "numpy")
ALPHAFOLD2 = ("jax", "jaxlib", "dm-haiku", "alphafold-colabfold", "numpy")
DIFFDOCK = ("torch", "e3nn", "rdkit", "numpy")


def package_version(distribution: str) -> str | None:
    """An installed distribution's version, or None when it is not installed."""
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def phonos_version() -> str:
    """The installed `phonos` distribution's version; in a Triton container, which runs the checkout without
    installing it, the checkout's pyproject.toml's."""
    installed = package_version("phonos")
    if installed is not None:
        return installed
    try:
        project = tomllib.loads((_CHECKOUT / "pyproject.toml").read_text())["project"]
        return str(project["version"])
    except (OSError, KeyError, tomllib.TOMLDecodeError):
        return UNKNOWN


def versions(packages: Sequence[str]) -> dict[str, str]:
    """{"phonos": ..., "python": ..., package: version, ...}; a package that is not installed is left out."""
    found = {name: version for name in packages if (version := package_version(name)) is not None}
    return {"phonos": phonos_version(), "python": platform.python_version(), **found}
