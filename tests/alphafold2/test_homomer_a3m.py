"""Copies of one chain (a homomer's) take one MSA: a complex whose copies were given different A3Ms is a 400 at
submit, not a job that fails inside DeepMind's merge ("all the input array dimensions ... must match")."""

from __future__ import annotations

import pytest
from phonos_models.alphafold2.pipeline import Engine, Request, RequestError

A, B = "MKTVRQERLK", "SIVRILERSKEP"
TWO_ROWS = f">a\n{A}\n>a2\nMKTVAQERLK\n"
ONE_ROW = f">a\n{A}\n"

pytestmark = pytest.mark.integration


def test_the_api_refuses_copies_with_different_a3ms_and_takes_the_same_one(twin_factory: type) -> None:
    service = twin_factory.start(PHONOS_MODELS="alphafold2")
    client = service.client(service.new_key(credits=1000))
    refused = client.post("/v1/predict", json={"model": "alphafold2", "sequence": f"{A}:{B}:{A}",
                                               "params": {"a3m": [TWO_ROWS, f">b\n{B}\n", ONE_ROW]}})
    assert refused.status_code == 400, refused.text
    body = refused.json()
    assert body["error"] == "Invalid request"
    assert body["message"].startswith("sequence chain 1 and sequence chain 3 are the same sequence")
    assert "(2 and 1 records)" in body["message"] and "send the same A3M for every copy" in body["message"]
    same_depth = client.post("/v1/predict", json={"model": "alphafold2", "sequence": f"{A}:{A}",
                                                  "params": {"a3m": [TWO_ROWS, f">a\n{A}\n>a3\nMKTVRQERLA\n"]}})
    assert same_depth.status_code == 400 and "(record 2 differs)" in same_depth.json()["message"]
    assert client.balance() == 1000
    # The same rows under other headers are the same MSA.
    accepted = client.post("/v1/predict", json={"model": "alphafold2", "sequence": f"{A}:{B}:{A}",
                                                "params": {"a3m": [TWO_ROWS, f">b\n{B}\n", f">x\n{A}\n>y\nMKTVAQERLK\n"]}})
    assert accepted.status_code == 200, accepted.text


def test_the_model_refuses_them_too(engine: Engine) -> None:
    """Triton can be called without the job service: the model's own check, before any compute."""
    with pytest.raises(RequestError, match="sequence chain 1 and sequence chain 2 are the same sequence"):
        engine.predict(Request(sequence=f"{A}:{A}", model_preset="multimer", msa_mode="a3m", a3m=(TWO_ROWS, ONE_ROW)))
