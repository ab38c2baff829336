"""Each python-backend stub exits as soon as its model's finalize() is done (phonos_triton.stub_exit): its interpreter's
teardown (torch) took 3-7 s per stub on this host and made `phonos serve`'s Triton stop 8-13 s, ~4 s without it
(bench/triton_stop.py). The mechanism is checked here in a process of its own; the stop's figures are the bench's."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import REPO

pytestmark = pytest.mark.unit

MODELS = REPO / "triton_models"


def _python_backend_models() -> list[Path]:
    return sorted(config.parent for config in MODELS.glob("*/config.pbtxt")
                  if re.search(r'^backend:\s*"python"', config.read_text(), re.MULTILINE))


def test_every_python_backend_model_ends_its_finalize_by_ending_its_stub() -> None:
    models = _python_backend_models()
    assert {m.name for m in models} >= {"esmfold", "alphafold2", "diffdock", "esm2", "echo"}
    for model in models:
        tree = ast.parse((model / "1" / "model.py").read_text())
        [adapter] = [node for node in tree.body if isinstance(node, ast.ClassDef) and node.name == "TritonPythonModel"]
        finalize = [node for node in adapter.body if isinstance(node, ast.FunctionDef) and node.name == "finalize"]
        assert finalize, f"{model.name}: no finalize(), so its stub destroys its interpreter before it exits"
        last = finalize[0].body[-1]
        assert ast.unparse(last) == "stub_exit.exit_stub()", f"{model.name}: finalize() ends with {ast.unparse(last)}"


# A process made to look like a stub: its exit handlers run and its buffered output is flushed (the pipe makes
# stdout block-buffered), then it exits with status 0 at once: nothing after exit_stub() runs.
AS_A_STUB = """
import atexit, sys
sys.path[:0] = [{models!r}]
from phonos_triton import stub_exit
stub_exit.in_stub = lambda: True
atexit.register(lambda: print("exit handler ran"))
print("finalize done")
stub_exit.exit_stub()
print("after exit_stub")
raise SystemExit(7)
"""


def test_in_a_stub_it_runs_the_exit_handlers_flushes_and_exits_zero_at_once() -> None:
    done = subprocess.run([sys.executable, "-c", AS_A_STUB.format(models=str(MODELS))], capture_output=True, text=True,
                          timeout=60)
    assert (done.returncode, done.stdout, done.stderr) == (0, "finalize done\nexit handler ran\n", "")


def test_outside_a_stub_it_does_nothing() -> None:
    sys.path.insert(0, str(MODELS))
    try:
        from phonos_triton import stub_exit
    finally:
        sys.path.remove(str(MODELS))
    assert not stub_exit.in_stub()
    stub_exit.exit_stub()  # returns: this test process lives on
