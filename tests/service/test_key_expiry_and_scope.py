"""API keys that expire and read-only keys, over real HTTP and gRPC against a real job service (in process, on
the inference twin), on SQLite and PostgreSQL.

The read-only tests walk every rpc with an HTTP rule, as the protos declare them, so a new rpc is checked the
day it is added: a read (`(phonos.v1.doc).read_only`) answers a read-only key as it answers a full one, and
anything else answers 403.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import grpc
import pytest
import requests
from phonos_client import AuthenticationError, BadRequestError, Client, PermissionDeniedError

from gateway.http_rule import rules_for_service
from jobservice.key_policy import when
from jobservice.routes import SERVICE, read_only_methods
from phonos.v1 import phonos_pb2 as pb
from tests.conftest import store_env
from tests.support import ALL_STORES, REPO, InProcessService

pytestmark = pytest.mark.integration
STORES = ALL_STORES
DAY_S = 86400
SEQUENCE = "MKTAYIAKQRQISFVKSHFSRQ"


# Three failed authentications a minute per address (the throttle test counts to it); /v1/events opens at once.
SETTINGS = {"PHONOS_AUTH_FAILURES_PER_MINUTE": "3", "PHONOS_SSE_KEEPALIVE_S": "0.3"}


@pytest.fixture
def service(twin_factory: type, tmp_path: Path) -> InProcessService:
    """A job service of the test's own, for the tests that fail authentications (an expired or wrong key): every
    client is 127.0.0.1, so their failures would fill one shared service's throttle (3 a minute) for the next."""
    return twin_factory.start(data_dir=tmp_path / "var", **SETTINGS)


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory, store: str,
           request: pytest.FixtureRequest) -> Iterator[InProcessService]:
    """One job service (per store) for the module's tests that never fail an authentication: each uses accounts
    of its own, so they share it; a start and stop each cost ~0.5 s (SQLite) to ~1.5 s (a fresh PostgreSQL
    database and its migrations) on two cores."""
    running = InProcessService(tmp_path_factory.mktemp("keys") / "var", {**store_env(store, request), **SETTINGS})
    yield running
    running.stop()


def epoch(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def create(api: object, **fields: object) -> dict:
    response = api.post("/v1/keys", json=fields)  # type: ignore[attr-defined]
    assert response.status_code == 200, response.text
    return response.json()


def set_expiry(service: InProcessService, key_id: str, expires_at: float) -> None:
    """A key's expiry moved to a given instant (the API only counts whole days from now)."""
    service.sql("UPDATE api_keys SET expires_at = ? WHERE id = ?", expires_at, key_id)


def listed(api: object, key_id: str) -> dict:
    return next(k for k in api.get("/v1/keys").json()["keys"] if k["key_id"] == key_id)  # type: ignore[attr-defined]


# ---------------------------------------------------------------------------------------------- expiry


def test_a_key_created_with_an_expiry_and_a_scope_lists_them(shared: InProcessService) -> None:
    api = shared.client(shared.new_key(username="kim"))
    [first] = api.get("/v1/keys").json()["keys"]
    assert first["scope"] == "full" and first["expired"] is False and "expires_at" not in first  # never expires

    before = time.time()
    body = create(api, name="term", expires_in_days=30, scope="read_only")
    key = body["key"]
    assert key["scope"] == "read_only" and key["expired"] is False
    assert before + 30 * DAY_S - 1 <= epoch(key["expires_at"]) <= time.time() + 30 * DAY_S + 1
    # 30 days of its own: counted from the creation time it lists, not from a clock read before it.
    assert round(epoch(key["expires_at"]) - epoch(key["created_at"]), 3) == 30 * DAY_S, key
    assert listed(api, key["key_id"]) == key
    never = create(api, expires_in_days=0)["key"]  # 0: never, as unset
    assert "expires_at" not in never and never["scope"] == "full"


@pytest.mark.parametrize("fields, words", [
    ({"expires_in_days": -1}, "expires_in_days must be between 1 and 3650"),
    ({"expires_in_days": 3651}, "expires_in_days must be between 1 and 3650"),
    ({"expires_in_days": "soon"}, "expires_in_days"),
    ({"scope": "admin"}, 'scope must be one of full, read_only, got "admin"'),
    ({"scope": "READ_ONLY"}, 'scope must be one of full, read_only, got "READ_ONLY"'),
])
def test_bad_expiry_or_scope_is_a_400(shared: InProcessService, fields: dict, words: str) -> None:
    api = shared.client(shared.new_key())
    response = api.post("/v1/keys", json=fields)
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "Invalid request" and words in response.json()["message"]
    assert len(api.get("/v1/keys").json()["keys"]) == 1  # nothing was created


def test_an_expired_key_gets_401_saying_when_over_rest_and_grpc(service: InProcessService) -> None:
    owner = service.client(service.new_key(username="lee"))
    body = create(owner, name="ci", expires_in_days=90)
    expired_at = time.time() - 60
    set_expiry(service, body["key"]["key_id"], expired_at)

    response = service.client(body["api_key"]).get("/v1/account")
    assert response.status_code == 401
    assert response.json() == {"error": "Unauthorized", "message": response.json()["message"]}
    message = response.json()["message"]
    assert f"expired at {when(expired_at)}" in message and "Invalid API key" not in message
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="phonos", error="invalid_token"'

    channel, stub = service.grpc_stub()
    with channel, pytest.raises(grpc.RpcError) as raised:
        stub.GetAccount(pb.GetAccountRequest(), metadata=[("authorization", f"Bearer {body['api_key']}")], timeout=10)
    assert raised.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert f"expired at {when(expired_at)}" in (raised.value.details() or "")

    shown = listed(owner, body["key"]["key_id"])
    assert shown["expired"] is True and shown["revoked"] is False and epoch(shown["expires_at"]) == pytest.approx(
        expired_at, abs=0.01)


def test_a_401_challenges_for_a_bearer_key_saying_what_was_wrong_with_the_one_sent(service: InProcessService) -> None:
    """RFC 6750: `WWW-Authenticate: Bearer realm=...` on every 401 (it had none), error="invalid_token" for a key
    sent and refused, error="invalid_request" for a header that is no Bearer key, no error code when none was sent."""
    challenges = [(requests.get(f"{service.base_url}/v1/account", headers=headers, timeout=10))
                  for headers in ({}, {"Authorization": "Bearer pk_" + "x" * 43}, {"Authorization": "Basic YTpi"})]
    assert [(r.status_code, r.headers.get("WWW-Authenticate")) for r in challenges] == [
        (401, 'Bearer realm="phonos"'),
        (401, 'Bearer realm="phonos", error="invalid_token"'),
        (401, 'Bearer realm="phonos", error="invalid_request"')]


def test_a_key_in_use_stops_at_its_expiry(service: InProcessService) -> None:
    """No cache outlives an expiry: the key worked a moment ago (and the failed-auth throttle trusts it)."""
    owner = service.client(service.new_key())
    body = create(owner, expires_in_days=1)
    api = service.client(body["api_key"])
    ends = time.time() + 1.5
    set_expiry(service, body["key"]["key_id"], ends)
    assert api.get("/v1/account").status_code == 200
    assert api.get("/v1/account").status_code == 200
    time.sleep(max(0.0, ends - time.time()) + 0.2)
    response = api.get("/v1/account")
    assert response.status_code == 401 and "expired at" in response.json()["message"]


def test_an_expired_key_counts_as_one_failed_attempt_like_a_wrong_key(service: InProcessService) -> None:
    """PHONOS_AUTH_FAILURES_PER_MINUTE=3 here: three refusals of either kind, then the address waits."""
    owner_key = service.new_key()
    owner = service.client(owner_key)
    body = create(owner, expires_in_days=1)
    set_expiry(service, body["key"]["key_id"], time.time() - 1)
    expired = service.client(body["api_key"])
    wrong = service.client("pk_" + "x" * 43)
    assert [expired.get("/v1/account").status_code for _ in range(2)] == [401, 401]
    assert wrong.get("/v1/account").status_code == 401
    assert expired.get("/v1/account").status_code == 429  # the third failure filled the window
    assert owner.get("/v1/account").status_code == 200  # a key that worked is let through


def test_update_sets_clears_and_renews_the_expiry(service: InProcessService) -> None:
    owner = service.client(service.new_key())
    body = create(owner, name="student", expires_in_days=30)
    key_id = body["key"]["key_id"]

    before = time.time()
    seven = owner.patch(f"/v1/keys/{key_id}", json={"expires_in_days": 7}).json()["key"]
    assert before + 7 * DAY_S - 1 <= epoch(seven["expires_at"]) <= time.time() + 7 * DAY_S + 1
    renamed = owner.patch(f"/v1/keys/{key_id}", json={"name": "student 2"}).json()["key"]
    assert renamed["expires_at"] == seven["expires_at"]  # unset: unchanged
    cleared = owner.patch(f"/v1/keys/{key_id}", json={"expires_in_days": 0}).json()["key"]
    assert "expires_at" not in cleared and cleared["expired"] is False

    set_expiry(service, key_id, time.time() - 5)
    assert service.client(body["api_key"]).get("/v1/account").status_code == 401
    renewed = owner.patch(f"/v1/keys/{key_id}", json={"expires_in_days": 1})
    assert renewed.status_code == 200 and renewed.json()["key"]["expired"] is False
    assert service.client(body["api_key"]).get("/v1/account").status_code == 200  # works again

    for bad in (-3, 3651):
        response = owner.patch(f"/v1/keys/{key_id}", json={"expires_in_days": bad})
        assert response.status_code == 400 and "expires_in_days" in response.json()["message"]
    widen = owner.patch(f"/v1/keys/{key_id}", json={"scope": "full"})  # a scope is fixed at creation
    assert widen.status_code == 400 and "scope" in widen.json()["message"]


def test_expired_keys_are_not_active_keys(shared: InProcessService) -> None:
    """Revoking an expired key never needs confirm_last_key; the last working key still does."""
    owner_key = shared.new_key()
    owner = shared.client(owner_key)
    [first] = owner.get("/v1/keys").json()["keys"]
    old = create(owner, expires_in_days=1)["key"]
    set_expiry(shared, old["key_id"], time.time() - 1)
    assert owner.post(f"/v1/keys/{old['key_id']}/revoke", json={}).status_code == 200
    last = owner.post(f"/v1/keys/{first['key_id']}/revoke", json={})
    assert last.status_code == 400 and "last active key" in last.json()["message"]


def test_grpc_create_and_update_take_the_same_fields(shared: InProcessService) -> None:
    key = shared.new_key()
    channel, stub = shared.grpc_stub()
    auth = [("authorization", f"Bearer {key}")]
    with channel:
        created = stub.CreateApiKey(pb.CreateApiKeyRequest(expires_in_days=10, scope="read_only"), metadata=auth,
                                    timeout=10)
        assert created.key.scope == "read_only" and created.key.HasField("expires_at") and not created.key.expired
        updated = stub.UpdateApiKey(pb.UpdateApiKeyRequest(key_id=created.key.key_id, expires_in_days=0),
                                    metadata=auth, timeout=10)
        assert not updated.key.HasField("expires_at")
        with pytest.raises(grpc.RpcError) as raised:
            stub.CreateApiKey(pb.CreateApiKeyRequest(expires_in_days=5000), metadata=auth, timeout=10)
        assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT


# ---------------------------------------------------------------------------------------------- scope


def read_only_pair(service: InProcessService) -> tuple[str, str]:
    """A full key and a read-only key of one account."""
    full = service.new_key(username=f"ro{time.monotonic_ns()}")
    return full, create(service.client(full), name="viewer", scope="read_only")["api_key"]


def rest_status(service: InProcessService, key: str, http_method: str, template: str, body: bool) -> requests.Response:
    path = re.sub(r"\{[^}]+\}", "x", template)
    kwargs: dict = {"json": {}} if body else {}
    response = requests.request(http_method, service.base_url + path, stream=True, timeout=10,
                                headers={"Authorization": f"Bearer {key}"}, **kwargs)
    if not response.headers.get("Content-Type", "").startswith("text/event-stream"):
        _ = response.content  # read now: the body is the answer
    return response


def answered_status(response: requests.Response, wait_s: float = 1.0) -> int:
    """The status a call answered, a stream's included.

    A stream whose call has not answered within the gateway's keep-alive (0.3 s here; a slow store under load
    takes longer) opens with 200, then sends the call's error as an event carrying that error's status
    (docs/gateway.md, "Streams"): a stream is read for `wait_s` (its keep-alives wake the reader) or up to its
    first event to know which it was."""
    if not response.headers.get("Content-Type", "").startswith("text/event-stream"):
        return response.status_code
    deadline = time.monotonic() + wait_s
    with response:
        error_next = False
        for line in response.iter_lines(decode_unicode=True):
            if line == "event: error":
                error_next = True
            elif line.startswith("data: "):
                return json.loads(line[len("data: "):])["status"] if error_next else response.status_code
            if time.monotonic() > deadline:
                break
    return response.status_code


def test_the_contract_marks_exactly_the_get_routes_as_reads() -> None:
    """One list of reads, in the protos; every GET is one and nothing that changes state is."""
    gets = {rule.method.name for rule in rules_for_service(SERVICE) if rule.http_method == "GET"}
    assert read_only_methods() == gets
    assert {"Predict", "SubmitBatch", "CancelJob", "DeleteJob", "CreateApiKey"}.isdisjoint(read_only_methods())


def test_a_read_only_key_reads_every_get_route_and_is_refused_every_write_over_rest(shared: InProcessService) -> None:
    full, viewer = read_only_pair(shared)
    reads = read_only_methods()
    rules = [r for r in rules_for_service(SERVICE) if r.method.name != "GetHealth"]
    assert len(rules) > 20
    for rule in rules:
        as_viewer = rest_status(shared, viewer, rule.http_method, rule.template.text, bool(rule.body))
        if rule.method.name in reads:
            as_owner = rest_status(shared, full, rule.http_method, rule.template.text, bool(rule.body))
            assert answered_status(as_viewer) == answered_status(as_owner) != 403, rule.method.name
        else:
            assert as_viewer.status_code == 403, (rule.method.name, as_viewer.status_code)
            answer = as_viewer.json()
            assert answer["error"] == "Forbidden" and set(answer) == {"error", "message"}
            assert f"read-only: {rule.method.name}" in answer["message"] and "'full' scope" in answer["message"]


def test_a_read_only_key_gets_real_answers_and_spends_nothing(shared: InProcessService) -> None:
    full, viewer_key = read_only_pair(shared)
    owner, viewer = shared.client(full), shared.client(viewer_key)
    job = owner.post("/v1/predict", json={"model": "esmfold", "sequence": SEQUENCE})
    assert job.status_code == 200, job.text
    job_id = job.json()["job_id"]
    balance = owner.get("/v1/account").json()["credits"]["balance"]

    for path in ("/v1/models", "/v1/jobs", f"/v1/jobs/{job_id}", f"/v1/jobs/{job_id}/input", "/v1/account",
                 "/v1/account/credits", "/v1/usage", "/v1/webhooks", "/v1/keys"):
        assert viewer.get(path).status_code == 200, path
    with requests.get(f"{shared.base_url}/v1/jobs/{job_id}/events", stream=True, timeout=10,
                      headers={"Authorization": f"Bearer {viewer_key}"}) as events:
        assert events.status_code in (200, 204)
    refused = viewer.post("/v1/predict", json={"model": "esmfold", "sequence": SEQUENCE})
    assert refused.status_code == 403
    assert viewer.post(f"/v1/jobs/{job_id}/cancel").status_code == 403
    assert owner.get("/v1/account").json()["credits"]["balance"] == balance  # the refused predict cost nothing
    assert len(owner.get("/v1/jobs").json()["jobs"]) == 1


def test_a_read_only_key_over_grpc_every_rpc(shared: InProcessService) -> None:
    full, viewer = read_only_pair(shared)
    reads = read_only_methods()
    channel, stub = shared.grpc_stub()
    with channel:
        for rule in rules_for_service(SERVICE):
            name = rule.method.name
            if name == "GetHealth":
                continue
            request = getattr(pb, rule.method.input_type.name)()
            call = getattr(stub, name)
            metadata = [("authorization", f"Bearer {viewer}")]
            if rule.method.server_streaming:
                stream = call(request, metadata=metadata, timeout=10)
                stream.initial_metadata()  # sent once the stream is open, or the refusal is in
                stream.cancel()
                code = stream.code()
            else:
                try:
                    call(request, metadata=metadata, timeout=10)
                    code = grpc.StatusCode.OK
                except grpc.RpcError as exc:
                    code = exc.code()
                    if code == grpc.StatusCode.PERMISSION_DENIED:
                        assert "read-only" in (exc.details() or ""), name
            if name in reads:
                assert code != grpc.StatusCode.PERMISSION_DENIED, name
            else:
                assert code == grpc.StatusCode.PERMISSION_DENIED, (name, code)


# ---------------------------------------------------------------------------------------------- operator CLI


def test_operator_cli_creates_an_expiring_read_only_key_and_lists_it(shared: InProcessService) -> None:
    def cli(*commands: tuple[str, ...]) -> list[subprocess.CompletedProcess[str]]:
        """Each operator command as a real process, all started together: commands of one call neither change
        what the others read nor depend on their order, and each is a Python start-up (~0.7 s of CPU) that the
        second core runs beside the first."""
        env = {**os.environ, **shared.env}
        started = [(command, subprocess.Popen([sys.executable, "-m", "launcher.cli", *command, "--data-dir",
                                               str(shared.data_dir)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                              text=True, cwd=REPO, env=env)) for command in commands]
        outputs = [process.communicate(timeout=60) for _, process in started]  # sets each returncode
        return [subprocess.CompletedProcess(command, process.returncode, stdout, stderr)
                for (command, process), (stdout, stderr) in zip(started, outputs, strict=True)]

    [made] = cli(("keys", "create", "--username", "viewer", "--expires-in-days", "90", "--read-only", "--json"))
    assert made.returncode == 0, made.stderr
    api_key = json.loads(made.stdout)["api_key"]
    as_json, as_table = cli(("keys", "list", "--username", "viewer", "--json"), ("keys", "list", "--username", "viewer"))
    [key] = json.loads(as_json.stdout)["keys"]
    assert key["scope"] == "read_only" and key["expired"] is False
    assert epoch(key["expires_at"]) == pytest.approx(time.time() + 90 * DAY_S, abs=120)
    table = as_table.stdout
    assert "SCOPE" in table and "read_only" in table and "active until " in table
    assert re.search(r"  read_only  \d{4}-\d\d-\d\d \d\d:\d\d UTC  -  +active until ", table), table  # columns apart
    viewer = shared.client(api_key)
    assert viewer.get("/v1/account").status_code == 200 and viewer.post("/v1/keys", json={}).status_code == 403

    set_expiry(shared, key["key_id"], time.time() - 1)
    expired, refused, unknown = cli(("keys", "list", "--username", "viewer"),
                                    ("keys", "create", "--username", "other", "--expires-in-days", "4000"),
                                    ("keys", "update", "key_nope", "--name", "x"))
    assert " expired" in expired.stdout
    # the flag's words, not the API's field (POST /v1/keys keeps "expires_in_days must be ...")
    assert (refused.returncode, refused.stderr) == (
        2, "error: --expires-in-days must be between 1 and 3650 (0: never expires), got 4000\n")
    assert unknown.returncode == 2

    [renewed] = cli(("keys", "update", key["key_id"], "--expires-in-days", "7", "--json"))
    assert renewed.returncode == 0, renewed.stderr
    assert json.loads(renewed.stdout)["expired"] is False
    assert epoch(json.loads(renewed.stdout)["expires_at"]) == pytest.approx(time.time() + 7 * DAY_S, abs=120)
    assert viewer.get("/v1/account").status_code == 200  # works again
    [never] = cli(("keys", "update", key["key_id"], "--expires-in-days", "0"))
    [renamed] = cli(("keys", "update", key["key_id"], "--name", "ci pipeline"))
    # The line says the key as it is now (was: the same line after a rename, an expiry change or no change)
    assert never.returncode == 0 and "active, never expires," in never.stdout, never.stdout  # no "until"
    assert renamed.returncode == 0 and ': name "ci pipeline", active, never expires, ' in renamed.stdout, renamed.stdout


# ---------------------------------------------------------------------------------------------- SDK


@pytest.mark.parametrize("transport", ["rest", "grpc"])
def test_sdk_manages_expiring_and_read_only_keys(service: InProcessService, transport: str) -> None:
    with Client(service.url_for(transport), service.new_key()) as owner:
        made = owner.create_api_key("notebook", expires_in_days=30, read_only=True)
        assert made.secret and made.secret.startswith("pk_") and made.read_only and not made.expired
        assert epoch(made.expires_at or "") == pytest.approx(time.time() + 30 * DAY_S, abs=120)
        assert [k.key_id for k in owner.list_api_keys()][0] == made.key_id
        assert all(k.secret is None for k in owner.list_api_keys())

        with Client(service.url_for(transport), made.secret) as viewer:
            assert viewer.account().username
            with pytest.raises(PermissionDeniedError) as refused:
                viewer.create_api_key("sneaky")
            assert refused.value.status == 403 and "read-only" in str(refused.value)

        cleared = owner.update_api_key(made.key_id, expires_in_days=0)
        assert cleared.expires_at is None and cleared.name == "notebook"
        set_expiry(service, made.key_id, time.time() - 1)
        with Client(service.url_for(transport), made.secret, max_retries=0) as late:
            with pytest.raises(AuthenticationError) as expired:
                late.account()
            assert "expired at" in str(expired.value)
        assert next(k for k in owner.list_api_keys() if k.key_id == made.key_id).expired
        with pytest.raises(BadRequestError):
            owner.create_api_key(expires_in_days=5000)
        assert owner.revoke_api_key(made.key_id).revoked
