"""When a model's queue moves, the watchers of its waiting jobs learn their new places from one read, not one read
each (jobservice/watch.py, PlaceReads).

Was: each stream read its own job's place (`queue_places`, a scan of the model's waiting jobs) at every move: one
account's 2,000 streams over 1,000 waiting jobs cost 2,000 reads of ~3.5 ms, ~7 s of the database, at every start of
that model, for everyone."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest

from jobservice.jobs import QueuePlace
from jobservice.memory_inference import Slow
from jobservice.states import JobStatus
from tests.support import InProcessService, wait_until

pytestmark = pytest.mark.integration

WAITING = 20


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InProcessService]:
    service = InProcessService(tmp_path_factory.mktemp("places"), {"PHONOS_MAX_INFLIGHT_PER_MODEL": "1"})
    yield service
    service.stop()


def test_one_queue_move_costs_one_read_for_every_watcher(service: InProcessService) -> None:
    client = service.client(service.new_key(credits=100_000))
    service.settle()
    service.inference.script("esmfold", Slow(60), Slow(60))
    first = client.predict().json()["job_id"]
    wait_until(lambda: client.get(f"/v1/jobs/{first}").json()["status"] == "running", timeout_s=15)
    waiting = [client.predict().json()["job_id"] for _ in range(WAITING)]
    ((account_id,),) = service.sql("SELECT account_id FROM jobs WHERE id = ?", first)
    watcher = service.running.service.watcher
    streams = [watcher.job(account_id, job_id, None) for job_id in waiting]

    async def next_events() -> list[Any]:
        return list(await asyncio.gather(*(anext(stream) for stream in streams)))

    try:
        opening = service.call(next_events())
        assert [event.job.place.jobs_ahead for event in opening] == list(range(WAITING))
        reads = watcher.places.reads
        assert client.post(f"/v1/jobs/{first}/cancel").status_code == 200  # the next job starts: the queue moves
        moved = service.call(next_events())
        assert moved[0].status == "running"
        assert [event.job.place.jobs_ahead for event in moved[1:]] == list(range(WAITING - 1))
        # (Was: one read per watcher, 19 here.)
        assert watcher.places.reads - reads <= 2
    finally:
        for stream in streams:
            service.call(stream.aclose())
        for job_id in [first, *waiting]:
            client.post(f"/v1/jobs/{job_id}/cancel")


def test_each_watcher_gets_its_own_record_back_from_a_shared_read(service: InProcessService) -> None:
    """Two streams of one job may hold different states of it (a slow one still at 5 ahead, a quick one at 2): one
    read serves both, and each gets its own record back. Was: both got the first asker's record, so the quick stream
    went back to "5 jobs ahead" before the job's running event."""
    client = service.client(service.new_key(credits=100_000))
    service.settle()
    service.inference.script("esmfold", Slow(60))
    job_id = client.predict().json()["job_id"]
    wait_until(lambda: client.get(f"/v1/jobs/{job_id}").json()["status"] == "running", timeout_s=15)
    ((account_id,),) = service.sql("SELECT account_id FROM jobs WHERE id = ?", job_id)
    jobs = service.running.service.jobs  # the job no longer waits: each record comes back unchanged
    watcher = service.running.service.watcher

    async def both() -> list[Any]:
        record = await jobs.get(account_id, job_id)
        slow = replace(record, status=JobStatus.PENDING, place=QueuePlace(5, 1))
        quick = replace(record, status=JobStatus.PENDING, place=QueuePlace(2, 1))
        return list(await asyncio.gather(watcher.places.place(slow), watcher.places.place(quick)))

    try:
        slow, quick = service.call(both())
        assert (slow.place.jobs_ahead, quick.place.jobs_ahead) == (5, 2)
    finally:
        client.post(f"/v1/jobs/{job_id}/cancel")


def test_a_move_while_a_stream_waits_for_its_reader_is_not_lost(service: InProcessService) -> None:
    """A stream waits at each event until its reader asks for the next (a slow client, a busy server). Its queue was
    followed only once the opening had been taken, so a move in between set no flag: the stream kept its old place
    until the next move (hours, behind a long job). Seen as a whole-suite run's timeout of the test above."""
    client = service.client(service.new_key(credits=100_000))
    service.settle()
    service.inference.script("esmfold", Slow(60), Slow(60))
    first = client.predict().json()["job_id"]
    wait_until(lambda: client.get(f"/v1/jobs/{first}").json()["status"] == "running", timeout_s=15)
    second, third = (client.predict().json()["job_id"] for _ in range(2))
    ((account_id,),) = service.sql("SELECT account_id FROM jobs WHERE id = ?", first)
    watcher = service.running.service.watcher
    starts, slow = watcher.job(account_id, second, None), watcher.job(account_id, third, None)
    try:
        opened = [service.call(anext(starts)), service.call(anext(slow))]
        assert [event.job.place.jobs_ahead for event in opened] == [0, 1]
        assert client.post(f"/v1/jobs/{first}/cancel").status_code == 200  # `second` starts: `third` moves up
        assert service.call(anext(starts)).status == "running"  # the hub has delivered that start
        moved = service.call(anext(slow), timeout_s=15)  # was: no event until the next move (TimeoutError)
        assert moved.status == "pending" and moved.job.place.jobs_ahead == 0
    finally:
        for stream in (starts, slow):
            service.call(stream.aclose())
        for job_id in (first, second, third):
            client.post(f"/v1/jobs/{job_id}/cancel")
