"""Triton python-backend adapter serving ESM-2 embeddings (`phonos_models.diffdock.esm_embedding`).

Internal: DiffDock calls it (business logic scripting), jobs never do, so it answers tensors rather
than the result-files envelope. One chain per request, one response per request. The model is the
one DiffDock would build in process (`pipeline.local_esm`): PHONOS_DIFFDOCK_ESM_DIR, else a seeded
tiny random ESM-2 at the configured score model's width.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

# This checkout's packages first, before any installed copy (Triton's python stub ignores PYTHONPATH).
sys.path[:0] = [str(Path(__file__).resolve().parents[3]), str(Path(__file__).resolve().parents[2])]

import numpy as np
import torch
import triton_python_backend_utils as pb_utils
from phonos_models.common.errors import BadInput
from phonos_models.diffdock.pipe_validate import MAX_CHAIN_LENGTH
from phonos_models.diffdock.pipeline import local_esm
from phonos_triton import adapter, stub_exit

from phonos_config.diffdock import DiffDockSettings

log = logging.getLogger("phonos.triton.esm2")


class TritonPythonModel:
    def initialize(self, args: dict[str, str]) -> None:
        settings = DiffDockSettings.from_env(adapter.model_env(args, "PHONOS_DIFFDOCK_"))
        torch.set_num_threads(settings.num_threads)
        device = adapter.instance_device(args)
        if device != "cpu":
            settings = dataclasses.replace(settings, device=device)
        self.esm = local_esm(settings)
        self.metadata = json.dumps({"weights": self.esm.weights.as_json(), "dim": self.esm.dim})
        log.info("esm2 loaded %s on %s", self.esm.weights.short, settings.device)

    def execute(self, requests: Sequence[Any]) -> list[Any]:
        responses = []
        for request in requests:
            try:
                responses.append(self._embed(request))
            except Exception as exc:
                responses.append(adapter.failure_response(exc, "esm2", log))
        return responses

    def _embed(self, request: Any) -> Any:
        sequence = adapter.input_text(request, "SEQUENCE")
        if not 1 <= len(sequence) <= MAX_CHAIN_LENGTH:
            raise BadInput(f"sequence length must be 1..{MAX_CHAIN_LENGTH}, got {len(sequence)}")
        embedding = self.esm.embed(sequence).numpy().astype(np.float32)
        return pb_utils.InferenceResponse(output_tensors=[
            pb_utils.Tensor("EMBEDDING", embedding),
            pb_utils.Tensor("METADATA", np.array([self.metadata.encode()], dtype=object)),
        ])

    def finalize(self) -> None:
        stub_exit.exit_stub()  # the stub's interpreter teardown is seconds of nothing (phonos_triton.stub_exit)
