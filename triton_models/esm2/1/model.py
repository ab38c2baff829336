"""Triton python-backend adapter serving ESM-2 embeddings (`phonos_models.diffdock.esm_embedding`).

One chain per request, one response per request; a bad request gets an error response. The model is
the one DiffDock would build in process (`pipeline.local_esm`): PHONOS_DIFFDOCK_ESM_DIR, else a seeded
tiny random ESM-2 at the configured score model's width.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import triton_python_backend_utils as pb_utils

try:
    import phonos_models  # noqa: F401  (installed, or on PYTHONPATH via launcher/triton.py)
except ImportError:  # a bare tritonserver pointed at this repository
    _here = Path(__file__).resolve()
    sys.path[:0] = [str(_here.parents[3]), str(_here.parents[2])]

import torch
from phonos_models.diffdock.pipeline import local_esm

from phonos_config.diffdock import DiffDockSettings

log = logging.getLogger("phonos.triton.esm2")
MAX_CHAIN = 1022  # ESM-2's positional limit


def settings_from(model_config: dict[str, Any], environ: dict[str, str]) -> DiffDockSettings:
    params = {k: v.get("string_value", "") for k, v in model_config.get("parameters", {}).items()}
    merged = {k: v for k, v in params.items() if v}
    merged.update({k: v for k, v in environ.items() if k.startswith("PHONOS_DIFFDOCK_") and v})
    return DiffDockSettings.from_env(merged)


class TritonPythonModel:
    def initialize(self, args: dict[str, str]) -> None:
        settings = settings_from(json.loads(args["model_config"]), dict(os.environ))
        torch.set_num_threads(settings.num_threads)
        if args.get("model_instance_kind") == "GPU":
            settings = dataclasses.replace(settings, device=f"cuda:{args['model_instance_device_id']}")
        self.esm = local_esm(settings)
        self.metadata = json.dumps({"weights": self.esm.weights.as_json(), "dim": self.esm.dim})
        log.info("esm2 loaded %s on %s", self.esm.weights.short, settings.device)

    def execute(self, requests: Sequence[Any]) -> list[Any]:
        return [self._one(request) for request in requests]

    def _one(self, request: Any) -> Any:
        tensor = pb_utils.get_input_tensor_by_name(request, "SEQUENCE")
        values = tensor.as_numpy().reshape(-1) if tensor is not None else np.array([])
        if values.shape[0] != 1:
            return _error("send exactly one SEQUENCE per request")
        raw = values[0]
        sequence = raw.decode(errors="replace") if isinstance(raw, bytes) else str(raw)
        if not 1 <= len(sequence) <= MAX_CHAIN:
            return _error(f"sequence length must be 1..{MAX_CHAIN}, got {len(sequence)}")
        try:
            embedding = self.esm.embed(sequence).numpy().astype(np.float32)
        except Exception as exc:  # a bug: answer this request, log the traceback here
            log.exception("esm2 request failed")
            return _error(f"esm2 failed: {type(exc).__name__}: {exc}")
        return pb_utils.InferenceResponse(
            output_tensors=[
                pb_utils.Tensor("EMBEDDING", embedding),
                pb_utils.Tensor("METADATA", np.array([self.metadata.encode()], dtype=object)),
            ]
        )


def _error(message: str) -> Any:
    return pb_utils.InferenceResponse(error=pb_utils.TritonError(message))
