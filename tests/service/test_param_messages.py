"""A refused param is repeated in the error message as the client wrote it, in JSON: `true`, `"yes"`, `1`
(not Python's `True`, `'yes'`, `1.0`)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support import InProcessService

pytestmark = pytest.mark.integration

SEQ = "MGSSHHHHHHSSGLVPRGSHMASMTGGQQMGRGS"

REFUSED_PARAMS = [
    ("esmfold", {"num_recycles": True}, "params.num_recycles must be an integer for ESMFold, got true"),
    ("esmfold", {"chunk_size": False}, "params.chunk_size must be an integer for ESMFold, got false"),
    ("esmfold", {"relax": "amber"}, 'params.relax must be one of all, best, none for ESMFold, got "amber"'),
    ("esmfold", {"relax": True}, "params.relax must be a string for ESMFold, got true"),
    ("alphafold2", {"use_templates": "yes"}, 'params.use_templates must be true or false for AlphaFold2, got "yes"'),
    ("alphafold2", {"use_templates": 1}, "params.use_templates must be true or false for AlphaFold2, got 1"),
    ("alphafold2", {"use_templates": [True, None]},
     "params.use_templates must be true or false for AlphaFold2, got [true, null]"),
    ("alphafold2", {"model_preset": False}, "params.model_preset must be a string for AlphaFold2, got false"),
]


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InProcessService]:
    service = InProcessService(Path(tmp_path_factory.mktemp("params")), {"PHONOS_MODELS": "esmfold,alphafold2"})
    yield service
    service.stop()


@pytest.mark.parametrize(("model", "params", "message"), REFUSED_PARAMS)
def test_refused_params_are_worded_as_json(service: InProcessService, model: str, params: dict[str, Any],
                                           message: str) -> None:
    response = service.client(service.new_key()).post("/v1/predict",
                                                       json={"model": model, "sequence": SEQ, "params": params})
    assert response.status_code == 400, response.text
    assert response.json() == {"error": "Invalid request", "message": message}


def test_a_null_param_is_its_default(service: InProcessService) -> None:
    response = service.client(service.new_key()).post(
        "/v1/predict", json={"model": "alphafold2", "sequence": SEQ, "params": {"use_templates": None}})
    assert response.status_code == 200, response.text
