"""A lab member's daily walk through the account's pages at 1440 px and on a phone (375 px), and what it found:
times without their zone (a session's end, a share link's expiry), the server's "current password is wrong" drawn
two fields below the field it is about (the focus left on the button), a blank line ending each retried webhook
delivery on a phone, a key's rate limit without its unit, a webhook never tested shown as "-", and "cr" for
credits. A job service on the inference twin, in this module alone."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Browser, Page, Route, expect

from tests.dashboard.pages_helpers import (
    VIEWPORT,
    User,
    Watched,
    in_process_service,
    make_user,
    shot,
    signed_in,
)
from tests.support import InProcessService, wait_until

pytestmark = pytest.mark.e2e

service = in_process_service("daily_walk", {"PHONOS_MODELS": "esmfold"})
PHONE = 375
WIDTHS = [VIEWPORT["width"], PHONE]


@pytest.fixture(scope="module")
def lab(service: InProcessService) -> User:
    return make_user(service, "dailylab")  # type: ignore[arg-type]


def _signed_in_at(browser: Browser, service: InProcessService, user: User, width: int, *,
                  timezone: str) -> Page:
    """A signed-in page in a browser context of its own whose clock is in `timezone` (the form filled)."""
    context = browser.new_context(viewport={"width": width, "height": VIEWPORT["height"]}, timezone_id=timezone)
    page = context.new_page()
    page.goto(f"{service.base_url}/sign-in")
    page.fill("#username", user.username)
    page.fill("#password", user.password)
    page.click("form button[type=submit]")
    page.wait_for_url("**/jobs")
    return page


@pytest.mark.parametrize(("timezone", "zone"), [("UTC", "UTC"), ("Europe/Berlin", "CET")])
def test_times_on_the_account_and_share_cards_name_their_time_zone(browser: Browser, service: InProcessService,
                                                                   lab: User, timezone: str, zone: str) -> None:
    """"Session ends 2 Dec 2026, 07:10" and a share link's "Expires 31 Dec 2026, 19:13" did not say in which zone:
    the browser's is named now, as a lab spread over time zones reads them."""
    api = service.client(lab.api_key)
    job_id = api.wait_for(api.predict(name="shared fold").json()["job_id"])["job_id"]
    assert api.post(f"/v1/jobs/{job_id}/shares", json={}).ok
    page = _signed_in_at(browser, service, lab, VIEWPORT["width"], timezone=timezone)
    page.goto(f"{service.base_url}/account")
    session = page.locator("#account-session dd").nth(1)
    pattern = rf"^\d{{1,2}} \w{{3}} \d{{4}}, \d{{2}}:\d{{2}} {zone}$"
    expect(session).to_have_text(re.compile(pattern))
    expect(page.locator("#account-profile dd").last).to_have_text(re.compile(pattern))
    page.goto(f"{service.base_url}/jobs/{job_id}")
    page.get_by_role("button", name="Share", exact=True).click()
    expires = page.locator("td[data-label=Expires]").first
    expect(expires).to_have_text(re.compile(pattern))
    page.context.close()


def test_a_share_panel_opened_while_the_results_load_stays_open_when_they_arrive(browser: Browser,
                                                                                service: InProcessService,
                                                                                lab: User) -> None:
    """The Share panel was put in the results' place, which the results replace once their files have loaded: a Share
    clicked at once left the button "expanded" over no panel (CI: the share expiry test found no link row). The files
    are held back here until the panel is open."""
    api = service.client(lab.api_key)
    job_id = api.wait_for(api.predict(name="share early").json()["job_id"])["job_id"]
    assert api.post(f"/v1/jobs/{job_id}/shares", json={}).ok
    page = _signed_in_at(browser, service, lab, VIEWPORT["width"], timezone="UTC")
    held: list[Route] = []
    released: list[bool] = []
    page.route("**/v1/jobs/*/download?*", lambda route: route.continue_() if released else held.append(route))
    page.goto(f"{service.base_url}/jobs/{job_id}")
    expect(page.get_by_text("Loading results…")).to_be_visible()
    page.get_by_role("button", name="Share", exact=True).click()
    expect(page.locator("#share-panel td[data-label=Expires]")).to_have_count(1)
    wait_until(lambda: held or page.wait_for_timeout(50), timeout_s=15)  # the page asked for its result files
    released.append(True)
    for route in held:
        route.continue_()
    expect(page.locator("#downloads")).to_be_visible()
    expect(page.get_by_role("button", name="Share", exact=True)).to_have_attribute("aria-expanded", "true")
    expect(page.locator("#share-panel td[data-label=Expires]")).to_have_count(1)
    page.context.close()


def _tops(page: Page, *selectors: str) -> list[tuple[float, float]]:
    """Each element's top and bottom in the document, read at one moment (the page may scroll between reads)."""
    return [tuple(edges) for edges in page.evaluate(
        "(ss) => ss.map((s) => { const r = document.querySelector(s).getBoundingClientRect(); "
        "return [r.top + scrollY, r.bottom + scrollY]; })", list(selectors))]


@pytest.mark.parametrize("width", WIDTHS)
def test_a_wrong_current_password_is_said_under_that_field_which_gets_the_focus(
        browser: Browser, service: InProcessService, lab: User, width: int) -> None:
    watched = Watched()
    page = signed_in(browser, service, lab, watched, width=width)
    page.goto(f"{service.base_url}/account")
    page.fill("#password-current", "not my password at all")
    page.fill("#password-new", "a long enough new passphrase")
    page.fill("#password-again", "a long enough new passphrase")
    page.click("#password-change")
    error = page.locator("#password-error")
    expect(error).to_have_text("The current password is wrong")
    expect(page.locator("#password-current")).to_be_focused()  # to type it again at once
    current, said, new_label = _tops(page, "#password-current", "#password-error", "label[for=password-new]")
    # Right under the field it is about, before the next field's label (it was under "New password again").
    assert current[1] <= said[0] < new_label[0], (current, said, new_label)
    shot(page, f"daily-password-wrong-{width}", full_page=False)
    # A check the page makes itself still puts the line under its own field: the two new passwords differ.
    page.fill("#password-again", "another new passphrase")
    page.click("#password-change")
    expect(error).to_have_text("The two new passwords differ: type the same one twice.")
    again, said = _tops(page, "#password-again", "#password-error")
    assert said[0] >= again[1], (again, said)
    expect(page.locator("#password-again")).to_be_focused()
    assert watched.problems() == []
    page.close()


def test_a_retried_webhook_delivery_on_a_phone_ends_with_its_answer_not_a_blank_line(
        browser: Browser, service: InProcessService, lab: User) -> None:
    """A delivery still being retried has no "Send again": its empty cell was a 30 px blank line at the end of each
    such entry on a phone."""
    api = service.client(lab.api_key)
    hook = api.post("/v1/webhooks", json={"url": "http://127.0.0.1:9/gone", "events": ["job.completed"]}).json()
    hook_id = hook["webhook"]["webhook_id"]
    api.wait_for(api.predict(name="hooked").json()["job_id"])
    wait_until(lambda: any(d["status"] == "pending" and d["attempts"] >= 1 for d in
                           api.get(f"/v1/webhooks/{hook_id}/deliveries").json()["deliveries"]), 30)
    page = signed_in(browser, service, lab, width=PHONE)
    page.goto(f"{service.base_url}/webhooks")
    page.locator(f"#webhooks-table tr[data-webhook-id='{hook_id}'] [data-action=deliveries]").click()
    row = page.locator("#deliveries-body tr[data-status=pending]").first
    expect(row).to_be_visible()
    expect(row.locator("td.actions")).to_be_hidden()
    answer = row.locator("td.answer").bounding_box()
    box = row.bounding_box()
    assert answer and box and box["y"] + box["height"] - (answer["y"] + answer["height"]) <= 12, (answer, box)
    shot(page, "daily-deliveries-phone")
    assert api.delete(f"/v1/webhooks/{hook_id}").ok
    page.close()


@pytest.mark.parametrize("width", WIDTHS)
def test_a_keys_rate_limit_says_per_minute_beside_its_box(browser: Browser, service: InProcessService, lab: User,
                                                          width: int) -> None:
    """The column said "Rate limit" over a box holding 60: per second, minute or hour? The revoked keys' text said
    "60/min" already."""
    page = signed_in(browser, service, lab, width=width)
    page.goto(f"{service.base_url}/keys")
    cell = page.locator("#keys-table tbody tr[data-revoked=false] td[data-label='Rate limit']").first
    expect(cell.locator(".unit")).to_have_text("/min")
    expect(cell.locator(".unit")).to_be_visible()
    expect(cell.locator("input")).to_have_attribute("aria-label", re.compile(r"^Rate limit of .+, requests per minute$"))
    field, unit, save = (cell.locator(s).bounding_box() for s in ("input", ".unit", "[data-action=save-limit]"))
    assert field and unit and save and field["x"] + field["width"] <= unit["x"] < save["x"]  # 60 /min [Save]
    shot(page, f"daily-keys-{width}", full_page=False)
    page.close()


def test_a_webhook_never_tested_says_so_in_words(browser: Browser, service: InProcessService, lab: User) -> None:
    """Its "Last test" was a lone "-", read as a missing value or a failure."""
    api = service.client(lab.api_key)
    hook_id = api.post("/v1/webhooks", json={"url": "http://127.0.0.1:9/quiet", "events": ["job.failed"]}).json()[
        "webhook"]["webhook_id"]
    page = signed_in(browser, service, lab, width=PHONE)
    page.goto(f"{service.base_url}/webhooks")
    expect(page.locator(f"#webhooks-table tr[data-webhook-id='{hook_id}'] td.test-result")).to_have_text("Never tested")
    assert api.delete(f"/v1/webhooks/{hook_id}").ok
    page.close()


def test_usage_by_model_spells_credits_out(browser: Browser, service: InProcessService, lab: User) -> None:
    api = service.client(lab.api_key)
    api.wait_for(api.predict(name="counted").json()["job_id"])
    page = signed_in(browser, service, lab, width=VIEWPORT["width"])
    page.goto(f"{service.base_url}/usage")
    label = page.locator("#by-model .item > :first-child").first
    expect(label).to_have_text(re.compile(r"^ESMFold · [\d,]+ credits$"))
    page.close()


@pytest.mark.parametrize("width", WIDTHS)
def test_usage_with_requests_but_no_job_says_no_credits_were_used(browser: Browser, service: InProcessService,
                                                                   width: int) -> None:
    """An account that only read (listed keys, models) had an empty "Credits per day" frame with a 0-1 axis, which
    looked like a chart that had failed to draw."""
    reader = make_user(service, f"reader{width}")  # type: ignore[arg-type]
    assert service.client(reader.api_key).get("/v1/models").ok
    page = signed_in(browser, service, reader, width=width)
    page.goto(f"{service.base_url}/usage?days=7")
    expect(page.locator("#chart-requests")).to_be_visible()
    expect(page.locator("#chart-credits-empty")).to_have_text(
        "No credits used in these 7 days: jobs use credits when they are submitted.")
    expect(page.locator("#chart-credits")).to_have_count(0)
    shot(page, f"daily-usage-no-credits-{width}", full_page=False)
    page.close()
