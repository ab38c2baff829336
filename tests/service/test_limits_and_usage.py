"""Per-key rate limits (REST and gRPC alike) and usage accounting."""

from __future__ import annotations

import time

import grpc
import pytest

from phonos.v1 import phonos_pb2 as pb
from tests.support import ALL_STORES, InProcessService

pytestmark = pytest.mark.integration
STORES = ALL_STORES  # state: every test runs on SQLite and on PostgreSQL


@pytest.fixture(scope="module")
def service(twin_service: InProcessService) -> InProcessService:
    return twin_service


def test_61st_request_in_a_minute_is_429_with_seed_body_and_headers(service: InProcessService) -> None:
    client = service.client(service.new_key(rate_limit=60))
    for i in range(60):
        response = client.get("/v1/account")
        assert response.status_code == 200, i
        assert response.headers["X-RateLimit-Limit"] == "60"
        assert response.headers["X-RateLimit-Remaining"] == str(59 - i)
    refused = client.get("/v1/account")
    assert refused.status_code == 429
    assert refused.json() == {"error": "Rate limit exceeded",
                              "message": "You have exceeded the rate limit of 60 requests per minute"}
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert refused.headers["X-RateLimit-Limit"] == "60"
    assert refused.headers["X-RateLimit-Remaining"] == "0"
    assert int(refused.headers["X-RateLimit-Reset"]) >= int(time.time())


def test_limit_is_per_key_and_configurable(service: InProcessService) -> None:
    slow = service.client(service.new_key(rate_limit=3))
    other = service.client(service.new_key(rate_limit=3))
    assert [slow.get("/v1/models").status_code for _ in range(4)] == [200, 200, 200, 429]
    assert "rate limit of 3 requests per minute" in slow.get("/v1/models").json()["message"]
    assert other.get("/v1/models").status_code == 200


def test_what_the_edge_refuses_itself_uses_no_budget_and_says_none(service: InProcessService) -> None:
    # README *Rate limits*: the headers come from the job service; the edge's own refusals (found by a tester:
    # documented as "every authenticated response") neither spend the key's budget nor carry them.
    client = service.client(service.new_key(rate_limit=5))
    refused = [
        client.post("/v1/predict", data=b"{bad", headers={"Content-Type": "application/json"}),
        client.get("/v1/jobs", params={"limt": 1}),
        client.session.put(client.base_url + "/v1/predict", json={}, timeout=30),
        client.get("/v1/jobz"),
    ]
    assert [r.status_code for r in refused] == [400, 400, 405, 404]
    for response in refused:
        assert set(response.json()) == {"error", "message"}
        assert not [h for h in response.headers if h.lower().startswith("x-ratelimit-")], response.headers
    counted = client.get("/v1/jobs", params={"limit": 0})  # the job service's own 400: counted, with the headers
    assert counted.status_code == 400 and counted.headers["X-RateLimit-Remaining"] == "4"


def test_grpc_calls_share_the_keys_limit(service: InProcessService) -> None:
    key = service.new_key(rate_limit=2)
    auth = (("authorization", f"Bearer {key}"),)
    channel, stub = service.grpc_stub()
    with channel:
        stub.ListModels(pb.ListModelsRequest(), metadata=auth)
        stub.ListModels(pb.ListModelsRequest(), metadata=auth)
        with pytest.raises(grpc.RpcError) as refused:
            stub.ListModels(pb.ListModelsRequest(), metadata=auth)
    assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    trailers = dict(refused.value.trailing_metadata())
    assert trailers["phonos-error-title"] == "Rate limit exceeded"
    assert int(trailers["retry-after"]) >= 1
    assert service.client(key).get("/v1/models").status_code == 429


def test_usage_counts_rest_and_grpc_under_route_names(service: InProcessService) -> None:
    key = service.new_key()
    client = service.client(key)
    job_id = client.predict().json()["job_id"]
    client.get(f"/v1/jobs/{job_id}")
    channel, stub = service.grpc_stub()
    with channel:
        stub.GetJob(pb.GetJobRequest(job_id=job_id), metadata=(("authorization", f"Bearer {key}"),))
    client.get("/v1/jobs", params={"limit": 0})  # a 400 still counts: it was an authenticated request
    usage = client.get("/v1/usage", params={"days": 7}).json()
    assert usage["period"]["days"] == 7
    assert usage["period"]["end_date"] == time.strftime("%Y-%m-%d", time.gmtime())
    by_endpoint = {row["endpoint"]: row for row in usage["by_endpoint"]}
    assert by_endpoint["/v1/predict"] == {"endpoint": "/v1/predict", "requests": 1, "credits_used": 10}
    assert by_endpoint["/v1/jobs/{job_id}"]["requests"] == 2  # one REST, one gRPC
    assert by_endpoint["/v1/jobs"]["requests"] == 1
    assert usage["totals"]["requests"] == 4
    assert usage["totals"]["credits_used"] == 10
    assert isinstance(usage["totals"]["avg_response_time_ms"], float | int)
    assert usage["by_model"] == [{"model": "esmfold", "requests": 1, "credits_used": 10}]
    assert usage["daily"] == [{"date": usage["period"]["end_date"], "requests": 4, "credits_used": 10}]


def test_usage_is_per_account(service: InProcessService) -> None:
    quiet = service.client(service.new_key())
    assert quiet.get("/v1/usage").json()["totals"]["requests"] == 0  # the request itself is recorded after


@pytest.mark.parametrize("days", [0, 91, -1, 2147483648, -99999999999])
def test_usage_days_out_of_range_is_400(service: InProcessService, days: int) -> None:
    response = service.client(service.new_key()).get("/v1/usage", params={"days": days})
    assert response.status_code == 400
    # beyond int32 too: the range the contract states, not the wire type's
    assert f"between 1 and 90, got {days}" in response.json()["message"]
