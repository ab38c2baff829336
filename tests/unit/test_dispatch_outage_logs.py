"""A shared database away for a while, seen from the dispatcher's periodic tasks (renewing the running jobs' leases,
reclaiming expired ones): a tester's one-minute PostgreSQL stop made an ERROR with a 40-line traceback every 10-15 s
from each (~1,100 log lines per service), beside health and `pg.unreachable`, which already said it. Now each task
says once that it waits for the database, without a traceback, and once that it goes on. A store twin stands in for
the database (the real PostgreSQL outage is tests/service/test_database_outage.py)."""

from __future__ import annotations

import asyncio
import logging
import time
from types import SimpleNamespace
from typing import cast

import pytest

from jobservice import dispatch
from jobservice.errors import DatabaseUnavailable
from jobservice.inference import Inference
from jobservice.jobs import Lease
from jobservice.modelspecs.registry import build_specs
from jobservice.results import ResultStore

pytestmark = pytest.mark.unit


class DatabaseAway:
    """The job store's lease calls while the database is away (as the PostgreSQL store raises them), then back."""

    def __init__(self) -> None:
        self.failing = True
        self.calls = 0

    async def renew(self, ids: list[str], lease: object) -> set[str]:
        self.calls += 1
        if self.failing:
            raise DatabaseUnavailable()
        return set(ids)

    async def reclaim_expired(self, *args: object) -> tuple[list[tuple[str, str]], int]:
        self.calls += 1
        if self.failing:
            raise DatabaseUnavailable()
        return [], 0


async def _no_capacity(model: str) -> int | None:
    return None


async def lease_tasks_through_an_outage(jobs: DatabaseAway, *, lease_s: float, away_s: float, back_s: float) -> None:
    """A shared-store dispatcher's heartbeat and janitor, with a job running here whose lease needs renewing, while
    `jobs` fails for `away_s`, then for `back_s` once it answers again."""
    lease = cast(Lease, SimpleNamespace(owner="svc-1", seconds=lease_s))
    dispatcher = dispatch.Dispatcher(
        jobs, build_specs(["esmfold"]),  # type: ignore[arg-type]
        cast(Inference, SimpleNamespace(capacity=_no_capacity)), cast(ResultStore, None),
        max_inflight=1, retry_window_s=60, max_attempts=3, timeout_s=60, lease=lease)
    running = asyncio.create_task(asyncio.sleep(30))
    dispatcher._running["job-1"] = running
    tasks = [asyncio.create_task(dispatcher._heartbeat(lease)), asyncio.create_task(dispatcher._janitor(lease))]
    await asyncio.sleep(away_s)
    jobs.failing = False
    await asyncio.sleep(back_s)
    for task in (*tasks, running):
        task.cancel()
    await asyncio.gather(*tasks, running, return_exceptions=True)


def test_lease_tasks_say_an_outage_once_without_a_traceback_and_once_when_it_ends(
        caplog: pytest.LogCaptureFixture) -> None:
    jobs = DatabaseAway()
    with caplog.at_level(logging.INFO, logger="jobservice.dispatch"):
        # ~6 renewals (every 0.1 s at least) and ~3 reclaims (0.2 s) fail
        asyncio.run(lease_tasks_through_an_outage(jobs, lease_s=0.03, away_s=0.6, back_s=0.3))
    assert jobs.calls >= 8
    lines = [r for r in caplog.records if r.name == "jobservice.dispatch"]
    actions = sorted(getattr(r, "action", "") for r in lines)
    assert actions == ["dispatch.janitor_resumed", "dispatch.janitor_waiting",
                       "dispatch.renew_resumed", "dispatch.renew_waiting"], [r.getMessage() for r in lines]
    assert all(r.exc_info is None for r in lines)
    waiting = next(r for r in lines if getattr(r, "action", "") == "dispatch.renew_waiting")
    assert waiting.levelno == logging.WARNING
    assert waiting.getMessage().startswith("renewing the running jobs' leases (the jobs run on) waits for the database")
    assert "database" in waiting.getMessage().split("waits for the database: ", 1)[1]


def test_asyncpgs_pool_floor_warning_is_one_line(caplog: pytest.LogCaptureFixture) -> None:
    """asyncpg's "Failed to restore the pool connection floor; retrying" came with the connection error's traceback
    at every retry of an outage. Its logger now gives it one line, the error at its end; its other records are as
    asyncpg wrote them."""
    import jobservice.pg  # noqa: F401 - installs the filter on asyncpg's logger

    pool_log = logging.getLogger("asyncpg.pool")
    with caplog.at_level(logging.WARNING, logger="asyncpg.pool"):
        try:
            raise ConnectionRefusedError(111, "Connect call failed ('127.0.0.1', 5432)")
        except ConnectionRefusedError:
            pool_log.warning("Failed to restore the pool connection floor; retrying", exc_info=True)
            pool_log.warning("something else", exc_info=True)
    floor, other = caplog.records
    assert floor.exc_info is None and floor.getMessage() == (
        "Failed to restore the pool connection floor; retrying: ConnectionRefusedError: [Errno 111] Connect call "
        "failed ('127.0.0.1', 5432)")
    assert "Traceback" not in caplog.text.split("something else")[0]
    assert other.exc_info is not None


class DatabaseAwayTimed(DatabaseAway):
    """DatabaseAway noting when each call failed, and when renewals and reclaims first worked again."""

    def __init__(self) -> None:
        super().__init__()
        self.last_failure = 0.0
        self.renewed_at: list[float] = []
        self.reclaimed_at: list[float] = []

    async def renew(self, ids: list[str], lease: object) -> set[str]:
        try:
            held = await super().renew(ids, lease)
        except DatabaseUnavailable:
            self.last_failure = time.monotonic()
            raise
        self.renewed_at.append(time.monotonic())
        return held

    async def reclaim_expired(self, *args: object) -> tuple[list[tuple[str, str]], int]:
        try:
            reclaimed = await super().reclaim_expired(*args)
        except DatabaseUnavailable:
            self.last_failure = time.monotonic()
            raise
        self.reclaimed_at.append(time.monotonic())
        return reclaimed


def test_no_lease_is_reclaimed_until_a_lease_after_the_database_came_back() -> None:
    """While the shared database is away no service renews its leases, so every lease that ran out meanwhile is
    expired when it is back, live owners' too. The janitor's first tick after the return reclaimed them all: every
    job running on a live service ran again from the start, an attempt used, and jobs on their last attempt failed
    (a multi-node tester's 30-45 s PostgreSQL stop). Now no reclaim comes within a lease of the last failure seen,
    so every live owner's heartbeat (every third of a lease) renews first."""
    jobs = DatabaseAwayTimed()
    lease_s = 1.0  # janitor every 0.5 s, heartbeat every 0.33 s
    asyncio.run(lease_tasks_through_an_outage(jobs, lease_s=lease_s, away_s=1.2, back_s=2.6))
    assert jobs.renewed_at and jobs.reclaimed_at, (jobs.renewed_at, jobs.reclaimed_at)
    assert jobs.reclaimed_at[0] >= jobs.last_failure + lease_s
    assert jobs.reclaimed_at[0] > jobs.renewed_at[0]  # the owner renewed before anyone reclaimed


@pytest.mark.parametrize("database_just_back", [False, True])
def test_a_start_that_waited_for_its_database_reclaims_nothing_until_a_lease_later(database_just_back: bool) -> None:
    """A job service started during a PostgreSQL outage waits for it (db_wait), then starts as it returns, when the
    live services' leases have run out: its start-up reclaim took every job running on them (each ran again, an
    attempt used). Now a start that waited reclaims only a lease later, as the janitor does after an outage; one
    that found its database at once reclaims at once (a service that died while this one was down)."""
    jobs = DatabaseAwayTimed()
    jobs.failing = False
    lease = cast(Lease, SimpleNamespace(owner="svc-2", seconds=60.0))
    dispatcher = dispatch.Dispatcher(
        jobs, build_specs(["esmfold"]),  # type: ignore[arg-type]
        cast(Inference, SimpleNamespace(capacity=_no_capacity)), cast(ResultStore, None),
        max_inflight=1, retry_window_s=60, max_attempts=3, timeout_s=60, lease=lease)

    async def idle(*_: object) -> None:  # the workers and lease loops: not what is tested here
        await asyncio.sleep(3600)

    dispatcher._shared_worker = idle  # type: ignore[method-assign, assignment]
    dispatcher._heartbeat = idle  # type: ignore[method-assign, assignment]
    dispatcher._janitor = idle  # type: ignore[method-assign, assignment]

    async def start_and_stop() -> None:
        await dispatcher.start(database_just_back=database_just_back)
        for task in dispatcher._tasks:
            task.cancel()
        await asyncio.gather(*dispatcher._tasks, return_exceptions=True)

    asyncio.run(start_and_stop())
    assert len(jobs.reclaimed_at) == (0 if database_just_back else 1)
    if database_just_back:
        assert dispatcher._reclaim_after >= time.monotonic() + 50  # the janitor's first reclaim: a lease later
