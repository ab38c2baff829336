"""The account page's security cards: a person changes their own dashboard password (the current password first,
the new one twice; the browser that changed it stays signed in, another browser of the account is signed out), and
reads the account's activity (who changed its access, from where). A job service on the inference twin, in this
module alone."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from playwright.sync_api import Browser, Page, expect

from jobservice import admin
from tests.dashboard.pages_helpers import (
    ARTIFACTS,
    User,
    Watched,
    in_process_service,
    make_user,
    shot,
    sign_in,
)
from tests.support import InProcessService

pytestmark = pytest.mark.e2e

service = in_process_service("password", {"PHONOS_MODELS": "esmfold"})
NEW = "four unrelated words here"
NEWER = "five unrelated words here now"


def session_cookie(page: Page) -> str:
    [cookie] = [c for c in page.context.cookies() if c["name"] == "phonos_session"]
    return cookie["value"]


def test_a_person_changes_their_password_and_their_other_browser_is_signed_out(browser: Browser,
                                                                              service: InProcessService) -> None:
    pia: User = make_user(service, "pia")  # type: ignore[arg-type]
    watched = Watched()
    laptop = sign_in(browser, service, pia, watched)  # type: ignore[arg-type]
    phone = sign_in(browser, service, pia)  # type: ignore[arg-type]
    laptop.goto(f"{service.base_url}/account")
    card = laptop.locator("#password-card")
    expect(card.get_by_role("heading", name="Password")).to_be_visible()

    # Checked in the page before anything is sent: the two new passwords must agree, and be long enough.
    laptop.get_by_label("Current password").fill(pia.password)
    laptop.get_by_label("New password", exact=True).fill(NEW)
    laptop.get_by_label("New password again").fill(NEW + "!")
    laptop.click("#password-change")
    expect(laptop.locator("#password-error")).to_have_text("The two new passwords differ: type the same one twice.")
    expect(laptop.locator("#password-again")).to_have_attribute("aria-invalid", "true")
    laptop.get_by_label("New password", exact=True).fill("short")
    laptop.get_by_label("New password again").fill("short")
    laptop.click("#password-change")
    expect(laptop.locator("#password-error")).to_have_text("The new password must be at least 10 characters.")

    # The server's refusal of a wrong current password marks that field, and signs nobody out.
    laptop.get_by_label("Current password").fill("not my password at all")
    laptop.get_by_label("New password", exact=True).fill(NEW)
    laptop.get_by_label("New password again").fill(NEW)
    laptop.click("#password-change")
    expect(laptop.locator("#password-error")).to_have_text("The current password is wrong")
    expect(laptop.locator("#password-current")).to_have_attribute("aria-invalid", "true")
    assert laptop.url.endswith("/account")
    activity = laptop.locator("#activity-body tr")
    expect(activity.first).to_have_attribute("data-action", "password.change_failed")  # logged, shown at once

    before = session_cookie(laptop)
    laptop.get_by_label("Current password").fill(pia.password)
    laptop.focus("#password-change")
    laptop.keyboard.press("Enter")
    expect(laptop.locator("#password-changed")).to_have_text(
        "Password changed. Your other session was signed out; this one stays signed in.")
    expect(laptop.locator("#password-error")).to_be_hidden()
    assert [laptop.input_value(s) for s in ("#password-current", "#password-new", "#password-again")] == ["", "", ""]
    assert laptop.evaluate("document.activeElement.id") == "password-change"  # the keyboard keeps its place
    shot(laptop, "75-account-password-changed")
    # The cards further down show the change without a reload: the Activity log's new entry, and the phone gone
    # from "Signed in".
    expect(activity.first).to_have_attribute("data-action", "password.changed")
    expect(activity.first.locator("td").nth(1)).to_have_text("Password changed (1 other session signed out)")
    expect(activity.locator("xpath=self::tr[@data-action='password.change_failed']")).to_have_count(1)  # each once
    ids = activity.evaluate_all("rows => rows.map(r => r.dataset.activityId)")
    assert len(ids) == len(set(ids)), ids
    expect(laptop.locator("#sessions-list li.session")).to_have_count(1)
    laptop.locator("#activity").screenshot(path=str(ARTIFACTS / "79-account-activity-after-password.png"))

    # The change rotated this browser's session (a new token: OWASP's new session on a change of credentials):
    # the cookie is replaced, and the page, not reloaded, goes on with the new session's CSRF token.
    assert session_cookie(laptop) != before
    assert requests.get(f"{service.base_url}/auth/session", cookies={"phonos_session": before},
                        timeout=30).status_code == 401
    laptop.get_by_label("Current password").fill(NEW)
    laptop.get_by_label("New password", exact=True).fill(NEWER)
    laptop.get_by_label("New password again").fill(NEWER)
    laptop.click("#password-change")
    expect(laptop.locator("#password-changed")).to_have_text("Password changed. This session stays signed in.")
    expect(laptop.locator("#password-error")).to_be_hidden()

    laptop.goto(f"{service.base_url}/jobs")  # still signed in
    expect(laptop.locator("h1")).to_have_text("Jobs")
    phone.goto(f"{service.base_url}/jobs")  # signed out by the change
    phone.wait_for_url("**/sign-in?next=%2Fjobs")
    phone.fill("#username", pia.username)
    phone.fill("#password", NEWER)
    phone.click("form button[type=submit]")
    phone.wait_for_url("**/jobs")
    assert watched.problems() == []
    laptop.context.close()
    phone.context.close()


def test_the_password_card_fits_a_phone(browser: Browser, service: InProcessService) -> None:
    ola: User = make_user(service, "ola")  # type: ignore[arg-type]
    page = sign_in(browser, service, ola)  # type: ignore[arg-type]
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{service.base_url}/account")
    card = page.locator("#password-card")
    card.scroll_into_view_if_needed()
    box = card.bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 390
    for field in ("#password-current", "#password-new", "#password-again"):
        field_box = page.locator(field).bounding_box()
        assert field_box is not None and field_box["width"] >= 250, field  # a full-width field to type in
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    card.screenshot(path=str(shot(page, "76-account-password-phone").with_name("76-account-password-card-phone.png")))
    page.context.close()


def test_the_account_page_shows_who_changed_the_accounts_access_and_from_where(browser: Browser,
                                                                              service: InProcessService) -> None:
    rui: User = make_user(service, "rui")  # type: ignore[arg-type]
    api = service.client(rui.api_key)
    for n in range(11):  # 22 entries: more than a page
        made = api.post("/v1/keys", json={"name": f"script {n}"})
        assert made.status_code == 200, made.text
        assert api.post(f"/v1/keys/{made.json()['key']['key_id']}/revoke", json={}).status_code == 200
    watched = Watched()
    page = sign_in(browser, service, rui, watched)  # type: ignore[arg-type]
    page.goto(f"{service.base_url}/account")
    rows = page.locator("#activity-body tr")
    expect(rows).to_have_count(20)
    newest = rows.first
    expect(newest).to_have_attribute("data-action", "session.signed_in")
    expect(newest.locator("td").nth(1)).to_have_text("Signed in to the dashboard")
    expect(newest.locator("td").nth(2)).to_have_text("the dashboard")
    expect(newest.locator("td").nth(3)).to_have_text("127.0.0.1")
    revoked = rows.nth(1)
    expect(revoked.locator("td").nth(1)).to_have_text("API key “script 10” revoked")  # named, as when made
    expect(revoked.locator("td").nth(2)).to_have_text("key “first key”")
    expect(rows.nth(2).locator("td").nth(1)).to_have_text("API key “script 10” created")
    expect(page.locator("#activity-info")).to_have_text("20 of 25")  # the operator's account setup: 2 more

    # An entry made between two pages shifts nothing: "Show older" goes on after the last row shown.
    api.post("/v1/keys", json={"name": "meanwhile"})
    page.click("#activity-more")
    expect(rows).to_have_count(25)  # every older entry once; the new one is above the first page (a reload shows it)
    expect(page.locator("#activity-info")).to_have_text("25 of 26")
    expect(page.locator("#activity-more")).to_be_hidden()
    ids = [int(i) for i in rows.evaluate_all("rows => rows.map(r => r.dataset.activityId)")]
    # The API's order (ids are opaque, in no order: jobservice/opaque_ids.py), less the entry made meanwhile.
    listed = [e["id"] for e in api.get("/v1/account/activity", params={"limit": 100}).json()["entries"]]
    assert ids == listed[1:] and len(set(ids)) == 25
    expect(rows.last.locator("td").nth(2)).to_have_text("an administrator")  # the account's first key
    shot(page, "77-account-activity")
    assert watched.problems() == []
    page.context.close()


def test_the_activity_names_a_revoked_key_and_the_job_count_says_what_it_counts(browser: Browser,
                                                                                service: InProcessService) -> None:
    """A tester read "API key key_69e4bef78b768a9d revoked" for a key made as "lab robot" (the log kept no name), and
    "Jobs 24 · all time" beside the usage page's 27 submitted (deleted jobs are not in the account's count)."""
    rob: User = make_user(service, "rob")  # type: ignore[arg-type]
    headers = {"Authorization": f"Bearer {rob.api_key}"}
    made = requests.post(f"{service.base_url}/v1/keys", json={"name": "lab robot"}, headers=headers, timeout=30).json()
    key_id = made["key"]["key_id"]
    assert requests.patch(f"{service.base_url}/v1/keys/{key_id}", json={"rate_limit": 20}, headers=headers,
                          timeout=30).ok
    # A rename says to what (a lab admin read only "changed: name"), and then the key goes by its new name
    assert requests.patch(f"{service.base_url}/v1/keys/{key_id}", json={"name": "lab robot 2", "rate_limit": 30},
                          headers=headers, timeout=30).ok
    assert requests.post(f"{service.base_url}/v1/keys/{key_id}/revoke", json={}, headers=headers, timeout=30).ok
    page = sign_in(browser, service, rob)  # type: ignore[arg-type]
    page.goto(f"{service.base_url}/account")
    expect(page.locator('#activity-body tr[data-action="api_key.revoked"] td').nth(1)).to_have_text(
        "API key “lab robot 2” revoked")
    expect(page.locator('#activity-body tr[data-action="api_key.updated"] td:nth-child(2)')).to_have_text([
        "API key “lab robot” renamed to “lab robot 2”; changed: rate limit", "API key “lab robot” changed: rate limit"])
    expect(page.locator("#jobs-total .note")).to_have_text("in your account now")
    page.context.close()


def test_the_activity_says_an_operator_raised_the_accounts_key_rate_limits(browser: Browser,
                                                                          service: InProcessService) -> None:
    """`phonos accounts update --max-rate-limit` (new: the ceiling could not change after the account was made) is
    the account's to see, in words, beside who did it."""
    raj: User = make_user(service, "raj")  # type: ignore[arg-type]
    with ThreadPoolExecutor(1) as pool:  # Playwright's sync API owns this thread's event loop
        raised_to = pool.submit(asyncio.run, admin.set_max_rate_limit(service.settings, username="raj",
                                                                      max_rate_limit=900)).result()
    assert raised_to == (600, 900)  # make_user's key allows 600/min
    assert service.client(raj.api_key).get("/v1/keys").json()["max_rate_limit"] == 900
    page = sign_in(browser, service, raj)  # type: ignore[arg-type]
    page.goto(f"{service.base_url}/account")
    raised = page.locator("#activity-body tr[data-action='account.max_rate_limit_changed']")
    expect(raised.locator("td").nth(1)).to_have_text("Key rate limits allowed up to 900/min (was 600)")
    expect(raised.locator("td").nth(2)).to_have_text("an administrator")
    page.context.close()
