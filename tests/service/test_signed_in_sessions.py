"""The dashboard's "Signed in" list (GET /auth/sessions, POST /auth/sessions/{session_id}/end; the job service's
ListSessions and EndSession): an account sees its own live sessions, by handle and never by token, with the
browser, address and last use; it ends any of them (the next request with that cookie is refused) and the end is
in the activity log; another account's handles and unknown ones are 404; the CSRF token is required. Over real
HTTP to an in-process job service, on SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
import requests

from jobservice import admin, sessions
from tests.conftest import store_env
from tests.serve_process import separate_gateway
from tests.support import ALL_STORES, InProcessService

pytestmark = pytest.mark.integration
STORES = ALL_STORES

PASSWORD = "correct horse battery staple"
LAPTOP = ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
          "203.0.113.10")
PHONE = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
         "Version/17.5 Mobile/15E148 Safari/604.1", "198.51.100.20")


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory, store: str,
            request: pytest.FixtureRequest) -> Iterator[InProcessService]:
    """Loopback is a trusted proxy, so X-Forwarded-For names each browser's address."""
    running = InProcessService(tmp_path_factory.mktemp("sessions"),
                               {**store_env(store, request), "PHONOS_TRUSTED_PROXIES": "127.0.0.1"})
    yield running
    running.stop()


class Browser:
    """A requests session holding one dashboard cookie, from one User-Agent and address."""

    def __init__(self, service: InProcessService, username: str, device: tuple[str, str]) -> None:
        self.base = service.base_url
        self.http = requests.Session()
        self.http.headers.update({"User-Agent": device[0], "X-Forwarded-For": device[1]})
        answer = self.http.post(f"{self.base}/auth/sign-in", json={"username": username, "password": PASSWORD},
                                timeout=30)
        assert answer.status_code == 200, answer.text
        self.csrf = answer.json()["csrf_token"]
        self.token = self.http.cookies["phonos_session"]

    def sessions(self) -> list[dict[str, Any]]:
        answer = self.http.get(f"{self.base}/auth/sessions", timeout=30)
        assert answer.status_code == 200, answer.text
        return list(answer.json()["sessions"])

    def end(self, session_id: str, *, csrf: str | None = "") -> requests.Response:
        headers = {"X-CSRF-Token": self.csrf if csrf == "" else csrf} if csrf is not None else {}
        return self.http.post(f"{self.base}/auth/sessions/{session_id}/end", headers=headers, timeout=30)

    def jobs_status(self) -> int:
        return self.http.get(f"{self.base}/v1/jobs", timeout=30).status_code


def when(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def new_account(service: InProcessService) -> tuple[str, str]:
    """A fresh username with a password, and its API key."""
    username = f"ada{time.monotonic_ns()}"
    key = asyncio.run(admin.create_key(service.settings, username=username, email=None, credits=10,
                                       rate_limit=1000)).api_key
    asyncio.run(admin.set_password(service.settings, username=username, password=PASSWORD))
    return username, key


def test_the_list_shows_the_accounts_own_sessions_and_never_a_token(service: InProcessService) -> None:
    username, _ = new_account(service)
    laptop = Browser(service, username, LAPTOP)
    phone = Browser(service, username, PHONE)
    stranger = Browser(service, new_account(service)[0], LAPTOP)

    listed = laptop.sessions()
    assert len(listed) == 2
    by_agent = {s["user_agent"]: s for s in listed}
    assert set(by_agent) == {LAPTOP[0], PHONE[0]}
    assert by_agent[LAPTOP[0]]["current"] is True and by_agent[PHONE[0]]["current"] is False
    assert by_agent[LAPTOP[0]]["client_address"] == LAPTOP[1] and by_agent[PHONE[0]]["client_address"] == PHONE[1]
    for shown in listed:
        assert set(shown) == {"session_id", "created_at", "last_active_at", "expires_at", "user_agent",
                              "client_address", "current"}
        assert shown["session_id"].startswith("ses_") and shown["created_at"].endswith("Z")
        assert shown["last_active_at"].endswith("Z")
    text = requests.get(f"{service.base_url}/auth/sessions", cookies={"phonos_session": laptop.token},
                        timeout=30).text
    for secret in (laptop.token, phone.token, laptop.csrf, phone.csrf, sessions.token_hash(laptop.token),
                   sessions.token_hash(phone.token)):
        assert secret not in text  # neither a token, its CSRF token, nor the hash the database finds it by
    assert [s["current"] for s in phone.sessions()].count(True) == 1
    assert {s["session_id"] for s in stranger.sessions()}.isdisjoint({s["session_id"] for s in listed})

    # No cookie: the documented 401; an API key is not a session.
    anonymous = requests.get(f"{service.base_url}/auth/sessions", timeout=30)
    assert anonymous.status_code == 401 and anonymous.json()["error"] == "Unauthorized"


def test_ending_another_session_refuses_its_cookie_at_once_and_is_logged(service: InProcessService) -> None:
    username, key = new_account(service)
    laptop = Browser(service, username, LAPTOP)
    phone = Browser(service, username, PHONE)
    assert phone.jobs_status() == 200
    [other] = [s for s in laptop.sessions() if not s["current"]]

    ended = laptop.end(other["session_id"])
    assert ended.status_code == 200, ended.text
    assert ended.json() == {"success": True, "current": False}
    assert "Set-Cookie" not in ended.headers  # the laptop stays signed in
    assert phone.jobs_status() == 401  # the very next request with the phone's cookie
    assert phone.http.get(f"{service.base_url}/auth/session", timeout=30).status_code == 401
    assert laptop.jobs_status() == 200
    assert [s["current"] for s in laptop.sessions()] == [True]
    again = laptop.end(other["session_id"])  # already ended: nothing to end
    assert again.status_code == 404 and again.json()["error"] == "Not found"

    log = requests.get(f"{service.base_url}/v1/account/activity", headers={"Authorization": f"Bearer {key}"},
                       params={"action": "session.ended"}, timeout=30).json()["entries"]
    assert [(e["actor"], e["client_address"], e["user_agent"], e["details"]) for e in log] == [
        ({"kind": "session"}, LAPTOP[1], LAPTOP[0], {"session_id": other["session_id"]})]


def test_ending_this_session_signs_out(service: InProcessService) -> None:
    username, key = new_account(service)
    laptop = Browser(service, username, LAPTOP)
    [mine] = laptop.sessions()
    ended = laptop.end(mine["session_id"])
    assert ended.status_code == 200 and ended.json() == {"success": True, "current": True}
    assert "Max-Age=0" in ended.headers["Set-Cookie"] or 'phonos_session=""' in ended.headers["Set-Cookie"]
    assert requests.get(f"{service.base_url}/v1/jobs", cookies={"phonos_session": laptop.token},
                        timeout=30).status_code == 401
    log = requests.get(f"{service.base_url}/v1/account/activity", headers={"Authorization": f"Bearer {key}"},
                       params={"action": "session.signed_out"}, timeout=30).json()["entries"]
    assert [e["details"] for e in log] == [{"sessions_ended": 1}]


def test_foreign_and_unknown_handles_are_404_and_the_csrf_token_is_required(service: InProcessService) -> None:
    username, _ = new_account(service)
    laptop = Browser(service, username, LAPTOP)
    stranger = Browser(service, new_account(service)[0], PHONE)
    [theirs] = stranger.sessions()

    for handle in (theirs["session_id"], "ses_0000000000000000", "nonsense", "x" * 300):
        refused = laptop.end(handle)
        assert refused.status_code == 404, (handle, refused.text)
        assert set(refused.json()) >= {"error", "message"} and refused.json()["error"] == "Not found"
    assert stranger.jobs_status() == 200  # untouched

    [mine] = laptop.sessions()
    for csrf in (None, "0" * 64):  # none, or a wrong one: 403, and the session stays
        refused = laptop.end(mine["session_id"], csrf=csrf)
        assert refused.status_code == 403 and refused.json()["error"] == "Forbidden", refused.text
    cross_site = laptop.http.post(f"{service.base_url}/auth/sessions/{mine['session_id']}/end", timeout=30,
                                  headers={"X-CSRF-Token": laptop.csrf, "Origin": "https://evil.example"})
    assert cross_site.status_code == 403
    no_cookie = requests.post(f"{service.base_url}/auth/sessions/{mine['session_id']}/end", timeout=30,
                              headers={"X-CSRF-Token": laptop.csrf})
    assert no_cookie.status_code == 401
    assert laptop.jobs_status() == 200


def test_last_use_is_written_at_most_once_a_minute(service: InProcessService,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    username, _ = new_account(service)
    laptop = Browser(service, username, LAPTOP)
    [signed_in] = laptop.sessions()
    assert signed_in["last_active_at"] == signed_in["created_at"]  # written at sign-in
    time.sleep(0.01)
    assert laptop.jobs_status() == 200
    [unchanged] = laptop.sessions()
    assert unchanged["last_active_at"] == signed_in["last_active_at"]  # within the minute: no write

    monkeypatch.setattr(sessions, "TOUCH_EVERY_S", 0.0)  # as if a minute had passed (the service runs in process)
    laptop.http.headers["X-Forwarded-For"] = "192.0.2.33"  # and the laptop moved
    assert laptop.jobs_status() == 200
    monkeypatch.setattr(sessions, "TOUCH_EVERY_S", 60.0)
    [moved] = laptop.sessions()
    assert when(moved["last_active_at"]) > when(signed_in["last_active_at"]) and moved["client_address"] == "192.0.2.33"


def test_through_a_separate_gateway_the_list_and_the_end_work_alike(service: InProcessService) -> None:
    """`python -m gateway` in its own process calls ListSessions and EndSession over gRPC with the cookie's session
    (the job service's edge admits them as it does the password change); the address it names is the browser's."""
    username, key = new_account(service)
    with separate_gateway(service.grpc_target, PHONOS_TRUSTED_PROXIES="127.0.0.1") as gateway:
        laptop, phone = requests.Session(), requests.Session()
        for browser, (agent, address) in ((laptop, LAPTOP), (phone, PHONE)):
            browser.headers.update({"User-Agent": agent, "X-Forwarded-For": address})
            signed_in = browser.post(f"{gateway}/auth/sign-in", json={"username": username, "password": PASSWORD},
                                     timeout=30)
            assert signed_in.status_code == 200, signed_in.text
            browser.headers["X-CSRF-Token"] = signed_in.json()["csrf_token"]
        listed = laptop.get(f"{gateway}/auth/sessions", timeout=30)
        assert listed.status_code == 200, listed.text
        by_agent = {s["user_agent"]: s for s in listed.json()["sessions"]}
        assert by_agent[LAPTOP[0]]["current"] and by_agent[PHONE[0]]["client_address"] == PHONE[1]
        ended = laptop.post(f"{gateway}/auth/sessions/{by_agent[PHONE[0]]['session_id']}/end", timeout=30)
        assert ended.status_code == 200 and ended.json() == {"success": True, "current": False}, ended.text
        assert phone.get(f"{gateway}/v1/jobs", timeout=30).status_code == 401
        assert laptop.post(f"{gateway}/auth/sessions/ses_0000000000000000/end", timeout=30).status_code == 404
