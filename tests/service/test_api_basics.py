"""Health, models, auth and account routes over real HTTP and gRPC (in-process service, inference twin)."""

from __future__ import annotations

import grpc
import pytest

from jobservice.memory_inference import Slow
from phonos.v1 import phonos_pb2 as pb
from tests.support import InProcessService

pytestmark = pytest.mark.integration

SEED_MODELS = [
    {"id": "esmfold", "name": "ESMFold", "description": "Fast protein structure prediction from Meta AI",
     "type": "structure_prediction", "cost_credits": 10},
    {"id": "alphafold2", "name": "AlphaFold2", "description": "High-accuracy protein structure prediction from DeepMind",
     "type": "structure_prediction", "cost_credits": 50},
    {"id": "diffdock", "name": "DiffDock", "description": "Molecular docking for protein-ligand interactions",
     "type": "docking", "cost_credits": 30},
]


@pytest.fixture(scope="module")
def service(twin_service: InProcessService) -> InProcessService:
    return twin_service


def test_health_is_public_and_reports_components(service: InProcessService) -> None:
    response = service.client(None).get("/v1/health")
    assert response.status_code == 200
    body = response.json()
    assert {k: body[k] for k in ("status", "version", "message")} == {
        "status": "operational", "version": "v1", "message": "PHONOS API is running"}
    assert body["components"] == {"database": "ready", "triton": "ready", "esmfold": "ready"}


def test_health_reports_degraded_when_triton_is_down(twin_factory: type) -> None:
    service = twin_factory.start()
    service.inference.available = False
    response = service.client(None).get("/v1/health")
    assert response.status_code == 503  # a readiness probe can act on the status alone
    body = response.json()
    assert body["status"] == "degraded"
    assert body["components"]["triton"] == "unavailable"
    assert "triton" in body["message"]


def test_models_match_the_seed_exactly(twin_factory: type) -> None:
    # All three models are listed when all are served; ESMFold alone is served elsewhere in these tests.
    service = twin_factory.start(PHONOS_MODELS="esmfold,alphafold2,diffdock")
    response = service.client(service.new_key()).get("/v1/models")
    assert response.status_code == 200
    assert response.json() == {"models": SEED_MODELS}


@pytest.mark.parametrize("header", [None, "Bearer pk_not_a_real_key", "Basic abc", "Bearer"])
def test_missing_or_invalid_key_is_401_with_seed_error_body(service: InProcessService, header: str | None) -> None:
    client = service.client(None)
    if header is not None:
        client.session.headers["Authorization"] = header
    for path in ("/v1/models", "/v1/account", "/v1/jobs", "/v1/usage", "/v1/webhooks"):
        response = client.get(path)
        assert response.status_code == 401, path
        body = response.json()
        assert set(body) == {"error", "message"}
        assert body["error"] == "Unauthorized"
        assert "API key" in body["message"] or "Authorization" in body["message"]
    assert client.post("/v1/predict", json={"model": "esmfold", "sequence": "MKV"}).status_code == 401


def test_account_shape_and_types(service: InProcessService) -> None:
    client = service.client(service.new_key(credits=5000, username="researcher"))
    body = client.get("/v1/account").json()
    assert body["account"]["username"] == "researcher"
    assert body["account"]["email"] == "researcher@example.org"
    assert isinstance(body["account"]["id"], int)
    assert body["account"]["created_at"].endswith("Z")
    assert body["credits"] == {"balance": 5000, "currency": "credits"}
    assert body["jobs"] == {"total": 0, "completed": 0, "active": 0, "failed": 0, "cancelled": 0}


def test_the_job_counts_add_up_with_a_cancelled_job(service: InProcessService) -> None:
    """The seed's counts have no cancelled entry: an account with a cancelled job read "2 total, 1 completed,
    0 active, 0 failed". `cancelled` (an extension) makes total the sum of the others, over REST and gRPC."""
    key = service.new_key(credits=100)
    client = service.client(key)
    client.wait_for(client.predict().json()["job_id"])
    service.settle()
    service.inference.script("esmfold", Slow(30))
    running = client.predict().json()["job_id"]
    assert client.post(f"/v1/jobs/{running}/cancel").status_code == 200
    jobs = client.get("/v1/account").json()["jobs"]
    assert jobs == {"total": 2, "completed": 1, "active": 0, "failed": 0, "cancelled": 1}
    channel, stub = service.grpc_stub()
    with channel:
        counts = stub.GetAccount(pb.GetAccountRequest(), metadata=(("authorization", f"Bearer {key}"),)).jobs
    assert (counts.total, counts.cancelled) == (2, 1)


def test_grpc_and_rest_share_auth_and_errors(service: InProcessService) -> None:
    key = service.new_key()
    channel, stub = service.grpc_stub()
    with channel:
        with pytest.raises(grpc.RpcError) as denied:
            stub.GetAccount(pb.GetAccountRequest())
        assert denied.value.code() == grpc.StatusCode.UNAUTHENTICATED
        auth = (("authorization", f"Bearer {key}"),)
        account = stub.GetAccount(pb.GetAccountRequest(), metadata=auth)
        assert account.credits.balance == 10_000
        with pytest.raises(grpc.RpcError) as missing:
            stub.GetJob(pb.GetJobRequest(job_id="nope"), metadata=auth)
        assert missing.value.code() == grpc.StatusCode.NOT_FOUND
    assert service.client(key).get("/v1/jobs/nope").status_code == 404


def test_head_answers_wherever_a_get_does_with_its_headers_and_no_body(service: InProcessService) -> None:
    client = service.client(service.new_key())
    for path in ("/v1/health", "/v1/models", "/v1/jobs", "/v1/account"):
        got, head = client.get(path), client.session.head(client.base_url + path, timeout=30)
        assert head.status_code == got.status_code == 200, (path, head.status_code)
        assert head.content == b"" and head.headers["Content-Type"] == got.headers["Content-Type"], path
        assert int(head.headers["Content-Length"]) == len(got.content), path  # the length a GET sends
        assert ("X-RateLimit-Limit" in head.headers) == (path != "/v1/health"), path  # counted like a GET
    job = client.wait_for(client.predict().json()["job_id"])
    download = client.session.head(client.base_url + job["download_url"], timeout=30)
    assert download.status_code == 200 and download.content == b"" and "attachment" in download.headers["Content-Disposition"]
    assert client.session.head(client.base_url + "/v1/jobs/nope", timeout=30).status_code == 404
    assert service.client(None).session.head(client.base_url + "/v1/jobs", timeout=30).status_code == 401
    # A stream has no length to announce, and POST routes take no HEAD: 405 with what is allowed.
    for path, allowed in (("/v1/events", "GET"), (f"/v1/jobs/{job['job_id']}/events", "GET"), ("/v1/predict", "POST")):
        refused = client.session.head(client.base_url + path, timeout=30)
        assert refused.status_code == 405 and refused.headers["Allow"] == allowed and refused.content == b"", path
    assert client.delete("/v1/health").headers["Allow"] == "GET, HEAD"


def test_unknown_route_and_wrong_method_are_json_errors(service: InProcessService) -> None:
    client = service.client(service.new_key())
    missing = client.get("/v1/nothing-here")
    assert missing.status_code == 404
    assert set(missing.json()) == {"error", "message"}
    wrong = client.delete("/v1/predict")
    assert wrong.status_code == 405
    assert set(wrong.json()) == {"error", "message"}


def test_an_empty_name_is_no_name(service: InProcessService) -> None:
    # Was stored as "", so the job came back with "name": "" where an unnamed one has no name at all.
    client = service.client(service.new_key())
    named = client.post("/v1/predict", json={"model": "esmfold", "sequence": "MKTV", "name": ""})
    assert named.status_code == 200, named.text
    batch = client.post("/v1/batch", json={"jobs": [{"model": "esmfold", "sequence": "MKTV", "name": ""}]})
    assert batch.status_code == 200, batch.text
    for job_id in (named.json()["job_id"], batch.json()["results"][0]["job_id"]):
        job = client.get(f"/v1/jobs/{job_id}").json()
        assert "name" not in job, job
