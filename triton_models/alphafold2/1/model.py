"""Triton python-backend adapter for AlphaFold2. All science is in `phonos_models.alphafold2`.

Settings: the config's `parameters` give defaults for the PHONOS_ALPHAFOLD2_*
variables; a non-empty environment variable of the same name wins. Every
request gets exactly one response; a bad request gets an error response, a
cancelled one stops between MSA databases, models and recycling passes.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import triton_python_backend_utils as pb_utils

try:
    import phonos_models  # noqa: F401  (installed, or on PYTHONPATH via launcher/triton.py)
except ImportError:  # a bare tritonserver pointed at this repository
    _here = Path(__file__).resolve()
    sys.path[:0] = [str(_here.parents[3]), str(_here.parents[2])]

from phonos_config.alphafold2 import AlphaFold2Settings

log = logging.getLogger("phonos.triton.alphafold2")
_CANCELLED = "CANCELLED"  # a TritonError code name; pb_utils has TritonError only once the stub runs
# Passed through to JAX/XLA when set in the config (GPU memory policy).
_XLA_KEYS = ("XLA_PYTHON_CLIENT_MEM_FRACTION", "XLA_PYTHON_CLIENT_PREALLOCATE", "TF_FORCE_UNIFIED_MEMORY")


def settings_from(model_config: dict[str, Any], environ: dict[str, str]) -> AlphaFold2Settings:
    params = {k: v.get("string_value", "") for k, v in model_config.get("parameters", {}).items()}
    merged = {k: v for k, v in params.items() if v}
    merged.update({k: v for k, v in environ.items() if k.startswith(("PHONOS_ALPHAFOLD2_", "PHONOS_DATA_DIR")) and v})
    for key in _XLA_KEYS:
        if key in params and params[key] and key not in environ:
            os.environ[key] = params[key]
    return AlphaFold2Settings.from_env(merged)


class TritonPythonModel:
    def initialize(self, args: dict[str, str]) -> None:
        self.settings = settings_from(json.loads(args["model_config"]), dict(os.environ))
        flags = os.environ.get("XLA_FLAGS", "")
        if self.settings.num_threads > 0 and args.get("model_instance_kind") != "GPU" and "intra_op_parallelism" not in flags:
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

    def execute(self, requests: Sequence[Any]) -> list[Any]:
        return [self._one(request) for request in requests]

    def _one(self, request: Any) -> Any:
        serving = self.serving
        try:
            sequence, params = _text(request, "SEQUENCE"), _text(request, "REQUEST")
            if request.is_cancelled():
                return _error("request cancelled", _CANCELLED)
            arrays = serving.handle(self.engine, sequence, params, request.is_cancelled)
        except serving.Cancelled as exc:
            return _error(str(exc), _CANCELLED)
        except (*serving.USER_ERRORS, _MissingInput) as exc:
            return _error(str(exc))
        except Exception as exc:  # a bug: answer this request, log the traceback here
            log.exception("alphafold2 request failed", extra={"action": "alphafold2.failed"})
            return _error(f"alphafold2 failed: {type(exc).__name__}: {exc}")
        return pb_utils.InferenceResponse(output_tensors=[pb_utils.Tensor(k, v) for k, v in arrays.items()])

    def finalize(self) -> None:
        self.engine = None  # type: ignore[assignment]


class _MissingInput(ValueError):
    pass


def _text(request: Any, name: str) -> str:
    tensor = pb_utils.get_input_tensor_by_name(request, name)
    if tensor is None:
        raise _MissingInput(f"missing input {name}")
    value = tensor.as_numpy().reshape(-1)[0]
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


def _error(message: str, code: str | None = None) -> Any:
    value = getattr(pb_utils.TritonError, code, None) if code else None
    error = pb_utils.TritonError(message) if value is None else pb_utils.TritonError(message, value)
    return pb_utils.InferenceResponse(error=error)
