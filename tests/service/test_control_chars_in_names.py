"""Names people give things must be printable text (jobservice/labels.py): a job's name (predict, batch
items, the list filter), an API key's name (create, update), an account's username and a credit note
(admin). A control character (an ANSI escape would replay in every terminal listing the job), a line
separator or a bidirectional override is a 400 naming the field and the code point, over REST and gRPC
alike; nothing is charged or stored. Names stored before the rule stay as they are and stay usable."""

from __future__ import annotations

import asyncio
from typing import Any

import grpc
import pytest

from jobservice import admin
from jobservice.errors import InvalidArgument
from phonos.v1 import phonos_pb2 as pb
from tests.support import InProcessService

pytestmark = pytest.mark.integration

ESC_NAME = "build \x1b[31mred\x1b[0m"
MESSAGE = ("name contains a control character (U+001B); name must be printable text: remove the character and "
           "send it again")


def _rest_cases(key_id: str) -> list[tuple[str, str, dict[str, Any] | None]]:
    return [
        ("POST", "/v1/predict", {"model": "esmfold", "sequence": "MKTV", "name": ESC_NAME}),
        ("GET", "/v1/jobs?name=%1B", None),
        ("POST", "/v1/keys", {"name": ESC_NAME}),
        ("PATCH", f"/v1/keys/{key_id}", {"name": ESC_NAME}),
    ]


def test_rest_refuses_a_control_character_in_every_name_field(twin_service: InProcessService) -> None:
    key = twin_service.new_key(credits=100)
    client = twin_service.client(key)
    [own] = client.get("/v1/keys").json()["keys"]
    for method, path, body in _rest_cases(own["key_id"]):
        response = client.session.request(method, twin_service.base_url + path, json=body, timeout=30)
        assert response.status_code == 400, (path, response.text)
        assert response.json() == {"error": "Invalid request", "message": MESSAGE}, path
    batch = client.post("/v1/batch", json={"jobs": [{"model": "esmfold", "sequence": "MKTV", "name": "fine"},
                                                    {"model": "esmfold", "sequence": "MKTV", "name": "bad\u202e"}]})
    assert batch.status_code == 200, batch.text
    results = batch.json()["results"]
    assert results[0]["success"] is True and results[1]["success"] is False  # the bad item fails alone
    assert results[1]["message"].startswith("name contains a bidirectional formatting character (U+202E); ")
    assert client.balance() == 90
    assert [k["name"] for k in client.get("/v1/keys").json()["keys"]] == [own["name"]]  # nothing stored


def test_grpc_refuses_a_control_character_in_every_name_field(twin_service: InProcessService) -> None:
    key = twin_service.new_key(credits=100)
    auth = (("authorization", f"Bearer {key}"),)
    channel, stub = twin_service.grpc_stub()
    with channel:
        key_id = stub.ListApiKeys(pb.ListApiKeysRequest(), metadata=auth).keys[0].key_id
        calls = [
            (stub.Predict, pb.PredictRequest(model="esmfold", sequence="MKTV", name=ESC_NAME)),
            (stub.ListJobs, pb.ListJobsRequest(name="\x1b")),
            (stub.CreateApiKey, pb.CreateApiKeyRequest(name=ESC_NAME)),
            (stub.UpdateApiKey, pb.UpdateApiKeyRequest(key_id=key_id, name=ESC_NAME)),
        ]
        for rpc, request in calls:
            with pytest.raises(grpc.RpcError) as refused:
                rpc(request, metadata=auth, timeout=10)
            assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT, rpc
            assert refused.value.details() == MESSAGE
        batch = stub.SubmitBatch(pb.SubmitBatchRequest(jobs=[pb.BatchJob(model="esmfold", sequence="MKTV",
                                                                         name="\u2028")]), metadata=auth)
        assert not batch.results[0].success
        assert batch.results[0].message.startswith("name contains a line or paragraph separator (U+2028); ")
        assert stub.GetAccount(pb.GetAccountRequest(), metadata=auth).credits.balance == 100


def test_names_stored_before_the_rule_are_kept_and_their_keys_stay_editable(twin_service: InProcessService) -> None:
    key = twin_service.new_key()
    client = twin_service.client(key)
    [own] = client.get("/v1/keys").json()["keys"]
    twin_service.sql("UPDATE api_keys SET name = ? WHERE id = ?", ESC_NAME, own["key_id"])  # an older row
    changed = client.patch(f"/v1/keys/{own['key_id']}", json={"rate_limit": 50})
    assert changed.status_code == 200, changed.text
    assert changed.json()["key"]["name"] == ESC_NAME and changed.json()["key"]["rate_limit"] == 50


def test_admin_refuses_a_control_character_in_a_username_or_a_credit_note(twin_service: InProcessService) -> None:
    settings = twin_service.settings
    with pytest.raises(InvalidArgument, match=r"^username contains a control character \(U\+001B\); "):
        asyncio.run(admin.create_key(settings, username="ada\x1b", email=None, credits=1, rate_limit=5))
    twin_service.new_key(username="grace")
    with pytest.raises(InvalidArgument, match=r"^note contains a control character \(U\+000A\); "):
        asyncio.run(admin.add_credits(settings, username="grace", amount=5, note="refund\nfor ticket 9"))
