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
    # past 2**53 a number is not said back (99999999999999999999999 reached the service as 1e+23): which side it is on
    ("esmfold", {"num_recycles": 1e26},
     "params.num_recycles must be between 1 and 24 for ESMFold, got a number above 24"),
    ("esmfold", {"num_recycles": 25.0}, "params.num_recycles must be between 1 and 24 for ESMFold, got 25"),
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


# Every other value a caller sends that a message repeats: JSON's quotes ("x'y"), never Python's repr
# ('x', or "x'y" only when the text holds a quote).
ECHOED_VALUES = [
    ("GET", "/v1/jobs?status=done", None, {},
     'status must be one of pending, running, completed, failed, cancelled or all, got "done"'),
    ("GET", "/v1/jobs?model=fold", None, {}, 'model must be one of esmfold, alphafold2 or all, got "fold"'),
    ("GET", "/v1/jobs?limit=ten", None, {}, 'limit: "ten" is not an integer'),
    ("GET", "/v1/jobs?limt=5", None, {}, 'unknown query parameter "limt"; accepted: limit, model, name, offset, starting_after, status'),
    ("GET", "/v1/usage?days=1.5", None, {}, 'days: "1.5" is not an integer'),
    ("GET", "/v1/events?last_event_id=x", None, {}, 'last_event_id must be the event_id of an event received, got "x"'),
    ("POST", "/v1/predict", {"model": "fold", "sequence": SEQ}, {},
     'Unknown model "fold". Available models: esmfold, alphafold2'),
    ("POST", "/v1/predict", {"model": "diffdock", "sequence": SEQ}, {},  # known, not served: it said "Unknown model"
     'Model "diffdock" is not served here (the server\'s PHONOS_MODELS). Available models: esmfold, alphafold2'),
    ("POST", "/v1/predict", {"sequence": SEQ}, {}, "model is required. Available models: esmfold, alphafold2"),
    ("POST", "/v1/predict", {"model": "alphafold2", "sequence": f"{SEQ}:{SEQ}", "params": {"model_preset": "monomer"}},
     {}, 'the sequence has 2 chains (\':\' chain breaks): a complex needs model_preset "multimer", not "monomer"'),
    ("POST", "/v1/webhooks", {"url": "https://[zz/hook"}, {}, 'url "https://[zz/hook" is not a valid URL'),
    ("POST", "/v1/webhooks", {"url": "https:///hook"}, {},
     'url "https:///hook" has no host; use e.g. https://example.org/phonos-hook'),
    ("POST", "/v1/webhooks", {"url": "example.org/hook"}, {},  # it said "has no host", which it has
     'url "example.org/hook" has no scheme; start it with https://, e.g. "https://example.org/hook"'),
]


@pytest.mark.parametrize(("method", "path", "body", "headers", "message"), ECHOED_VALUES)
def test_echoed_values_are_worded_as_json(service: InProcessService, method: str, path: str, body: Any,
                                          headers: dict[str, str], message: str) -> None:
    client = service.client(service.new_key())
    response = client.session.request(method, client.base_url + path, json=body, headers=headers, timeout=30)
    assert response.status_code == 400, response.text
    assert response.json()["message"] == message


def test_a_reused_idempotency_key_and_a_missing_format_are_quoted_as_json(service: InProcessService) -> None:
    client = service.client(service.new_key())
    key = {"Idempotency-Key": "k1"}
    job_id = client.post("/v1/predict", json={"model": "esmfold", "sequence": SEQ}, headers=key).json()["job_id"]
    reused = client.post("/v1/predict", json={"model": "esmfold", "sequence": SEQ[:-1]}, headers=key)
    assert reused.status_code == 422
    assert reused.json()["message"].startswith('Idempotency-Key "k1" was already used with a different request')
    client.wait_for(job_id)
    missing = client.get(f"/v1/jobs/{job_id}/download", params={"format": "mol2"})
    assert missing.status_code == 400
    assert missing.json()["message"].startswith('format "mol2" is not available for this job; choose one of pdb')


@pytest.mark.parametrize("everything", [{"status": "all"}, {"model": "all"}, {"status": "all", "model": "all"},
                                        {"status": ""}, {"model": ""}, {"status": "", "model": ""}])
def test_the_seeds_default_all_is_accepted_as_a_list_filter(service: InProcessService,
                                                            everything: dict[str, str]) -> None:
    """The seed gives `all` as the default of both filters: said explicitly, it lists every job; so does an empty
    value (`?status=`), which the OpenAPI document lists beside `all`."""
    client = service.client(service.new_key())
    client.wait_for(client.predict(SEQ).json()["job_id"])
    client.predict(SEQ, model="alphafold2")
    listed = client.get("/v1/jobs", params=everything)
    assert listed.status_code == 200, listed.text
    assert listed.json()["pagination"]["total"] == 2


def test_an_empty_number_in_a_query_is_the_parameter_left_out(service: InProcessService) -> None:
    """`?limit=` (an empty form box, `limit=$N` with N unset) was `limit: "" is not an integer` while `?status=`
    read as no filter: a number, flag or enum given no text is now left out too, as a string's is."""
    client = service.client(service.new_key())
    for _ in range(2):
        client.predict(SEQ)
    listed = client.get("/v1/jobs?limit=&offset=&status=")
    assert listed.status_code == 200, listed.text
    assert listed.json()["pagination"]["total"] == 2 and len(listed.json()["jobs"]) == 2
    usage = client.get("/v1/usage?days=")
    assert usage.status_code == 200 and usage.json()["period"]["days"] == 30, usage.text  # the default
    refused = client.get("/v1/jobs?limit=%20")
    assert (refused.status_code, refused.json()["message"]) == (400, 'limit: " " is not an integer')
