"""Credit history and account activity entry ids are opaque (jobservice/opaque_ids.py, NumberCipher, migration
0076): their ids were row numbers of tables every account writes, so the gap between two of one's own entries told
how many balance or access changes the whole platform made meanwhile. On SQLite and PostgreSQL: the ids shown are
not the rows' numbers, the lists still page by them (REST, gRPC, the operator's view), a row number is no cursor,
and after a simulated upgrade the ids shown before it stay the numbers they were and still page."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import pytest

from jobservice.admin import account_activity, add_credits, credit_history
from jobservice.opaque_ids import NumberCipher
from phonos.v1 import phonos_pb2 as pb
from tests.support import ALL_STORES, ApiClient, InProcessService

STORES = ALL_STORES  # the secrets and cut-offs are state: on SQLite and on PostgreSQL
CREDITS = "/v1/account/credits"
ACTIVITY = "/v1/account/activity"
INT32_MAX = 2**31 - 1


def ids(client: ApiClient, path: str, **params: Any) -> tuple[list[int], dict[str, Any]]:
    answer = client.get(path, params=params)
    assert answer.status_code == 200, answer.text
    return [entry["id"] for entry in answer.json()["entries"]], answer.json()["pagination"]


def walk(client: ApiClient, path: str) -> list[int]:
    """Every entry, one per page, by the cursor each page names."""
    seen, info = ids(client, path, limit=1)
    while info["has_more"]:
        page, info = ids(client, path, limit=1, starting_after=info["next_starting_after"])
        assert page and info.get("next_starting_after", str(page[-1])) == str(page[-1])
        seen += page
    return seen


def refused(client: ApiClient, path: str, cursor: str) -> bool:
    answer = client.get(path, params={"starting_after": cursor})
    return answer.status_code == 400 and "start again" in answer.json()["message"]


def rows(service: InProcessService, table: str, username: str) -> list[int]:
    """The entries' row numbers, newest first (as the lists are ordered)."""
    return [int(r[0]) for r in service.sql(
        f"SELECT e.id FROM {table} e JOIN accounts a ON a.id = e.account_id WHERE a.username = ? ORDER BY e.id DESC",
        username)]


def top_up(service: InProcessService, username: str) -> None:
    """One credit entry and one activity entry (credits.added) for `username`."""
    asyncio.run(add_credits(service.settings, username=username, amount=1, note="opaque ids"))


@pytest.mark.integration
def test_entry_ids_tell_nothing_of_other_accounts_page_and_survive_an_upgrade(twin_factory: type,
                                                                             tmp_path: Path) -> None:
    service = twin_factory.start(tmp_path / "var")
    alice_key = service.new_key(username="alice")
    service.new_key(username="bob")
    alice = service.client(alice_key)
    for _ in range(2):
        top_up(service, "alice")
        for _ in range(3):  # another account's changes between two of alice's
            top_up(service, "bob")
    for path, table in ((CREDITS, "credit_entries"), (ACTIVITY, "account_activity")):
        shown, _ = ids(alice, path, limit=100)
        numbers = rows(service, table, "alice")
        assert len(shown) == len(numbers) == 3 and len(set(shown)) == 3, (path, shown)
        # Positive int32s (the API's type), none of them the row's number: nothing to subtract.
        assert all(0 < i <= INT32_MAX for i in shown) and not set(shown) & set(numbers), (path, shown, numbers)
        assert walk(alice, path) == shown, path  # the cursor pages across them
        # A row number, alice's own or anyone's, is no cursor: it turns back into some other row's number.
        for guess in (*numbers, 1, INT32_MAX, 2**31):
            assert refused(alice, path, str(guess)), (path, guess)
    channel, stub = service.grpc_stub()
    auth = (("authorization", f"Bearer {alice_key}"),)
    credit_ids, _ = ids(alice, CREDITS, limit=100)
    with channel:
        answer = stub.ListCreditEntries(pb.ListCreditEntriesRequest(limit=1, starting_after=str(credit_ids[0])),
                                        metadata=auth)
        assert [e.id for e in answer.entries] == credit_ids[1:2]
        activity_ids, _ = ids(alice, ACTIVITY, limit=100)
        answer_activity = stub.ListAccountActivity(
            pb.ListAccountActivityRequest(limit=5, starting_after=str(activity_ids[0])), metadata=auth)
        assert [e.id for e in answer_activity.entries] == activity_ids[1:]
    # The operator's view (`phonos credits history`, `phonos accounts activity`) shows the ids alice sees.
    _, entries, _ = asyncio.run(credit_history(service.settings, username="alice", limit=100, offset=None))
    assert [e.id for e in entries] == credit_ids
    activity, _ = asyncio.run(account_activity(service.settings, username="alice", limit=100, offset=None))
    assert [e.id for e in activity] == activity_ids

    # As if these entries had been shown before the upgrade (migration 0076 records the highest number given out):
    # after a restart they are their numbers, those numbers still page, and new entries are opaque again.
    for kind, table in (("credit_entry", "credit_entries"), ("activity", "account_activity")):
        service.sql("UPDATE opaque_ids SET legacy_max = ? WHERE kind = ?",
                    max(int(r[0]) for r in service.sql(f"SELECT id FROM {table}")), kind)
    service.stop()
    service = twin_factory.start(tmp_path / "var")
    alice = service.client(alice_key)
    top_up(service, "alice")
    for path, table in ((CREDITS, "credit_entries"), (ACTIVITY, "account_activity")):
        shown, _ = ids(alice, path, limit=100)
        numbers = rows(service, table, "alice")
        assert shown[1:] == numbers[1:] and shown[0] != numbers[0] and shown[0] > numbers[1], (path, shown, numbers)
        assert walk(alice, path) == shown, path  # from the new opaque id into the old numbers
        page, _ = ids(alice, path, starting_after=str(numbers[1]))  # a cursor saved before the upgrade
        assert page == numbers[2:], path
        assert refused(alice, path, str(numbers[0])), path  # the new row's number: above the cut-off


@pytest.mark.unit
def test_a_number_cipher_is_a_permutation_of_the_ids_above_the_cut_off() -> None:
    cipher = NumberCipher(os.urandom(32), legacy_max=1000)
    assert [cipher.shown(n) for n in (1, 1000)] == [1, 1000]  # shown before the upgrade: as they were
    shown = [cipher.shown(n) for n in range(1001, 3001)]
    assert len(set(shown)) == len(shown) and all(1000 < s <= INT32_MAX for s in shown)
    assert [cipher.number(str(s)) for s in shown] == list(range(1001, 3001))
    assert cipher.number(str(INT32_MAX)) is not None and cipher.shown(INT32_MAX) <= INT32_MAX
    for text in ("", "-1", "abc", str(2**31), "9" * 19):
        assert cipher.number(text) is None, text
    # Without a secret (no store read yet): the numbers as they are.
    assert NumberCipher(b"", 0).shown(5) == 5 and NumberCipher(b"", 0).number("5") == 5
