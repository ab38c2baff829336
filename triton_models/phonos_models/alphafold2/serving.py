"""What the Triton adapter calls: text in, output tensors out, typed errors.

Kept out of `model.py` so everything except `pb_utils` runs in plain tests.
"""

from __future__ import annotations

import json

import numpy as np

from phonos_models.alphafold2 import outputs
from phonos_models.alphafold2.pipeline import Engine, Prediction, Request, RequestError
from phonos_models.alphafold2.runner import Cancelled, ResourceExhausted, ShouldStop
from phonos_models.alphafold2.search import SearchError
from phonos_models.alphafold2.weights import WeightsError

# Expected failures: the message goes back to the job as is.
USER_ERRORS: tuple[type[Exception], ...] = (RequestError, SearchError, WeightsError, ResourceExhausted)
__all__ = ["Cancelled", "USER_ERRORS", "handle", "output_arrays"]


def _bytes(text: str) -> np.ndarray:
    return np.array([text.encode()], dtype=object)  # dims [1], TYPE_STRING


def output_arrays(prediction: Prediction) -> dict[str, np.ndarray]:
    request = prediction.request
    provenance = outputs.Provenance(
        weights=prediction.weights_label(),
        real_weights=prediction.real_weights,
        preset=request.model_preset,
        msa_mode=request.msa_mode,
        msa_depth=prediction.alignment.depth,
    )
    best = prediction.ranked[0]
    return {
        "PDB": _bytes(outputs.to_pdb(request.sequence, best, provenance)),
        "CIF": _bytes(outputs.to_mmcif(request.sequence, best, provenance, file_id="phonos_alphafold2")),
        "SCORES": _bytes(outputs.scores_json(request.sequence, prediction.ranked, provenance)),
        "MSA": _bytes(prediction.alignment.to_a3m()),
        "METADATA": _bytes(json.dumps(prediction.metadata())),
    }


def handle(engine: Engine, sequence: str, request_json: str, should_stop: ShouldStop) -> dict[str, np.ndarray]:
    request = Request.from_json(sequence, request_json)
    return output_arrays(engine.predict(request, should_stop=should_stop))
