"""`?format=pae`: a tiny-weight ESMFold complex's PAE as the AlphaFold Database's JSON, through the job service.

The fold runs in process (the `tiny` model); the job service around it is the real one (in process, SQLite),
with an inference that answers the job with that fold's files, so the download, its headers and the zip are
what a user gets.
"""

from __future__ import annotations

import io
import json
import zipfile

import numpy as np
import pytest
from phonos_models.common import pae_file
from phonos_models.common.result_files import ModelResult
from phonos_models.esmfold.batching import FoldJob
from phonos_models.esmfold.files import model_result
from phonos_models.esmfold.predict import fold

from jobservice.inference import InferenceRequest, ProgressCallback
from jobservice.modelspecs.esmfold import FORMATS

pytestmark = pytest.mark.integration

CHAINS = ("MKTVRQERLKSIVRILERSKEPV", "GSHMASMTGWQQ")  # 35 residues; the 25-glycine linker is in no output


class Answers:
    """An inference that answers every request with one prebuilt result (the fold of the test)."""

    def __init__(self, result: ModelResult) -> None:
        self.result = result

    async def infer(self, request: InferenceRequest, on_progress: ProgressCallback | None = None) -> ModelResult:
        return self.result

    async def health(self, models: list[str]) -> dict[str, str]:
        return {model: "ready" for model in models}

    async def capacity(self, model: str) -> int | None:
        return None

    async def close(self) -> None:
        return None


@pytest.fixture(scope="module")
def built(tiny) -> ModelResult:
    (folded,) = fold(tiny.model, [FoldJob(":".join(CHAINS), 1, None)])
    return model_result(folded, tiny.weights, tiny.instance)


def test_the_pae_file_is_the_scores_matrix_in_afdb_shape(built: ModelResult) -> None:
    files = {f.format: f for f in built.files}
    assert tuple(files) == FORMATS and files["pae"].extension == "pae.json"
    assert files["pae"].media_type == "application/json"
    document = json.loads(files["pae"].content)
    assert isinstance(document, list) and len(document) == 1
    assert set(document[0]) == {"predicted_aligned_error", "max_predicted_aligned_error"}
    matrix = document[0]["predicted_aligned_error"]
    residues = sum(len(chain) for chain in CHAINS)
    assert len(matrix) == residues and all(len(row) == residues for row in matrix)  # no linker rows or columns
    scores = json.loads(files["json"].content)["pae"]
    # The same numbers as the scores JSON, at AFDB's precision (one decimal, DeepMind's pae_json).
    assert matrix == np.round(np.asarray(scores, np.float64), 1).tolist()
    assert all(round(v, 1) == v for row in matrix for v in row)
    assert np.abs(np.asarray(matrix) - np.asarray(scores)).max() <= 0.05 + 1e-9
    assert document[0]["max_predicted_aligned_error"] == 31.75


def test_the_max_is_the_esmfold_heads_own(tiny) -> None:
    """31.75 is what transformers' ESMFold computes as `max_predicted_aligned_error` for this head."""
    import torch
    from transformers.models.esm.openfold_utils.loss import compute_predicted_aligned_error

    bins = tiny.model.distogram_bins  # the ptm head's bins, as its forward passes them
    head = compute_predicted_aligned_error(torch.zeros(1, 3, 3, bins), max_bin=31, no_bins=bins)
    assert float(head["max_predicted_aligned_error"]) == pae_file.MAX_PREDICTED_ALIGNED_ERROR


def test_a_job_lists_and_serves_pae_and_its_zip_holds_it(built: ModelResult, twin_factory) -> None:
    service = twin_factory.start(inference=Answers(built))
    client = service.client(service.new_key(credits=100))
    submitted = client.predict(":".join(CHAINS), params={"num_recycles": 1})
    assert submitted.status_code == 200, submitted.text
    job = client.wait_for(submitted.json()["job_id"], timeout_s=60)
    assert job["status"] == "completed", job
    assert job["formats"] == list(FORMATS)
    download = client.get(job["download_url"], params={"format": "pae"})
    assert download.status_code == 200, download.text
    assert download.headers["Content-Type"].startswith("application/json")
    assert f'filename="{job["job_id"]}.pae.json"' in download.headers["Content-Disposition"]
    expected = next(f.content for f in built.files if f.format == "pae")
    assert download.content == expected
    with zipfile.ZipFile(io.BytesIO(client.get(job["download_url"], params={"format": "zip"}).content)) as archive:
        assert archive.read("esmfold.pae.json") == expected
        assert "`esmfold.pae.json` | `pae` | predicted aligned error in the AlphaFold Database" in \
            archive.read("README.md").decode()
