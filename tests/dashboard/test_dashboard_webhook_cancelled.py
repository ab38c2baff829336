"""The webhooks form offers job.cancelled unticked (the API sends it only to a webhook that lists it), with a line
saying when it is sent; ticked, the webhook gets the event and its delivery log shows it. A job service on the
inference twin and a real loopback receiver, in this module alone."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, expect

from jobservice.memory_inference import Slow
from tests.dashboard.pages_helpers import Watched, in_process_service, make_user, shot, sign_in
from tests.support import InProcessService, WebhookReceiver, wait_until

pytestmark = pytest.mark.e2e

PHONE = {"width": 375, "height": 812}

service = in_process_service("hookcancel")


def test_job_cancelled_is_offered_unticked_and_ticked_it_is_delivered(browser: Browser,
                                                                      service: InProcessService) -> None:
    fay = make_user(service, "fay")  # type: ignore[arg-type]
    client = service.client(fay.api_key)
    watched = Watched()
    page = sign_in(browser, service, fay, watched)  # type: ignore[arg-type]
    page.goto(f"{service.base_url}/webhooks")
    group = page.get_by_role("group", name="Events")
    for name in ("job.started", "job.completed", "job.failed"):
        expect(group.get_by_role("checkbox", name=name, exact=True)).to_be_checked()
    cancelled = group.get_by_role("checkbox", name="job.cancelled", exact=True)
    expect(cancelled).not_to_be_checked()
    expect(cancelled).to_have_accessible_description(
        "job.cancelled: sent when a job is cancelled (queued or running); only when ticked.")
    expect(page.locator("#event-job\\.cancelled-note")).to_be_visible()

    with WebhookReceiver() as receiver:
        # Left as it is, the form asks for the seed's three: job.cancelled is not among them
        page.fill("#webhook-url", f"{receiver.url}?left-unticked")
        page.click("#webhook-add")
        expect(page.locator("#secret-value")).to_contain_text("whsec_")
        page.fill("#webhook-url", receiver.url)
        cancelled.check()
        page.click("#webhook-add")
        expect(page.locator("#webhooks-table tbody tr")).to_have_count(2)
        hooks = {h["url"]: h for h in client.get("/v1/webhooks").json()["webhooks"]}
        assert hooks[f"{receiver.url}?left-unticked"]["events"] == ["job.started", "job.completed", "job.failed"]
        ticked = hooks[receiver.url]
        assert ticked["events"] == ["job.started", "job.completed", "job.failed", "job.cancelled"]
        row = page.locator(f"#webhooks-table tr[data-webhook-id='{ticked['webhook_id']}']")
        expect(row.locator("td[data-label=Events] .chip", has_text="job.cancelled")).to_be_visible()

        service.inference.script("esmfold", Slow(60))
        job_id = client.predict().json()["job_id"]
        client.wait_for(job_id, ("running",))
        assert client.post(f"/v1/jobs/{job_id}/cancel").status_code == 200
        wait_until(lambda: "job.cancelled" in receiver.events(), 15)

    row.locator("[data-action=deliveries]").click()
    log = page.locator("#deliveries-slot")
    expect(log.locator(".chip", has_text="job.cancelled")).to_have_count(1)
    shot(page, "45-webhook-job-cancelled")
    # On a phone the note stays on the screen and nothing scrolls sideways
    page.set_viewport_size(PHONE)
    page.goto(f"{service.base_url}/webhooks")
    note = page.locator("#event-job\\.cancelled-note")
    note.scroll_into_view_if_needed()  # the form is under the list
    expect(note).to_be_in_viewport(ratio=1)
    box = note.bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"]
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    shot(page, "46-webhook-events-phone", full_page=False)
    assert not watched.problems(), watched.problems()
