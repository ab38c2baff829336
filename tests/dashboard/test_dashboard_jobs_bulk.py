"""The jobs list's selection: tick jobs (or a whole page), then cancel the running ones or delete the finished
ones together, after one confirmation. A job service on the inference twin (slow calls scripted so that jobs
stay running), in this module alone."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, expect

from jobservice.memory_inference import Slow
from tests.dashboard.pages_helpers import Watched, in_process_service, make_user, shot, sign_in
from tests.support import InProcessService

pytestmark = pytest.mark.e2e

service = in_process_service("bulk")


def test_select_jobs_then_cancel_and_delete_them_together(browser: Browser, service: InProcessService) -> None:
    ida = make_user(service, "ida")  # type: ignore[arg-type]
    client = service.client(ida.api_key)
    finished = {name: client.wait_for(client.predict(name=name).json()["job_id"])["job_id"]
                for name in ("keep 1", "old 1", "old 2", "old 3", "old 4")}
    service.inference.script("esmfold", Slow(120), Slow(120))
    running = [client.predict(name=f"slow {n}").json()["job_id"] for n in (1, 2)]
    for job_id in running:
        client.wait_for(job_id, ("running", "pending"))
    balance = client.balance()

    watched = Watched()
    page = sign_in(browser, service, ida, watched)  # type: ignore[arg-type]
    page.goto(f"{service.base_url}/jobs")
    expect(page.locator("#jobs-body tr")).to_have_count(7)
    expect(page.locator("#bulk-bar")).to_be_hidden()
    for job_id in (*running, finished["old 1"], finished["old 2"]):
        page.locator(f"tr[data-job-id='{job_id}'] input.pick").check()
    expect(page.locator("#selected-count")).to_have_text("4 jobs selected")
    expect(page.locator("#bulk-cancel")).to_have_text("Cancel 2 jobs")
    expect(page.locator("#bulk-delete")).to_have_text("Delete 2 jobs")
    expect(page.locator("#select-all")).not_to_be_checked()
    shot(page, "41-jobs-selected")

    page.focus("#bulk-cancel")  # by keyboard: the focus must not fall to the page when the button goes
    page.keyboard.press("Enter")
    page.click("dialog [data-confirm]")
    expect(page.locator(".toast").last).to_contain_text("Cancelled 2 jobs")
    expect(page.locator("#bulk-delete")).to_be_focused()  # the bar's next action
    for job_id in running:
        assert client.get(f"/v1/jobs/{job_id}").json()["status"] == "cancelled"
    # What was done leaves the selection; the finished jobs stay ticked.
    expect(page.locator("#selected-count")).to_have_text("2 jobs selected")
    expect(page.locator("#bulk-cancel")).to_have_count(0)

    page.keyboard.press("Enter")
    expect(page.locator("dialog")).to_contain_text("deleted for good")
    page.click("dialog [data-confirm]")
    expect(page.locator(".toast").last).to_contain_text("Deleted 2 jobs")
    expect(page.locator("#select-all")).to_be_focused()  # the bar went: back to the list
    for name in ("old 1", "old 2"):
        assert client.get(f"/v1/jobs/{finished[name]}").status_code == 404
    assert client.get(f"/v1/jobs/{finished['keep 1']}").status_code == 200
    expect(page.locator("#bulk-bar")).to_be_hidden()
    expect(page.locator("#jobs-body tr")).to_have_count(5)

    # A search starts a new selection; "select all" ticks the page shown, and only that.
    page.locator(f"tr[data-job-id='{finished['keep 1']}'] input.pick").check()
    page.fill("#filter-name", "old")
    expect(page.locator("#jobs-body tr")).to_have_count(2)
    expect(page.locator("#bulk-bar")).to_be_hidden()
    # On a phone the table's header row is hidden but for its select-all box, captioned for a phone.
    page.set_viewport_size({"width": 390, "height": 844})
    box = page.locator("#select-all").bounding_box()
    assert box is not None and box["width"] >= 12 and box["height"] >= 12, f"select-all on a phone: {box}"
    page.get_by_text("Select all on this page").click()
    expect(page.locator("#select-all")).to_be_checked()
    expect(page.locator("#selected-count")).to_have_text("2 jobs selected")
    shot(page, "42-jobs-selected-phone")
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"the jobs page is {width} px wide on a phone"
    # One of them is deleted elsewhere meanwhile (the page is not polled here: a tab in the background is not):
    # what could not be done stays on the page, named, after the toast has gone.
    page.evaluate("Object.defineProperty(document, 'hidden', {get: () => true})")
    page.fill("#filter-name", "old ")  # a search that finds the same jobs: its refresh clears the poll's timer
    expect(page.locator("#bulk-bar")).to_be_hidden()
    page.get_by_text("Select all on this page").click()
    client.delete(f"/v1/jobs/{finished['old 3']}")
    page.click("#bulk-delete")
    page.click("dialog [data-confirm]")
    expect(page.locator(".toast").last).to_contain_text("Deleted 1 job")
    expect(page.locator("#bulk-failed")).to_contain_text("1 job not deleted")
    expect(page.locator("#bulk-failed li")).to_contain_text("old 3: ")
    shot(page, "44-jobs-not-deleted-phone")
    expect(page.locator(".empty .title")).to_have_text("No jobs match these filters")
    expect(page.locator("#filter-name")).to_be_focused()  # no job left to select: the search
    expect(page.locator("#bulk-bar")).to_be_hidden()
    page.fill("#filter-name", "")  # another search: the notice was about that one's jobs
    expect(page.locator("#jobs-body tr")).to_have_count(3)
    expect(page.locator("#bulk-failed")).to_be_empty()
    assert client.get("/v1/jobs", params={"name": "old"}).json()["pagination"]["total"] == 0
    assert client.get(f"/v1/jobs/{finished['keep 1']}").status_code == 200
    assert client.balance() >= balance  # cancelling refunds; deleting takes nothing
    assert watched.problems() == []
    page.context.close()
