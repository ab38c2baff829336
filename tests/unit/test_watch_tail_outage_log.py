"""The watch hub's tail while the shared database is away: it logged `watch tail failed` with an ~80-line traceback
on every poll (each 5 s) for the whole outage while anyone watched (a multi-node tester's PostgreSQL stop). Now it
says once that the tail waits for the database, without a traceback, and once that it goes on; the stream stays open
and gets the events committed meanwhile. Real SQLite store; the outage is the tail's reads failing as the
PostgreSQL store fails them (DatabaseUnavailable)."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from jobservice.db import Database
from jobservice.errors import DatabaseUnavailable
from jobservice.jobs import JobStore, NewJob
from jobservice.modelspecs.base import ValidatedJob
from jobservice.watch import StateEvent, WatchHub

pytestmark = pytest.mark.unit


def test_the_tail_says_an_outage_once_and_the_stream_gets_what_was_committed(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    async def scenario() -> list[str]:
        db = await Database.open(tmp_path / "tail.sqlite3")
        async with db.transaction() as tx:
            await tx.execute("insert_account", {"username": "u", "email": None, "credits": 100, "now": 0})
        jobs = JobStore(db)
        hub = WatchHub(db, poll_s=0.02)
        tail_once, failures = hub._tail_once, [0]

        async def away_for_a_while() -> None:
            if failures[0] < 10:  # ten polls: ten tracebacks before
                failures[0] += 1
                raise DatabaseUnavailable()
            await tail_once()

        hub._tail_once = away_for_a_while  # type: ignore[method-assign]
        hub.start()
        seen: list[str] = []
        try:
            async with hub.subscribe(1) as subscription:
                [job_id] = await jobs.submit(1, [NewJob("esmfold", None, ValidatedJob("MKV", {}), 1)])
                hub.wake()
                while not seen:
                    event = await subscription.next(5)
                    if isinstance(event, StateEvent):
                        seen.append(event.job_id)
        finally:
            await hub.close()
            await db.close()
        assert failures[0] == 10
        return seen

    with caplog.at_level(logging.INFO, logger="jobservice.watch"):
        seen = asyncio.run(scenario())
    assert len(seen) == 1
    lines = [r for r in caplog.records if r.name == "jobservice.watch"]
    assert [getattr(r, "action", "") for r in lines] == ["watch.tail_waiting", "watch.tail_resumed"], \
        [r.getMessage() for r in lines]
    assert all(r.exc_info is None for r in lines)
    assert lines[0].levelno == logging.WARNING
    assert lines[0].getMessage().startswith("the watch streams' tail (streams stay open) waits for the database")
