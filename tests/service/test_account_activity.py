"""GET /v1/account/activity (gRPC ListAccountActivity, the SDK's account_activity, `phonos account activity`,
the operator's `phonos accounts activity`): every change of an account's access is logged once, with how the
caller was authenticated and the client address the service determined (behind a trusted proxy: the client it
names), over REST with a key, gRPC, the dashboard's sign-in and the operator's commands; nothing secret is
stored; another account sees none of it; it pages by offset and cursor, filters by action, and is purged after
PHONOS_ACTIVITY_LOG_DAYS. On SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from typing import Any

import grpc
import pytest
import requests
from phonos_client import AsyncClient, Client
from phonos_client import cli as user_cli

from jobservice import activity, admin
from launcher.cli import main as operator_cli
from phonos.v1 import phonos_pb2 as pb
from phonos_common.forwarded import CLIENT_ADDRESS_METADATA
from tests.conftest import store_env
from tests.serve_process import separate_gateway
from tests.support import ALL_STORES, InProcessService

pytestmark = pytest.mark.integration
STORES = ALL_STORES

ROUTE = "/v1/account/activity"
PASSWORD = "correct horse battery staple"
NEW_PASSWORD = "a new and longer passphrase"
REST_CLIENT = "203.0.113.7"  # what a trusted proxy (the test, from 127.0.0.1) says the REST caller is
GRPC_CLIENT = "198.51.100.9"  # what a trusted proxy says the gRPC caller is
BROWSER = "203.0.113.50"
USER_AGENT = "LabBrowser/1.0 (activity test)"


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory, store: str,
            request: pytest.FixtureRequest) -> Iterator[InProcessService]:
    """One service per store; loopback is a trusted proxy, so X-Forwarded-For and x-phonos-client-address name
    the client (as a separate gateway or an ingress would)."""
    running = InProcessService(tmp_path_factory.mktemp("activity"),
                               {**store_env(store, request), "PHONOS_TRUSTED_PROXIES": "127.0.0.1"})
    yield running
    running.stop()


def rest(service: InProcessService, key: str, method: str, path: str, **kwargs: Any) -> requests.Response:
    headers = {"Authorization": f"Bearer {key}", "X-Forwarded-For": REST_CLIENT}
    return requests.request(method, service.base_url + path, headers=headers, timeout=30, **kwargs)


def grpc_call(service: InProcessService, method: str, message: Any, key: str) -> Any:
    channel, stub = service.grpc_stub()
    with channel:
        return getattr(stub, method)(message, timeout=30, metadata=(
            ("authorization", f"Bearer {key}"), (CLIENT_ADDRESS_METADATA, GRPC_CLIENT)))


def browser_sign_in(service: InProcessService, username: str, password: str) -> requests.Response:
    session = requests.Session()
    session.headers.update({"User-Agent": USER_AGENT, "X-Forwarded-For": BROWSER})
    response = session.post(f"{service.base_url}/auth/sign-in", json={"username": username, "password": password},
                            timeout=30)
    response.session = session  # type: ignore[attr-defined]
    return response


def log_of(service: InProcessService, key: str, **params: Any) -> dict[str, Any]:
    answer = requests.get(service.base_url + ROUTE, params={"limit": 100, **params}, timeout=30,
                          headers={"Authorization": f"Bearer {key}"})
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def stored_rows(service: InProcessService) -> list[dict[str, Any]]:
    """Every row of the table as stored, every account's (the named queries read one account's)."""
    db = service.running.service.db

    async def read() -> list[dict[str, Any]]:
        rows, accounts = [], int(await db.read.scalar("count_accounts"))
        for account_id in range(1, accounts + 10):  # ids are sequential (a refused insert may skip one)
            found = await db.read.fetch_all("list_activity", {"account_id": account_id, "action": None,
                                                              "limit": 100, "offset": 0})
            rows += [dict(r) for r in found]
        return rows
    return service.call(read())


def test_every_change_is_logged_once_with_its_actor_and_address(service: InProcessService) -> None:
    username = f"ada{time.monotonic_ns()}"
    first = asyncio.run(admin.create_key(service.settings, username=username, email=None, credits=100,
                                         rate_limit=1000))
    key = first.api_key
    asyncio.run(admin.set_password(service.settings, username=username, password=PASSWORD))
    asyncio.run(admin.add_credits(service.settings, username=username, amount=25, note="lab grant"))
    _, operator_key = asyncio.run(admin.add_key(service.settings, username=username, name="ci", rate_limit=None))

    made = rest(service, key, "POST", "/v1/keys", json={"name": "pipeline", "rate_limit": 30}).json()
    pipeline, secret = made["key"]["key_id"], made["api_key"]
    assert rest(service, key, "PATCH", f"/v1/keys/{pipeline}", json={"name": "nightly", "rate_limit": 20}).ok
    assert rest(service, key, "POST", f"/v1/keys/{pipeline}/revoke", json={}).ok

    hook = grpc_call(service, "CreateWebhook", pb.CreateWebhookRequest(url="http://127.0.0.1:9/hook?token=abc"), key)
    grpc_call(service, "DeleteWebhook", pb.DeleteWebhookRequest(webhook_id=hook.webhook.webhook_id), key)

    with Client(service.base_url, key) as sdk:
        job_id = sdk.wait(sdk.predict("esmfold", "MKTVRQERLKSIVRILERSKEPV").job_id, timeout=30).job_id
    shared = rest(service, key, "POST", f"/v1/jobs/{job_id}/shares", json={"expires_in_days": 3}).json()
    share_id, share_url = shared["share"]["share_id"], shared["url"]
    assert rest(service, key, "DELETE", f"/v1/jobs/{job_id}/shares/{share_id}").ok
    assert rest(service, key, "DELETE", f"/v1/jobs/{job_id}").ok  # the job's entries stay

    assert browser_sign_in(service, username, "not the password").status_code == 401
    assert browser_sign_in(service, "nobody-" + username, PASSWORD).status_code == 401  # nobody's to log
    signed_in = browser_sign_in(service, username, PASSWORD)
    assert signed_in.status_code == 200
    browser: requests.Session = signed_in.session  # type: ignore[attr-defined]
    csrf = signed_in.json()["csrf_token"]
    changed = browser.post(f"{service.base_url}/auth/password", headers={"X-CSRF-Token": csrf}, timeout=30,
                           json={"current_password": PASSWORD, "new_password": NEW_PASSWORD})
    assert changed.status_code == 200, changed.text
    csrf = changed.json()["csrf_token"]  # the change rotated the session
    assert browser.post(f"{service.base_url}/auth/sign-out", headers={"X-CSRF-Token": csrf}, timeout=30).ok
    again = browser_sign_in(service, username, NEW_PASSWORD)
    assert again.session.post(f"{service.base_url}/auth/sign-out",  # type: ignore[attr-defined]
                              json={"all_sessions": True}, headers={"X-CSRF-Token": again.json()["csrf_token"]},
                              timeout=30).ok

    page = log_of(service, key)
    entries = page["entries"][::-1]  # oldest first, as done above
    assert page["pagination"] == {"total": 17, "limit": 100, "offset": 0, "has_more": False}
    first_id = entries[0]["target"]["key_id"]
    by_key = {"kind": "api_key", "key_id": first_id, "key_name": "first key"}
    session, operator = {"kind": "session"}, {"kind": "operator"}
    assert [(e["action"], e["actor"], e.get("client_address"), e.get("target", {})) for e in entries] == [
        ("api_key.created", operator, None, {"key_id": first_id}),
        ("password.changed", operator, None, {}),
        ("credits.added", operator, None, {}),
        ("api_key.created", operator, None, {"key_id": operator_key.key_id}),
        ("api_key.created", by_key, REST_CLIENT, {"key_id": pipeline}),
        ("api_key.updated", by_key, REST_CLIENT, {"key_id": pipeline}),
        ("api_key.revoked", by_key, REST_CLIENT, {"key_id": pipeline}),
        ("webhook.created", by_key, GRPC_CLIENT, {"webhook_id": hook.webhook.webhook_id}),
        ("webhook.deleted", by_key, GRPC_CLIENT, {"webhook_id": hook.webhook.webhook_id}),
        ("share.created", by_key, REST_CLIENT, {"job_id": job_id, "share_id": share_id}),
        ("share.revoked", by_key, REST_CLIENT, {"job_id": job_id, "share_id": share_id}),
        ("session.sign_in_failed", session, BROWSER, {}),
        ("session.signed_in", session, BROWSER, {}),
        ("password.changed", session, BROWSER, {}),
        ("session.signed_out", session, BROWSER, {}),
        ("session.signed_in", session, BROWSER, {}),
        ("session.signed_out_everywhere", session, BROWSER, {}),
    ]
    # A key is named in its update (by its name before it, and a rename's new name) and its revoke: the log said
    # only its id there, then never what a key was renamed to.
    assert [e.get("details") for e in entries[:7]] == [
        {"name": "first key", "scope": "full"}, None, {"amount": 25}, {"name": "ci", "scope": "full"},
        {"name": "pipeline", "scope": "full"}, {"changed": ["name", "rate_limit"], "name": "pipeline",
                                                "new_name": "nightly"},
        {"name": "nightly"}]
    assert entries[7]["details"] == {"host": "127.0.0.1", "events": ["job.started", "job.completed", "job.failed"]}
    assert entries[8]["details"] == entries[7]["details"]  # which receiver went (was: none)
    assert entries[9]["details"] == {"expires_in_days": 3}
    # The browser says who it is on a sign-in, a password change and a sign-out (here, everywhere) alike.
    assert [e.get("user_agent") for e in entries[11:]] == [USER_AGENT] * 6
    assert [e.get("user_agent") for e in entries[:11]] == [None] * 11  # an operator's, a key's: none
    assert entries[13]["details"] == {"other_sessions_ended": 0}  # the person's own change: this session stays
    assert all(e["created_at"].endswith("Z") and isinstance(e["id"], int) for e in entries)
    # Unique, and opaque since migration 0076 (jobservice/opaque_ids.py): in no order, the list's order is the log's.
    assert len({e["id"] for e in entries}) == len(entries)
    print(json.dumps(page["entries"][-6]))  # one entry, for the record (pytest -s)

    # Nothing secret in any stored row: keys, the password, the webhook's secret and URL token, share token.
    stored = json.dumps(stored_rows(service))
    for secret_text in (key, secret, operator_key.api_key, PASSWORD, NEW_PASSWORD, hook.secret, "token=abc",
                        share_url.rsplit("/", 1)[1]):
        assert secret_text not in stored
    assert '"session.signed_in"' in stored

    # Over gRPC, the same entries; another account sees none of them.
    answer = grpc_call(service, "ListAccountActivity", pb.ListAccountActivityRequest(limit=3), key)
    assert [e.id for e in answer.entries] == [e["id"] for e in page["entries"][:3]]
    assert answer.entries[0].actor.kind == "session" and answer.pagination.total == 17
    other = service.new_key()
    assert [e["action"] for e in log_of(service, other)["entries"]] == ["api_key.created"]


def test_pages_by_offset_and_cursor_filters_by_action_and_a_read_only_key_reads_it(service: InProcessService) -> None:
    key = service.new_key()
    for n in range(5):
        assert rest(service, key, "POST", "/v1/keys", json={"name": f"k{n}"}).ok
    viewer = rest(service, key, "POST", "/v1/keys", json={"name": "viewer", "scope": "read_only"}).json()["api_key"]
    everything = log_of(service, viewer)["entries"]  # a read-only key reads the log
    assert [e["action"] for e in everything] == ["api_key.created"] * 7

    first = log_of(service, key, limit=3)
    assert first["pagination"] == {"total": 7, "limit": 3, "offset": 0, "has_more": True,
                                   "next_starting_after": str(everything[2]["id"])}
    assert rest(service, key, "POST", "/v1/keys", json={"name": "meanwhile"}).ok  # a new entry moves no cursor
    second = log_of(service, key, limit=3, starting_after=first["pagination"]["next_starting_after"])
    assert second["entries"] == everything[3:6]
    assert second["pagination"] == {"total": 8, "limit": 3, "offset": 0, "has_more": True,
                                    "next_starting_after": str(everything[5]["id"])}
    assert log_of(service, key, limit=3, offset=4)["entries"] == everything[3:6]  # the offset counts the new one

    revoked = rest(service, key, "GET", "/v1/keys").json()["keys"][0]["key_id"]
    assert rest(service, key, "POST", f"/v1/keys/{revoked}/revoke", json={}).ok
    only = log_of(service, key, action="api_key.revoked")
    assert [e["target"]["key_id"] for e in only["entries"]] == [revoked] and only["pagination"]["total"] == 1
    assert log_of(service, key, action="")["pagination"]["total"] == 9  # empty: every action

    with Client(service.base_url, key) as sdk:
        assert [e.id for e in sdk.iter_account_activity(page_size=2)] == [
            e["id"] for e in log_of(service, key)["entries"]]
        page = sdk.account_activity(limit=1, action="api_key.revoked")
        assert (page.entries[0].action, page.entries[0].actor_kind, page.entries[0].target) == (
            "api_key.revoked", "api_key", {"key_id": revoked})

    async def walk() -> list[str]:
        async with AsyncClient(service.url_for("grpc"), key) as sdk:
            return [e.action async for e in sdk.iter_account_activity(page_size=4, action="api_key.created")]
    assert asyncio.run(walk()) == ["api_key.created"] * 8


BAD_VALUES: list[tuple[dict[str, Any], str]] = [
    ({"limit": 0}, "limit must be between 1 and 100, got 0"),
    ({"offset": -1}, "offset must be 0 or more, got -1"),
    ({"action": "key.made"}, 'action must be one of ' + ", ".join(activity.ACTIONS) + ', got "key.made"'),
    ({"starting_after": "1", "offset": 2}, "starting_after and offset cannot be used together (offset 2): the next "
                                           "page after an entry is starting_after alone"),
    ({"starting_after": "999999"}, 'starting_after "999999" is not the id of one of your activity entries; start '
                                   "again without starting_after (its first page), then pass each page's "
                                   "pagination.next_starting_after"),
]


def test_bad_values_get_the_api_error_shape(service: InProcessService) -> None:
    key = service.new_key()
    mine = log_of(service, key)["entries"][0]["id"]
    other = service.new_key()
    for params, message in [*BAD_VALUES, ({"starting_after": str(mine)}, None)]:
        refused = requests.get(service.base_url + ROUTE, params=params, timeout=30,
                               headers={"Authorization": f"Bearer {other}"})
        assert refused.status_code == 400, params
        assert message is None or refused.json() == {"error": "Invalid request", "message": message}
    assert requests.get(service.base_url + ROUTE, timeout=30).status_code == 401
    with pytest.raises(grpc.RpcError) as bad:
        grpc_call(service, "ListAccountActivity", pb.ListAccountActivityRequest(action="nope"), key)
    assert bad.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_the_users_and_the_operators_commands(service: InProcessService, monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    username = f"cli{time.monotonic_ns()}"
    key = service.new_key(username=username)
    assert rest(service, key, "POST", "/v1/keys", json={"name": "laptop"}).ok
    monkeypatch.setenv("PHONOS_URL", service.base_url)
    monkeypatch.setenv("PHONOS_API_KEY", key)
    assert user_cli.main(["account", "activity"]) == 0
    rows = [line.split("\t") for line in capsys.readouterr().out.splitlines()]  # not a terminal: tab-separated
    laptop, first_key = rows[0][4], rows[1][4]
    assert rows[0][1:] == ["api_key.created", f"{first_key} (first key)", REST_CLIENT, laptop,
                           "name=laptop scope=full"]
    assert rows[1][1:] == ["api_key.created", "operator", "", first_key, "name=first key scope=full"]
    assert user_cli.main(["account", "activity", "--json", "--all", "--action", "api_key.created"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [e["actor"]["kind"] for e in listed["entries"]] == ["api_key", "operator"]

    for name, value in service.env.items():  # the store the service uses (PHONOS_DATABASE_URL on PostgreSQL)
        monkeypatch.setenv(name, value)
    data_dir = str(service.settings.data_dir)
    assert operator_cli(["accounts", "activity", "--username", username, "--json", "--data-dir", data_dir]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["total"] == 2 and printed["entries"] == log_of(service, key)["entries"]  # the API's JSON
    assert operator_cli(["accounts", "activity", "--username", username, "--action", "api_key.created",
                         "--limit", "1", "--data-dir", data_dir]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"{username}: 1 of 2 entries, newest first" and "api_key.created" in lines[2]
    assert lines[1].split()[:4] == ["WHEN", "ACTION", "BY", "FROM"]


def test_the_purge_deletes_old_entries_in_batches(service: InProcessService, monkeypatch: pytest.MonkeyPatch) -> None:
    # Only this account's entries are made old: the module's service is shared, and the other tests' entries,
    # whether they ran before or run after, stay young and out of the counts.
    key = service.new_key()
    for n in range(4):
        assert rest(service, key, "POST", "/v1/keys", json={"name": f"old{n}"}).ok
    # The row number, for the raw SQL: the API's account.id is opaque (jobservice/opaque_ids.py), not the row.
    username = rest(service, key, "GET", "/v1/account").json()["account"]["username"]
    [(account_id,)] = service.sql("SELECT id FROM accounts WHERE username = ?", username)
    assert len(log_of(service, key)["entries"]) == 5  # the operator's key and the four
    service.sql("UPDATE account_activity SET created_at = created_at - ? WHERE account_id = ?", 2 * 86400.0,
                account_id)  # two days old
    db = service.running.service.db
    monkeypatch.setattr(activity, "PURGE_BATCH", 2)
    assert service.call(activity.ActivityLog(db, log_days=3).purge()) == 0  # younger than three days: kept
    assert service.call(activity.ActivityLog(db, log_days=1).purge()) == 5  # in three batches
    assert log_of(service, key)["entries"] == []
    monkeypatch.undo()
    assert rest(service, key, "POST", "/v1/keys", json={"name": "new"}).ok
    assert service.call(service.running.service.activity.purge()) == 0  # the default 365 days keeps it
    assert log_of(service, key)["pagination"]["total"] == 1


def test_a_user_agent_is_stored_without_control_characters(service: InProcessService) -> None:
    """What anyone may send as a User-Agent is shown in the dashboard's activity card and printed by the CLI to a
    terminal: escapes, bidirectional overrides and line breaks are dropped (white space becomes one space), over
    the dashboard's routes and a direct gRPC CreateSession alike; a wrong current password is logged with it."""
    username = f"esc{time.monotonic_ns()}"
    key = service.new_key(username=username)
    asyncio.run(admin.set_password(service.settings, username=username, password=PASSWORD))
    # Over HTTP a header holds no C0 control but tabs (aiohttp refuses the rest), but as UTF-8 or any bytes
    # above 0x7f a right-to-left override and a C1 control (0x9b, the one-byte escape) pass.
    sent = "Lab\tBrowser/3.0\t\t(\u202eevil)".encode() + b"\x9b"
    shown = "Lab Browser/3.0 (evil)"
    session = requests.Session()
    session.headers.update({"User-Agent": sent, "X-Forwarded-For": BROWSER})  # type: ignore[dict-item]
    signed_in = session.post(f"{service.base_url}/auth/sign-in", json={"username": username, "password": PASSWORD},
                             timeout=30)
    assert signed_in.status_code == 200, signed_in.text
    csrf = {"X-CSRF-Token": signed_in.json()["csrf_token"]}
    wrong = session.post(f"{service.base_url}/auth/password", headers=csrf, timeout=30,
                         json={"current_password": "not it", "new_password": NEW_PASSWORD})
    assert wrong.status_code == 400, wrong.text
    changed = session.post(f"{service.base_url}/auth/password", headers=csrf, timeout=30,
                           json={"current_password": PASSWORD, "new_password": NEW_PASSWORD})
    assert changed.status_code == 200, changed.text
    csrf = {"X-CSRF-Token": changed.json()["csrf_token"]}  # the change rotated the session
    assert session.post(f"{service.base_url}/auth/sign-out", headers=csrf, timeout=30).ok
    # A gRPC caller can put anything in the field: C0 and C1 controls, line breaks, a zero-width joiner.
    channel, stub = service.grpc_stub()
    with channel:
        stub.CreateSession(pb.CreateSessionRequest(
            username=username, password=NEW_PASSWORD,
            user_agent="\r\nGrpcAgent\x85\u2028/1.0\x1b]0;title\x07\u200d \x9b31m" + "x" * 400), timeout=30)
        stub.CreateSession(pb.CreateSessionRequest(username=username, password=NEW_PASSWORD,
                                                   user_agent="\x1b\x1b\t \u202e"), timeout=30)
    entries = log_of(service, key)["entries"]
    assert [(e["action"], e.get("user_agent")) for e in entries[:6]] == [
        ("session.signed_in", None),  # nothing left of it
        ("session.signed_in", ("GrpcAgent /1.0]0;title 31m" + "x" * 400)[:activity.MAX_USER_AGENT]),
        ("session.signed_out", shown), ("password.changed", shown), ("password.change_failed", shown),
        ("session.signed_in", shown),
    ]


def test_through_a_separate_gateway_the_client_it_names_is_recorded(service: InProcessService) -> None:
    """`python -m gateway` in its own process: the job service believes its x-phonos-client-address (loopback is a
    trusted proxy here) for the key's changes and for a dashboard sign-in and sign-out alike, with the browser's
    User-Agent."""
    username = f"far{time.monotonic_ns()}"
    key = service.new_key(username=username)
    asyncio.run(admin.set_password(service.settings, username=username, password=PASSWORD))
    with separate_gateway(service.grpc_target, PHONOS_TRUSTED_PROXIES="127.0.0.1") as gateway:
        made = requests.post(f"{gateway}/v1/keys", json={"name": "far"}, timeout=30,
                             headers={"Authorization": f"Bearer {key}", "X-Forwarded-For": REST_CLIENT})
        assert made.status_code == 200, made.text
        signed_in = requests.post(f"{gateway}/auth/sign-in", json={"username": username, "password": PASSWORD},
                                  headers={"X-Forwarded-For": BROWSER, "User-Agent": USER_AGENT}, timeout=30)
        assert signed_in.status_code == 200, signed_in.text
        signed_out = requests.post(f"{gateway}/auth/sign-out", cookies=signed_in.cookies, timeout=30,
                                   headers={"X-Forwarded-For": BROWSER, "User-Agent": USER_AGENT,
                                            "X-CSRF-Token": signed_in.json()["csrf_token"]})
        assert signed_out.status_code == 200, signed_out.text
    entries = log_of(service, key)["entries"]
    assert [(e["action"], e["actor"]["kind"], e.get("client_address"), e.get("user_agent")) for e in entries[:3]] == [
        ("session.signed_out", "session", BROWSER, USER_AGENT), ("session.signed_in", "session", BROWSER, USER_AGENT),
        ("api_key.created", "api_key", REST_CLIENT, None)]
