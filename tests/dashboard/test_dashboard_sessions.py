"""The account page's "Signed in" card: a person signed in on a laptop and a phone sees both browsers (named from
their User-Agents, this one marked, with address and times), signs the phone out from the laptop, the list
refreshes (the keyboard's focus on its heading), and the phone's next page goes to sign-in. At 1440 px and 390 px.
A job service on the inference twin, in this module alone."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, expect

from tests.dashboard.pages_helpers import (
    ARTIFACTS,
    VIEWPORT,
    User,
    Watched,
    in_process_service,
    make_user,
    sign_in,
)
from tests.support import InProcessService

pytestmark = pytest.mark.e2e

service = in_process_service("sessions", {"PHONOS_MODELS": "esmfold"})
LAPTOP = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
PHONE = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
         "Version/17.5 Mobile/15E148 Safari/604.1")


@pytest.mark.parametrize("width", [VIEWPORT["width"], 390])
def test_a_person_signs_their_other_browser_out_from_the_account_page(browser: Browser, service: InProcessService,
                                                                       width: int) -> None:
    person: User = make_user(service, f"sam{width}")  # type: ignore[arg-type]
    watched = Watched()
    laptop = sign_in(browser, service, person, watched, width=width, user_agent=LAPTOP)
    phone = sign_in(browser, service, person, width=390, user_agent=PHONE)
    laptop.goto(f"{service.base_url}/account")
    card = laptop.locator("#sessions-card")
    expect(card.get_by_role("heading", name="Signed in")).to_be_visible()
    rows = card.locator("li.session")
    expect(rows).to_have_count(2)
    this = rows.first  # this browser first, whatever the order of use
    expect(this).to_have_class("session current")
    expect(this.locator(".session-what")).to_have_text("Chrome on Linux")
    expect(this.locator(".chip")).to_have_text("This browser")
    # This browser's own row has its Sign out too (it had none: only the Session card's button signed it out).
    expect(this.get_by_role("button")).to_have_count(1)
    expect(this.get_by_role("button", name="Sign out this browser")).to_be_visible()
    expect(this.locator("[data-field=address]")).to_have_text("127.0.0.1")
    expect(this.locator("[data-field=created]")).to_have_text("Signed in just now")
    other = card.locator("li.session:not(.current)")
    expect(other.locator(".session-what")).to_have_text("Safari on iPhone")
    expect(other.locator(".session-what")).to_have_attribute("title", PHONE)  # the whole User-Agent on hover
    expect(other.locator("[data-field=active]")).to_have_text("Last active just now")

    card.scroll_into_view_if_needed()
    box = card.bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= width
    button = other.get_by_role("button", name="Sign out Safari on iPhone")
    button_box = button.bounding_box()
    assert button_box is not None and button_box["x"] + button_box["width"] <= box["x"] + box["width"]
    assert laptop.evaluate("document.documentElement.scrollWidth") <= width
    card.screenshot(path=str(ARTIFACTS / f"77-account-signed-in-{width}.png"))
    laptop.screenshot(path=str(ARTIFACTS / f"77-account-page-{width}.png"), full_page=True)

    button.focus()  # by keyboard: its row goes, and the focus with it
    laptop.keyboard.press("Enter")
    expect(rows).to_have_count(1)  # the list refreshed
    # The focus is on the list's heading, where Tab goes on from, not fallen to the page's top.
    expect(card.get_by_role("heading", name="Signed in")).to_be_focused()
    expect(card.locator("li.session.current")).to_be_visible()
    # So did the Activity card further down, without a reload (it used to keep its first page until one).
    newest = laptop.locator("#activity-body tr").first
    expect(newest).to_have_attribute("data-action", "session.ended")
    expect(newest.locator("td").nth(1)).to_have_text("Signed out another browser")
    expect(laptop.locator("#activity-body tr[data-action='session.signed_in']")).to_have_count(2)  # no row twice
    laptop.locator("#activity").screenshot(path=str(ARTIFACTS / f"79-account-activity-after-sign-out-{width}.png"))
    card.screenshot(path=str(ARTIFACTS / f"78-account-signed-in-after-{width}.png"))

    phone.goto(f"{service.base_url}/jobs")  # the phone's cookie is refused: sent to sign in
    phone.wait_for_url("**/sign-in?next=%2Fjobs")
    laptop.goto(f"{service.base_url}/jobs")  # the laptop stays signed in
    expect(laptop.locator("h1")).to_have_text("Jobs")
    laptop.goto(f"{service.base_url}/account")
    expect(laptop.locator("#activity-body tr").first.locator("td").nth(1)).to_have_text("Signed out another browser")
    this_box = this.get_by_role("button", name="Sign out this browser").bounding_box()
    assert this_box is not None and this_box["x"] + this_box["width"] <= width  # beside the chip, on a phone too
    # This browser's row signs this browser out, as the Session card's button does: sign-in, and the cookie refused.
    this.get_by_role("button", name="Sign out this browser").click()
    laptop.wait_for_url("**/sign-in")
    laptop.goto(f"{service.base_url}/account")
    laptop.wait_for_url("**/sign-in?next=%2Faccount")
    assert watched.problems() == []
    laptop.context.close()
    phone.context.close()
