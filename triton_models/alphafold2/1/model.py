"""Triton python-backend adapter for AlphaFold2. All science is in `phonos_models.alphafold2`.

Settings: the config's `parameters` give defaults for the PHONOS_ALPHAFOLD2_* variables; the same
variable in the server's environment wins. One response per request (the result-files envelope, or a
typed error: see phonos_triton.adapter), after progress responses (MSA search, model k of M, each
recycling pass, Amber relax); a cancelled request stops between MSA databases, models and
recycling passes (and Amber relax kills its worker), and so does one that reaches its compute limit.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Sequence
from functools import partial
from pathlib import Path
from typing import Any

# This checkout's packages first, before any installed copy (Triton's python stub ignores PYTHONPATH).
sys.path[:0] = [str(Path(__file__).resolve().parents[3]), str(Path(__file__).resolve().parents[2])]

from phonos_models.common.progress import Report
from phonos_models.common.result_files import ModelResult
from phonos_triton import adapter, stub_exit

from phonos_config.alphafold2 import AlphaFold2Settings

log = logging.getLogger("phonos.triton.alphafold2")
# Passed through to JAX/XLA when set in the config (GPU memory policy).
_XLA_KEYS = ("XLA_PYTHON_CLIENT_MEM_FRACTION", "XLA_PYTHON_CLIENT_PREALLOCATE", "TF_FORCE_UNIFIED_MEMORY")


class TritonPythonModel:
    def initialize(self, args: dict[str, str]) -> None:
        for key, value in adapter.model_env(args, *_XLA_KEYS).items():
            if value:
                os.environ.setdefault(key, value)
        self.settings = AlphaFold2Settings.from_env(
            adapter.model_env(args, "PHONOS_ALPHAFOLD2_", "PHONOS_DATA_DIR", "PHONOS_RELAX_"))
        flags = os.environ.get("XLA_FLAGS", "")
        if self.settings.num_threads > 0 and adapter.instance_device(args) == "cpu" and "intra_op_parallelism" not in flags:
            # XLA reads its thread count once, when the CPU client starts: set it before importing JAX.
            os.environ["XLA_FLAGS"] = (flags + " --xla_cpu_multi_thread_eigen=false "
                                       f"intra_op_parallelism_threads={self.settings.num_threads}").strip()
        from phonos_models.alphafold2 import serving  # imports JAX
        from phonos_models.alphafold2.pipeline import Engine

        self.serving = serving
        self.engine = Engine(self.settings)
        log.info("alphafold2 ready: real_weights=%s buckets=%s databases=%s templates=%s", self.settings.real_weights,
                 self.settings.length_buckets, [db.name for db in self.settings.databases],
                 self.settings.templates_configured, extra={"action": "alphafold2.ready"})

    def execute(self, requests: Sequence[Any]) -> None:
        for request in requests:
            adapter.answer(request, "alphafold2", partial(self._predict, request), log, batched=False)

    def _predict(self, request: Any, report: Report, should_stop: adapter.ShouldStop) -> ModelResult:
        sequence, params = adapter.input_text(request, "SEQUENCE"), adapter.input_text(request, "REQUEST")
        return self.serving.handle(self.engine, sequence, params, should_stop, report)

    def finalize(self) -> None:
        self.engine = None  # type: ignore[assignment]
        stub_exit.exit_stub()  # the stub's interpreter teardown is seconds of nothing (phonos_triton.stub_exit)
