"""Account ids are opaque (jobservice/opaque_ids.py, NumberCipher kind `account`, migration 0077): GET /v1/account's
`account.id` and GetSession's `account_id` were the account's row number, so a user read off how many accounts had
been made before theirs. On SQLite and PostgreSQL: the id shown is an int32 that is not the row number, the same on
REST, gRPC and the dashboard's session; the operator's `keys create`/`keys add --json` print it with the row number
(`account_row`); after a simulated upgrade an account made before it keeps the id it showed (its row number)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
import requests

from jobservice import admin
from launcher.cli import main as operator_cli
from phonos.v1 import phonos_pb2 as pb
from tests.support import ALL_STORES, InProcessService

STORES = ALL_STORES  # the secret and the cut-off are state: on SQLite and on PostgreSQL
INT32_MAX = 2**31 - 1
PASSWORD = "correct horse battery staple"


def shown_id(service: InProcessService, key: str) -> int:
    answer = service.client(key).get("/v1/account")
    assert answer.status_code == 200, answer.text
    return int(answer.json()["account"]["id"])


def row(service: InProcessService, username: str) -> int:
    [(number,)] = service.sql("SELECT id FROM accounts WHERE username = ?", username)
    return int(number)


@pytest.mark.integration
def test_account_ids_tell_nothing_of_other_accounts_and_survive_an_upgrade(
        twin_factory: type, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    service = twin_factory.start(tmp_path / "var")
    alice_key = service.new_key(username="alice")
    for n in range(3):  # accounts made between alice's and bob's
        service.new_key(username=f"other{n}")
    bob_key = service.new_key(username="bob")
    alice, bob = shown_id(service, alice_key), shown_id(service, bob_key)
    rows = {row(service, "alice"), row(service, "bob")}
    # Positive int32s (the seed contract's integer), neither a row number: no count of accounts to read off.
    assert alice != bob and all(0 < i <= INT32_MAX for i in (alice, bob)) and not {alice, bob} & rows, (alice, bob)
    assert shown_id(service, alice_key) == alice  # stable

    # The same id on gRPC and in the dashboard's session (GET /auth/session and /auth/status: GetSession).
    channel, stub = service.grpc_stub()
    with channel:
        answer = stub.GetAccount(pb.GetAccountRequest(), metadata=(("authorization", f"Bearer {alice_key}"),))
        assert answer.account.id == alice
    asyncio.run(admin.set_password(service.settings, username="alice", password=PASSWORD))
    browser = requests.Session()
    assert browser.post(f"{service.base_url}/auth/sign-in", json={"username": "alice", "password": PASSWORD},
                        timeout=30).status_code == 200
    assert browser.get(f"{service.base_url}/auth/session", timeout=30).json()["account_id"] == alice
    assert browser.get(f"{service.base_url}/auth/status", timeout=30).json()["account_id"] == alice
    assert browser.get(f"{service.base_url}/v1/account", timeout=30).json()["account"]["id"] == alice

    # The operator sees both: the id the user sees (to match what a user quotes) and the row (logs, the database).
    for name, value in service.env.items():  # the store the service uses (PHONOS_DATABASE_URL on PostgreSQL)
        monkeypatch.setenv(name, value)
    data_dir = ("--data-dir", str(service.settings.data_dir))
    assert operator_cli(["keys", "create", "--username", "carol", "--json", *data_dir]) == 0
    created = json.loads(capsys.readouterr().out)
    assert created["account_row"] == row(service, "carol") != created["account_id"]
    assert created["account_id"] == shown_id(service, created["api_key"])
    assert operator_cli(["keys", "add", "--username", "alice", "--json", *data_dir]) == 0
    added = json.loads(capsys.readouterr().out)
    assert (added["account_id"], added["account_row"]) == (alice, row(service, "alice"))

    # As if alice's and bob's ids had been shown before the upgrade (migration 0077 records the highest account
    # number given out): after a restart they are their row numbers, and an account made after it is opaque.
    service.sql("UPDATE opaque_ids SET legacy_max = ? WHERE kind = 'account'", max(rows))
    service.stop()
    service = twin_factory.start(tmp_path / "var")
    assert (shown_id(service, alice_key), shown_id(service, bob_key)) == (row(service, "alice"), row(service, "bob"))
    dave_key = service.new_key(username="dave")
    dave = shown_id(service, dave_key)
    assert max(rows) < dave <= INT32_MAX and dave != row(service, "dave")


@pytest.mark.integration
def test_the_migration_keeps_the_ids_of_every_account_made_before_it(twin_factory: type, tmp_path: Path) -> None:
    """Migration 0077's own SQL, run again on a store holding accounts (the upgrade of a store that has them): its
    cut-off is the highest account number, so every id shown before stays the row number it was."""
    service = twin_factory.start(tmp_path / "var")
    keys = [service.new_key(username=name) for name in ("ada", "grace")]
    folder = "postgres/migrations/0027" if service.shared else "migrations/0077"
    [migration] = (Path(__file__).parents[2] / "jobservice/sql").glob(f"{folder}_*.sql")
    service.sql("DELETE FROM opaque_ids WHERE kind = 'account'")
    service.sql(migration.read_text())
    [(legacy_max,)] = service.sql("SELECT legacy_max FROM opaque_ids WHERE kind = 'account'")
    assert int(legacy_max) == max(row(service, name) for name in ("ada", "grace"))
    service.stop()
    service = twin_factory.start(tmp_path / "var")
    assert [shown_id(service, key) for key in keys] == [row(service, "ada"), row(service, "grace")]
