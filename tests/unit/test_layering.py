"""Layering: the job service does not reach into the gateway for helpers, and the helpers both share (phonos_common/)
import neither side and ship with the package. Was: jobservice/ imported gateway.ratelog, gateway.forwarded,
gateway.json_encode, gateway.invoker.RpcFailure and gateway.body.BodyLimits."""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

import pytest
from setuptools import find_packages

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[2]
# The one place the job service composes the gateway: `python -m jobservice` serves REST in process
# (jobservice/server.py, start_in_process_gateway), importing it only when it does.
COMPOSITION = {("jobservice/server.py", "gateway.dashboard"), ("jobservice/server.py", "gateway.invoker"),
               ("jobservice/server.py", "gateway.server")}


def imports(path: Path) -> list[tuple[str, bool]]:
    """(module imported, at module level?) for every import statement of a file."""
    tree = ast.parse(path.read_text(), filename=str(path))
    top_level = {id(node) for node in tree.body}
    found: list[tuple[str, bool]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, id(node) in top_level) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.module, id(node) in top_level))
            if node.module in ("gateway", "jobservice"):  # `from gateway import ratelog`
                found += [(f"{node.module}.{alias.name}", id(node) in top_level) for alias in node.names]
    return found


def package_imports(package: str, prefix: str) -> list[tuple[str, str, bool]]:
    return [(str(path.relative_to(REPO)), module, top)
            for path in sorted((REPO / package).rglob("*.py"))
            for module, top in imports(path) if module == prefix or module.startswith(prefix + ".")]


def test_the_job_service_imports_no_gateway_helpers() -> None:
    found = package_imports("jobservice", "gateway")
    assert sorted({(path, module) for path, module, _ in found} - COMPOSITION) == []
    assert not any(top for *_, top in found), "the in-process gateway is imported where it is started, not at import"


def test_the_shared_helpers_import_neither_side() -> None:
    assert package_imports("phonos_common", "gateway") == []
    assert package_imports("phonos_common", "jobservice") == []


def test_the_shared_helpers_ship_with_the_package() -> None:
    """pyproject's package list (what `pip install .`, scripts/install.sh and deploy/Dockerfile install)."""
    config = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]["find"]
    found = set(find_packages(str(REPO), include=config["include"]))
    assert "phonos_common" in found
    assert "phonos_common" not in (REPO / ".dockerignore").read_text().split()
