"""The webhooks page's "Receivers" list says how each receiver takes its job events: the last delivery's outcome
and a "Failing since" badge while they keep failing, gone after the next success; readable on a 375 px phone. A
job service on the inference twin and a real loopback receiver (500, 500, then 200), in this module alone."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, expect

from tests.dashboard.pages_helpers import Watched, in_process_service, make_user, shot, sign_in
from tests.support import InProcessService, WebhookReceiver, wait_until

pytestmark = pytest.mark.e2e

PHONE = {"width": 375, "height": 812}

# Two attempts 0.2 s apart: a receiver that answers 500 twice makes a failed delivery at once.
service = in_process_service("hookhealth", {"PHONOS_WEBHOOK_MAX_ATTEMPTS": "2", "PHONOS_WEBHOOK_BACKOFF_BASE_S": "0.2"})


def test_a_failing_receiver_shows_on_the_list_until_it_takes_an_event_again(browser: Browser,
                                                                            service: InProcessService) -> None:
    erin = make_user(service, "erin")  # type: ignore[arg-type]
    client = service.client(erin.api_key)
    with WebhookReceiver(statuses=[500, 500]) as receiver:
        hook_id = client.post("/v1/webhooks", json={"url": receiver.url, "events": ["job.completed"]}).json()[
            "webhook"]["webhook_id"]
        log = f"/v1/webhooks/{hook_id}/deliveries"
        client.wait_for(client.predict().json()["job_id"])
        wait_until(lambda: client.get(log, params={"status": "failed"}).json()["pagination"]["total"] == 1, 15)

        watched = Watched()
        page = sign_in(browser, service, erin, watched, width=PHONE["width"])  # type: ignore[arg-type]
        page.set_viewport_size(PHONE)
        page.goto(f"{service.base_url}/webhooks")
        row = page.locator(f"#webhooks-table tr[data-webhook-id='{hook_id}']")
        badge = row.locator("[data-field=failing-since]")
        expect(badge).to_be_visible()
        expect(badge).to_contain_text("Failing since")
        last = row.locator("[data-field=last-delivery]")
        expect(last).to_have_attribute("data-status", "failed")
        expect(last).to_contain_text("HTTP 500")
        expect(last).to_be_in_viewport()
        # Readable on a phone: the row stacks, nothing scrolls sideways, the badge's words stay inside the screen
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        box = badge.bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"]
        shot(page, "33-webhook-failing-phone")
        # On a desktop the new column leaves the row fitting its card beside the sidebar, with a test's answer in it
        # too, and its four buttons two by two (as tests/dashboard/test_dashboard_browser.py asks of the page).
        page.set_viewport_size({"width": 1440, "height": 960})
        row.locator("[data-action=test]").click()
        expect(row.locator(".test-result [data-status-code]")).to_have_attribute("data-status-code", "200")
        tops = row.locator("td.actions button").evaluate_all(
            "bs => bs.map((b) => Math.round(b.getBoundingClientRect().top))")
        assert len(tops) == 4 and tops[0] == tops[1] < tops[2] == tops[3], tops
        page.set_viewport_size({"width": 1024, "height": 900})
        shot(page, "34-webhook-failing-1024")
        assert page.evaluate("(e) => e.scrollWidth <= e.clientWidth",
                             page.locator("#webhooks-table").locator("..").element_handle())
        shot(page, "34-webhook-failing-1024")

        client.wait_for(client.predict().json()["job_id"])  # the receiver answers 200 now
        wait_until(lambda: client.get(log, params={"status": "delivered", "event": "job.completed"}).json()[
            "pagination"]["total"] == 1, 15)
        page.reload()
        expect(last).to_have_attribute("data-status", "delivered")
        expect(last).to_contain_text("HTTP 200")
        expect(row.locator("[data-field=failing-since]")).to_have_count(0)
    assert watched.problems() == []
