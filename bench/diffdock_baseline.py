"""Import an earlier git revision of the DiffDock science package next to the current one.

`load(rev)` extracts `triton_models/phonos_models` at `rev` with `git archive` into a temporary
folder, renamed to a package of its own (`phonos_models_<rev>`), and imports it. The package only
uses relative imports, so both revisions live in one process and can be timed side by side on the
same inputs, interleaved (which is fairer on a shared machine than two runs one after the other).
Nothing is written into the repository (no `git worktree` metadata); the folder is removed at exit.
"""

from __future__ import annotations

import atexit
import importlib
import io
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path
from types import ModuleType

REPO = Path(__file__).resolve().parent.parent
PACKAGE_PATH = "triton_models/phonos_models"


class Revision:
    """The DiffDock modules (build, sampling, data) of one revision: the current tree or a git one."""

    def __init__(self, name: str, package: str) -> None:
        self.name, self.package = name, package
        self.build = _module(package, "build")
        self.sampling = _module(package, "sampling")
        self.data = _module(package, "data")


def _module(package: str, name: str) -> ModuleType:
    return importlib.import_module(f"{package}.diffdock.{name}")


def current() -> Revision:
    """The working tree's package (whatever `phonos_models` resolves to on sys.path)."""
    return Revision("current", "phonos_models")


def load(rev: str) -> Revision:
    """The package as committed at `rev` (any git revision name), imported under its own name.

    `rev` may also be a folder holding a copy of that revision's tree (at least
    triton_models/phonos_models), for machines that get the working tree without its .git."""
    root = Path(tempfile.mkdtemp(prefix="phonos-baseline-"))
    atexit.register(shutil.rmtree, root, ignore_errors=True)
    if (Path(rev) / PACKAGE_PATH).is_dir():
        name = Path(rev).resolve().name
        shutil.copytree(Path(rev) / PACKAGE_PATH, root / PACKAGE_PATH)
    else:
        name = _extract(rev, root)
    package = "phonos_models_" + re.sub(r"\W", "_", name)
    (root / PACKAGE_PATH).rename(root / package)
    sys.path.insert(0, str(root))
    return Revision(name, package)


def _extract(rev: str, root: Path) -> str:
    """git archive of the package at `rev` into root; returns the short commit id."""
    commit = subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", "--short=12", f"{rev}^{{commit}}"],
        check=True, capture_output=True, text=True,
    ).stdout.strip()
    archive = subprocess.run(
        ["git", "-C", str(REPO), "archive", "--format=tar", commit, PACKAGE_PATH], check=True, capture_output=True
    ).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(root, filter="data")
    return commit
