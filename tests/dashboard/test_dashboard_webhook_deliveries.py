"""The webhooks page's delivery log: each job event sent to a receiver, what it answered, a status filter, and
"Send again" for a failed delivery. A job service on the inference twin (the page reads the log the real
sender writes), in this module alone."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Browser, expect

from tests.dashboard.pages_helpers import Watched, in_process_service, make_user, shot, sign_in
from tests.support import InProcessService, WebhookReceiver, wait_until

pytestmark = pytest.mark.e2e

PHONE = {"width": 390, "height": 844}


# Two attempts 0.2 s apart: a receiver that answers 500 twice makes a failed delivery at once.
service = in_process_service("deliveries", {"PHONOS_WEBHOOK_MAX_ATTEMPTS": "2", "PHONOS_WEBHOOK_BACKOFF_BASE_S": "0.2"})


def test_the_delivery_log_shows_answers_filters_and_sends_a_failed_event_again(browser: Browser,
                                                                               service: InProcessService) -> None:
    dora = make_user(service, "dora")  # type: ignore[arg-type]
    client = service.client(dora.api_key)
    with WebhookReceiver(statuses=[500, 500]) as receiver:
        hook_id = client.post("/v1/webhooks", json={"url": receiver.url, "events": ["job.completed"]}).json()[
            "webhook"]["webhook_id"]
        failed_job = client.wait_for(client.predict().json()["job_id"])["job_id"]
        log = f"/v1/webhooks/{hook_id}/deliveries"
        wait_until(lambda: client.get(log, params={"status": "failed"}).json()["pagination"]["total"] == 1, 15)
        delivered_job = client.wait_for(client.predict().json()["job_id"])["job_id"]
        wait_until(lambda: client.get(log, params={"status": "delivered"}).json()["pagination"]["total"] == 1, 15)

        watched = Watched()
        page = sign_in(browser, service, dora, watched)  # type: ignore[arg-type]
        page.goto(f"{service.base_url}/webhooks")
        page.locator("#webhooks-table [data-action=deliveries]").click()
        rows = page.locator("#deliveries-body tr")
        expect(rows).to_have_count(2)
        newest, oldest = rows.nth(0), rows.nth(1)  # newest first
        expect(newest.locator("[data-status]").first).to_have_attribute("data-status", "delivered")
        expect(newest).to_contain_text("HTTP 200")
        expect(newest.locator("a")).to_have_attribute("href", f"/jobs/{delivered_job}")
        assert newest.locator("[data-action=redeliver]").count() == 1  # a delivered one may be sent again too
        expect(oldest).to_have_attribute("data-status", "failed")
        expect(oldest).to_contain_text("the receiver answered HTTP 500 (expected 2xx)")
        expect(oldest.locator("td.num").first).to_have_text("2")  # attempts
        expect(oldest.locator("a")).to_have_attribute("href", f"/jobs/{failed_job}")
        # each "Send again" names the delivery it resends
        expect(oldest.locator("[data-action=redeliver]")).to_have_attribute(
            "aria-label", re.compile(rf"^Send again job\.completed of job {failed_job[:8]}, "))
        expect(page.locator("#deliveries-info")).to_have_text("2 of 2")
        shot(page, "32-webhook-deliveries")

        page.select_option("#deliveries-status", "failed")
        expect(rows).to_have_count(1)
        expect(rows.nth(0)).to_have_attribute("data-status", "failed")
        page.select_option("#deliveries-status", "pending")
        expect(page.locator("#deliveries-empty")).to_have_text("No pending deliveries.")
        expect(page.locator("#deliveries-pager")).to_be_hidden()  # not an empty ruled strip under the words
        page.select_option("#deliveries-status", "")
        expect(page.locator("#deliveries-pager")).to_be_visible()

        expect(rows).to_have_count(2)
        rows.nth(1).locator("[data-action=redeliver]").click()  # the failed one
        expect(page.locator(".toast")).to_contain_text("Sent again as delivery")
        expect(rows).to_have_count(3)
        wait_until(lambda: len(receiver.requests) == 4, 15)  # 2 refused, 1 delivered, the one sent again
    assert receiver.requests[3]["body"] == receiver.requests[0]["body"]

    page.set_viewport_size(PHONE)
    page.reload()
    page.locator("#webhooks-table [data-action=deliveries]").click()
    expect(rows).to_have_count(3)
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]  # no sideways scrolling
    shot(page, "33-webhook-deliveries-phone")
    assert watched.problems() == []
    page.context.close()


def test_a_logged_test_event_has_no_send_again(browser: Browser, service: InProcessService) -> None:
    """A test is sent once (the server refuses to send it again): its row offers no "Send again" that would fail."""
    tess = make_user(service, "tess")  # type: ignore[arg-type]
    client = service.client(tess.api_key)
    with WebhookReceiver(statuses=[500]) as receiver:
        hook_id = client.post("/v1/webhooks", json={"url": receiver.url}).json()["webhook"]["webhook_id"]
        assert client.post(f"/v1/webhooks/{hook_id}/test").json()["status_code"] == 500
    page = sign_in(browser, service, tess, Watched())  # type: ignore[arg-type]
    page.goto(f"{service.base_url}/webhooks")
    page.locator("#webhooks-table [data-action=deliveries]").click()
    rows = page.locator("#deliveries-body tr")
    expect(rows).to_have_count(1)
    expect(rows.nth(0)).to_contain_text("webhook.test")
    expect(rows.nth(0).locator("[data-action=redeliver]")).to_have_count(0)
    page.context.close()
