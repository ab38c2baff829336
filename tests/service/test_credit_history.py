"""GET /v1/account/credits (gRPC ListCreditEntries, the SDK's credit_history): after submissions, a batch,
failures refunded and charged, cancels, an operator's top-up and a deleted job, the history explains the
balance, pages like GET /v1/jobs over both transports, and refuses bad values in the API's error shape."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import grpc
import pytest
from phonos_client import Client

from jobservice import admin
from jobservice.memory_inference import Failure, Slow
from phonos.v1 import phonos_pb2 as pb
from tests.support import ALL_STORES, ApiClient, InProcessService, wait_until

pytestmark = pytest.mark.integration
STORES = ALL_STORES  # state: every test runs on SQLite and on PostgreSQL

SEQ = "MKTVRQERLKSIVRILERSKEPV"
ROUTE = "/v1/account/credits"


def status(client: ApiClient, job_id: str) -> str:
    return str(client.get(f"/v1/jobs/{job_id}").json()["status"])


def test_the_history_explains_the_balance_over_rest_grpc_and_the_sdk(twin_factory: type) -> None:
    # One call per model at a time: a job submitted behind a slow one waits pending.
    service: InProcessService = twin_factory.start(PHONOS_MODELS="esmfold,echo", PHONOS_MAX_INFLIGHT_PER_MODEL="1")
    username = f"ada{time.monotonic_ns()}"
    key = service.new_key(credits=100, username=username)
    client = service.client(key)
    service.inference.script("esmfold", Slow(60))
    service.inference.script("echo", Failure.MODEL_ERROR, Failure.INVALID_INPUT)

    running = client.predict(SEQ).json()["job_id"]  # 10
    wait_until(lambda: status(client, running) == "running", 20)
    pending = client.predict(SEQ).json()["job_id"]  # 10, refunded by its cancel
    crashed, refused = (r["job_id"] for r in client.post(
        "/v1/batch", json={"jobs": [{"model": "echo", "sequence": SEQ}] * 2}).json()["results"])  # 1 + 1
    wait_until(lambda: [status(client, j) for j in (crashed, refused)] == ["failed", "failed"], 20)
    assert client.post(f"/v1/jobs/{pending}/cancel").json()["credits_refunded"] == 10
    assert client.post(f"/v1/jobs/{running}/cancel").json()["credits_refunded"] == 0
    assert asyncio.run(admin.add_credits(service.settings, username=username, amount=50, note="lab grant")) == 139
    assert client.delete(f"/v1/jobs/{refused}").status_code == 200  # its charge stays

    page = client.get(ROUTE, params={"limit": 100}).json()
    entries = page["entries"]
    assert page["pagination"] == {"total": 8, "limit": 100, "offset": 0, "has_more": False}
    assert [(e["kind"], e["amount"], e.get("job_id")) for e in entries] == [  # newest first
        ("grant", 50, None), ("refund", 10, pending), ("refund", 1, crashed),
        ("charge", -1, refused), ("charge", -1, crashed), ("charge", -10, pending), ("charge", -10, running),
        ("grant", 100, None)]
    assert sum(e["amount"] for e in entries) == entries[0]["balance_after"] == client.balance() == 139
    assert [e["balance_after"] for e in entries] == [139, 89, 79, 78, 79, 80, 90, 100]
    assert [e["job_deleted"] for e in entries] == [False, False, False, True, False, False, False, False]
    assert entries[2]["note"] == "echo job failed (model_error)" and entries[0]["note"] == "lab grant"
    assert all(isinstance(e["id"], int) and e["created_at"].endswith("Z") for e in entries)
    assert "job_id" not in entries[0]  # unset, as the job's optional fields

    second = client.get(ROUTE, params={"limit": 3, "offset": 3}).json()
    assert second["entries"] == entries[3:6]
    assert second["pagination"] == {"total": 8, "limit": 3, "offset": 3, "has_more": True,
                                    "next_starting_after": str(entries[5]["id"])}
    channel, stub = service.grpc_stub()
    with channel:
        answer = stub.ListCreditEntries(pb.ListCreditEntriesRequest(limit=3, offset=3),
                                        metadata=(("authorization", f"Bearer {key}"),))
    assert [(e.id, e.amount, e.balance_after, e.kind, e.job_id, e.job_deleted) for e in answer.entries] == [
        (e["id"], e["amount"], e["balance_after"], e["kind"], e["job_id"], e["job_deleted"]) for e in entries[3:6]]
    assert (answer.pagination.total, answer.pagination.has_more) == (8, True)
    for transport in ("rest", "grpc"):
        with Client(service.url_for(transport), key) as sdk:
            assert [e.id for e in sdk.iter_credit_history(page_size=3)] == [e["id"] for e in entries]
            first = sdk.credit_history(limit=1)
            assert (first.entries[0].note, first.total, first.has_more) == ("lab grant", 8, True)


BAD_VALUES: list[tuple[dict[str, Any], str]] = [
    ({"limit": 0}, "limit must be between 1 and 100, got 0"),
    ({"limit": 101}, "limit must be between 1 and 100, got 101"),
    ({"offset": -1}, "offset must be 0 or more, got -1"),
    ({"limit": "ten"}, 'limit: "ten" is not an integer'),
    ({"limt": 5}, 'unknown query parameter "limt"; accepted: limit, offset, starting_after'),
]


def test_bad_values_and_a_missing_key_get_the_api_error_shape(twin_service: InProcessService) -> None:
    key = twin_service.new_key()
    client = twin_service.client(key)
    for params, message in BAD_VALUES:
        refused = client.get(ROUTE, params=params)
        assert refused.status_code == 400, params
        assert refused.json() == {"error": "Invalid request", "message": message}
    assert client.get(ROUTE, params={"offset": 5}).json()["entries"] == []  # past the end: an empty page
    anonymous = twin_service.client(None).get(ROUTE)
    assert anonymous.status_code == 401 and set(anonymous.json()) == {"error", "message"}
    channel, stub = twin_service.grpc_stub()
    with channel, pytest.raises(grpc.RpcError) as refused_grpc:
        stub.ListCreditEntries(pb.ListCreditEntriesRequest(limit=0), metadata=(("authorization", f"Bearer {key}"),))
    assert refused_grpc.value.code() == grpc.StatusCode.INVALID_ARGUMENT
