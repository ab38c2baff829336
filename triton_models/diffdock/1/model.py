"""Triton python-backend adapter for DiffDock. All science is in `phonos_models.diffdock`.

Settings: the config's `parameters` give defaults for the PHONOS_DIFFDOCK_* variables; a non-empty
environment variable of the same name wins. Every request gets exactly one response; a bad, failed
or cancelled request gets an error response without touching the others. Cancellation is checked
between diffusion steps, so cancelling a job stops the compute within one step.
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
from phonos_models.common.errors import BadInput, Cancelled
from phonos_models.common.weights import WeightsInfo
from phonos_models.diffdock.esm_embedding import residue_embeddings
from phonos_models.diffdock.ligand import LigandError
from phonos_models.diffdock.pipeline import DiffDockPipeline, request_from_json
from phonos_models.diffdock.receptor import ReceptorError

from phonos_config.diffdock import DiffDockSettings

log = logging.getLogger("phonos.triton.diffdock")
CANCELLED = "CANCELLED"  # a TritonError code name; pb_utils has TritonError only once the stub runs


def settings_from(model_config: dict[str, Any], environ: dict[str, str]) -> DiffDockSettings:
    params = {k: v.get("string_value", "") for k, v in model_config.get("parameters", {}).items()}
    merged = {k: v for k, v in params.items() if v}
    merged.update({k: v for k, v in environ.items() if k.startswith("PHONOS_DIFFDOCK_") and v})
    return DiffDockSettings.from_env(merged)


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
        settings = settings_from(json.loads(args["model_config"]), dict(os.environ))
        torch.set_num_threads(settings.num_threads)  # instances share the cores
        if args.get("model_instance_kind") == "GPU":
            settings = dataclasses.replace(settings, device=f"cuda:{args['model_instance_device_id']}")
        self.settings = settings
        remote = TritonEsm(settings.esm_triton_model) if settings.esm_triton_model else None
        self.pipeline = DiffDockPipeline.from_settings(settings, esm=remote)
        log.info("diffdock loaded %s on %s", self.pipeline.weights_json(), settings.device)

    def execute(self, requests: Sequence[Any]) -> list[Any]:
        return [self._one(request) for request in requests]

    def _one(self, request: Any) -> Any:
        if request.is_cancelled():
            return _error("request cancelled", CANCELLED)
        try:
            docking = request_from_json(
                _text(request, "PROTEIN_PDB"), _text(request, "LIGAND_SMILES"), _text(request, "REQUEST"),
                self.settings.max_samples,
            )  # fmt: skip
            out = self.pipeline.dock(docking, should_stop=request.is_cancelled)
        except (BadInput, LigandError, ReceptorError) as exc:
            return _error(str(exc))
        except Cancelled as exc:
            return _error(str(exc), CANCELLED)
        except torch.OutOfMemoryError:
            return _error("out of memory: reduce samples_per_complex or the protein size")
        except Exception as exc:  # a bug: answer this request, log the traceback here
            log.exception("diffdock request failed")
            return _error(f"diffdock failed: {type(exc).__name__}: {exc}")
        tensors = {
            "COMPLEX_PDB": out.complex_pdb,
            "POSES_SDF": out.poses_sdf,
            "RESULT_JSON": out.result_json,
            "METADATA": json.dumps(out.metadata),
        }
        return pb_utils.InferenceResponse(
            output_tensors=[pb_utils.Tensor(k, np.array([[v.encode()]], dtype=object)) for k, v in tensors.items()]
        )

    def finalize(self) -> None:
        self.pipeline = None  # type: ignore[assignment]


def _text(request: Any, name: str) -> str:
    tensor = pb_utils.get_input_tensor_by_name(request, name)
    if tensor is None:
        raise BadInput(f"missing input {name}")
    array = tensor.as_numpy().reshape(-1)
    if array.shape[0] != 1:
        raise BadInput(f"send one {name} per request")
    value = array[0]
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


def _error(message: str, code: str | None = None) -> Any:
    value = getattr(pb_utils.TritonError, code, None) if code else None
    error = pb_utils.TritonError(message) if value is None else pb_utils.TritonError(message, value)
    return pb_utils.InferenceResponse(error=error)
