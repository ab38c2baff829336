"""The account lock and a password change racing the member's own requests, over real HTTP to an in-process job
service, on SQLite and PostgreSQL: what the member is answered. The request is held at a hook after its
authentication (the creation's method, the sign-in's password check) while the operator's command runs, then let go,
so the order is driven rather than hoped for (tests/store/test_credential_races.py drives the statements' orders).

The tester's runs: keys made from a dashboard session while `phonos accounts lock` ran worked after it exited 0
(race6.py); a sign-in racing `phonos users set-password` kept a session made with the old password (race_signin.py).
Now the late create gets the 401 the session's next request gets, and the late sign-in the wrong password's 401."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests

from jobservice import admin, sessions
from jobservice.api_keys import ApiKeys
from jobservice.webhooks import Webhooks
from tests.support import ALL_STORES, InProcessService

pytestmark = pytest.mark.integration
STORES = ALL_STORES

PASSWORD = "a long enough password 1"


class Gate:
    """Where the service's request waits (in the service's loop) until the test lets it go."""

    def __init__(self) -> None:
        self.reached, self._go = threading.Event(), threading.Event()

    def hold(self) -> None:
        """In a worker thread of the service's loop."""
        self.reached.set()
        self._go.wait(60)

    async def stop(self) -> None:
        await asyncio.to_thread(self.hold)

    def go(self) -> None:
        self._go.set()


def held_before(method: Callable[..., Any], gate: Gate) -> Callable[..., Any]:
    """`method`, first waiting at `gate`: the request has authenticated, its transaction has not begun."""
    async def held(*args: Any, **kwargs: Any) -> Any:
        await gate.stop()
        return await method(*args, **kwargs)

    return held


@pytest.fixture
def gate() -> Iterator[Gate]:
    gate = Gate()
    yield gate
    gate.go()  # a failed test leaves no request waiting


def member(service: InProcessService) -> tuple[str, str, requests.Session, dict[str, str]]:
    """A member with a key and a password, signed in: username, key, the browser and its CSRF header."""
    username = f"dave{time.monotonic_ns()}"
    key = service.new_key(username=username)
    asyncio.run(admin.set_password(service.settings, username=username, password=PASSWORD))
    browser = requests.Session()
    signed_in = browser.post(f"{service.base_url}/auth/sign-in", json={"username": username, "password": PASSWORD},
                             timeout=30)
    assert signed_in.status_code == 200, signed_in.text
    return username, key, browser, {"X-CSRF-Token": signed_in.json()["csrf_token"]}


def test_a_key_the_session_asked_for_during_the_lock_is_refused_as_its_next_request(
        twin_service: InProcessService, gate: Gate, monkeypatch: pytest.MonkeyPatch) -> None:
    """POST /v1/keys from the dashboard, authenticated before `phonos accounts lock`, its insert after: the 401 of an
    ended session, the same answer as the session's next request. Was: 200, and the key worked after the lock."""
    service = twin_service
    username, _, browser, csrf = member(service)
    monkeypatch.setattr(ApiKeys, "create", held_before(ApiKeys.create, gate))
    with ThreadPoolExecutor(1) as pool:
        asked = pool.submit(browser.post, f"{service.base_url}/v1/keys", json={"name": "mine"}, headers=csrf,
                            timeout=60)
        assert gate.reached.wait(30)
        locked = asyncio.run(admin.lock_account(service.settings, username=username))
        gate.go()
        answer = asked.result(60)
    assert locked.keys_revoked == 1 and locked.sessions_ended == 1
    assert answer.status_code == 401, answer.text
    later = browser.get(f"{service.base_url}/v1/account", timeout=30)
    assert later.status_code == 401
    assert answer.json() == later.json()
    assert answer.json()["message"].startswith("Your dashboard session has ended")
    assert service.sql("SELECT count(*) FROM api_keys k JOIN accounts a ON a.id = k.account_id "
                       "WHERE a.username = ? AND k.revoked_at IS NULL", username) == [(0,)]


def test_a_webhook_a_key_asked_for_during_the_lock_is_refused_as_its_next_request(
        twin_service: InProcessService, gate: Gate, monkeypatch: pytest.MonkeyPatch) -> None:
    """POST /v1/webhooks with the member's key, authenticated before the lock, inserted after: the revoked key's 401.
    Was: the receiver was planted and kept every job event of the account coming."""
    service = twin_service
    username, key, _, _ = member(service)
    client = service.client(key)
    monkeypatch.setattr(Webhooks, "create", held_before(Webhooks.create, gate))
    with ThreadPoolExecutor(1) as pool:
        asked = pool.submit(client.post, "/v1/webhooks", json={"url": "http://127.0.0.1:9/hook"})
        assert gate.reached.wait(30)
        asyncio.run(admin.lock_account(service.settings, username=username))
        gate.go()
        answer = asked.result(60)
    assert answer.status_code == 401, answer.text
    later = client.get("/v1/account")
    assert later.status_code == 401 and answer.json() == later.json()
    assert answer.headers["WWW-Authenticate"] == later.headers["WWW-Authenticate"]
    assert service.sql("SELECT count(*) FROM webhooks w JOIN accounts a ON a.id = w.account_id "
                       "WHERE a.username = ? AND w.deleted_at IS NULL", username) == [(0,)]


@pytest.mark.parametrize("change", ["set-password", "lock"])
def test_a_sign_in_checked_before_the_password_changed_is_answered_as_a_wrong_password(
        twin_service: InProcessService, gate: Gate, monkeypatch: pytest.MonkeyPatch, change: str) -> None:
    """The old password checked, then `phonos users set-password` (or `accounts lock`) commits, then the sign-in would
    start its session: 401 "Wrong username or password.", as the old password gets from then on, and no cookie. Was:
    200, and a session of the old password the change had not ended."""
    service = twin_service
    username, _, _, _ = member(service)
    checked = sessions.password_matches

    def held_check(stored: str | None, password: str) -> bool:  # in a worker thread of the service's loop
        matches = checked(stored, password)
        gate.hold()
        return matches

    monkeypatch.setattr(sessions, "password_matches", held_check)
    browser = requests.Session()
    with ThreadPoolExecutor(1) as pool:
        asked = pool.submit(browser.post, f"{service.base_url}/auth/sign-in",
                            json={"username": username, "password": PASSWORD}, timeout=60)
        assert gate.reached.wait(30)
        if change == "lock":
            asyncio.run(admin.lock_account(service.settings, username=username))
        else:
            asyncio.run(admin.set_password(service.settings, username=username, password="the new password 2"))
        gate.go()
        answer = asked.result(60)
    assert answer.status_code == 401, answer.text
    wrong = requests.post(f"{service.base_url}/auth/sign-in", json={"username": username, "password": PASSWORD},
                          timeout=30)
    assert wrong.status_code == 401 and answer.json() == wrong.json()
    assert answer.json()["message"] == "Wrong username or password."
    assert browser.get(f"{service.base_url}/v1/account", timeout=30).status_code == 401
    assert service.sql("SELECT count(*) FROM sessions s JOIN accounts a ON a.id = s.account_id "
                       "WHERE a.username = ? AND s.revoked_at IS NULL", username) == [(0,)]
