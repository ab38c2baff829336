"""A NUL character (U+0000) in any request text is a 400 naming the field, on every store and transport.

PostgreSQL cannot store or even compare a text holding one: these requests were 500s there (and stored
as sent on SQLite). In-process service on the twin, both stores."""

from __future__ import annotations

from typing import Any

import grpc
import pytest
import requests

from phonos.v1 import phonos_pb2 as pb
from tests.support import ALL_STORES, InProcessService

pytestmark = pytest.mark.integration
STORES = ALL_STORES

REQUESTS: list[tuple[str, str, dict[str, Any] | None, str]] = [  # method, path, JSON body, field named
    ("POST", "/v1/predict", {"model": "esmfold", "sequence": "MKTV", "name": "a\x00b"}, "name"),
    ("POST", "/v1/predict", {"model": "esmfold", "sequence": "MKTV", "params": {"relax": "no\x00ne"}}, "params.relax"),
    ("POST", "/v1/batch", {"jobs": [{"model": "esmfold", "sequence": "MKTV"},
                                    {"model": "esmfold", "sequence": "MKTV", "name": "\x00"}]}, "jobs[1].name"),
    ("POST", "/v1/keys", {"name": "k\x00"}, "name"),
    ("POST", "/v1/webhooks", {"url": "https://example.org/\x00"}, "url"),
    ("GET", "/v1/jobs/a%00b", None, "job_id"),
    ("GET", "/v1/jobs/a%00b/download", None, "job_id"),
    ("POST", "/v1/jobs/a%00b/cancel", None, "job_id"),
    ("GET", "/v1/jobs/a%00b/events", None, "job_id"),
    ("DELETE", "/v1/webhooks/wh%00", None, "webhook_id"),
    ("PATCH", "/v1/keys/key%00", {"rate_limit": 5}, "key_id"),
]


@pytest.mark.parametrize(("method", "path", "body", "field"), REQUESTS)
def test_nul_in_request_text_is_400_and_charges_nothing(twin_service: InProcessService, method: str, path: str,
                                                        body: dict[str, Any] | None, field: str) -> None:
    key = twin_service.new_key(credits=100)
    client = twin_service.client(key)
    response = client.session.request(method, twin_service.base_url + path, json=body, timeout=30)
    assert response.status_code == 400, response.text
    assert response.json() == {"error": "Invalid request",
                               "message": f"{field} contains a NUL character (U+0000), which no text field accepts"}
    assert client.balance() == 100 and client.get("/v1/jobs").json()["pagination"]["total"] == 0
    assert twin_service.client(None).session.request(method, twin_service.base_url + path, json=body,
                                                     timeout=30).status_code == 401  # the key still comes first


def test_nul_over_grpc_and_at_sign_in(twin_service: InProcessService) -> None:
    key = twin_service.new_key()
    channel, stub = twin_service.grpc_stub()
    with channel, pytest.raises(grpc.RpcError) as refused:
        stub.Predict(pb.PredictRequest(model="esmfold", sequence="MKTV", name="\x00"),
                     metadata=(("authorization", f"Bearer {key}"),), timeout=10)
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "name contains a NUL" in refused.value.details()
    sign_in = requests.post(f"{twin_service.base_url}/auth/sign-in", json={"username": "ada\x00", "password": "x" * 12},
                            timeout=10)
    assert sign_in.status_code == 400 and "username contains a NUL" in sign_in.json()["message"]


def test_a_lone_surrogate_escape_is_400_at_the_api_and_at_sign_in(twin_service: InProcessService) -> None:
    """"\\ud800" alone is JSON's grammar but no character: sign-in answered a 500 (protobuf could not encode the
    username), and the API protobuf's "Unpaired surrogate at PredictRequest.name". Bytes that are not UTF-8 (a
    surrogate encoded in UTF-8's pattern, which json.loads passed through) are refused before any of that."""
    key = twin_service.new_key(credits=100)
    client = twin_service.client(key)
    json_headers = {"Content-Type": "application/json"}
    response = client.session.post(f"{twin_service.base_url}/v1/predict", headers=json_headers, timeout=30,
                                   data=b'{"model": "esmfold", "sequence": "MKTV", "name": "a\\ud800"}')
    assert response.status_code == 400 and response.json()["message"].startswith(
        "invalid request body: name holds an unpaired surrogate"), response.text
    assert client.balance() == 100
    for raw, words in ((b'{"username": "ada\\ud800", "password": "xxxxxxxxxxxx"}', "username holds an unpaired surrogate"),
                       (b'{"username": "ada", "password": "x\\udc00xxxxxxxxxx"}', "password holds an unpaired surrogate"),
                       (b'{"username": "ada\xed\xa0\x80", "password": "xxxxxxxxxxxx"}', "not valid JSON")):
        sign_in = requests.post(f"{twin_service.base_url}/auth/sign-in", data=raw, headers=json_headers, timeout=10)
        assert sign_in.status_code == 400 and words in sign_in.json()["message"], (raw, sign_in.text)
