"""API keys and dashboard sessions over real HTTP, gRPC and the CLI, against a real job service (in
process, on the inference twin: no model runs here)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
import requests

from jobservice import admin
from phonos.v1 import phonos_pb2 as pb
from tests.support import ALL_STORES, REPO, InProcessService

PASSWORD = "correct horse battery staple"


pytestmark = pytest.mark.integration
STORES = ALL_STORES  # keys and sessions are state: every test runs on SQLite and on PostgreSQL


@pytest.fixture
def service(twin_factory: type, tmp_path: Path) -> InProcessService:
    return twin_factory.start(data_dir=tmp_path / "var")


def set_password(service: InProcessService, username: str, password: str = PASSWORD) -> None:
    asyncio.run(admin.set_password(service.settings, username=username, password=password))


def sign_in(service: InProcessService, username: str, password: str = PASSWORD) -> tuple[requests.Session, str]:
    """A requests session holding the dashboard cookie, and the CSRF token."""
    browser = requests.Session()
    response = browser.post(f"{service.base_url}/auth/sign-in", json={"username": username, "password": password},
                            timeout=30)
    assert response.status_code == 200, response.text
    return browser, response.json()["csrf_token"]


def grpc_call(service: InProcessService, method: str, request: object, key: str) -> tuple[grpc.StatusCode, object]:
    channel, stub = service.grpc_stub()
    with channel:
        try:
            return grpc.StatusCode.OK, getattr(stub, method)(request, metadata=[("authorization", f"Bearer {key}")],
                                                             timeout=10)
        except grpc.RpcError as exc:
            return exc.code(), None


# ---------------------------------------------------------------------------------------------- keys


def test_keys_list_create_and_the_secret_is_shown_once(service: InProcessService) -> None:
    api = service.client(service.new_key(rate_limit=30, username="ada"))
    assert "last_used_at" not in api.get("/v1/keys").json()["keys"][0]  # this request is counted after it answers
    listed = api.get("/v1/keys").json()
    assert listed["max_rate_limit"] == 60  # the larger of 60 and the first key's limit
    [first] = listed["keys"]
    assert set(first) == {"key_id", "prefix", "name", "created_at", "last_used_at", "rate_limit", "revoked", "expired",
                          "scope"}  # no expires_at: it never expires
    assert first["name"] == "first key" and first["rate_limit"] == 30 and first["revoked"] is False
    assert first["scope"] == "full" and first["expired"] is False
    assert first["key_id"].startswith("key_") and first["prefix"].startswith("pk_")
    assert first["last_used_at"].endswith("Z")  # the previous request

    created = api.post("/v1/keys", json={"name": "pipeline", "rate_limit": 45})
    assert created.status_code == 200, created.text
    body = created.json()
    assert body["api_key"].startswith("pk_") and body["key"]["name"] == "pipeline" and body["key"]["rate_limit"] == 45
    assert "last_used_at" not in body["key"]
    keys = api.get("/v1/keys").json()["keys"]
    assert [k["key_id"] for k in keys] == [body["key"]["key_id"], first["key_id"]]  # newest first
    assert body["api_key"] not in str(keys)  # never listed again
    assert service.client(body["api_key"]).get("/v1/account").json()["account"]["username"] == "ada"


def test_a_blank_name_clears_a_keys_name_and_leaving_it_out_keeps_it(service: InProcessService) -> None:
    """A blank name was taken for "no change" while the answer said "API key updated" (the dashboard's rename
    said "Key renamed" and nothing changed); it clears the name now, as a key created without one."""
    api = service.client(service.new_key(username="ada"))
    key_id = api.post("/v1/keys", json={"name": "ci pipeline"}).json()["key"]["key_id"]
    kept = api.patch(f"/v1/keys/{key_id}", json={"rate_limit": 20})
    assert kept.status_code == 200 and kept.json()["key"]["name"] == "ci pipeline"
    cleared = api.patch(f"/v1/keys/{key_id}", json={"name": "  "})
    assert cleared.status_code == 200, cleared.text
    assert "name" not in cleared.json()["key"] and cleared.json()["key"]["rate_limit"] == 20
    listed = next(k for k in api.get("/v1/keys").json()["keys"] if k["key_id"] == key_id)
    assert "name" not in listed
    renamed = api.patch(f"/v1/keys/{key_id}", json={"name": "nightly"})
    assert renamed.json()["key"]["name"] == "nightly"


def test_revoked_key_is_refused_on_the_very_next_request_over_rest_and_grpc(service: InProcessService) -> None:
    keeper = service.new_key(username="ada")
    api = service.client(keeper)
    doomed = api.post("/v1/keys", json={"name": "doomed"}).json()
    victim = service.client(doomed["api_key"])
    assert victim.get("/v1/jobs").status_code == 200
    assert grpc_call(service, "ListJobs", pb.ListJobsRequest(), doomed["api_key"])[0] == grpc.StatusCode.OK

    revoked = api.post(f"/v1/keys/{doomed['key']['key_id']}/revoke")
    assert revoked.status_code == 200, revoked.text
    assert revoked.json()["key"]["revoked"] is True and revoked.json()["key"]["revoked_at"].endswith("Z")
    for path in ("/v1/jobs", "/v1/account", "/v1/keys"):
        response = victim.get(path)
        assert response.status_code == 401, path
        assert response.json()["error"] == "Unauthorized"
    assert victim.predict().status_code == 401
    assert grpc_call(service, "ListJobs", pb.ListJobsRequest(), doomed["api_key"])[0] == grpc.StatusCode.UNAUTHENTICATED
    assert api.get("/v1/jobs").status_code == 200  # the other key still works
    again = api.post(f"/v1/keys/{doomed['key']['key_id']}/revoke")
    assert again.status_code == 400 and "already revoked" in again.json()["message"]
    assert again.json()["error"] == "Invalid request"
    # A state that forbids it, as cancelling a finished job: FAILED_PRECONDITION over gRPC (was INVALID_ARGUMENT).
    code = grpc_call(service, "RevokeApiKey", pb.RevokeApiKeyRequest(key_id=doomed["key"]["key_id"]), keeper)[0]
    assert code == grpc.StatusCode.FAILED_PRECONDITION


def test_keys_are_managed_over_grpc_too(service: InProcessService) -> None:
    key = service.new_key(username="ada")
    code, created = grpc_call(service, "CreateApiKey", pb.CreateApiKeyRequest(name="grpc", rate_limit=10), key)
    assert code == grpc.StatusCode.OK and created.api_key.startswith("pk_") and created.key.rate_limit == 10
    code, listed = grpc_call(service, "ListApiKeys", pb.ListApiKeysRequest(), key)
    assert [k.name for k in listed.keys] == ["grpc", "first key"] and listed.max_rate_limit == 100_000
    code, updated = grpc_call(service, "UpdateApiKey", pb.UpdateApiKeyRequest(key_id=created.key.key_id, rate_limit=20),
                              created.api_key)
    assert code == grpc.StatusCode.OK and updated.key.rate_limit == 20
    code, _ = grpc_call(service, "RevokeApiKey", pb.RevokeApiKeyRequest(key_id=created.key.key_id), key)
    assert code == grpc.StatusCode.OK
    assert grpc_call(service, "ListApiKeys", pb.ListApiKeysRequest(), created.api_key)[0] == grpc.StatusCode.UNAUTHENTICATED
    assert service.client(created.api_key).get("/v1/keys").status_code == 401
    code, _ = grpc_call(service, "RevokeApiKey", pb.RevokeApiKeyRequest(key_id="key_0000000000000000"), key)
    assert code == grpc.StatusCode.NOT_FOUND


def test_the_last_active_key_needs_confirm_last_key(service: InProcessService) -> None:
    key = service.new_key(username="solo")
    api = service.client(key)
    [only] = api.get("/v1/keys").json()["keys"]
    refused = api.post(f"/v1/keys/{only['key_id']}/revoke", json={})
    assert refused.status_code == 400
    assert "last active key" in refused.json()["message"] and "confirm_last_key" in refused.json()["message"]
    assert api.get("/v1/account").status_code == 200  # still alive
    assert api.post(f"/v1/keys/{only['key_id']}/revoke", json={"confirm_last_key": True}).status_code == 200
    assert api.get("/v1/account").status_code == 401


def test_rate_limit_changes_stay_within_the_account_ceiling_and_apply_at_once(service: InProcessService) -> None:
    api = service.client(service.new_key(rate_limit=60, username="ada"))
    other = api.post("/v1/keys", json={"name": "slow", "rate_limit": 2}).json()
    key_id = other["key"]["key_id"]
    for bad in (0, 61, -3):
        response = api.patch(f"/v1/keys/{key_id}", json={"rate_limit": bad})
        assert response.status_code == 400 and "between 1 and 60" in response.json()["message"], bad
    assert api.post("/v1/keys", json={"rate_limit": 61}).status_code == 400
    slow = service.client(other["api_key"])
    assert [slow.get("/v1/models").status_code for _ in range(3)] == [200, 200, 429]
    updated = api.patch(f"/v1/keys/{key_id}", json={"rate_limit": 5, "name": "faster"})
    assert updated.status_code == 200 and updated.json()["key"]["rate_limit"] == 5
    response = slow.get("/v1/models")
    assert response.status_code == 200 and response.headers["X-RateLimit-Limit"] == "5"


def test_another_accounts_key_ids_are_404(service: InProcessService) -> None:
    ada = service.client(service.new_key(username="ada"))
    bob = service.client(service.new_key(username="bob"))
    extra = ada.post("/v1/keys", json={"name": "extra"}).json()["key"]["key_id"]
    assert bob.post(f"/v1/keys/{extra}/revoke", json={"confirm_last_key": True}).status_code == 404
    assert bob.patch(f"/v1/keys/{extra}", json={"rate_limit": 1}).status_code == 404
    assert extra not in str(bob.get("/v1/keys").json())


def test_cli_lists_and_revokes_keys_of_a_running_service(service: InProcessService) -> None:
    key = service.new_key(username="ada")
    api = service.client(key)
    spare = api.post("/v1/keys", json={"name": "spare"}).json()

    def cli(*commands: tuple[str, ...]) -> list[subprocess.CompletedProcess[str]]:
        """Each operator command as a real process, all started together: commands of one call neither change
        what the others read nor depend on their order, and each is a Python start-up (~0.7 s of CPU) that the
        second core runs beside the first."""
        started = [(command, subprocess.Popen([sys.executable, "-m", "launcher.cli", *command, "--data-dir",
                                               str(service.data_dir)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                              text=True, cwd=REPO, env={**os.environ, **service.env}))
                   for command in commands]
        outputs = [process.communicate(timeout=60) for _, process in started]  # sets each returncode
        return [subprocess.CompletedProcess(command, process.returncode, stdout, stderr)
                for (command, process), (stdout, stderr) in zip(started, outputs, strict=True)]

    listed, listed_json = cli(("keys", "list", "--username", "ada"), ("keys", "list", "--username", "ada", "--json"))
    assert listed.returncode == 0, listed.stderr
    assert "spare" in listed.stdout and spare["key"]["key_id"] in listed.stdout and "pk_" in listed.stdout
    assert spare["api_key"] not in listed.stdout
    # --json prints the API's key objects: same fields, same RFC 3339 times.
    as_json = {k["key_id"]: k for k in json.loads(listed_json.stdout)["keys"]}
    for key in api.get("/v1/keys").json()["keys"]:
        assert set(as_json[key["key_id"]]) == set(key) | {"last_used_at", "revoked_at", "expires_at"}  # null when unset
        assert as_json[key["key_id"]]["created_at"] == key["created_at"]
    [revoked] = cli(("keys", "revoke", spare["key"]["key_id"]))
    assert revoked.returncode == 0, revoked.stderr
    # Another process wrote the database: the running service refuses the key on its next request.
    assert service.client(spare["api_key"]).get("/v1/account").status_code == 401
    [first] = [k for k in api.get("/v1/keys").json()["keys"] if not k["revoked"]]
    refused, unknown = cli(("keys", "revoke", first["key_id"]), ("keys", "revoke", "key_nope"))
    # The CLI's way to insist is its flag, not the API's field.
    assert refused.returncode == 2 and refused.stderr.strip().endswith("run this again with --confirm-last-key.")
    assert "confirm_last_key" not in refused.stderr
    assert unknown.returncode == 2


# ---------------------------------------------------------------------------------------------- sessions


def test_cli_sets_a_password_that_signs_in_and_refuses_a_short_one(service: InProcessService) -> None:
    service.new_key(username="ada")

    def set_with_cli(password: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "launcher.cli", "users", "set-password", "--username", "ada",
                               "--password-stdin", "--data-dir", str(service.data_dir)], input=password + "\n",
                              capture_output=True, text=True, cwd=REPO, timeout=60, check=False,
                              env={**os.environ, **service.env})

    short = set_with_cli("short")
    assert short.returncode == 2 and "at least 10 characters" in short.stderr
    done = set_with_cli(PASSWORD)
    assert done.returncode == 0, done.stderr
    sign_in(service, "ada")
    [(stored,)] = service.sql("SELECT password_hash FROM accounts WHERE username = 'ada'")
    # The operator command hashes with the production parameters (RFC 9106's low-memory profile); the tests' own
    # processes use a cheap Argon2id (tests/conftest.py cheap_argon2), so this is where those parameters are checked.
    assert stored.startswith("$argon2id$v=19$m=65536,t=3,p=4$") and PASSWORD not in stored


def test_sign_in_sets_a_hardened_cookie_and_the_cookie_reaches_the_api(service: InProcessService) -> None:
    service.new_key(username="ada")
    set_password(service, "ada")
    response = requests.post(f"{service.base_url}/auth/sign-in", json={"username": "ada", "password": PASSWORD},
                             timeout=30)
    assert response.status_code == 200
    cookie = response.headers["Set-Cookie"]
    assert "phonos_session=" in cookie and "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/" in cookie
    assert "Secure" not in cookie  # plain HTTP here; PHONOS_COOKIE_SECURE or HTTPS turn it on
    body = response.json()
    assert set(body) == {"csrf_token", "username", "expires_at"} and body["username"] == "ada"
    token = response.cookies["phonos_session"]
    assert token not in response.text  # the token is only in the cookie
    browser, csrf = sign_in(service, "ada")
    assert browser.get(f"{service.base_url}/v1/account", timeout=30).json()["account"]["username"] == "ada"
    assert browser.get(f"{service.base_url}/auth/session", timeout=30).json()["csrf_token"] == csrf
    assert browser.get(f"{service.base_url}/auth/session", timeout=30).headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize("password", ["wrong password!", ""])
def test_wrong_or_missing_password_is_refused(service: InProcessService, password: str) -> None:
    service.new_key(username="ada")
    set_password(service, "ada")
    response = requests.post(f"{service.base_url}/auth/sign-in", json={"username": "ada", "password": password},
                             timeout=30)
    assert response.status_code in (400, 401)
    assert "phonos_session" not in response.headers.get("Set-Cookie", "")
    unknown = requests.post(f"{service.base_url}/auth/sign-in", json={"username": "nobody", "password": PASSWORD},
                            timeout=30)
    assert unknown.status_code == 401 and unknown.json()["message"] == "Wrong username or password."


def test_csrf_token_is_required_for_cookie_requests_that_change_state(service: InProcessService) -> None:
    service.new_key(username="ada")
    set_password(service, "ada")
    browser, csrf = sign_in(service, "ada")
    url = f"{service.base_url}/v1/keys"
    refused = browser.post(url, json={"name": "csrf"}, timeout=30)
    assert refused.status_code == 403 and refused.json()["error"] == "Forbidden"
    assert "CSRF" in refused.json()["message"]
    wrong = browser.post(url, json={"name": "csrf"}, headers={"X-CSRF-Token": "0" * 64}, timeout=30)
    assert wrong.status_code == 403
    assert browser.post(f"{service.base_url}/auth/sign-out", json={}, timeout=30).status_code == 403
    ok = browser.post(url, json={"name": "csrf"}, headers={"X-CSRF-Token": csrf}, timeout=30)
    assert ok.status_code == 200, ok.text
    assert browser.get(url, timeout=30).status_code == 200  # reads need no token


@pytest.mark.parametrize("body", [{"data": "name=c1"}, {"data": "{bad"}, {"files": {"name": ("", "c1")}}])
def test_a_cookie_request_without_its_csrf_token_is_a_403_whatever_its_body(service: InProcessService,
                                                                            body: dict) -> None:
    """The token is checked from the headers, before the body is read: a malformed body answered 400 "malformed
    JSON body", where the README promises 403 to every state-changing cookie request without its token."""
    service.new_key(username="ada")
    set_password(service, "ada")
    browser, csrf = sign_in(service, "ada")
    refused = browser.post(f"{service.base_url}/v1/keys", timeout=30, **body)
    assert refused.status_code == 403 and refused.json()["error"] == "Forbidden", refused.text
    assert "CSRF" in refused.json()["message"]
    malformed = browser.post(f"{service.base_url}/v1/keys", headers={"X-CSRF-Token": csrf}, timeout=30, **body)
    assert malformed.status_code == 400  # with its token, the body's own fault is told as before


def test_sign_in_reads_a_body_sent_in_pieces_and_refuses_an_oversized_one(service: InProcessService) -> None:
    from gateway.dashboard.routes import MAX_AUTH_BODY

    service.new_key(username="ada")
    set_password(service, "ada")
    body = json.dumps({"username": "ada", "password": PASSWORD}).encode()

    def pieces() -> Iterator[bytes]:  # chunked transfer, one small chunk at a time with pauses between
        for start in range(0, len(body), 7):
            time.sleep(0.02)
            yield body[start:start + 7]

    chunked = requests.post(f"{service.base_url}/auth/sign-in", data=pieces(),
                            headers={"Content-Type": "application/json"}, timeout=30)
    assert chunked.status_code == 200, chunked.text
    big = requests.post(f"{service.base_url}/auth/sign-in", data=b" " * (MAX_AUTH_BODY + 1) + body,
                        headers={"Content-Type": "application/json"}, timeout=30)
    assert big.status_code == 413 and big.json()["error"]


def test_cross_site_sign_in_is_refused(service: InProcessService) -> None:
    service.new_key(username="ada")
    set_password(service, "ada")
    response = requests.post(f"{service.base_url}/auth/sign-in", json={"username": "ada", "password": PASSWORD},
                             headers={"Origin": "https://evil.example"}, timeout=30)
    assert response.status_code == 403
    form = requests.post(f"{service.base_url}/auth/sign-in", data={"username": "ada", "password": PASSWORD}, timeout=30)
    assert form.status_code == 400  # only JSON: a plain cross-site HTML form cannot send it


def test_sign_out_and_password_change_revoke_sessions(service: InProcessService) -> None:
    service.new_key(username="ada")
    set_password(service, "ada")
    first, csrf = sign_in(service, "ada")
    second, _ = sign_in(service, "ada")
    stolen = dict(first.cookies)
    out = first.post(f"{service.base_url}/auth/sign-out", json={}, headers={"X-CSRF-Token": csrf}, timeout=30)
    assert out.status_code == 200 and out.json()["revoked"] == 1
    assert 'phonos_session=""' in out.headers["Set-Cookie"] or "Max-Age=0" in out.headers["Set-Cookie"]
    replay = requests.get(f"{service.base_url}/v1/jobs", cookies=stolen, timeout=30)
    assert replay.status_code == 401  # the server forgot it, not only the browser
    assert second.get(f"{service.base_url}/v1/jobs", timeout=30).status_code == 200
    set_password(service, "ada", "a brand new passphrase")
    assert second.get(f"{service.base_url}/v1/jobs", timeout=30).status_code == 401
    third, csrf3 = sign_in(service, "ada", "a brand new passphrase")
    fourth, _ = sign_in(service, "ada", "a brand new passphrase")
    everywhere = third.post(f"{service.base_url}/auth/sign-out", json={"all_sessions": True},
                            headers={"X-CSRF-Token": csrf3}, timeout=30)
    assert everywhere.status_code == 200 and everywhere.json()["revoked"] == 2
    assert fourth.get(f"{service.base_url}/v1/jobs", timeout=30).status_code == 401
    assert service.client(service.new_key(username="ada2")).get("/v1/jobs").status_code == 200  # keys unaffected


def change_password(browser: requests.Session, base_url: str, csrf: str | None, current: str,
                    new: str) -> requests.Response:
    headers = {"X-CSRF-Token": csrf} if csrf else {}
    return browser.post(f"{base_url}/auth/password", json={"current_password": current, "new_password": new},
                        headers=headers, timeout=30)


def test_a_person_changes_their_own_password_and_their_other_sessions_end(service: InProcessService) -> None:
    service.new_key(username="ada")
    set_password(service, "ada")
    laptop, csrf = sign_in(service, "ada")
    phone, _ = sign_in(service, "ada")
    old_cookie = laptop.cookies["phonos_session"]
    changed = change_password(laptop, service.base_url, csrf, PASSWORD, "a brand new passphrase")
    assert changed.status_code == 200, changed.text
    body = changed.json()
    assert set(body) == {"success", "other_sessions_ended", "csrf_token", "expires_at"}  # never the token
    assert body["success"] is True and body["other_sessions_ended"] == 1 and body["expires_at"].endswith("Z")
    # The session that changed it goes on under a new token (OWASP: regenerate on a credential change): a new
    # HttpOnly cookie and CSRF token; the old cookie, and the old CSRF token with the new cookie, are refused.
    set_cookie = changed.headers["Set-Cookie"]
    assert "HttpOnly" in set_cookie and "SameSite=Strict" in set_cookie and "Max-Age=" in set_cookie
    new_cookie = laptop.cookies["phonos_session"]
    assert new_cookie != old_cookie and body["csrf_token"] != csrf
    url = service.base_url
    assert requests.get(f"{url}/auth/session", cookies={"phonos_session": old_cookie}, timeout=30).status_code == 401
    assert laptop.get(f"{url}/v1/jobs", timeout=30).status_code == 200  # the browser that changed it stays signed in
    assert laptop.get(f"{url}/auth/session", timeout=30).json()["csrf_token"] == body["csrf_token"]
    stale = laptop.post(f"{url}/v1/keys", json={"name": "x"}, headers={"X-CSRF-Token": csrf}, timeout=30)
    assert stale.status_code == 403, stale.text
    made = laptop.post(f"{url}/v1/keys", json={"name": "x"}, headers={"X-CSRF-Token": body["csrf_token"]}, timeout=30)
    assert made.status_code == 200, made.text
    listed = laptop.get(f"{url}/auth/sessions", timeout=30).json()["sessions"]
    assert [s["current"] for s in listed] == [True]  # one live session: the rotated one
    assert phone.get(f"{service.base_url}/v1/jobs", timeout=30).status_code == 401
    refused = requests.post(f"{service.base_url}/auth/sign-in", json={"username": "ada", "password": PASSWORD},
                            timeout=30)
    assert refused.status_code == 401
    sign_in(service, "ada", "a brand new passphrase")


def test_a_password_change_needs_the_current_password_the_session_and_its_csrf_token(
        service: InProcessService) -> None:
    service.new_key(username="ada")
    set_password(service, "ada")
    browser, csrf = sign_in(service, "ada")
    url = service.base_url
    wrong = change_password(browser, url, csrf, "not the password", "a brand new passphrase")
    assert wrong.status_code == 400 and wrong.json() == {"error": "Invalid request",
                                                         "message": "the current password is wrong"}
    short = change_password(browser, url, csrf, PASSWORD, "short")
    assert short.status_code == 400 and "at least 10 characters" in short.json()["message"]
    same = change_password(browser, url, csrf, PASSWORD, PASSWORD)
    assert same.status_code == 400 and "the current one" in same.json()["message"]
    assert change_password(browser, url, None, PASSWORD, "a brand new passphrase").status_code == 403  # no CSRF
    anonymous = change_password(requests.Session(), url, csrf, PASSWORD, "a brand new passphrase")
    assert anonymous.status_code == 401
    with_a_key = requests.post(f"{url}/auth/password", json={"current_password": PASSWORD, "new_password": "x" * 12},
                               headers={"Authorization": f"Bearer {service.new_key()}"}, timeout=30)
    assert with_a_key.status_code == 401  # a password is the dashboard's: an API key cannot change it
    cross_site = browser.post(f"{url}/auth/password", json={"current_password": PASSWORD, "new_password": "x" * 12},
                              headers={"X-CSRF-Token": csrf, "Origin": "https://evil.example"}, timeout=30)
    assert cross_site.status_code == 403
    not_json = browser.post(f"{url}/auth/password", data="current_password=x", headers={"X-CSRF-Token": csrf},
                            timeout=30)
    assert not_json.status_code == 400
    assert browser.get(f"{url}/v1/jobs", timeout=30).status_code == 200  # nothing above ended the session
    sign_in(service, "ada")  # and the password is unchanged
    # The wrong current password is in the account's activity (a session guessing at its password), once.
    actions = [e["action"] for e in browser.get(f"{url}/v1/account/activity", timeout=30).json()["entries"]]
    assert actions.count("password.change_failed") == 1 and "password.changed" not in actions[:3]


def test_wrong_current_passwords_count_with_failed_sign_ins(service: InProcessService) -> None:
    service.new_key(username="ada")
    set_password(service, "ada")
    browser, csrf = sign_in(service, "ada")
    codes = [change_password(browser, service.base_url, csrf, "guess number one", "a brand new passphrase").status_code
             for _ in range(11)]
    assert codes[:10] == [400] * 10 and codes[10] == 429
    # A session is not a way around the sign-in throttle, nor the other way round.
    locked = requests.post(f"{service.base_url}/auth/sign-in", json={"username": "ada", "password": PASSWORD},
                           timeout=30)
    assert locked.status_code == 429


def test_cookie_is_secure_when_the_operator_says_tls_is_in_front(twin_factory: type, tmp_path: Path) -> None:
    service = twin_factory.start(data_dir=tmp_path / "tls", PHONOS_COOKIE_SECURE="true")
    service.new_key(username="ada")
    set_password(service, "ada")
    response = requests.post(f"{service.base_url}/auth/sign-in", json={"username": "ada", "password": PASSWORD},
                             timeout=30)
    assert response.status_code == 200 and "Secure" in response.headers["Set-Cookie"]


def test_sessions_expire(twin_factory: type, tmp_path: Path) -> None:
    # 5 s: room for a loaded CI host between the sign-in and the first call (1 s once ran out before it, a 401).
    ttl_s = 5.0
    service = twin_factory.start(data_dir=tmp_path / "ttl", PHONOS_SESSION_TTL_S=str(ttl_s))
    service.new_key(username="ada")
    set_password(service, "ada")
    asked = time.monotonic()  # the session is made between these two
    browser, _ = sign_in(service, "ada")
    answered = time.monotonic()
    cookie = dict(browser.cookies)
    answer = browser.get(f"{service.base_url}/v1/jobs", timeout=30)
    if time.monotonic() - asked < ttl_s:  # else the host was too slow to tell: the expiry is still checked below
        assert answer.status_code == 200
    time.sleep(max(0.0, answered + ttl_s + 0.5 - time.monotonic()))
    # Sent again by hand: the server itself refuses it, whatever a browser does with the cookie's Max-Age.
    assert requests.get(f"{service.base_url}/v1/jobs", cookies=cookie, timeout=30).status_code == 401


def test_failed_sign_ins_are_throttled_per_username(service: InProcessService) -> None:
    service.new_key(username="ada")
    service.new_key(username="bob")
    set_password(service, "ada")
    set_password(service, "bob")
    for _ in range(12):  # successes do not count
        sign_in(service, "ada")
    codes = [requests.post(f"{service.base_url}/auth/sign-in", json={"username": "ada", "password": "nope nope nope"},
                           timeout=30).status_code for _ in range(11)]
    assert codes[:10] == [401] * 10 and codes[10] == 429
    locked = requests.post(f"{service.base_url}/auth/sign-in", json={"username": "ada", "password": PASSWORD}, timeout=30)
    assert locked.status_code == 429 and int(locked.headers["Retry-After"]) >= 1
    sign_in(service, "bob")  # per username


def test_pages_and_assets_carry_security_and_cache_headers(service: InProcessService) -> None:
    page = requests.get(f"{service.base_url}/jobs", timeout=30)
    assert page.status_code == 200 and "text/html" in page.headers["Content-Type"]
    csp = page.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp
    assert page.headers["X-Frame-Options"] == "DENY" and page.headers["X-Content-Type-Options"] == "nosniff"
    assert "<script" in page.text and "onerror" not in page.text and "style=" not in page.text
    home = requests.get(f"{service.base_url}/", allow_redirects=False, timeout=30)
    assert home.status_code == 302 and home.headers["Location"] == "/jobs"
    asset = requests.get(f"{service.base_url}/static/js/app.js", timeout=30)
    assert asset.headers["Cache-Control"] == "no-cache" and asset.headers["ETag"]
    again = requests.get(f"{service.base_url}/static/js/app.js", headers={"If-None-Match": asset.headers["ETag"]},
                         timeout=30)
    assert again.status_code == 304 and not again.content
    viewer = requests.get(f"{service.base_url}/static/vendor/3dmol/3Dmol.es6-min.js", timeout=30)
    assert viewer.status_code == 200, "3Dmol.js missing: run scripts/install.sh (npm ci)"
    assert "max-age" in viewer.headers["Cache-Control"] and viewer.headers.get("Content-Encoding") == "gzip"
    assert requests.get(f"{service.base_url}/static/vendor/3dmol/LICENSE.txt", timeout=30).status_code == 200
    missing = requests.get(f"{service.base_url}/static/../jobservice/db.py", timeout=30)
    assert missing.status_code == 404
    assert requests.get(f"{service.base_url}/v1/jobs", timeout=30).status_code == 401  # the API is untouched
