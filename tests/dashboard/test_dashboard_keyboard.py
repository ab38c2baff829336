"""The dashboard by keyboard alone (Tab, Shift+Tab, Enter, Space, Escape; no clicks): a person signs in, opens the
ESMFold form, submits a fold and reaches its page; every dialog keeps the focus inside it while open and gives it
back to what opened it when Escape closes it (the navigation's menu on a phone too); and every control the Tab key
reaches shows a focus ring that can be seen (WCAG 2.4.7 and 1.4.11: a solid outline 2 px or wider at 3:1 or more
against what is behind it). A job service on the inference twin (no model: the pages, not a structure), one browser.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.dashboard.pages_helpers import (
    User,
    Watched,
    in_process_service,
    make_user,
    open_page,
    shot,
    signed_in,
)
from tests.support import ApiClient, InProcessService

pytestmark = pytest.mark.e2e

service = in_process_service("keyboard", {"PHONOS_MODELS": "esmfold"})

SHORT = "MKTAYIAKQRQISFVKSHFSRQLEERLGLIEVQ"

# The focused control, named for a failure message, and whether its focus ring can be seen: it matches
# :focus-visible (the browser draws the ring for a keyboard's focus) with a solid outline 2 px or wider whose
# colour is 3:1 or more against the nearest opaque background round it (the outline is drawn outside the box, on
# its parent's background when offset), or a box-shadow ring.
FOCUSED = """() => {
    const el = document.activeElement;
    if (!el || el === document.body) return null;
    const rgb = (c) => (c.match(/[\\d.]+/g) || []).map(Number);
    const lum = ([r, g, b]) => [r, g, b].map((v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; })
        .reduce((sum, v, i) => sum + v * [0.2126, 0.7152, 0.0722][i], 0);
    const style = getComputedStyle(el);
    let back = [255, 255, 255];
    for (let e = parseFloat(style.outlineOffset) < 0 ? el : el.parentElement; e; e = e.parentElement) {
        const c = rgb(getComputedStyle(e).backgroundColor);
        if (c.length === 3 || c[3] === 1) { back = c; break; }
    }
    const [a, b] = [lum(rgb(style.outlineColor)), lum(back)];
    const contrast = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
    const outline = style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) >= 2 && contrast >= 3;
    const label = el.labels && el.labels.length ? el.labels[0].textContent : '';
    const text = (el.getAttribute('aria-label') || label || el.textContent || '').trim().replace(/\\s+/g, ' ').slice(0, 40);
    return {what: `${el.tagName.toLowerCase()}${el.id ? '#' + el.id : ''} "${text}"`, visible: el.matches(':focus-visible'),
            ring: outline || style.boxShadow !== 'none', contrast: Math.round(contrast * 100) / 100,
            inDialog: Boolean(el.closest('dialog[open]'))};
}"""


class Keyboard:
    """Presses keys on `page` as a keyboard user does; after each, notes a focused control whose ring is not seen."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.problems: list[str] = []

    def press(self, key: str) -> dict[str, object] | None:
        """Presses `key`; after Tab or Shift+Tab, returns where the focus went (not after Enter or Space: what they
        do may be a navigation, the page's scripts gone meanwhile)."""
        self.page.keyboard.press(key)
        if key not in ("Tab", "Shift+Tab"):
            return None
        focused: dict[str, object] | None = self.page.evaluate(FOCUSED)
        if focused and not (focused["visible"] and focused["ring"]):
            problem = f"no focus ring seen ({focused['contrast']}:1) on {focused['what']} at {self.page.url}"
            if problem not in self.problems:
                self.problems.append(problem)
        return focused

    def tab_to(self, selector: str, *, limit: int = 40, back: bool = False) -> None:
        """Tab (Shift+Tab when `back`) until the focus is on `selector`: fails naming where the focus went."""
        visited = []
        for _ in range(limit):
            focused = self.press("Shift+Tab" if back else "Tab")
            if self.page.evaluate("(s) => document.activeElement?.matches(s) ?? false", selector):
                return
            visited.append(str(focused["what"]) if focused else "(the page)")
        raise AssertionError(f"{selector} not reached by {'Shift+' if back else ''}Tab: went to {visited}")


@pytest.fixture(scope="module")
def kim(service: InProcessService) -> User:
    return make_user(service, "kim")  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def client(service: InProcessService, kim: User) -> ApiClient:
    return service.client(kim.api_key)


@pytest.fixture
def watched() -> Iterator[Watched]:
    seen = Watched()
    yield seen
    assert seen.problems() == [], seen.problems()


def test_sign_in_submit_a_fold_and_reach_its_page_by_keyboard_alone(browser: Browser, service: InProcessService,
                                                                    kim: User, watched: Watched) -> None:
    page = open_page(browser, watched)
    keys = Keyboard(page)
    page.goto(f"{service.base_url}/jobs")
    page.wait_for_url("**/sign-in?next=%2Fjobs")
    expect(page.locator("#username")).to_be_visible()
    keys.tab_to("#username")
    page.keyboard.type(kim.username)
    keys.tab_to("#password")
    page.keyboard.type(kim.password)
    keys.press("Enter")
    page.wait_for_url("**/jobs")
    expect(page.locator("h1")).to_have_text("Jobs")
    # The skip link comes first and takes the focus past the navigation; the navigation's "New job" then the form.
    keys.press("Tab")
    expect(page.locator(".skip-link")).to_be_focused()
    expect(page.locator(".skip-link")).to_be_in_viewport()  # shown while focused, not only said
    keys.tab_to(".nav a[href='/submit']")
    keys.press("Enter")
    page.wait_for_url("**/submit")
    expect(page.locator("#tab-esmfold")).to_have_attribute("aria-selected", "true")
    keys.tab_to("#f-sequence")
    page.keyboard.type(SHORT)
    keys.tab_to("#submit-job")
    shot(page, "keyboard-submit-focused", full_page=False)
    keys.press("Space")
    page.wait_for_url(re.compile(r".*/jobs/[0-9a-f-]{36}$"))
    expect(page.locator("h1")).to_have_text(re.compile(r"Job [0-9a-f]{8}|."))
    expect(page.locator("#main")).to_contain_text(page.url.rsplit("/", 1)[1][:8])
    shot(page, "keyboard-job-page", full_page=False)
    page.context.close()
    assert keys.problems == [], keys.problems


def check_dialog(keys: Keyboard, opener: str, key: str = "Enter") -> None:
    """From the control `opener` (focused), `key` opens a modal dialog: the focus is inside it and stays there
    through Tab and Shift+Tab (round its controls), and Escape closes it and puts the focus back on `opener`."""
    page = keys.page
    expect(page.locator(opener)).to_be_focused()
    keys.press(key)
    expect(page.locator("dialog[open]")).to_have_count(1)
    assert page.evaluate("Boolean(document.activeElement.closest('dialog[open]'))"), "the dialog did not take the focus"
    stops = page.locator("dialog[open]").locator("button, a[href], input, select, textarea").count()
    for step in ["Tab"] * (stops + 2) + ["Shift+Tab"] * (stops + 2):
        focused = keys.press(step)
        assert focused and focused["inDialog"], f"{step} left the open dialog: {focused}"
    keys.press("Escape")
    expect(page.locator("dialog[open]")).to_have_count(0)
    expect(page.locator(opener)).to_be_focused()


def test_every_dialog_holds_the_focus_and_escape_gives_it_back(browser: Browser, service: InProcessService, kim: User,
                                                              client: ApiClient, watched: Watched) -> None:
    job_id = client.wait_for(client.predict(SHORT, name="Kept").json()["job_id"])["job_id"]
    assert client.post("/v1/webhooks", json={"url": "http://127.0.0.1:9/hook", "events": ["job.completed"]}).ok
    page = signed_in(browser, service, kim, watched)  # type: ignore[arg-type]
    keys = Keyboard(page)
    expect(page.locator("#jobs-body tr").first).to_be_visible()
    # The jobs list: a row picked with Space, then "Delete 1 job" (a confirm dialog).
    keys.tab_to("#jobs-body input[type=checkbox]")
    keys.press("Space")
    keys.tab_to("#bulk-delete")
    check_dialog(keys, "#bulk-delete")
    # The job page's Delete.
    page.goto(f"{service.base_url}/jobs/{job_id}")
    expect(page.locator("#delete-job")).to_be_visible()
    keys.tab_to("#delete-job")
    check_dialog(keys, "#delete-job")
    # An API key's Revoke, a webhook's Delete, the account's "Sign out everywhere".
    page.goto(f"{service.base_url}/keys")
    expect(page.locator("#keys-table [data-action=revoke]").first).to_be_visible()
    keys.tab_to("#keys-table [data-action=revoke]")
    check_dialog(keys, "#keys-table [data-action=revoke] >> nth=0")
    page.goto(f"{service.base_url}/webhooks")
    expect(page.locator("[data-action=delete]").first).to_be_visible()
    keys.tab_to("[data-action=delete]")
    check_dialog(keys, "[data-action=delete] >> nth=0", "Space")
    page.close()
    assert keys.problems == [], keys.problems


def test_the_phone_menu_opens_and_closes_by_keyboard_and_gives_the_focus_back(
        browser: Browser, service: InProcessService, kim: User, watched: Watched) -> None:
    page = signed_in(browser, service, kim, watched, width=375)  # type: ignore[arg-type]
    keys = Keyboard(page)
    toggle = page.locator("#menu-toggle")
    expect(toggle).to_be_visible()
    keys.tab_to("#menu-toggle")
    keys.press("Enter")
    expect(toggle).to_have_attribute("aria-expanded", "true")
    keys.tab_to(".nav a[href='/usage']")  # its links follow the button
    shot(page, "keyboard-menu-open-375", full_page=False)
    keys.press("Escape")
    expect(toggle).to_have_attribute("aria-expanded", "false")
    expect(toggle).to_be_focused()
    expect(page.locator("#side-menu")).to_be_hidden()
    page.close()
    assert keys.problems == [], keys.problems


def test_the_share_panel_closes_with_escape_and_gives_the_focus_back(browser: Browser, service: InProcessService,
                                                                     kim: User, client: ApiClient,
                                                                     watched: Watched) -> None:
    """The job page's Share opens its panel and puts the focus in it; Escape there closed nothing, and a keyboard
    user had to go back up the page to Share to close it."""
    job_id = client.wait_for(client.predict(SHORT, name="To share").json()["job_id"])["job_id"]
    page = signed_in(browser, service, kim, watched)  # type: ignore[arg-type]
    keys = Keyboard(page)
    page.goto(f"{service.base_url}/jobs/{job_id}")
    share = page.locator("#share-job")
    expect(share).to_be_visible()
    keys.tab_to("#share-job")
    keys.press("Enter")
    expect(page.locator("#share-expiry")).to_be_focused()
    keys.tab_to("#share-create")
    keys.press("Escape")
    expect(page.locator("#share-panel")).to_have_count(0)
    expect(share).to_be_focused()
    expect(share).to_have_attribute("aria-expanded", "false")
    page.close()
    assert keys.problems == [], keys.problems
