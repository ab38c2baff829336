"""A watcher that joins a running job gets its latest progress at once; a progress event queued while its
stream opened (after it subscribed, before it read the job) must not come again, nor an older one after a
newer (CI saw steps [1, 1, 2, ...] from a client that joined at the job's first trunk pass). Real SQLite store."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from phonos_models.common.progress import Progress

from jobservice.db import Database
from jobservice.jobs import JobStore, NewJob
from jobservice.modelspecs.base import ValidatedJob
from jobservice.watch import JobWatcher, ProgressEvent, StateEvent, WatchHub

pytestmark = pytest.mark.unit


class _ReadsAfter:
    """The store's reads, running `before_read` once first: progress that arrives while the stream opens."""

    def __init__(self, db: Database, before_read: Callable[[], None]) -> None:
        self._db, self._before_read = db, before_read

    @property
    def read(self) -> _ReadsAfter:
        return self

    async def fetch_one(self, query: str, params: dict[str, Any]) -> Any:
        self._before_read()
        self._before_read = lambda: None
        return await self._db.read.fetch_one(query, params)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._db.read, name)


@pytest.mark.parametrize("queued_steps", [[1], [1, 2], [1, 2, 3]])
def test_a_watcher_joining_mid_run_sees_each_progress_step_once_in_order(
        tmp_path: Path, queued_steps: list[int]) -> None:
    async def scenario() -> list[object]:
        db = await Database.open(tmp_path / "join.sqlite3")
        async with db.transaction() as tx:
            await tx.execute("insert_account", {"username": "u", "email": None, "credits": 100, "now": 0})
        jobs = JobStore(db)
        [job_id] = await jobs.submit(1, [NewJob("esmfold", None, ValidatedJob("MKV", {}), 1)])
        claimed = await jobs.claim(job_id)
        assert claimed is not None
        hub = WatchHub(db, poll_s=60)
        hub.start()

        def progress(step: int) -> None:
            hub.progress(claimed.record, Progress("recycle", step, 12))

        seen: list[object] = []
        try:
            opening = _ReadsAfter(db, lambda: [progress(step) for step in queued_steps])
            stream = JobWatcher(hub, opening, max_stream_s=2).job(1, job_id, None)  # type: ignore[arg-type]
            async for event in stream:
                if isinstance(event, StateEvent):
                    seen.append(event.status.value)
                else:
                    assert isinstance(event, ProgressEvent)
                    seen.append(event.progress.step)
                if len(seen) == 2:  # running, then the latest progress: the model goes on
                    progress(queued_steps[-1] + 1)
                if len(seen) == 3:
                    break
            await stream.aclose()
        finally:
            await hub.close()
            await db.close()
        return seen

    assert asyncio.run(scenario()) == ["running", queued_steps[-1], queued_steps[-1] + 1]
