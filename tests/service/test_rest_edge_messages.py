"""What the REST edge says to a body field the URL path gives, an integer past its wire type and a body in another
format than JSON, over real HTTP against a real job service; gRPC, which has no path, is untouched (found by a
tester using phonos as a user)."""

from __future__ import annotations

import pytest

from phonos.v1 import phonos_pb2 as pb
from tests.support import InProcessService

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def service(twin_service: InProcessService) -> InProcessService:
    return twin_service


def test_a_body_field_the_path_gives_is_refused_over_http_not_over_grpc(service: InProcessService) -> None:
    key = service.new_key()
    api = service.client(key)
    first = api.post("/v1/keys", json={"name": "first"}).json()["key"]["key_id"]
    second = api.post("/v1/keys", json={"name": "second"}).json()["key"]["key_id"]
    for body in ({"key_id": second, "name": "x"}, {"keyId": first, "name": "x"}):
        response = api.patch(f"/v1/keys/{first}", json=body)
        assert response.status_code == 400, response.text
        assert response.json() == {"error": "Invalid request", "message": f'invalid request body: "{next(iter(body))}" '
                                   "is given by the URL path; leave it out of the body"}
    names = {k["key_id"]: k["name"] for k in api.get("/v1/keys").json()["keys"]}
    assert (names[first], names[second]) == ("first", "second")  # the path's key was renamed before
    unknown = api.patch(f"/v1/keys/{first}", json={"nmae": "x"}).json()["message"]
    assert unknown == 'invalid request body: unknown field "nmae"; accepted: name, rate_limit, expires_in_days'

    job = api.wait_for(api.predict().json()["job_id"])["job_id"]
    response = api.post(f"/v1/jobs/{job}/shares", json={"job_id": "job_other", "expires_in_days": 1})
    assert response.status_code == 400 and "is given by the URL path" in response.json()["message"], response.text
    assert api.get(f"/v1/jobs/{job}/shares").json()["shares"] == []

    channel, stub = service.grpc_stub()
    with channel:  # gRPC names the key in the message: it has no path
        updated = stub.UpdateApiKey(pb.UpdateApiKeyRequest(key_id=first, name="renamed"),
                                    metadata=(("authorization", f"Bearer {key}"),))
    assert updated.key.name == "renamed"


def test_an_integer_past_its_wire_type_says_its_own_range(service: InProcessService) -> None:
    api = service.client(service.new_key())
    for path, message in [
        ("/v1/jobs?offset=99999999999999999999", "offset must be at most 2147483647, got 99999999999999999999"),
        ("/v1/jobs?offset=2147483647", None),  # in range: the job service answers
        ("/v1/account/credits?offset=-99999999999999999999", "offset must be 0 or more, got -99999999999999999999"),
        ("/v1/account/activity?limit=99999999999999999999", "limit must be between 1 and 100, got 99999999999999999999"),
    ]:
        response = api.get(path)
        if message is None:
            assert response.status_code == 200, response.text
        else:
            assert (response.status_code, response.json()["message"]) == (400, message), path


def test_a_form_body_is_told_to_send_json(service: InProcessService) -> None:
    api = service.client(service.new_key())
    response = api.post("/v1/keys", data={"name": "pipeline", "rate_limit": "30"})  # form-urlencoded
    assert response.status_code == 400, response.text
    assert response.json()["message"] == ("malformed JSON body: Expecting value: line 1 column 1 (char 0); the body "
                                          "must be JSON, sent with Content-Type: application/json")
