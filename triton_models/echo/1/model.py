"""`echo`, the diagnostic model: returns its input text as the job's one file, at the lowest cost a
Triton round trip can have (bench/service_overhead.py), and fails on request, so the job service's
inference contract tests can provoke every failure a real model can send (tests/contract/):

    !sleep S         compute for S seconds (checking every 10 ms whether to stop: cancelled, or the
                     request's compute limit reached), then echo
    !progress N REST report N progress steps (10 ms apart), then handle REST as the text
    !invalid MESSAGE answer as an input error (Triton INVALID_ARG)
    !fail MESSAGE    answer as a model failure (Triton INTERNAL)
    !oom MESSAGE     run out of memory (`ResourceExhausted`, as ESMFold, AlphaFold2 and DiffDock raise it: Triton
                     INTERNAL with an "out of memory" message)

Not served unless listed in PHONOS_MODELS; its output is plain text, never a structure.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Sequence
from functools import partial
from pathlib import Path
from typing import Any

# This checkout's packages first, before any installed copy (Triton's python stub ignores PYTHONPATH).
sys.path[:0] = [str(Path(__file__).resolve().parents[3]), str(Path(__file__).resolve().parents[2])]

from phonos_models.common.errors import BadInput, Cancelled, ResourceExhausted
from phonos_models.common.progress import Progress, Report, ignore
from phonos_models.common.result_files import ModelResult, text_file
from phonos_triton import adapter, stub_exit

log = logging.getLogger("phonos.triton.echo")
WEIGHTS = "none (diagnostic echo model)"


def echo(text: str, should_stop: Any, report: Report = ignore) -> ModelResult:
    command, _, rest = text.partition(" ")
    if command == "!progress":
        count, _, rest = rest.partition(" ")
        steps = int(count)
        for step in range(1, steps + 1):
            if should_stop():
                raise Cancelled("request stopped")
            report(Progress("running", step, steps, f"echo step {step} of {steps}"))
            time.sleep(0.01)
        return echo(rest, should_stop, report)
    if command == "!sleep":
        deadline = time.monotonic() + float(rest or 0)
        while time.monotonic() < deadline:
            if should_stop():
                raise Cancelled("request stopped")
            time.sleep(0.01)
    elif command == "!invalid":
        raise BadInput(rest or "invalid input")
    elif command == "!fail":
        raise RuntimeError(rest or "model failure")
    elif command == "!oom":
        raise ResourceExhausted(rest or "out of memory echoing")
    return ModelResult(files=(text_file("txt", "text/plain", text),), metrics={"length": len(text)},
                       metadata={"weights": WEIGHTS})


class TritonPythonModel:
    def execute(self, requests: Sequence[Any]) -> None:
        for request in requests:
            adapter.answer(request, "echo", partial(self._echo, request), log, batched=True)

    def _echo(self, request: Any, report: Report, should_stop: adapter.ShouldStop) -> ModelResult:
        return echo(adapter.input_text(request, "TEXT"), should_stop, report)

    def finalize(self) -> None:
        stub_exit.exit_stub()  # the stub's interpreter teardown is time for nothing (phonos_triton.stub_exit)
