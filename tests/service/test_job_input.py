"""GET /v1/jobs/{id}/input: the request a job was accepted with, in POST /v1/predict's shape, so it can be sent
again as it is or changed. Every model's round trip (REST, gRPC, SDK), on SQLite and on PostgreSQL."""

from __future__ import annotations

import json
from pathlib import Path

import grpc
import pytest
from phonos_client import Client

from phonos.v1 import phonos_pb2 as pb
from tests.support import ALL_STORES, InProcessService

pytestmark = pytest.mark.integration
STORES = ALL_STORES

PDB = (Path(__file__).parents[1] / "diffdock" / "data" / "receptor_small.pdb").read_text()
ASPIRIN = "CC(=O)Oc1ccccc1C(=O)O"
SEQ = "MKTAYIAKQRQISFVKSHFSRQ"


@pytest.fixture
def service(twin_factory: type) -> InProcessService:
    return twin_factory.start(PHONOS_MODELS="esmfold,alphafold2,diffdock")


def stored(service: InProcessService, job_id: str) -> dict:
    """The request the job service stored, less the notes validation adds about the server (AlphaFold2's
    templates_note says why templates were off when the request left them to the server)."""
    request = json.loads(service.sql("SELECT request_json FROM job_inputs WHERE job_id = ?", job_id)[0][0])
    request["params"].pop("templates_note", None)
    return request


@pytest.mark.parametrize("body", [
    {"model": "esmfold", "sequence": SEQ, "name": "first try", "params": {"num_recycles": 2}},
    {"model": "alphafold2", "sequence": f"{SEQ}:{SEQ[:-4]}",
     "params": {"msa_mode": "a3m", "a3m": [f">a\n{SEQ}\n", f">b\n{SEQ[:-4]}\n"]}},
    {"model": "diffdock", "sequence": ASPIRIN, "params": {"protein_pdb": PDB, "samples_per_complex": 2}},
], ids=["esmfold", "alphafold2-complex", "diffdock"])
def test_a_jobs_input_posted_back_is_the_same_job_again(service: InProcessService, body: dict) -> None:
    client = service.client(service.new_key())
    first = client.post("/v1/predict", json=body).json()["job_id"]
    got = client.get(f"/v1/jobs/{first}/input")
    assert got.status_code == 200, got.text
    document = got.json()
    # Only predict's fields: no job_id (the URL's), so the answer posts back unchanged (unknown fields are a 400)
    assert set(document) <= {"model", "sequence", "name", "params"} and document["model"] == body["model"]
    assert document.get("name") == body.get("name")
    # What the request said is there, with the defaults the server filled in beside it
    assert {k: document["params"][k] for k in body["params"]} == body["params"]
    assert "protein_source" not in document["params"] and "protein_residues" not in document["params"]
    again = client.post("/v1/predict", json=document)
    assert again.status_code == 200, again.text
    assert stored(service, again.json()["job_id"]) == stored(service, first)  # the very same request


def test_the_input_is_the_owners_and_goes_with_a_deleted_job(service: InProcessService) -> None:
    owner = service.client(service.new_key())
    other = service.client(service.new_key())
    job_id = owner.predict(SEQ).json()["job_id"]
    assert other.get(f"/v1/jobs/{job_id}/input").status_code == 404
    assert owner.get("/v1/jobs/no-such-job/input").status_code == 404
    owner.wait_for(job_id)
    assert owner.delete(f"/v1/jobs/{job_id}").status_code == 200
    gone = owner.get(f"/v1/jobs/{job_id}/input")
    assert gone.status_code == 404 and set(gone.json()) == {"error", "message"}


def test_grpc_and_the_sdk_read_it_too(service: InProcessService) -> None:
    key = service.new_key()
    job_id = service.client(key).predict(SEQ, name="sdk").json()["job_id"]
    with Client(service.base_url, api_key=key) as sdk:
        document = sdk.job_input(job_id)
        assert document["sequence"] == SEQ and document["params"]["num_recycles"] == 4  # the API's default
        resubmitted = sdk.predict(document["model"], document["sequence"], name=document["name"],
                                  params=document["params"])
        assert resubmitted.job_id != job_id
    channel, stub = service.grpc_stub()
    with channel:
        reply = stub.GetJobInput(pb.GetJobInputRequest(job_id=job_id), metadata=(("authorization", f"Bearer {key}"),))
        assert reply.model == "esmfold" and reply.name == "sdk" and reply.params["chunk_size"] == 128
        with pytest.raises(grpc.RpcError) as missing:
            stub.GetJobInput(pb.GetJobInputRequest(job_id="nope"), metadata=(("authorization", f"Bearer {key}"),))
        assert missing.value.code() == grpc.StatusCode.NOT_FOUND
