"""The shared PostgreSQL database stopped mid-run, then started again: every call says so (503, the documented
error body, Retry-After; UNAVAILABLE over gRPC), /v1/health names the database, and the service recovers on its
own. Was: every call a 500 "quote the request id", health still `operational` with 200.

A PostgreSQL server of its own (the session's is shared by other modules and must not stop), one in-process job
service on the inference twin (no tritonserver), and a separate gateway process in front of it (the gateway that
tells its own channel failures from the job service's answers)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
import requests

from phonos.v1 import phonos_pb2 as pb
from tests.postgres import PostgresServer
from tests.serve_process import separate_gateway
from tests.support import InProcessService, wait_until

pytestmark = pytest.mark.integration

PASSWORD = "a long enough password 1"


@pytest.fixture(scope="module")
def service(own_postgres: PostgresServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[InProcessService]:
    running = InProcessService(tmp_path_factory.mktemp("dbdown"),
                               {"PHONOS_DATABASE_URL": own_postgres.new_store_url("dbdown")})
    yield running
    running.stop()


def assert_database_unavailable(response: requests.Response, secrets: list[str]) -> None:
    assert response.status_code == 503, response.text
    body = response.json()
    assert set(body) == {"error", "message"}
    assert body["error"] == "Service unavailable"
    assert "database" in body["message"] and "request id" not in body["message"]
    assert not any(secret in body["message"] for secret in secrets)
    assert int(response.headers["Retry-After"]) > 0
    assert response.headers.get("X-Request-Id")


def calls(base_url: str, key: str) -> dict[str, requests.Response]:
    """One read, one submission and a dashboard sign-in, as a user and the SDK make them."""
    bearer = {"Authorization": f"Bearer {key}"}
    return {
        "list": requests.get(f"{base_url}/v1/jobs", headers=bearer, timeout=30),
        "predict": requests.post(f"{base_url}/v1/predict", headers=bearer, timeout=30,
                                 json={"model": "esmfold", "sequence": "MKTVRQERLKSIVRILERSKEPV"}),
        "sign-in": requests.post(f"{base_url}/auth/sign-in", timeout=30, headers={"Origin": base_url},
                                 json={"username": "outage", "password": PASSWORD}),
    }


def listeners(server: PostgresServer) -> int:
    """Connections listening for NOTIFY (a listening connection's last statement is its LISTEN)."""
    return int(server.psql("SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'LISTEN %'"))


def grpc_list_jobs(service: InProcessService, key: str) -> Any:
    channel, stub = service.grpc_stub()
    with channel:
        return stub.ListJobs(pb.ListJobsRequest(), metadata=(("authorization", f"Bearer {key}"),), timeout=30)


def test_a_stopped_database_is_a_503_with_retry_after_and_health_says_so_until_it_is_back(
        own_postgres: PostgresServer, service: InProcessService, tmp_path: Path) -> None:
    key = service.new_key(username="outage")
    assert service.client(key).get("/v1/jobs").status_code == 200
    listening = listeners(own_postgres)
    assert listening >= 4  # new jobs, cancels, webhooks, job events: what other job services announce
    secrets = [str(own_postgres.port), "postgresql://", "127.0.0.1", "search_path"]

    before = service.scrape()
    with separate_gateway(service.grpc_target) as gateway_url:
        own_postgres.pause()
        try:
            for base_url in (service.base_url, gateway_url):  # the in-process gateway and a separate one
                for name, response in calls(base_url, key).items():
                    try:
                        assert_database_unavailable(response, secrets)
                    except AssertionError as exc:
                        raise AssertionError(f"{name} via {base_url}: {exc}") from exc
                health = requests.get(f"{base_url}/v1/health", timeout=30)
                assert health.status_code == 503
                body = health.json()
                assert {k: body[k] for k in ("status", "version")} == {"status": "degraded", "version": "v1"}
                assert body["components"]["database"] == "unavailable"
                assert body["components"]["triton"] == "ready"  # the models are fine: only the database is away
                assert "database" in body["message"]
                assert int(health.headers["Retry-After"]) > 0

            with pytest.raises(grpc.RpcError) as refused:
                grpc_list_jobs(service, key)
            assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
            assert "database" in refused.value.details()
            trailers = dict(refused.value.trailing_metadata())
            assert int(trailers["retry-after"]) > 0 and trailers.get("x-request-id")
        finally:
            own_postgres.resume()

        # Every refusal is in the job service's call figures (admission refuses them, before the servicer, which
        # counted alone): an alert on UNAVAILABLE answers fires through an outage. The in-process gateway's under
        # "rest"; the separate gateway's and the direct gRPC call's under "grpc" (that gateway is no trusted proxy).
        unavailable = {labels: count - before.get((name, labels), 0.0) for (name, labels), count in service.scrape().items()
                       if name == "phonos_rpc_seconds_count" and ("rpc", "ListJobs") in labels
                       and ("code", "UNAVAILABLE") in labels}
        by_transport = {dict(labels)["transport"]: count for labels, count in unavailable.items()}
        assert by_transport.get("rest") == 1 and by_transport.get("grpc") == 2, by_transport

        # Back without a restart of anything: the pool reconnects on the next call.
        wait_until(lambda: service.client(key).get("/v1/jobs").status_code == 200, 30, 0.2)
        for base_url in (service.base_url, gateway_url):
            assert requests.get(f"{base_url}/v1/jobs", headers={"Authorization": f"Bearer {key}"},
                                timeout=30).status_code == 200
            health = requests.get(f"{base_url}/v1/health", timeout=30)
            assert health.status_code == 200 and health.json()["status"] == "operational"
            assert health.json()["components"]["database"] == "ready"
        # Listening again too: another job service's announcements reach this one without a restart.
        wait_until(lambda: listeners(own_postgres) == listening, 30, 0.2)
        job = service.client(key).predict()
        assert job.status_code == 200, job.text
        assert service.client(key).wait_for(job.json()["job_id"])["status"] == "completed"
        assert grpc_list_jobs(service, key).jobs
