"""The watch hub on a log whose ids can commit out of order (PostgreSQL, many job services): an event past
a gap is delivered at once, the gap's event when it commits, and a gap that never fills (a rolled-back
transaction's id) is passed after GAP_WAIT_S. Real SQLite store; ids are written out of order by hand."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from jobservice import watch
from jobservice.db import Database
from jobservice.jobs import JobStore, NewJob
from jobservice.modelspecs.base import ValidatedJob
from jobservice.watch import StateEvent, WatchHub

pytestmark = pytest.mark.unit


def test_gaps_in_the_event_log_are_waited_for_then_passed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(watch, "GAP_WAIT_S", 0.5)
    path = tmp_path / "gaps.sqlite3"

    def log_event(event_id: int, job_id: str) -> None:
        with sqlite3.connect(path) as conn:  # another service's commit, with the id it took earlier
            conn.execute("INSERT INTO job_events (id, job_id, account_id, status, created_at) "
                         "VALUES (?, ?, 1, 'pending', 0)", (event_id, job_id))

    async def scenario() -> None:
        db = await Database.open(path)
        async with db.transaction() as tx:
            await tx.execute("insert_account", {"username": "u", "email": None, "credits": 100, "now": 0})
        job = NewJob("esmfold", None, ValidatedJob("MKV", {}), 1)
        [job_id] = await JobStore(db).submit(1, [job])  # event 1
        hub = WatchHub(db, poll_s=60)
        hub.start()
        seen: list[int] = []

        async def read(subscription: watch.Subscription, count: int) -> None:
            while len(seen) < count:
                event = await subscription.next(5)
                if isinstance(event, StateEvent):
                    seen.append(event.event_id)

        try:
            async with hub.subscribe(1) as subscription:
                log_event(3, job_id)  # id 2 is still in flight elsewhere
                hub.wake()
                await read(subscription, 1)
                assert seen == [3]
                log_event(2, job_id)  # ...and commits now: delivered, not lost behind the cursor
                await read(subscription, 2)
                assert seen == [3, 2]
                log_event(5, job_id)  # id 4 never commits (rolled back)
                hub.wake()
                await read(subscription, 3)
                await asyncio.sleep(1.0)  # past GAP_WAIT_S the cursor moves on
                log_event(6, job_id)
                hub.wake()
                await read(subscription, 4)
                assert seen == [3, 2, 5, 6]
                assert hub._cursor == 6  # the cursor passed the gap that never filled (no re-reads from 3 on)
        finally:
            await hub.close()
            await db.close()

    asyncio.run(scenario())
