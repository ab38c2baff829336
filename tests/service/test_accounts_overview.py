"""`phonos accounts list`: every account at a glance for the operator, on SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
import requests

from jobservice import admin
from launcher.cli import main as phonos
from tests.support import ALL_STORES

pytestmark = pytest.mark.integration
STORES = ALL_STORES


def test_accounts_list_shows_balances_keys_jobs_and_sign_in(twin_factory: type, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    service = twin_factory.start(tmp_path / "var")
    for name, value in service.env.items():  # the store the service uses (PHONOS_DATABASE_URL on PostgreSQL)
        monkeypatch.setenv(name, value)
    zoe = service.client(service.new_key(credits=500, username="zoe"))
    service.new_key(credits=70, username="yann")
    asyncio.run(admin.set_password(service.settings, username="yann", password="a long enough passphrase"))
    zoe.wait_for(zoe.predict().json()["job_id"])
    zoe.post("/v1/keys", json={"name": "second"})

    assert phonos(["accounts", "list", "--json", "--data-dir", str(tmp_path / "var")]) == 0
    accounts = {a["username"]: a for a in json.loads(capsys.readouterr().out)["accounts"]}
    assert list(accounts) == ["yann", "zoe"]  # by username
    assert accounts["zoe"] | {"created_at": None, "last_used_at": None} == {
        "username": "zoe", "email": "zoe@example.org", "credits": 490, "created_at": None, "can_sign_in": False,
        "active_keys": 2, "last_used_at": None, "jobs": 1, "active_jobs": 0,
        "max_rate_limit": 100_000}  # the test keys' 100,000/min (the ceiling is the larger of 60 and the first key's)
    assert accounts["yann"]["can_sign_in"] and accounts["yann"]["jobs"] == 0 and accounts["yann"]["credits"] == 70
    assert accounts["yann"]["last_used_at"] is None and accounts["zoe"]["last_used_at"] is not None

    # yann uses the dashboard only (its key never): a sign-in is a use, or a dashboard-only colleague looked idle
    signed_in = requests.post(f"{service.base_url}/auth/sign-in", timeout=30,
                              json={"username": "yann", "password": "a long enough passphrase"})
    assert signed_in.status_code == 200, signed_in.text
    assert phonos(["accounts", "list", "--json", "--data-dir", str(tmp_path / "var")]) == 0
    accounts = {a["username"]: a for a in json.loads(capsys.readouterr().out)["accounts"]}
    assert accounts["yann"]["last_used_at"] is not None

    assert phonos(["accounts", "list", "--data-dir", str(tmp_path / "var")]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split()[:5] == ["USERNAME", "EMAIL", "CREDITS", "KEYS", "MAX/MIN"]
    assert table[2].split()[:8] == ["zoe", "zoe@example.org", "490", "2", "100000", "1", "0", "no"]
