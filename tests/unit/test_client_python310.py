"""The client package runs on the oldest Python it declares (3.10): standard-library names that Python 3.11
added are used only under a `sys.version_info >= (3, 11)` check. The suite runs on 3.11, where an unguarded
one passes every other test and then fails on a user's 3.10 (`import tomllib` did: no `phonos` at all)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

CLIENT = Path(__file__).resolve().parents[2] / "clients" / "python"
NEW_IN_3_11 = {"tomllib": None, "asyncio": {"timeout", "timeout_at", "TaskGroup", "Runner", "Barrier"},
               "datetime": {"UTC"}, "typing": {"Self", "LiteralString", "Never", "assert_never", "reveal_type"},
               "enum": {"StrEnum", "verify"}}
NEW_BUILTINS = {"ExceptionGroup", "BaseExceptionGroup"}


def uses_outside_a_version_check(tree: ast.AST) -> list[str]:
    found: list[str] = []

    def visit(node: ast.AST, guarded: bool) -> None:
        if isinstance(node, ast.If) and "sys.version_info >= (3, 11)" in ast.unparse(node.test):
            for statement in node.body:
                visit(statement, True)
            for statement in node.orelse:
                visit(statement, guarded)
            return
        if not guarded:
            found.extend(_new_names(node))
        for child in ast.iter_child_nodes(node):
            visit(child, guarded)

    visit(tree, False)
    return found


def _new_names(node: ast.AST) -> list[str]:
    if isinstance(node, ast.Import):
        return [a.name for a in node.names if a.name in NEW_IN_3_11 and NEW_IN_3_11[a.name] is None]
    if isinstance(node, ast.ImportFrom) and node.module in NEW_IN_3_11:
        names = NEW_IN_3_11[node.module]
        return [f"{node.module}.{a.name}" for a in node.names if names is None or a.name in names]
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
        names = NEW_IN_3_11.get(node.value.id)
        return [f"{node.value.id}.{node.attr}"] if names and node.attr in names else []
    if isinstance(node, ast.Name) and node.id in NEW_BUILTINS:
        return [node.id]
    return ["except*"] if type(node).__name__ == "TryStar" else []


def test_the_client_uses_no_python_3_11_name_unguarded() -> None:
    assert 'requires-python = ">=3.10"' in (CLIENT / "pyproject.toml").read_text()
    for path in sorted((CLIENT / "phonos_client").glob("*.py")):
        assert uses_outside_a_version_check(ast.parse(path.read_text())) == [], path.name


def test_the_check_finds_them() -> None:
    source = "import tomllib\nfrom datetime import UTC\nasyncio.timeout(1)\nif sys.version_info >= (3, 11):\n" \
             "    import tomllib\nelse:\n    import tomli as tomllib\n"
    assert uses_outside_a_version_check(ast.parse(source)) == ["tomllib", "datetime.UTC", "asyncio.timeout"]
