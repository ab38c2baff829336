"""The browser's Back and Forward over the jobs list and the usage page: a page turned, a status filter, a name
search and a usage period were written into the address in place, so Back skipped the list's earlier states and went
to the page before the list (a tester's "Back from Older goes straight to the job page"). Each is a step of the
history now; Back draws the list of the address gone back to. A job service on the inference twin, in this module
alone."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.dashboard.pages_helpers import User, in_process_service, make_user, signed_in
from tests.support import InProcessService

pytestmark = pytest.mark.e2e

service = in_process_service("history")

JOBS = 25  # more than a page (20)


@pytest.fixture(scope="module")
def hugo(service: InProcessService) -> User:
    return make_user(service, "hugo")  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def first_job(service: InProcessService, hugo: User) -> str:
    """The oldest of the account's jobs, all finished: its page is where the person was before the list."""
    client = service.client(hugo.api_key)
    first = str(client.wait_for(client.predict(name="Kinase first").json()["job_id"])["job_id"])
    for batch in range(3):
        jobs = [{"model": "esmfold", "sequence": "MKTVRQERLK", "name": f"Batch {batch} item {i}"} for i in range(8)]
        assert client.post("/v1/batch", json={"jobs": jobs}).json()["summary"]["successful"] == 8
    listed = client.get("/v1/jobs", params={"limit": 100}).json()["jobs"]
    assert len(listed) == JOBS
    for job in listed:
        client.wait_for(job["job_id"])
    return first


def jobs_from_a_job_page(browser: Browser, service: InProcessService, hugo: User, job_id: str) -> Page:
    """A page that was on a job's page, then went to the jobs list (as the tester did)."""
    page = signed_in(browser, service, hugo)  # type: ignore[arg-type]
    page.goto(f"{service.base_url}/jobs/{job_id}")
    expect(page.locator("h1")).to_have_text("Kinase first")
    page.goto(f"{service.base_url}/jobs")
    expect(page.locator("#page-info")).to_have_text(f"1–20 of {JOBS}")
    return page


def test_back_from_older_shows_the_first_page_of_the_list(browser: Browser, service: InProcessService, hugo: User,
                                                          first_job: str) -> None:
    page = jobs_from_a_job_page(browser, service, hugo, first_job)
    page.locator("#page-next").focus()
    page.keyboard.press("Enter")
    expect(page.locator("#page-info")).to_have_text(f"21–{JOBS} of {JOBS}")
    expect(page).to_have_url(re.compile(r"/jobs\?offset=20$"))

    page.go_back()
    expect(page).to_have_url(re.compile(r"/jobs$"))
    expect(page.locator("#page-info")).to_have_text(f"1–20 of {JOBS}")
    # The list was drawn again in place: the keyboard is still on the pager, not thrown to the page's top.
    expect(page.locator("#page-next")).to_be_focused()

    page.go_forward()
    expect(page).to_have_url(re.compile(r"/jobs\?offset=20$"))
    expect(page.locator("#page-info")).to_have_text(f"21–{JOBS} of {JOBS}")

    page.go_back()
    expect(page.locator("#page-info")).to_have_text(f"1–20 of {JOBS}")
    page.go_back()  # before the list: the job's page
    expect(page).to_have_url(re.compile(rf"/jobs/{first_job}$"))
    expect(page.locator("h1")).to_have_text("Kinase first")
    page.close()


def test_back_from_a_status_filter_shows_the_unfiltered_list(browser: Browser, service: InProcessService, hugo: User,
                                                             first_job: str) -> None:
    page = jobs_from_a_job_page(browser, service, hugo, first_job)
    page.locator(".segmented [data-status=failed]").click()
    expect(page).to_have_url(re.compile(r"/jobs\?status=failed$"))
    expect(page.locator("#clear-filters")).to_be_visible()  # none failed

    page.go_back()
    expect(page).to_have_url(re.compile(r"/jobs$"))
    expect(page.locator(".segmented [data-status=all]")).to_have_attribute("aria-pressed", "true")
    expect(page.locator(".segmented [data-status=failed]")).to_have_attribute("aria-pressed", "false")
    expect(page.locator("#page-info")).to_have_text(f"1–20 of {JOBS}")

    page.go_forward()
    expect(page).to_have_url(re.compile(r"/jobs\?status=failed$"))
    expect(page.locator(".segmented [data-status=failed]")).to_have_attribute("aria-pressed", "true")
    expect(page.locator("#clear-filters")).to_be_visible()
    page.close()


def test_a_name_search_is_one_step_back_not_one_letter_at_a_time(browser: Browser, service: InProcessService,
                                                                  hugo: User, first_job: str) -> None:
    page = jobs_from_a_job_page(browser, service, hugo, first_job)
    search = page.locator("#filter-name")
    # Slower than the search's pause: each letter's search runs, as a slow typist's would.
    search.press_sequentially("Kinase", delay=400)
    expect(page).to_have_url(re.compile(r"/jobs\?name=Kinase$"))
    expect(page.locator("#page-info")).to_have_text("1–1 of 1")

    page.go_back()  # the whole search undone: the list before it, not "Kinas"
    expect(page).to_have_url(re.compile(r"/jobs$"))
    expect(search).to_have_value("")
    expect(page.locator("#page-info")).to_have_text(f"1–20 of {JOBS}")

    page.go_forward()
    expect(page).to_have_url(re.compile(r"/jobs\?name=Kinase$"))
    expect(search).to_have_value("Kinase")
    expect(page.locator("#page-info")).to_have_text("1–1 of 1")
    page.close()


def test_unknown_filters_are_dropped_in_place_not_as_a_step(browser: Browser, service: InProcessService, hugo: User,
                                                            first_job: str) -> None:
    page = signed_in(browser, service, hugo)  # type: ignore[arg-type]
    page.goto(f"{service.base_url}/jobs/{first_job}")
    expect(page.locator("h1")).to_have_text("Kinase first")
    page.goto(f"{service.base_url}/jobs?status=bogus&model=nope")
    expect(page).to_have_url(re.compile(r"/jobs$"))
    expect(page.locator("#page-info")).to_have_text(f"1–20 of {JOBS}")
    page.go_back()  # the bad address is not a step of its own to come back to
    expect(page).to_have_url(re.compile(rf"/jobs/{first_job}$"))
    page.close()


def test_back_from_seven_days_of_usage_shows_the_thirty_days(browser: Browser, service: InProcessService,
                                                             hugo: User) -> None:
    page = signed_in(browser, service, hugo)  # type: ignore[arg-type]
    page.goto(f"{service.base_url}/usage")
    expect(page).to_have_url(re.compile(r"/usage\?days=30$"))
    expect(page.locator("[data-days='30']")).to_have_attribute("aria-pressed", "true")
    page.locator("[data-days='7']").click()
    expect(page).to_have_url(re.compile(r"/usage\?days=7$"))
    expect(page.locator("[data-days='7']")).to_have_attribute("aria-pressed", "true")

    page.go_back()
    expect(page).to_have_url(re.compile(r"/usage\?days=30$"))
    expect(page.locator("[data-days='30']")).to_have_attribute("aria-pressed", "true")
    expect(page.locator("[data-days='7']")).to_have_attribute("aria-pressed", "false")
    expect(page.locator("#usage-csv")).to_be_enabled()  # the 30 days' report drawn again

    page.go_forward()
    expect(page).to_have_url(re.compile(r"/usage\?days=7$"))
    expect(page.locator("[data-days='7']")).to_have_attribute("aria-pressed", "true")
    page.close()


def test_a_job_id_in_the_search_box_links_to_that_job(browser: Browser, service: InProcessService, hugo: User,
                                                      first_job: str) -> None:
    """A job's id pasted into the name search (from a webhook's payload or a log) matched no name and the list said
    only "No jobs match these filters" (a tester's finding): it says whose id it is, with a link to the job."""
    page = jobs_from_a_job_page(browser, service, hugo, first_job)
    page.locator("#filter-name").fill(first_job.upper())  # as some tools write a UUID
    expect(page.locator("#found-by-id")).to_contain_text("it is the id of “Kinase first” (completed)")
    page.locator("#open-found-job").click()
    expect(page).to_have_url(re.compile(rf"/jobs/{first_job}$"))
    expect(page.locator("h1")).to_have_text("Kinase first")

    page.goto(f"{service.base_url}/jobs?name=00000000-0000-4000-8000-000000000000")  # an id of no job of hers
    expect(page.locator("#clear-filters")).to_be_visible()
    expect(page.locator("#found-by-id")).to_have_count(0)
    page.close()


def test_a_finished_jobs_row_is_two_tab_stops_not_three(browser: Browser, service: InProcessService, hugo: User,
                                                        first_job: str) -> None:
    """Its name and its Open go to the same page: a keyboard tester needed 77 presses from the top to the pager,
    three a row. The box, then Open (named with the job); the name is still a link for the pointer."""
    page = jobs_from_a_job_page(browser, service, hugo, first_job)
    rows = page.locator("#jobs-body tr")
    rows.nth(0).locator("input.pick").focus()
    page.keyboard.press("Tab")
    expect(rows.nth(0).locator("a.btn")).to_be_focused()
    page.keyboard.press("Tab")
    expect(rows.nth(1).locator("input.pick")).to_be_focused()
    expect(rows.nth(0).locator("td.name a")).to_have_attribute("href", re.compile(r"^/jobs/"))
    page.close()
