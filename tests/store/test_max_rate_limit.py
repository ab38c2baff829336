"""An account's key ceiling (`max_rate_limit`) changed after the account was made (`phonos accounts update
--max-rate-limit`), on both stores. Was: only `keys create --max-rate-limit` set it, once; a lab could give a member's
pipeline more than the cap set on day one only by making a new account (found by a tester)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from jobservice.accounts import Accounts
from jobservice.activity import ActivityLog
from jobservice.api_keys import ApiKeys, RateLimitOutOfRange
from jobservice.errors import InvalidArgument
from jobservice.store import Store
from tests.store.conftest import Scenario, account

pytestmark = pytest.mark.integration


def test_the_ceiling_rises_and_falls_but_never_below_a_working_keys_limit(run: Callable[[Scenario], None]) -> None:
    async def scenario(store: Store) -> None:
        accounts, keys = Accounts(store), ApiKeys(store, default_rate_limit=60)
        ada = await account(store)  # the default ceiling: 60
        with pytest.raises(RateLimitOutOfRange) as above:
            await keys.create(ada, name="pipeline", rate_limit=120)
        assert (above.value.rate_limit, above.value.ceiling) == (120, 60)

        assert await accounts.set_max_rate_limit("ada", 200) == (60, 200)
        assert await keys.max_rate_limit(ada) == 200
        fast, _ = await keys.create(ada, name="pipeline", rate_limit=120)  # allowed now
        spare, _ = await keys.create(ada, name="spare", rate_limit=150)

        with pytest.raises(InvalidArgument) as refused:  # below two working keys' limits: named, nothing changed
            await accounts.set_max_rate_limit("ada", 100)
        assert refused.value.message == (
            f'2 of "ada"\'s keys allow more than 100 requests per minute: {spare.id} (150/min), {fast.id} (120/min); '
            "lower them first (`phonos keys update KEY_ID --rate-limit 100`) or revoke them")
        assert await keys.max_rate_limit(ada) == 200
        await keys.revoke(ada, spare.id, confirm_last_key=False)  # a revoked key holds nothing back
        assert await accounts.set_max_rate_limit("ada", 120) == (200, 120)
        assert await accounts.set_max_rate_limit("ada", 120) == (120, 120)  # no change: no entry either

        for bad in (0, -5, 2**31):
            with pytest.raises(InvalidArgument, match="max rate limit must be between 1 and 2147483647"):
                await accounts.set_max_rate_limit("ada", bad)
        with pytest.raises(InvalidArgument, match='no account named "bob"'):
            await accounts.set_max_rate_limit("bob", 100)

        entries, _ = await ActivityLog(store, log_days=0).page(ada, limit=100, offset=0,
                                                               action="account.max_rate_limit_changed")
        assert [(e.actor.kind, e.details) for e in entries] == [
            ("operator", {"from": 200, "to": 120}), ("operator", {"from": 60, "to": 200})]

    run(scenario)
