"""The job page says why a job went back to waiting and which attempt it is on ("Attempt 2 of 3: its job service
stopped responding during the run…"). Was: a job whose job service died mid-run showed Running, then Waiting to
start, then Running again, with nothing saying why. (The hand-backs themselves: tests/service/test_job_attempts.py;
here the row is set as a takeover leaves it, so the page needs no second job service.)"""

from __future__ import annotations

import time

import pytest
from playwright.sync_api import Browser, expect

from jobservice.memory_inference import Slow
from tests.dashboard.pages_helpers import User, in_process_service, make_user, shot, signed_in
from tests.support import InProcessService

pytestmark = pytest.mark.e2e

service = in_process_service("job-attempts", {"PHONOS_MAX_INFLIGHT_PER_MODEL": "1"})  # a second job waits


@pytest.fixture(scope="module")
def ria(service: InProcessService) -> User:
    return make_user(service, "ria")  # type: ignore[arg-type]


def test_the_job_page_says_which_attempt_and_why_it_went_back(browser: Browser, service: InProcessService,
                                                              ria: User) -> None:
    service.inference.script("esmfold", Slow(60))
    client = service.client(ria.api_key)
    job_id = client.predict(name="taken over").json()["job_id"]
    client.wait_for(job_id, ("running",))
    page = signed_in(browser, service, ria)  # type: ignore[arg-type]
    page.goto(f"{service.base_url}/jobs/{job_id}")
    expect(page.locator("#status-card")).to_contain_text("Running")
    expect(page.locator("#job-attempt")).to_be_hidden()  # a first run says nothing of attempts

    # As another job service leaves it when it took the job over after its own died: the second of three runs.
    service.sql("UPDATE jobs SET attempts = 2, requeue_reason = 'service_lost', requeued_at = ?, max_attempts = 3 "
                "WHERE id = ?", time.time(), job_id)
    expect(page.locator("#job-attempt")).to_have_text(  # the page's next poll
        "Attempt 2 of 3: its job service stopped responding during the run, and another one took the job over.",
        timeout=10_000)
    shot(page, "job-attempt-2-of-3")

    said = page.evaluate("""async () => {
        const {attemptText} = await import('/static/js/pages/job.js');
        return [
            attemptText({attempt: 1, max_attempts: 3, requeue_reason: 'service_stopped'}),
            attemptText({attempt: 3, max_attempts: 3, requeue_reason: 'service_restarted'}),
            attemptText({attempt: 1, max_attempts: 3, requeue_reason: 'model_unavailable'}),
            attemptText({attempt: 2}),
            attemptText({attempt: 2, max_attempts: 3, requeue_reason: 'a_future_reason'}),
            attemptText({}),
        ];
    }""")
    assert said == [
        "Attempt 1 of 3: its job service stopped during the run, which does not count against it.",
        "Attempt 3 of 3: its job service stopped during the run, and took the job again when it restarted.",
        "Attempt 1 of 3: the model server was unavailable before it could compute, which does not count against it.",
        "Attempt 2.",
        "Attempt 2 of 3.",
        None,
    ]
    page.close()
    assert client.post(f"/v1/jobs/{job_id}/cancel").json()["status"] == "cancelled"


def test_the_jobs_took_column_is_run_time_and_a_job_that_never_started_took_none(
        browser: Browser, service: InProcessService, ria: User) -> None:
    # Found by a tester: "Took" was submission to the last change, so a job cancelled after minutes in the queue
    # read as minutes of compute beside its 0 credits.
    client = service.client(ria.api_key)
    service.inference.script("esmfold", Slow(60))
    running = client.predict(name="took running").json()["job_id"]
    client.wait_for(running, ("running",))
    waiting = client.predict(name="took waiting").json()["job_id"]  # behind the one slot's running job
    service.sql("UPDATE jobs SET created_at = created_at - 154 WHERE id = ?", waiting)  # 2.5 min in the queue
    assert client.post(f"/v1/jobs/{waiting}/cancel").json()["credits_refunded"] > 0  # cancelled while pending
    page = signed_in(browser, service, ria)  # type: ignore[arg-type]
    page.goto(f"{service.base_url}/jobs")
    never = page.locator(f"tr[data-job-id='{waiting}'] td.took")
    expect(never).to_have_text("-")
    expect(never).to_have_attribute("title", "Never started: cancelled after 2 min 34 s waiting")
    expect(page.locator(f"tr[data-job-id='{running}'] td.took")).to_have_text("…")

    said = page.evaluate("""async () => {
        const {tookText, waitedText} = await import('/static/js/pages/jobs.js');
        const ran = {status: 'completed', created_at: '2026-12-01T10:00:00Z', started_at: '2026-12-01T10:02:00Z',
                     completed_at: '2026-12-01T10:02:01.5Z'};
        const failedWaiting = {status: 'failed', created_at: '2026-12-01T10:00:00Z', completed_at: '2026-12-01T10:00:30Z'};
        return [tookText(ran), waitedText(ran), tookText(failedWaiting), waitedText(failedWaiting),
                tookText({status: 'pending', created_at: '2026-12-01T10:00:00Z'}),
                waitedText({status: 'pending', created_at: '2026-12-01T10:00:00Z'})];
    }""")
    assert said == ["1.5 s", "Waited 2 min 0 s to start", "-", "Never started: failed after 30 s waiting", "-",
                    "Not started yet"]
    page.close()
    assert client.post(f"/v1/jobs/{running}/cancel").json()["status"] == "cancelled"
