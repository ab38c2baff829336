"""The job page and the jobs list say where a waiting job stands: "Queued · 2 jobs ahead", then "Queued · next to
start", counting down as their polls see the jobs ahead start (the job page also as its event stream says so) (the numbers themselves: tests/service/test_queue_place.py)."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, expect

from jobservice.memory_inference import Slow
from tests.dashboard.pages_helpers import User, in_process_service, make_user, shot, signed_in
from tests.support import InProcessService

pytestmark = pytest.mark.e2e

service = in_process_service("queue-place", {"PHONOS_MAX_INFLIGHT_PER_MODEL": "1"})


@pytest.fixture(scope="module")
def quinn(service: InProcessService) -> User:
    return make_user(service, "quinn")  # type: ignore[arg-type]


def test_the_job_page_and_the_list_count_down_the_jobs_ahead_of_a_waiting_job(
        browser: Browser, service: InProcessService, quinn: User) -> None:
    service.settle()
    service.inference.script("esmfold", Slow(60), Slow(60), Slow(60), Slow(60))
    client = service.client(quinn.api_key)
    ids = [client.predict(name=f"q{i}").json()["job_id"] for i in range(4)]
    client.wait_for(ids[0], ("running",))
    page = signed_in(browser, service, quinn)  # type: ignore[arg-type]
    page.goto(f"{service.base_url}/jobs/{ids[3]}")
    place = page.locator("#queue-place")
    expect(place).to_have_text("Queued · 2 jobs ahead")
    shot(page, "queue-place-job-page", full_page=False)
    page.goto(f"{service.base_url}/jobs")  # the list says it too, on each waiting job's row
    row = page.locator(f'tr[data-job-id="{ids[3]}"] .queue-place')
    expect(row).to_have_text("Queued · 2 jobs ahead")
    expect(page.locator(f'tr[data-job-id="{ids[1]}"] .queue-place')).to_have_text("Queued · next to start")
    expect(page.locator(f'tr[data-job-id="{ids[0]}"] .queue-place')).to_have_count(0)  # running
    shot(page, "queue-place-jobs-list", full_page=False)
    assert client.post(f"/v1/jobs/{ids[0]}/cancel").status_code == 200
    client.wait_for(ids[1], ("running",))
    expect(row).to_have_text("Queued · 1 job ahead", timeout=10_000)  # the list's live refresh
    page.goto(f"{service.base_url}/jobs/{ids[3]}")
    expect(place).to_have_text("Queued · 1 job ahead")
    polls = f"**/v1/jobs/{ids[3]}"
    page.route(polls, lambda route: route.abort())  # its polls fail: only the job's event stream can move it now
    assert client.post(f"/v1/jobs/{ids[1]}/cancel").status_code == 200
    expect(place).to_have_text("Queued · next to start", timeout=10_000)
    page.unroute(polls)
    assert client.post(f"/v1/jobs/{ids[2]}/cancel").status_code == 200
    expect(page.locator("#status-card")).to_contain_text("Running", timeout=10_000)
    expect(place).to_be_hidden()  # running: no place in the queue
    assert client.post(f"/v1/jobs/{ids[3]}/cancel").status_code == 200
