"""The webhooks page's "Rotate secret": a confirm first, then the new secret shown once with its Copy button and
when the old one stops signing; what the page showed is the secret a receiver then verifies with (beside the old
one, during the overlap). A job service on the inference twin, in this module alone."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest
from phonos_client import verify_webhook
from playwright.sync_api import Browser, expect

from tests.dashboard.pages_helpers import (
    A11Y_PROBLEMS,
    Watched,
    in_process_service,
    make_user,
    shot,
    signed_in,
)
from tests.support import InProcessService, WebhookReceiver, wait_until

pytestmark = pytest.mark.e2e

PHONE = {"width": 390, "height": 844}

service = in_process_service("rotation")


def test_rotate_secret_confirms_then_shows_the_new_secret_once_with_the_overlap_end(browser: Browser,
                                                                                   service: InProcessService) -> None:
    rosa = make_user(service, "rosa")  # type: ignore[arg-type]
    client = service.client(rosa.api_key)
    with WebhookReceiver() as receiver:
        created = client.post("/v1/webhooks", json={"url": receiver.url}).json()
        old = created["secret"]
        plain = client.post("/v1/webhooks", json={"url": "https://example.org/not-rotated"}).json()
        row = f"#webhooks-table tr[data-webhook-id='{created['webhook']['webhook_id']}']"
        watched = Watched()
        page = signed_in(browser, service, rosa, watched)  # type: ignore[arg-type]
        page.goto(f"{service.base_url}/webhooks")
        rotate = page.locator(f"{row} [data-action=rotate]")
        expect(rotate).to_have_attribute("aria-label", f"Rotate secret of {receiver.url}")

        rotate.click()  # a confirm first: Cancel changes nothing
        dialog = page.locator("dialog.modal")
        expect(dialog).to_contain_text("signed with both the new and the current secret")
        dialog.get_by_role("button", name="Cancel").click()
        expect(dialog).to_have_count(0)
        expect(page.locator("#secret-value")).to_have_count(0)

        rotate.click()
        dialog.locator("[data-confirm]").click()
        secret_shown = page.locator("#secret-value")
        expect(secret_shown).to_contain_text("whsec_")
        new = secret_shown.inner_text()
        assert new != old
        callout = page.locator("#secret-callout")
        expect(callout).to_contain_text(f"New signing secret for {receiver.url}")
        expect(callout).to_contain_text("Copy it now: it is not shown again.")
        expect(callout.get_by_role("button", name="Copy")).to_be_focused()  # the thing to take next
        end = page.locator("#secret-overlap-end")
        expect(callout).to_contain_text("in 24 hours")
        until = datetime.fromisoformat(end.get_attribute("datetime") or "").astimezone(UTC).timestamp()
        assert abs(until - (time.time() + 86400)) < 60
        shot(page, "34-webhook-secret-rotated")

        # the row says it too, in words under the receiver's URL (read by a screen reader, contrast checked), with
        # the same end as the callout's; a webhook not rotated says nothing of the kind
        overlap = page.locator(f"{row} [data-field=secret-overlap]")
        expect(overlap).to_contain_text("Old secret still signs until")
        expect(overlap).to_contain_text("in 24 hours")
        expect(overlap.locator("time")).to_have_attribute("datetime", end.get_attribute("datetime") or "")
        expect(overlap.locator(".pill")).to_have_text("rotating")
        assert page.evaluate(A11Y_PROBLEMS) == []  # the whole page, the new line with it
        expect(page.locator(f"#webhooks-table tr[data-webhook-id='{plain['webhook']['webhook_id']}'] "
                            "[data-field=secret-overlap]")).to_have_count(0)

        # the secret the page showed signs the next delivery, and the old one still does beside it
        page.locator(f"{row} [data-action=test]").click()
        expect(page.locator(f"{row} .test-result")).to_contain_text("HTTP 200")
        wait_until(lambda: len(receiver.requests) == 1, 10)
        signed = receiver.requests[0]
        for secret in (new, old):
            assert verify_webhook(signed["body"], signed["headers"]["X-Phonos-Signature"], secret)

    page.reload()  # shown once: gone from the page, and never in the list's API answer
    expect(page.locator("#webhooks-table")).to_be_visible()
    expect(page.locator("#secret-value")).to_have_count(0)
    assert new not in page.content()
    expect(page.locator("#webhooks-table [data-field=secret-overlap]")).to_have_count(1)  # from the API: it stays

    # the account's activity log says it in words, by the dashboard (never the secret)
    page.goto(f"{service.base_url}/account")
    rotated = page.locator("#activity-body tr[data-action='webhook.secret_rotated']")
    expect(rotated).to_have_count(1)
    expect(rotated.locator("td.what")).to_have_text("Webhook secret rotated")
    expect(rotated).to_contain_text("the dashboard")

    page.goto(f"{service.base_url}/webhooks")
    page.set_viewport_size(PHONE)  # the row's four buttons and the overlap's line on a phone: no sideways scrolling
    expect(page.locator(f"{row} [data-action=rotate]")).to_be_visible()
    expect(page.locator(f"{row} [data-field=secret-overlap]")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    shot(page, "35-webhooks-phone")

    # the overlap stopped by a rotation through the API (0: at once) leaves the row as any other
    client.post(f"/v1/webhooks/{created['webhook']['webhook_id']}/rotate-secret", json={"expire_current_after_s": 0})
    page.reload()
    expect(page.locator("#webhooks-table tbody tr")).to_have_count(2)
    expect(page.locator("#webhooks-table [data-field=secret-overlap]")).to_have_count(0)
    assert watched.problems() == []
