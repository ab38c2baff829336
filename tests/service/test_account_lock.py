"""`phonos accounts lock`: someone leaves the lab. A tester revoked every key of a member (the last one too) and
found her dashboard session still working, and able to make a new key and submit jobs; her share link still
served her result and her webhook kept receiving. Locking ends every way in at once, on SQLite and PostgreSQL; her
jobs and results stay, for the operator (or a successor) to reach with a key of their own."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import pytest
import requests

from jobservice import admin
from tests.support import ALL_STORES, InProcessService

pytestmark = pytest.mark.integration

STORES = ALL_STORES
PASSWORD = "a long enough password 1"


def test_a_locked_account_has_no_way_in_and_keeps_its_results(twin_service: InProcessService) -> None:
    service, username = twin_service, f"heidi{time.monotonic_ns()}"
    key = service.new_key(username=username)
    asyncio.run(admin.set_password(service.settings, username=username, password=PASSWORD))
    client = service.client(key)
    job_id = client.predict(name="her result").json()["job_id"]
    assert client.wait_for(job_id)["status"] == "completed"
    link = service.base_url + client.post(f"/v1/jobs/{job_id}/shares", json={}).json()["url"]
    assert client.post("/v1/webhooks", json={"url": "http://127.0.0.1:9/hook"}).status_code == 200
    browser = requests.Session()
    signed_in = browser.post(f"{service.base_url}/auth/sign-in", json={"username": username, "password": PASSWORD},
                             timeout=30)
    assert signed_in.status_code == 200
    csrf = {"X-CSRF-Token": signed_in.json()["csrf_token"]}
    assert requests.get(link + "/job", timeout=30).status_code == 200

    locked = asyncio.run(admin.lock_account(service.settings, username=username))

    assert locked == admin.Locked(keys_revoked=1, sessions_ended=1, had_password=True, shares_revoked=1,
                                  webhooks_deleted=1, active_jobs=0)
    assert client.get("/v1/account").status_code == 401
    # The session that could make itself a new key and spend the credits is over, and no new one can start.
    assert browser.get(f"{service.base_url}/v1/account", timeout=30).status_code == 401
    assert browser.post(f"{service.base_url}/v1/keys", json={"name": "mine"}, headers=csrf, timeout=30
                        ).status_code == 401
    again = requests.post(f"{service.base_url}/auth/sign-in", json={"username": username, "password": PASSWORD},
                          timeout=30)
    assert again.status_code == 401
    assert requests.get(link + "/job", timeout=30).status_code == 404
    # Her work is still there: the operator gives a key to the account and finds her job, files and all.
    _, successor = asyncio.run(admin.add_key(service.settings, username=username, name="handover", rate_limit=None))
    handover = service.client(successor.api_key)
    assert handover.get("/v1/webhooks").json()["webhooks"] == []
    assert handover.get(f"/v1/jobs/{job_id}").json()["status"] == "completed"
    assert handover.get(f"/v1/jobs/{job_id}/download").status_code == 200
    # A second lock finds nothing more to end, and says so.
    assert asyncio.run(admin.lock_account(service.settings, username=username)) == admin.Locked(
        keys_revoked=1, sessions_ended=0, had_password=False, shares_revoked=0, webhooks_deleted=0, active_jobs=0)


def test_the_operator_verb_asks_for_yes_and_says_what_it_ended(twin_service: InProcessService,
                                                               monkeypatch: pytest.MonkeyPatch,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    from launcher.cli import main as phonos

    for name, value in twin_service.env.items():  # the store the service uses (PHONOS_DATABASE_URL on PostgreSQL)
        monkeypatch.setenv(name, value)
    username = f"ivan{time.monotonic_ns()}"
    key = twin_service.new_key(username=username)
    data_dir = str(twin_service.settings.data_dir)
    assert phonos(["accounts", "lock", "--username", username, "--data-dir", data_dir]) == 2  # without --yes
    assert "add --yes to do it" in capsys.readouterr().err
    assert twin_service.client(key).get("/v1/account").status_code == 200  # nothing was done
    assert phonos(["accounts", "lock", "--username", username, "--yes", "--data-dir", data_dir]) == 0
    said = capsys.readouterr().out
    assert said.startswith(f"{username}: locked: 1 key revoked, 0 dashboard sessions signed out (it had no password), "
                           "0 share links revoked, 0 webhooks deleted"), said
    assert "to open it again: `phonos keys add` and `phonos users set-password`" in said
    assert twin_service.client(key).get("/v1/account").status_code == 401
    assert phonos(["accounts", "lock", "--username", "nobody-here", "--yes", "--data-dir", data_dir]) != 0


def test_keys_create_says_when_it_made_a_new_database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    """A new admin ran `phonos keys create` from another directory: exit 0, a key printed, and a new ./var the
    server never reads (so the key worked nowhere), without a word. It says so now; in an existing one, nothing."""
    from launcher.cli import main as phonos

    for name in [n for n in os.environ if n.startswith("PHONOS_")]:
        monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    assert phonos(["keys", "create", "--username", "ivan"]) == 0
    err = " ".join(capsys.readouterr().err.split())
    assert f"note: there was no phonos database here, so this made a new one in {tmp_path / 'var'};" in err, err
    assert phonos(["keys", "create", "--username", "olga"]) == 0
    assert "note:" not in capsys.readouterr().err
