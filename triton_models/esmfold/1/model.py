"""Triton python-backend adapter for ESMFold. All science is in `phonos_models.esmfold`.

Settings: the config's `parameters` give defaults for the PHONOS_ESMFOLD_*
variables; a non-empty environment variable of the same name wins. Every
request gets exactly one response; a bad or cancelled request gets an error
response without failing the rest of its dynamic batch.
"""

from __future__ import annotations

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
from phonos_models.common.errors import BadInput, Cancelled, ResourceExhausted
from phonos_models.esmfold.batching import FoldJob, make_job, plan_batches
from phonos_models.esmfold.files import output_arrays
from phonos_models.esmfold.loading import LoadedModel, load_model
from phonos_models.esmfold.predict import FoldResult, fold_batch

from phonos_config.esmfold import MAX_RECYCLES, EsmFoldSettings

log = logging.getLogger("phonos.triton.esmfold")
CANCELLED = "CANCELLED"  # TritonError code name; pb_utils gets TritonError only once the stub runs


class TritonPythonModel:
    def initialize(self, args: dict[str, str]) -> None:
        self.settings = EsmFoldSettings.from_triton(json.loads(args["model_config"]), os.environ)
        torch.set_num_threads(self.settings.num_threads)  # instances share the cores
        device = "cpu"
        if args.get("model_instance_kind") == "GPU":
            device = f"cuda:{args['model_instance_device_id']}"
        s = self.settings
        self.loaded: LoadedModel = load_model(s.weights_dir, s.tiny_seed, device, s.random_architecture)
        log.info("esmfold loaded %s on %s in %.2f s", self.loaded.weights.short, device, self.loaded.load_s)

    def execute(self, requests: Sequence[Any]) -> list[Any]:
        responses: list[Any] = [None] * len(requests)
        jobs: dict[int, FoldJob] = {}
        for index, request in enumerate(requests):
            try:
                jobs[index] = self._job(request)
            except BadInput as exc:
                responses[index] = _error(str(exc))
        order = list(jobs)
        for batch in plan_batches([jobs[i] for i in order]):
            members = [order[k] for k in batch]
            live = [i for i in members if not requests[i].is_cancelled()]
            for i in set(members) - set(live):
                responses[i] = _error("request cancelled", CANCELLED)
            if live:
                self._run(requests, live, jobs, responses)
        return responses

    def _job(self, request: Any) -> FoldJob:
        sequences = _input(request, "SEQUENCE")
        if sequences.shape[0] != 1:
            raise BadInput("send one sequence per request; Triton batches concurrent requests itself")
        s = self.settings
        return make_job(
            _text(sequences),
            int(_input(request, "NUM_RECYCLES").reshape(-1)[0]),
            int(_input(request, "CHUNK_SIZE").reshape(-1)[0]),
            max_length=s.max_length,
            auto_chunk_length=s.auto_chunk_length,
            auto_chunk_size=s.auto_chunk_size,
            max_recycles=MAX_RECYCLES,
        )

    def _run(self, requests: Sequence[Any], members: list[int], jobs: dict[int, FoldJob], responses: list[Any]) -> None:
        # Stop the forward pass only when every request sharing it has been cancelled.
        def should_stop() -> bool:
            return all(requests[i].is_cancelled() for i in members)

        try:
            results = fold_batch(self.loaded.model, [jobs[i] for i in members], should_stop)
        except Cancelled as exc:
            for i in members:
                responses[i] = _error(str(exc), CANCELLED)
            return
        except ResourceExhausted as exc:
            for i in members:
                responses[i] = _error(str(exc))
            return
        except Exception as exc:  # a bug: answer every request, log the traceback here
            log.exception("esmfold batch failed")
            for i in members:
                responses[i] = _error(f"esmfold failed: {type(exc).__name__}: {exc}")
            return
        for i, result in zip(members, results, strict=True):
            if requests[i].is_cancelled():
                responses[i] = _error("request cancelled", CANCELLED)
            else:
                responses[i] = self._response(result)

    def _response(self, result: FoldResult) -> Any:
        arrays = output_arrays(result, self.loaded.weights, self.loaded.load_s)
        return pb_utils.InferenceResponse(output_tensors=[pb_utils.Tensor(k, v) for k, v in arrays.items()])

    def finalize(self) -> None:
        self.loaded = None  # type: ignore[assignment]


def _input(request: Any, name: str) -> np.ndarray:
    tensor = pb_utils.get_input_tensor_by_name(request, name)
    if tensor is None:
        raise BadInput(f"missing input {name}")
    return tensor.as_numpy()


def _text(array: np.ndarray) -> str:
    value = array.reshape(-1)[0]
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


def _error(message: str, code: str | None = None) -> Any:
    value = getattr(pb_utils.TritonError, code, None) if code else None
    error = pb_utils.TritonError(message) if value is None else pb_utils.TritonError(message, value)
    return pb_utils.InferenceResponse(error=error)
