"""A watch stream resumed from an old event (Last-Event-ID, WatchJob's last_event_id) reads its replay a batch at a
time as it is sent, never the whole history at once (jobservice/watch.py, JobWatcher._replay).

Was: every event after the cursor was read into one list before the first was sent. A resume from an early event of
an account with 50,000 events held ~250 MB and ~10 s of the event loop for that one stream, and one key may hold
PHONOS_WATCH_MAX_STREAMS_PER_ACCOUNT (2,000) streams: a few requests took the host's memory."""

from __future__ import annotations

import pytest

from jobservice.watch import TAIL_BATCH
from tests.support import InProcessService

pytestmark = pytest.mark.integration

HISTORY = 2 * TAIL_BATCH + 100  # three batches


@pytest.fixture(scope="module")
def service(twin_service: InProcessService) -> InProcessService:
    return twin_service


def test_a_resumed_stream_reads_its_replay_batch_by_batch_as_it_is_sent(service: InProcessService) -> None:
    client = service.client(service.new_key())
    job_id = client.predict().json()["job_id"]
    assert client.wait_for(job_id)["status"] == "completed"
    ((account_id, first_event, created_at),) = service.sql(
        "SELECT account_id, MIN(id), MIN(created_at) FROM job_events WHERE job_id = ?", job_id)
    # A long history for the job (a job requeued and run again and again, standing in for an account's years of
    # jobs: the replay reads both alike), written as the job store's trigger writes events.
    service.sql("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?) "
                "INSERT INTO job_events (job_id, account_id, status, created_at) "
                "SELECT ?, ?, 'running', ? FROM n", HISTORY, job_id, account_id, created_at)
    ((last_event,),) = service.sql("SELECT MAX(id) FROM job_events WHERE job_id = ?", job_id)
    watcher = service.running.service.watcher
    stream = watcher.job(account_id, job_id, first_event)

    async def first() -> object:
        return await anext(stream)

    async def rest() -> list[str]:
        return [str(event.status) async for event in stream]  # type: ignore[attr-defined]

    assert service.call(first()) is not None
    # Written after the stream sent its first event: a replay that reads as it sends finds the job ended at the
    # last event and closes the stream; one that read everything up front still holds the old status (and waits,
    # live, for an event that was already written).
    service.sql("UPDATE job_events SET status = 'completed' WHERE id = ?", last_event)
    try:
        statuses = service.call(rest(), timeout_s=30)
    finally:
        service.call(stream.aclose())
    assert len(statuses) == HISTORY + 1  # the job's own running and completed events, then the history
    assert statuses[-1] == "completed"
