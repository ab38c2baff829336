"""What a security review of the running service found and fixed, checked over real HTTP against a real job
service (in process, on the inference twin, loopback ports chosen at run time): the API's answers carry their
own security headers (no caching of keys and results, no sniffing, no framing, no script, no Referer), and
failed dashboard sign-ins are limited per client address as well as per username (password spraying)."""

from __future__ import annotations

import asyncio
import socket

import pytest
import requests

from gateway.response_headers import API_CONTENT_SECURITY_POLICY
from jobservice import admin
from jobservice.passwords import MAX_LENGTH
from jobservice.sessions import FAILED_SIGN_INS_PER_ADDRESS_PER_MINUTE
from tests.support import ALL_STORES, InProcessService

pytestmark = pytest.mark.integration
STORES = ALL_STORES  # keys and sessions are state: on SQLite and on PostgreSQL
EDGE_ONLY = pytest.mark.sqlite_only  # the gateway's own answers: no store involved
PASSWORD = "correct horse battery staple"
# A wrong password that fails without an Argon2 verification (longer than any password may be): counted as every
# failed sign-in is, at a millisecond each instead of most of a second on a busy test machine.
LONGER_THAN_ANY_PASSWORD = "x" * (MAX_LENGTH + 1)


@pytest.fixture
def service(twin_service: InProcessService) -> InProcessService:
    """The module's job service, one per store (each test uses its own account)."""
    return twin_service


def assert_api_headers(response: requests.Response, what: str) -> None:
    headers = response.headers
    assert headers.get("Cache-Control") == "no-store", f"{what}: {headers}"
    assert headers.get("X-Content-Type-Options") == "nosniff", f"{what}: {headers}"
    assert headers.get("Content-Security-Policy") == API_CONTENT_SECURITY_POLICY, f"{what}: {headers}"
    assert headers.get("X-Frame-Options") == "DENY", f"{what}: {headers}"
    assert headers.get("Referrer-Policy") == "no-referrer", f"{what}: {headers}"
    assert headers.get("Server") == "phonos", f"{what}: {headers}"  # not aiohttp's name and version


@EDGE_ONLY
def test_api_answers_holding_keys_results_or_errors_are_not_cached_sniffed_or_framed(service: InProcessService) -> None:
    api = service.client(service.new_key())
    created = api.post("/v1/keys", json={"name": "ci"})
    assert created.status_code == 200 and created.json()["api_key"].startswith("pk_")
    assert_api_headers(created, "POST /v1/keys (the new key's secret)")
    job_id = api.predict().json()["job_id"]
    assert api.wait_for(job_id)["status"] == "completed"
    download = api.get(f"/v1/jobs/{job_id}/download")
    assert download.status_code == 200 and download.headers["Content-Disposition"].startswith("attachment;")
    assert_api_headers(download, "a result download")
    assert_api_headers(api.get(f"/v1/jobs/{job_id}"), "a job")
    assert_api_headers(requests.get(f"{service.base_url}/v1/account", timeout=30), "a 401")
    assert_api_headers(api.get("/v1/no-such-route"), "a 404")
    with api.session.get(f"{service.base_url}/v1/jobs/{job_id}/events", stream=True, timeout=30) as events:
        assert events.status_code == 200
        assert_api_headers(events, "an event stream")

    url = api.post(f"/v1/jobs/{job_id}/shares", json={}).json()["url"]
    for path in (f"{url}/job", f"{url}/download"):
        shared = requests.get(service.base_url + path, timeout=30)
        assert shared.status_code == 200
        assert_api_headers(shared, path)
        assert shared.headers["X-Robots-Tag"] == "noindex, nofollow"  # as the link's page

    # The dashboard's own policy is kept, not replaced: its pages run its scripts and keep a same-origin Referer.
    page = requests.get(f"{service.base_url}/jobs", timeout=30)
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    assert "sandbox" not in page.headers["Content-Security-Policy"]
    assert page.headers["Referrer-Policy"] == "same-origin" and page.headers["Cache-Control"] == "no-cache"
    # What the HTTP parser refuses is answered below the application: the same headers there.
    with socket.create_connection(("127.0.0.1", service.http_port), timeout=10) as raw:
        raw.sendall(b"GET /v1/health HTTP/1.1\r\nHost: x\r\nNo colon in this header\r\n\r\n")
        head = raw.makefile("rb").read().split(b"\r\n\r\n", 1)[0].decode().lower()
    assert head.startswith("http/1.0 400") and "\r\nserver: phonos\r\n" in head and "nosniff" in head, head
    # The public OpenAPI document keeps its caching.
    assert requests.get(f"{service.base_url}/v1/openapi.json", timeout=30).headers["Cache-Control"] == "max-age=300"


@EDGE_ONLY
def test_sign_in_works_from_the_https_page_of_a_tls_proxy_and_refuses_other_origins(twin_factory: type) -> None:
    """PHONOS_COOKIE_SECURE says a proxy terminates TLS: the browser's page is https://<host> while the gateway
    sees plain HTTP, and a browser always sends Origin with its sign-in. That origin once got a 403 (nobody behind
    such a proxy could sign in); another site's stays refused (login CSRF)."""
    behind_tls = twin_factory.start(PHONOS_COOKIE_SECURE="true")
    behind_tls.new_key(username="ada")
    asyncio.run(admin.set_password(behind_tls.settings, username="ada", password=PASSWORD))
    host = f"127.0.0.1:{behind_tls.http_port}"

    def sign_in(origin: str) -> requests.Response:
        return requests.post(f"{behind_tls.base_url}/auth/sign-in", json={"username": "ada", "password": PASSWORD},
                             headers={"Origin": origin}, timeout=30)

    signed_in = sign_in(f"https://{host}")
    assert signed_in.status_code == 200, signed_in.text
    assert "Secure" in signed_in.headers["Set-Cookie"] and "HttpOnly" in signed_in.headers["Set-Cookie"]
    for foreign in ("https://evil.example", f"https://{host}.evil.example", "null"):
        refused = sign_in(foreign)
        assert refused.status_code == 403 and "set-cookie" not in {n.lower() for n in refused.headers}, foreign


def test_an_expiring_key_cannot_make_itself_or_another_key_outlive_it(service: InProcessService) -> None:
    """A key handed out for a week once made itself permanent (PATCH its own expiry to 0) or minted a key that
    never expires: its expiry bounded nothing. Now what it creates or sets ends by its own expiry; a key that
    never expires (and the dashboard, and the operator) still sets any expiry."""
    owner = service.client(service.new_key())
    made = owner.post("/v1/keys", json={"name": "contractor", "expires_in_days": 7}).json()
    weekly, weekly_id = service.client(made["api_key"]), made["key"]["key_id"]

    for path, method, body in ((f"/v1/keys/{weekly_id}", "patch", {"expires_in_days": 0}),
                               (f"/v1/keys/{weekly_id}", "patch", {"expires_in_days": 30}),
                               ("/v1/keys", "post", {"name": "forever"}),
                               ("/v1/keys", "post", {"name": "longer", "expires_in_days": 8})):
        refused = getattr(weekly, method)(path, json=body)
        assert refused.status_code == 403, (path, body, refused.text)
        assert "expires_in_days at most 6" in refused.json()["message"], refused.text  # 7 days less a moment
    listed = {k["key_id"]: k for k in owner.get("/v1/keys").json()["keys"]}
    assert listed[weekly_id]["expires_at"] == made["key"]["expires_at"] and len(listed) == 2  # nothing changed

    shorter = weekly.post("/v1/keys", json={"name": "within", "expires_in_days": 6})
    assert shorter.status_code == 200 and shorter.json()["key"]["expires_at"] < made["key"]["expires_at"]
    assert weekly.patch(f"/v1/keys/{weekly_id}", json={"expires_in_days": 1}).status_code == 200  # shortening is fine
    assert weekly.patch(f"/v1/keys/{weekly_id}", json={"name": "renamed"}).status_code == 200
    assert owner.patch(f"/v1/keys/{weekly_id}", json={"expires_in_days": 0}).json()["key"].get("expires_at") is None


def test_signing_in_again_ends_the_session_of_the_cookie_it_replaces(service: InProcessService) -> None:
    """Session rotation: a new sign-in in a browser that still holds a session cookie (another tab, a shared
    computer, another account) ends that session on the server, so a copy of the old cookie stops working and the
    account's "Signed in" list does not keep it."""
    name = f"rotating{id(service)}"
    service.new_key(username=name)
    asyncio.run(admin.set_password(service.settings, username=name, password=PASSWORD))
    browser = requests.Session()

    def sign_in() -> str:
        answer = browser.post(f"{service.base_url}/auth/sign-in", json={"username": name, "password": PASSWORD},
                              timeout=30)
        assert answer.status_code == 200, answer.text
        return browser.cookies["phonos_session"]

    first = sign_in()
    second = sign_in()
    assert second != first
    stale = requests.get(f"{service.base_url}/auth/session", cookies={"phonos_session": first}, timeout=30)
    assert stale.status_code == 401, stale.text
    listed = browser.get(f"{service.base_url}/auth/sessions", timeout=30).json()["sessions"]
    assert [s["current"] for s in listed] == [True]
    assert browser.get(f"{service.base_url}/auth/session", timeout=30).status_code == 200


# Last in the module: it leaves this address refused sign-ins for a minute.
def test_failed_sign_ins_are_limited_per_address_across_usernames(service: InProcessService) -> None:
    """Spraying one password over many accounts from one address: the per-username limit never trips (one try
    each), the per-address one does, whatever X-Forwarded-For the client writes (no proxy is trusted here), and
    then even a right password is refused from that address until the minute has passed."""
    owner = f"owner{id(service)}"
    service.new_key(username=owner)
    asyncio.run(admin.set_password(service.settings, username=owner, password=PASSWORD))
    codes = []
    for attempt in range(FAILED_SIGN_INS_PER_ADDRESS_PER_MINUTE):
        answer = requests.post(f"{service.base_url}/auth/sign-in", timeout=30,
                               json={"username": f"sprayed{attempt}", "password": LONGER_THAN_ANY_PASSWORD},
                               headers={"X-Forwarded-For": f"198.51.100.{attempt + 1}"})
        codes.append(answer.status_code)
    assert codes == [401] * FAILED_SIGN_INS_PER_ADDRESS_PER_MINUTE
    refused = requests.post(f"{service.base_url}/auth/sign-in", json={"username": owner, "password": PASSWORD},
                            headers={"X-Forwarded-For": "203.0.113.9"}, timeout=30)
    assert refused.status_code == 429, refused.text
    assert refused.json()["message"].startswith("Too many failed sign-ins from this address")
    assert int(refused.headers["Retry-After"]) >= 1
    assert "set-cookie" not in {name.lower() for name in refused.headers}


@EDGE_ONLY
def test_the_sign_in_page_never_sends_the_browser_to_another_site(service: InProcessService) -> None:
    """The sign-in page goes to its `next` after signing in. A browser reads "/\\evil.example" and
    "/<tab>/evil.example" as "//evil.example" (another site): such a page address is sent to plain /sign-in."""
    html = {"Accept": "text/html"}
    for target in ("/%5Cevil.example/x", "/%09/evil.example", "//evil.example", "https://evil.example", "/\\evil.x"):
        answer = requests.get(f"{service.base_url}/sign-in?next={target}", headers=html, allow_redirects=False,
                              timeout=30)
        assert answer.status_code == 302 and answer.headers["Location"] == "/sign-in", (target, answer.status_code)
    for target in ("%2Fjobs%3Fstatus%3Drunning", "/jobs/abc", "/usage?days=30&name=my+fold"):
        answer = requests.get(f"{service.base_url}/sign-in?next={target}", headers=html, allow_redirects=False,
                              timeout=30)
        assert answer.status_code == 200 and "<script" in answer.text, target
