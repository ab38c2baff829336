"""The result-files envelope every job model answers with, and the one refund rule for failures."""

from __future__ import annotations

import json

import numpy as np
import pytest
from phonos_models.common.result_files import (
    FILES,
    RESULT,
    ModelResult,
    ResultEnvelopeError,
    ResultFile,
    decode,
    encode,
    json_file,
    text_file,
)

from jobservice.failures import CHARGED, FailureKind, JobFailure

pytestmark = pytest.mark.unit

RESULT_OF_TWO = ModelResult(
    files=(text_file("pdb", "chemical/x-pdb", "ATOM\n"), json_file("timings", {"fold_s": 1.5})),
    metrics={"mean_plddt": 71.5}, metadata={"weights": {"name": "tiny"}},
)


@pytest.mark.parametrize("batched", [True, False])
def test_a_result_survives_the_tensors_in_the_shapes_the_configs_declare(batched: bool) -> None:
    tensors = encode(RESULT_OF_TWO, batched=batched)
    assert tensors[RESULT].shape == ((1, 1) if batched else (1,))
    assert tensors[FILES].shape == ((1, 2) if batched else (2,))
    assert decode(tensors) == RESULT_OF_TWO
    assert RESULT_OF_TWO.files[1].extension == "timings.json"


def manifest(files: object, metrics: object = None) -> np.ndarray:
    body = {"files": files, "metrics": {} if metrics is None else metrics, "metadata": {}}
    return np.array([json.dumps(body).encode()], dtype=object)


@pytest.mark.parametrize(("tensors", "needle"), [
    ({FILES: np.array([b"x"], dtype=object)}, "missing output RESULT"),
    ({RESULT: np.array([b"{not json"], dtype=object), FILES: np.array([b"x"], dtype=object)}, "not a result manifest"),
    ({RESULT: manifest("no list"), FILES: np.array([b"x"], dtype=object)}, "wrong shape"),
    ({RESULT: manifest([{"format": "pdb", "extension": "pdb", "media_type": "chemical/x-pdb"}]),
      FILES: np.array([b"x", b"y"], dtype=object)}, "lists 1 files but FILES holds 2"),
    ({RESULT: manifest([{"format": "pdb", "extension": "pdb"}]), FILES: np.array([b"x"], dtype=object)}, "lacks"),
    ({RESULT: manifest([{"format": "../x", "extension": "pdb", "media_type": "text/plain"}]),
      FILES: np.array([b"x"], dtype=object)}, "bad format"),
    ({RESULT: manifest([{"format": "a", "extension": "a", "media_type": "text/plain"},
                        {"format": "a", "extension": "b", "media_type": "text/plain"}]),
      FILES: np.array([b"x", b"y"], dtype=object)}, "repeats"),
    ({RESULT: manifest([]), FILES: np.array([], dtype=object)}, "at least one file"),
])
def test_a_broken_envelope_is_refused_with_what_is_wrong(tensors: dict, needle: str) -> None:
    with pytest.raises(ResultEnvelopeError, match=needle):
        decode(tensors)


def test_a_file_name_can_never_leave_the_results_directory() -> None:
    with pytest.raises(ResultEnvelopeError, match="bad format or extension"):
        ModelResult(files=(ResultFile("pdb", "../../etc/passwd", "text/plain", b""),))


def test_only_the_inputs_fault_as_the_model_found_it_is_charged() -> None:
    # The model refused the input, or computed on it for its whole compute limit (never time queued).
    assert CHARGED == {FailureKind.INVALID_INPUT, FailureKind.COMPUTE_LIMIT}
    charged = JobFailure(FailureKind.INVALID_INPUT, "diffdock cannot run this input: no residues")
    assert not charged.refund and "not refunded" in charged.message and "fix the input" in charged.message
    spent = JobFailure(FailureKind.COMPUTE_LIMIT, "esmfold computed for its whole limit of 600 s on this input")
    assert not spent.refund and "not refunded" in spent.message and "smaller input" in spent.message
    # Each model's remedy in its own params: a DiffDock job was told of sequences and recycles.
    docking = JobFailure(FailureKind.COMPUTE_LIMIT, "diffdock computed for its whole limit of 60 s", model="diffdock")
    assert docking.message.endswith("submit a smaller input (fewer samples_per_complex or inference_steps, a pocket, "
                                    "or a smaller receptor).")
    assert "recycles" not in docking.message
    for kind in set(FailureKind) - CHARGED:
        failure = JobFailure(kind, "something broke")
        assert failure.refund and failure.message == "something broke; credits were refunded."
