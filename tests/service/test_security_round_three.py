"""A third security review of the running service (a real job service and gateway on loopback, on the inference
twin): what it found and fixed, checked over real HTTP."""

from __future__ import annotations

import asyncio
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from jobservice import admin
from jobservice.sessions import FAILED_SIGN_INS_PER_ADDRESS_PER_MINUTE, FAILED_SIGN_INS_PER_MINUTE
from tests.support import InProcessService

pytestmark = pytest.mark.integration

PASSWORD = "correct horse battery staple"


def sign_in(service: InProcessService, username: str, password: str) -> requests.Response:
    return requests.post(f"{service.base_url}/auth/sign-in", json={"username": username, "password": password},
                         timeout=60)


def test_knowing_another_accounts_ids_reads_or_changes_nothing(twin_service: InProcessService) -> None:
    """Every /v1 route that takes an id, called by another account with the owner's real ids (a job with its
    input, files and share link, a webhook with a delivery, a key), alone or beside the caller's own ids: a 404
    that names nothing of the owner's, never a 403 (which would confirm the id), and nothing changed for the
    owner. A guard of the review (it held)."""
    owner = twin_service.client(twin_service.new_key())
    stranger = twin_service.client(twin_service.new_key())
    job_id, own_job = (api.predict(name="mine").json()["job_id"] for api in (owner, stranger))
    assert owner.wait_for(job_id)["status"] == stranger.wait_for(own_job)["status"] == "completed"
    share_id = owner.post(f"/v1/jobs/{job_id}/shares", json={}).json()["share"]["share_id"]
    hook_id, own_hook = (api.post("/v1/webhooks", json={"url": "http://127.0.0.1:9/hook"}).json()["webhook"]["webhook_id"]
                         for api in (owner, stranger))
    owner.post(f"/v1/webhooks/{hook_id}/test")  # a delivery in its log, to ask for
    deliveries = owner.get(f"/v1/webhooks/{hook_id}/deliveries").json()["deliveries"]
    delivery_id = deliveries[0]["delivery_id"]
    key_id = owner.get("/v1/keys").json()["keys"][0]["key_id"]
    calls = [
        ("GET", f"/v1/jobs/{job_id}", None), ("GET", f"/v1/jobs/{job_id}/input", None),
        ("GET", f"/v1/jobs/{job_id}/download", None), ("GET", f"/v1/jobs/{job_id}/shares", None),
        ("POST", f"/v1/jobs/{job_id}/shares", {}), ("DELETE", f"/v1/jobs/{job_id}/shares/{share_id}", None),
        ("DELETE", f"/v1/jobs/{own_job}/shares/{share_id}", None), ("POST", f"/v1/jobs/{job_id}/cancel", None),
        ("DELETE", f"/v1/jobs/{job_id}", None),
        ("GET", f"/v1/webhooks/{hook_id}/deliveries", None), ("POST", f"/v1/webhooks/{hook_id}/test", None),
        ("POST", f"/v1/webhooks/{hook_id}/rotate-secret", {}), ("DELETE", f"/v1/webhooks/{hook_id}", None),
        ("POST", f"/v1/webhooks/{hook_id}/deliveries/{delivery_id}/redeliver", None),
        ("POST", f"/v1/webhooks/{own_hook}/deliveries/{delivery_id}/redeliver", None),
        ("PATCH", f"/v1/keys/{key_id}", {"name": "taken"}), ("POST", f"/v1/keys/{key_id}/revoke", {}),
    ]
    for method, path, body in calls:
        answer = stranger.session.request(method, stranger.base_url + path, json=body, timeout=30)
        assert answer.status_code == 404, (method, path, answer.status_code, answer.text)
        assert set(answer.json()) == {"error", "message"}, answer.text
    # Nothing of the owner's changed, and the stranger's own lists show none of it.
    assert owner.get(f"/v1/jobs/{job_id}").json()["status"] == "completed"
    assert [s["share_id"] for s in owner.get(f"/v1/jobs/{job_id}/shares").json()["shares"]] == [share_id]
    assert hook_id in {w["webhook_id"] for w in owner.get("/v1/webhooks").json()["webhooks"]}
    assert owner.get("/v1/keys").json()["keys"][0].get("name") != "taken"
    assert [j["job_id"] for j in stranger.get("/v1/jobs").json()["jobs"]] == [own_job]
    assert [w["webhook_id"] for w in stranger.get("/v1/webhooks").json()["webhooks"]] == [own_hook]


def test_an_expiring_key_cannot_share_a_job_for_longer_than_it_lives(twin_service: InProcessService) -> None:
    """A share link reads a job without a key. A key handed out for a week made links of 30 (the default) or 365
    days to every completed job it could read: its results stayed open for a year after the key expired or was
    revoked. What an expiring key creates ends by its own expiry, share links as keys (403 otherwise); a key that
    never expires, and the dashboard, share for as long as they like."""
    owner = twin_service.client(twin_service.new_key())
    made = owner.post("/v1/keys", json={"name": "contractor", "expires_in_days": 7}).json()
    weekly = twin_service.client(made["api_key"])
    job_id = weekly.predict(name="contractor's fold").json()["job_id"]
    assert weekly.wait_for(job_id)["status"] == "completed"
    for body in ({}, {"expires_in_days": 8}, {"expires_in_days": 365}):
        refused = weekly.post(f"/v1/jobs/{job_id}/shares", json=body)
        assert refused.status_code == 403, (body, refused.text)
        assert "expires_in_days at most 6" in refused.json()["message"], refused.text
    assert owner.get(f"/v1/jobs/{job_id}/shares").json()["shares"] == []  # none was made
    within = weekly.post(f"/v1/jobs/{job_id}/shares", json={"expires_in_days": 6})
    assert within.status_code == 200, within.text
    assert within.json()["share"]["expires_at"] < made["key"]["expires_at"]
    assert owner.post(f"/v1/jobs/{job_id}/shares", json={}).status_code == 200  # a key that never expires


def test_behind_tls_only_this_hosts_own_cookie_is_a_session(twin_factory: type) -> None:
    """Cookie tossing: a sibling host of the same site (`wiki.lab.example` beside `phonos.lab.example`) can set a
    cookie of our name for the whole domain, and SameSite does not stop it. With its own session's token in it, a
    browser that sent it was signed in as the tosser (or, signed in already, sent both, and the server read the
    tosser's): the person's sequences went to the tosser's account. Secure (here PHONOS_COOKIE_SECURE), the
    cookie is `__Host-phonos_session`, which browsers take only from this very host, and a plain-named cookie is
    no session; a sign-in clears such a cookie (and leaves its session alone: not the tosser's to log)."""
    behind_tls: InProcessService = twin_factory.start(PHONOS_COOKIE_SECURE="true")
    for name in ("victim", "tosser"):
        behind_tls.new_key(username=name)
        asyncio.run(admin.set_password(behind_tls.settings, username=name, password=PASSWORD))
    url = behind_tls.base_url

    def signed_in(name: str, cookie: str = "") -> requests.Response:
        answer = requests.post(f"{url}/auth/sign-in", json={"username": name, "password": PASSWORD},
                               headers={"Cookie": cookie} if cookie else {}, timeout=30)
        assert answer.status_code == 200, answer.text
        return answer

    def status(cookie: str) -> dict:
        return requests.get(f"{url}/auth/status", headers={"Cookie": cookie}, timeout=30).json()

    made = signed_in("tosser").headers["Set-Cookie"]
    assert made.startswith("__Host-phonos_session="), made
    assert all(part in made for part in ("HttpOnly", "Secure", "Path=/", "SameSite=Strict")) and "Domain" not in made
    tossed = made.split(";")[0].split("=", 1)[1]
    # The tosser's valid token under the plain name, as a domain cookie arrives: nobody's session here.
    assert status(f"phonos_session={tossed}") == {"signed_in": False}
    assert requests.get(f"{url}/v1/jobs", headers={"Cookie": f"phonos_session={tossed}"},
                        timeout=30).status_code == 401
    victim = signed_in("victim").headers["Set-Cookie"].split(";")[0].split("=", 1)[1]
    for order in (f"__Host-phonos_session={victim}; phonos_session={tossed}",
                  f"phonos_session={tossed}; __Host-phonos_session={victim}"):
        assert status(order)["username"] == "victim", order
    # A sign-in in a browser holding a plain-named cookie clears the cookie, and leaves its session alone: ending it
    # with the victim's request wrote the victim's address and browser into the tosser's activity log.
    answer = requests.post(f"{url}/auth/sign-in", json={"username": "victim", "password": PASSWORD},
                           headers={"Cookie": f"phonos_session={tossed}", "User-Agent": "VictimBrowser/1.0"},
                           timeout=30)
    assert answer.status_code == 200, answer.text
    assert "phonos_session=\"\"" in answer.headers["Set-Cookie"] or "phonos_session=;" in answer.headers["Set-Cookie"]
    assert status(f"__Host-phonos_session={tossed}")["username"] == "tosser"
    tossers_log = requests.get(f"{url}/v1/account/activity", headers={"Cookie": f"__Host-phonos_session={tossed}"},
                               timeout=30)
    assert tossers_log.status_code == 200, tossers_log.text
    assert "VictimBrowser" not in tossers_log.text


# Last in the module: it leaves this address with failures counted for a minute.
def test_parallel_wrong_passwords_get_no_more_guesses_than_the_limit(twin_service: InProcessService) -> None:
    """The throttle read the failures before each Argon2 verification and counted them after it: guesses sent all
    at once each passed the check before the first was counted, so a guesser got as many tries a minute as it
    could send together (the limit is 10). Every guess past the limit must be refused (429) without a verification,
    however many arrive together; the owner's right password is refused for the minute too."""
    owner = f"parallel{id(twin_service)}"
    twin_service.new_key(username=owner)
    asyncio.run(admin.set_password(twin_service.settings, username=owner, password=PASSWORD))
    sent = FAILED_SIGN_INS_PER_ADDRESS_PER_MINUTE - 6  # under the address's limit: only the username's can refuse
    assert sent > 2 * FAILED_SIGN_INS_PER_MINUTE
    with ThreadPoolExecutor(max_workers=sent) as pool:
        codes = Counter(pool.map(lambda n: sign_in(twin_service, owner, f"guess number {n:04d}").status_code,
                                 range(sent)))
    assert codes == {401: FAILED_SIGN_INS_PER_MINUTE, 429: sent - FAILED_SIGN_INS_PER_MINUTE}, codes
    assert sign_in(twin_service, owner, PASSWORD).status_code == 429
