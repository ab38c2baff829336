"""The job page of a job whose result files result retention deleted: it says so and offers no downloads.

A job service on the inference twin (no Triton needed: the page only reads the job), in this module alone,
so that its retention setting and sweep touch no other browser test's service."""

from __future__ import annotations

import time

import pytest
from playwright.sync_api import Browser, expect

from jobservice.result_retention import DAY_S
from tests.dashboard.pages_helpers import Watched, in_process_service, make_user, shot, sign_in
from tests.support import InProcessService

pytestmark = pytest.mark.e2e


service = in_process_service("retention", {"PHONOS_RESULT_RETENTION_DAYS": "30"})


def test_a_job_whose_results_were_deleted_says_so_and_keeps_its_scores(browser: Browser,
                                                                       service: InProcessService) -> None:
    rita = make_user(service, "rita")  # type: ignore[arg-type]
    client = service.client(rita.api_key)
    job = client.wait_for(client.predict(name="an old fold").json()["job_id"])
    assert service.call(service.running.service.retention.sweep(at=time.time() + 31 * DAY_S)) == 1

    watched = Watched()
    page = sign_in(browser, service, rita, watched)  # type: ignore[arg-type]
    downloads: list[str] = []
    page.on("request", lambda request: downloads.append(request.url) if "/download" in request.url else None)
    page.goto(f"{service.base_url}/jobs/{job['job_id']}")
    notice = page.locator("#results-deleted")
    expect(notice).to_contain_text("Results deleted")
    expect(notice).to_contain_text("result files were deleted on")
    expect(page.locator("#scores dt").first).to_be_visible()  # the job's metrics stay on the page
    expect(page.locator("#provenance")).to_contain_text(job["job_id"])
    assert page.locator("a.download").count() == 0 and page.locator("#dock-this").count() == 0
    assert downloads == [] and watched.problems() == []  # no download was tried (each would be a 410)
    shot(page, "27-results-deleted")
    page.context.close()
