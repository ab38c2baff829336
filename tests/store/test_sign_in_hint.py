"""The account `phonos serve`'s sign-in line names (Accounts.password_holder), on SQLite and PostgreSQL:
'admin' when it has a dashboard password, else an account that has one, else none."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from jobservice.accounts import Accounts
from jobservice.sessions import Sessions
from jobservice.store import Store
from tests.store.conftest import Scenario, account

pytestmark = pytest.mark.integration


def test_the_sign_in_hint_names_admin_first_then_anyone_with_a_password(run: Callable[[Scenario], None]) -> None:
    async def scenario(store: Store) -> None:
        sessions = Sessions(store, ttl_s=0)
        admin = await account(store, name="admin")
        assert await Accounts(store).password_holder("admin") is None  # nobody can sign in yet
        ada = await account(store, name="ada")
        await account(store, name="bob")
        await sessions.set_password(ada, "a long enough password")
        assert await Accounts(store).password_holder("admin") == "ada"  # admin never got one: others can still sign in
        await sessions.set_password(admin, "another long password")
        assert await Accounts(store).password_holder("admin") == "admin"

    run(scenario)
