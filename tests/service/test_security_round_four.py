"""A fourth security review of the running service (a real job service and gateway on loopback, on the inference
twin): what an expiring key leaves behind, the bad-key throttle under parallel requests, the names the server
answers to. Checked over real HTTP and gRPC."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import grpc
import pytest
import requests

from jobservice import admin
from phonos.v1 import phonos_pb2 as pb
from tests.support import InProcessService

pytestmark = pytest.mark.integration

HOOK = "http://127.0.0.1:9/hook"
FAILURES_PER_MINUTE = 5


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InProcessService]:
    """A service that knows its names and refuses bad keys after a few a minute."""
    service = InProcessService(tmp_path_factory.mktemp("guarded"), {
        "PHONOS_ALLOWED_HOSTS": "phonos.test,.lab.test,localhost",
        "PHONOS_AUTH_FAILURES_PER_MINUTE": str(FAILURES_PER_MINUTE),
    })
    yield service
    service.stop()


def test_an_expiring_key_cannot_create_a_webhook(twin_service: InProcessService) -> None:
    """A webhook has no expiry: one made by a leaked week-long key kept receiving every job event of the account
    after the key expired or was revoked. An expiring key creates none (403 / PERMISSION_DENIED, over REST and
    gRPC alike); a key that never expires does."""
    owner = twin_service.client(twin_service.new_key())
    made = owner.post("/v1/keys", json={"name": "contractor", "expires_in_days": 7}).json()
    weekly = twin_service.client(made["api_key"])
    refused = weekly.post("/v1/webhooks", json={"url": HOOK})
    assert refused.status_code == 403, refused.text
    assert set(refused.json()) == {"error", "message"}
    assert "a key that expires cannot create webhooks" in refused.json()["message"]
    channel, stub = twin_service.grpc_stub()
    with channel, pytest.raises(grpc.RpcError) as raised:
        stub.CreateWebhook(pb.CreateWebhookRequest(url=HOOK), metadata=(("authorization", f"Bearer {made['api_key']}"),))
    assert raised.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert "a key that expires cannot create webhooks" in (raised.value.details() or "")
    assert owner.get("/v1/webhooks").json()["webhooks"] == []  # nothing was made
    made_hook = owner.post("/v1/webhooks", json={"url": HOOK})  # a key that never expires
    assert made_hook.status_code == 200, made_hook.text
    hook_id = made_hook.json()["webhook"]["webhook_id"]
    # Nor can it take the account's webhook's new secret: that secret would sign deliveries after the key is gone,
    # so whoever leaked the key could forge them to the lab's receiver.
    rotated = weekly.post(f"/v1/webhooks/{hook_id}/rotate-secret", json={})
    assert rotated.status_code == 403 and "cannot rotate a webhook's secret" in rotated.json()["message"], rotated.text
    assert owner.post(f"/v1/webhooks/{hook_id}/rotate-secret", json={}).status_code == 200


def test_an_expiring_key_cannot_take_a_webhook_secret_by_replaying_an_idempotency_key(
        twin_service: InProcessService) -> None:
    """A replay answers with the first call's stored response, and for a webhook's creation or rotation that holds
    its secret: an expiring key of the account sending the same Idempotency-Key (no secret: the CLI prints it when
    an answer is lost) got the secret it may not ask for. It is refused as the call itself would be; the key that
    made the call still gets its replay."""
    owner = twin_service.client(twin_service.new_key())
    weekly = twin_service.client(owner.post("/v1/keys", json={"name": "temp", "expires_in_days": 7}).json()["api_key"])
    body = {"url": HOOK}
    made = owner.post("/v1/webhooks", json=body, headers={"Idempotency-Key": "hook-1"})
    assert made.status_code == 200, made.text
    replayed = weekly.post("/v1/webhooks", json=body, headers={"Idempotency-Key": "hook-1"})
    assert replayed.status_code == 403, replayed.text
    assert "secret" not in replayed.json() and "whsec_" not in replayed.text
    assert "a key that expires cannot create webhooks" in replayed.json()["message"]
    again = owner.post("/v1/webhooks", json=body, headers={"Idempotency-Key": "hook-1"})
    assert again.status_code == 200 and again.headers.get("Idempotent-Replayed") == "true", again.text
    assert again.json()["secret"] == made.json()["secret"]

    hook_id = made.json()["webhook"]["webhook_id"]
    path = f"/v1/webhooks/{hook_id}/rotate-secret"
    rotated = owner.post(path, json={}, headers={"Idempotency-Key": "rot-1"})
    assert rotated.status_code == 200, rotated.text
    taken = weekly.post(path, json={}, headers={"Idempotency-Key": "rot-1"})
    assert taken.status_code == 403 and "whsec_" not in taken.text, taken.text
    assert "cannot rotate a webhook's secret" in taken.json()["message"]


def test_parallel_bad_keys_from_one_address_stop_at_the_limit(guarded: InProcessService) -> None:
    """The throttle checked, looked the key up, then counted: bad keys sent together all passed the check before
    the first was counted, so the limit held only for keys sent one after another. Now exactly the limit's worth
    is looked up (401) and the rest refused unread (429)."""
    def call(n: int) -> int:
        return requests.get(f"{guarded.base_url}/v1/jobs", headers={
            "Authorization": f"Bearer pk_wrong{n}", "Host": "phonos.test"}, timeout=60).status_code

    with ThreadPoolExecutor(max_workers=40) as pool:
        statuses = Counter(pool.map(call, range(40)))
    assert statuses == {401: FAILURES_PER_MINUTE, 429: 40 - FAILURES_PER_MINUTE}, statuses


def test_requests_for_another_host_name_are_refused_on_every_route(guarded: InProcessService) -> None:
    """DNS rebinding: a page of another site whose name resolves to this server calls it as its own origin, with
    its own name in the Host header. With PHONOS_ALLOWED_HOSTS set, such a request is a 400 in the JSON error shape
    on every route (pages, /v1, /auth, share links); the names listed (any port, any letter case, and every name
    under a `.name` entry) are served."""
    routes = [("GET", "/"), ("GET", "/jobs"), ("GET", "/v1/health"), ("GET", "/v1/openapi.json"),
              ("GET", "/v1/jobs"), ("POST", "/auth/sign-in"), ("GET", "/auth/status"), ("GET", "/shared/abc")]
    port = guarded.base_url.rsplit(":", 1)[1]
    for host in ("evil.example", "phonos.test.evil.example", "notlab.test", "127.0.0.1.evil.example"):
        for method, path in routes:
            answer = requests.request(method, guarded.base_url + path, headers={"Host": host}, json={}, timeout=30)
            assert answer.status_code == 400, (host, path, answer.status_code, answer.text)
            assert answer.json()["error"] == "Invalid request", answer.text
            assert "does not answer to the host" in answer.json()["message"], answer.text
    # Addresses always pass (rebinding needs a name): `phonos serve`'s and `phonos status`'s health checks on
    # 127.0.0.1 and a Kubernetes probe on the pod's IP were refused, and `phonos serve` never printed its banner.
    for host in (f"phonos.test:{port}", "PHONOS.test", "lab.test", f"a.b.lab.test:{port}", "localhost",
                 f"127.0.0.1:{port}", "[::1]", f"10.244.1.7:{port}", "[fd00::7]:8000"):
        assert requests.get(guarded.base_url + "/v1/health", headers={"Host": host}, timeout=30).status_code == 200
        assert requests.get(guarded.base_url + "/", headers={"Host": host}, timeout=30).status_code == 200


def test_a_dashboard_signed_in_behind_a_throttled_address_is_not_shut_out(tmp_path: Path) -> None:
    """Bad keys from an address refuse its unknown credentials for a minute, but a credential that worked lately
    passes. A session only counted as one after a call of it had passed the throttle: someone brute-forcing keys
    from a lab's NAT address shut the dashboard out for everyone there, right after their sign-in succeeded (sign-in
    200, then every page's call 429). A new session is a credential that worked, as is the one a password change
    gives; a cookie nobody was given still gets the 429."""
    service = InProcessService(tmp_path, {"PHONOS_AUTH_FAILURES_PER_MINUTE": str(FAILURES_PER_MINUTE)})
    try:
        username, password = f"ada{time.monotonic_ns()}", "correct horse battery staple"
        asyncio.run(admin.create_key(service.settings, username=username, email=None, credits=10, rate_limit=1000))
        asyncio.run(admin.set_password(service.settings, username=username, password=password))
        for n in range(FAILURES_PER_MINUTE + 1):
            requests.get(f"{service.base_url}/v1/jobs", headers={"Authorization": f"Bearer pk_wrong{n}"}, timeout=60)
        assert requests.get(f"{service.base_url}/v1/jobs", headers={"Authorization": "Bearer pk_wrong"},
                            timeout=60).status_code == 429
        browser = requests.Session()
        signed_in = browser.post(f"{service.base_url}/auth/sign-in", json={"username": username, "password": password},
                                 timeout=60)
        assert signed_in.status_code == 200, signed_in.text
        account = browser.get(f"{service.base_url}/v1/account", timeout=60)
        assert account.status_code == 200, account.text
        changed = browser.post(f"{service.base_url}/auth/password", timeout=60,
                               headers={"X-CSRF-Token": signed_in.json()["csrf_token"]},
                               json={"current_password": password, "new_password": password + " again"})
        assert changed.status_code == 200, changed.text
        assert browser.get(f"{service.base_url}/v1/account", timeout=60).status_code == 200  # the rotated cookie
        stranger = requests.get(f"{service.base_url}/v1/account", cookies={"phonos_session": "x" * 43}, timeout=60)
        assert stranger.status_code == 429, stranger.text
    finally:
        service.stop()
