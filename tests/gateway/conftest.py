"""Shared set-up for the gateway tests: a clean environment and the compiled test proto."""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import google.api
import pytest
from grpc_tools import protoc

import gateway.http_rule  # noqa: F401  (registers google.api.http before any descriptor is parsed)

PROTO_DIR = Path(__file__).parent / "protos"


@pytest.fixture(autouse=True)
def _scrub_phonos_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Settings come from PHONOS_* variables; a developer's shell must not leak into the tests."""
    for name in list(os.environ):
        if name.startswith("PHONOS_"):
            monkeypatch.delenv(name)


@pytest.fixture(scope="session")
def gwtest(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModuleType]:
    """`gwtest.v1.gwtest_pb2`, generated from tests/gateway/protos into a temporary directory."""
    out = tmp_path_factory.mktemp("gwtest_gen")
    googleapis = Path(google.api.__path__[0]).parent.parent
    import grpc_tools

    well_known = Path(grpc_tools.__file__).parent / "_proto"
    args = ["protoc", f"-I{PROTO_DIR}", f"-I{googleapis}", f"-I{well_known}", f"--python_out={out}"]
    if protoc.main([*args, "gwtest/v1/gwtest.proto"]) != 0:
        raise RuntimeError("protoc failed on the gateway test proto")
    sys.path.insert(0, str(out))
    try:
        yield importlib.import_module("gwtest.v1.gwtest_pb2")
    finally:
        sys.path.remove(str(out))
