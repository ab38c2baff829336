"""Triton python-backend adapter for DiffDock. All science is in `phonos_models.diffdock`.

Settings: the config's `parameters` give defaults for the PHONOS_DIFFDOCK_* variables; the same
variable in the server's environment wins. One response per request (the result-files envelope, or a
typed error: see phonos_triton.adapter), after progress responses (each diffusion step, confidence
scoring). Cancellation (and the request's compute limit) is checked between diffusion steps, so
cancelling a job stops the compute within one step.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import sys
from collections.abc import Sequence
from functools import partial
from pathlib import Path
from typing import Any

# This checkout's packages first, before any installed copy (Triton's python stub ignores PYTHONPATH).
sys.path[:0] = [str(Path(__file__).resolve().parents[3]), str(Path(__file__).resolve().parents[2])]

import numpy as np
import torch
import triton_python_backend_utils as pb_utils
from phonos_models.common.progress import Report
from phonos_models.common.result_files import ModelResult
from phonos_models.common.weights import WeightsInfo
from phonos_models.diffdock import serving
from phonos_models.diffdock.esm_embedding import residue_embeddings
from phonos_models.diffdock.pipeline import DiffDockPipeline
from phonos_triton import adapter, stub_exit

from phonos_config.diffdock import DiffDockSettings

log = logging.getLogger("phonos.triton.diffdock")


class TritonEsm:
    """ESM-2 embeddings from another Triton model (business logic scripting), one chain per call."""

    def __init__(self, model_name: str) -> None:
        self.model_name = model_name
        # replaced by the served model's own provenance after the first call
        self.weights = WeightsInfo(name=f"triton:{model_name}", sha256="", real=False)

    def embed(self, sequence: str) -> torch.Tensor:
        request = pb_utils.InferenceRequest(
            model_name=self.model_name,
            requested_output_names=["EMBEDDING", "METADATA"],
            inputs=[pb_utils.Tensor("SEQUENCE", np.array([sequence.encode()], dtype=object))],
        )
        response = request.exec()
        if response.has_error():
            raise RuntimeError(f"{self.model_name}: {response.error().message()}")
        embedding = pb_utils.get_output_tensor_by_name(response, "EMBEDDING").as_numpy()
        meta = pb_utils.get_output_tensor_by_name(response, "METADATA").as_numpy().reshape(-1)[0]
        self.weights = WeightsInfo(**json.loads(meta)["weights"])
        return torch.from_numpy(np.array(embedding, dtype=np.float32))

    def embed_residues(self, chain_ids: tuple[str, ...], sequences: dict[str, str]) -> torch.Tensor:
        return residue_embeddings(self.embed, chain_ids, sequences, 0)


class TritonPythonModel:
    def initialize(self, args: dict[str, str]) -> None:
        settings = DiffDockSettings.from_env(adapter.model_env(args, "PHONOS_DIFFDOCK_"))
        torch.set_num_threads(settings.num_threads)  # instances share the cores
        device = adapter.instance_device(args)
        self.settings = settings if device == "cpu" else dataclasses.replace(settings, device=device)
        remote = TritonEsm(settings.esm_triton_model) if settings.esm_triton_model else None
        self.pipeline = DiffDockPipeline.from_settings(self.settings, esm=remote)
        self.pipeline.embed_worker.start()  # its imports now, not in the first request
        log.info("diffdock loaded %s on %s", self.pipeline.weights_json(), self.settings.device)

    def execute(self, requests: Sequence[Any]) -> None:
        # max_batch_size 1: every tensor has a batch dimension of 1.
        for request in requests:
            adapter.answer(request, "diffdock", partial(self._dock, request), log, batched=True)

    def _dock(self, request: Any, report: Report, should_stop: adapter.ShouldStop) -> ModelResult:
        texts = [adapter.input_text(request, name) for name in ("PROTEIN_PDB", "LIGAND_SMILES", "REQUEST")]
        return serving.handle(self.pipeline, *texts, self.settings.max_samples, should_stop, report)

    def finalize(self) -> None:
        self.pipeline.close()  # the ligand embedding process
        self.pipeline = None  # type: ignore[assignment]
        stub_exit.exit_stub()  # the stub's interpreter teardown is seconds of nothing (phonos_triton.stub_exit)
