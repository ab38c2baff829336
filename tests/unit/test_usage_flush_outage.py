"""Usage flushes during a database outage: one log line a minute, no traceback, and no counts lost. Each failed
round (2 a second by default) logged a full traceback; the PostgreSQL operator walk counted 56 in 3 s."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest

from jobservice.errors import DatabaseUnavailable
from jobservice.usage import UsageEvent, UsageRecorder

pytestmark = pytest.mark.unit


class FlakyStore:
    """A store whose writes fail while `down`, and which keeps the usage rows written when it is up."""

    def __init__(self) -> None:
        self.down = True
        self.rows: list[dict[str, Any]] = []

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[FlakyStore]:
        if self.down:
            raise DatabaseUnavailable()
        yield self

    async def execute_many(self, name: str, rows: list[dict[str, Any]]) -> None:
        if name == "add_usage":
            self.rows += rows

    async def execute(self, name: str, params: dict[str, Any]) -> int:
        return 0


def test_an_outage_is_said_once_and_the_counts_wait_for_the_database(caplog: pytest.LogCaptureFixture) -> None:
    store = FlakyStore()

    async def scenario() -> None:
        recorder = UsageRecorder(store, flush_interval_s=0.01)  # type: ignore[arg-type]
        for _ in range(3):
            recorder.record(UsageEvent(1, "key_1", "/v1/predict", "esmfold", 10, 0, 5.0, "rest", 7200.0))
        recorder.start()
        await asyncio.sleep(0.3)  # ~30 failed rounds
        store.down = False
        await asyncio.sleep(0.1)
        await recorder.stop()

    caplog.set_level(logging.WARNING, logger="jobservice.usage")
    asyncio.run(scenario())
    said = [r for r in caplog.records if getattr(r, "action", None) == "usage.flush_failed"]
    assert len(said) == 1 and said[0].levelno == logging.WARNING and said[0].exc_info is None
    assert "DatabaseUnavailable" in said[0].getMessage()
    assert [(r["requests"], r["credits_used"]) for r in store.rows] == [(3, 30)]
