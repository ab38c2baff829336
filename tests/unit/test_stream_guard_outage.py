"""The stream guard while the database is away: a round that fails waits the period before the next. Its expiries
were left from the last good round, and one already past made every next round due at once: 14,497 rounds in
0.5 s against a database coming back (found reading the change that made the guard time rounds by expiries)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from jobservice.errors import ServiceUnavailable
from jobservice.stream_guard import StreamGuard

pytestmark = pytest.mark.unit


class _AwayReads:
    def __init__(self) -> None:
        self.calls = 0

    async def fetch_all(self, name: str, params: Any = None) -> list[Any]:
        self.calls += 1
        raise ServiceUnavailable("the database is restarting")


class _AwayStore:
    shared = False

    def __init__(self) -> None:
        self.read = _AwayReads()


def test_a_failed_round_waits_the_period_even_with_an_expiry_past() -> None:
    async def run() -> int:
        store = _AwayStore()
        guard = StreamGuard(store, every_s=0.5)  # type: ignore[arg-type]
        with guard.holding("a-key-hash"):
            guard._expiries["a-key-hash"] = time.time() - 1  # an expiry the last good round saw, now past
            guard.start()
            await asyncio.sleep(0.3)
            await guard.close()
        return store.read.calls

    assert 1 <= asyncio.run(run()) <= 2
