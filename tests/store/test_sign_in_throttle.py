"""The failed sign-in throttle's counters (jobservice/sign_in_throttle.py) on SQLite and PostgreSQL: the same
sliding minute as the in-memory log it replaced, read before anything else, two keys in one read, purged once out
of the window. A clock is passed in, so the window is walked without waiting."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from jobservice.sign_in_throttle import (
    ADDRESS,
    USERNAME,
    Refusal,
    SignInFailures,
    purge_sign_in_failures,
    throttle_key,
)
from jobservice.store import Store
from tests.store.conftest import Scenario

pytestmark = pytest.mark.integration

T0 = 1_800_000_000.0  # epoch seconds


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


def test_the_limit_th_failure_in_the_minute_refuses_until_the_oldest_of_them_leaves(
        run: Callable[[Scenario], None]) -> None:
    async def scenario(store: Store) -> None:
        clock = Clock()
        failures = SignInFailures(store, per_username=3, per_address=5, clock=clock)
        for _ in range(3):  # 3 failures of ada, 0.0 s, 10.0 s and 20.0 s in
            assert await failures.refusal("ada", "192.0.2.1") is None
            await failures.failed("ada", "192.0.2.1")
            clock.now += 10
        clock.now = T0 + 30
        assert await failures.refusal("ada", "192.0.2.7") == Refusal(USERNAME, 3, 30)  # the first leaves at 60.0
        assert await failures.refusal("ada", None) == Refusal(USERNAME, 3, 30)  # a password change: the same count
        assert await failures.refusal("bob", "192.0.2.1") is None  # per username; the address has 3 of 5
        clock.now = T0 + 59.5
        assert await failures.refusal("ada", None) == Refusal(USERNAME, 3, 1)  # whole seconds, at least 1
        clock.now = T0 + 60  # the first failure is out of the window: 2 left in it
        assert await failures.refusal("ada", None) is None
        await failures.failed("ada", None)  # a wrong current password: the username's only
        assert await failures.refusal("ada", None) == Refusal(USERNAME, 3, 10)  # now the 10.0 s one fills it
        assert await failures.refusal("bob", "192.0.2.1") is None  # the address still has 3

    run(scenario)


def test_the_address_is_counted_whatever_the_usernames_and_is_answered_first(run: Callable[[Scenario], None]) -> None:
    async def scenario(store: Store) -> None:
        clock = Clock()
        failures = SignInFailures(store, per_username=2, per_address=4, clock=clock)
        for name in ("ada", "ada", "bob", "cy"):  # a spray: ada reaches her limit and the address its own
            await failures.failed(name, "2001:db8::/64")
            clock.now += 1
        assert await failures.refusal("ada", "2001:db8::/64") == Refusal(ADDRESS, 4, 56)  # the address's first
        assert await failures.refusal("dan", "2001:db8::/64") == Refusal(ADDRESS, 4, 56)
        assert await failures.refusal("ada", "198.51.100.4") == Refusal(USERNAME, 2, 56)
        assert await failures.refusal("dan", "198.51.100.4") is None

    run(scenario)


def test_failures_are_purged_once_out_of_the_window_and_only_then(run: Callable[[Scenario], None]) -> None:
    async def scenario(store: Store) -> None:
        clock = Clock()
        failures = SignInFailures(store, per_username=1, per_address=30, clock=clock)
        await failures.failed("eve", "203.0.113.5")
        clock.now += 30
        await failures.failed("ada", "203.0.113.5")
        assert await failures.purge() == 0  # both still in the window
        clock.now = T0 + 60  # eve's is out of it (2 rows: her username's and the address's), ada's not
        assert await failures.purge() == 2
        assert await failures.refusal("ada", None) == Refusal(USERNAME, 1, 30)  # untouched by the purge
        assert await purge_sign_in_failures(store, T0 + 30, batch=1) == 2  # a batch at a time, until none is left
        assert await failures.refusal("ada", None) is None

    run(scenario)


def test_keys_are_digests_of_scope_and_value_never_what_was_typed() -> None:
    typed = "My Secret Password"  # a password typed into the username field is not kept
    key = throttle_key(USERNAME, typed)
    assert len(key) == 64 and set(key) <= set("0123456789abcdef") and typed not in key
    assert key != throttle_key(ADDRESS, typed) and key == throttle_key(USERNAME, typed)
