"""`?format=pae` for AlphaFold2: the rank-1 model's PAE as the AlphaFold Database's JSON, only where the preset has
a PAE head (monomer_ptm here; multimer in test_multimer.py), through the job service.

The predictions run in process on the session's tiny-weight engine; the job service around them is the real one
(in process, SQLite), with an inference that answers each job with the prediction of its preset.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from af2_helpers import QUERY
from phonos_models.alphafold2 import serving
from phonos_models.alphafold2.pipeline import Engine, Request
from phonos_models.common import pae_file
from phonos_models.common.result_files import ModelResult

from jobservice.inference import InferenceRequest, ProgressCallback
from jobservice.modelspecs.alphafold2 import FORMATS

pytestmark = pytest.mark.integration


class ByPreset:
    """An inference that answers an AlphaFold2 request with the prebuilt result of its `model_preset`."""

    def __init__(self, results: dict[str, ModelResult]) -> None:
        self.results = results

    async def infer(self, request: InferenceRequest, on_progress: ProgressCallback | None = None) -> ModelResult:
        params = json.loads({t.name: t for t in request.inputs}["REQUEST"].array.reshape(-1)[0])
        return self.results[params["model_preset"]]

    async def health(self, models: list[str]) -> dict[str, str]:
        return {model: "ready" for model in models}

    async def capacity(self, model: str) -> int | None:
        return None

    async def close(self) -> None:
        return None


@pytest.fixture(scope="module")
def results(engine: Engine) -> dict[str, ModelResult]:
    return {preset: serving.result(engine.predict(Request(sequence=QUERY, model_preset=preset, num_recycles=0)))
            for preset in ("monomer_ptm", "monomer")}


def test_monomer_ptm_has_the_scores_pae_in_afdb_shape(results: dict[str, ModelResult]) -> None:
    files = {f.format: f for f in results["monomer_ptm"].files}
    formats = tuple(files)
    assert formats[:formats.index("pae") + 1] == (*FORMATS[:FORMATS.index("timings") + 1], "pae")  # after timings
    assert (files["pae"].extension, files["pae"].media_type) == ("pae.json", "application/json")
    document = json.loads(files["pae"].content)
    assert isinstance(document, list) and len(document) == 1
    matrix = document[0]["predicted_aligned_error"]
    assert len(matrix) == len(QUERY) and all(len(row) == len(QUERY) for row in matrix)
    scores = json.loads(files["json"].content)
    assert matrix == np.round(np.asarray(scores["pae"], np.float64), 1).tolist()
    # The head's bound (what DeepMind computes for this config's breaks), not the matrix's largest entry (max_pae).
    assert document[0]["max_predicted_aligned_error"] == pae_file.MAX_PREDICTED_ALIGNED_ERROR > scores["max_pae"]


@pytest.mark.parametrize("model", ["model_1_ptm", "model_1_multimer_v3"])
def test_the_max_is_alphafold2s_own_for_each_pae_head(model: str) -> None:
    from alphafold.common import confidence
    from alphafold.model import config

    head = config.model_config(model).model.heads.predicted_aligned_error
    breaks = np.linspace(0.0, head.max_error_bin, head.num_bins - 1)  # as DeepMind's PredictedAlignedErrorHead
    computed = confidence.compute_predicted_aligned_error(logits=np.zeros((2, 2, head.num_bins)), breaks=breaks)
    assert float(computed["max_predicted_aligned_error"]) == pae_file.MAX_PREDICTED_ALIGNED_ERROR


def test_jobs_list_pae_only_with_a_pae_head_and_a_missing_one_is_a_400(results, twin_factory) -> None:
    service = twin_factory.start(inference=ByPreset(results), PHONOS_MODELS="alphafold2")
    client = service.client(service.new_key(credits=1000))
    jobs = {}
    for preset in ("monomer_ptm", "monomer"):
        submitted = client.post("/v1/predict", json={"model": "alphafold2", "sequence": QUERY,
                                                     "params": {"model_preset": preset, "num_recycles": 0}})
        assert submitted.status_code == 200, submitted.text
        jobs[preset] = client.wait_for(submitted.json()["job_id"], timeout_s=60)
        assert jobs[preset]["status"] == "completed", jobs[preset]

    with_head = jobs["monomer_ptm"]
    assert "pae" in with_head["formats"] and "pae_plot" in with_head["formats"]
    download = client.get(with_head["download_url"], params={"format": "pae"})
    assert download.status_code == 200 and download.headers["Content-Type"].startswith("application/json")
    assert f'filename="{with_head["job_id"]}.pae.json"' in download.headers["Content-Disposition"]
    assert download.content == next(f.content for f in results["monomer_ptm"].files if f.format == "pae")

    plain = jobs["monomer"]
    assert "pae" not in plain["formats"] and "pae_plot" not in plain["formats"]
    refused = client.get(plain["download_url"], params={"format": "pae"})
    assert refused.status_code == 400, refused.text
    assert refused.json() == {"error": "Invalid request", "message": 'format "pae" is not available for this job; '
                                                                     f'choose one of {", ".join(plain["formats"])}'}
