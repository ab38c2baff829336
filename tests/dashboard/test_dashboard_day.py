"""A scientist's day with the dashboard on a laptop (1440 px) and a phone (375 px): what they met and called broken.
Three toasts at once took a quarter of a phone's screen until they went; a session ended elsewhere (signed out in
another tab, the password changed on another device) made the page's next call log a 401 in the browser's console
before the page went to sign in. A job service on the inference twin, in this module alone; one browser context
per signed-in user where the test does not end its session."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
import requests
from playwright.sync_api import Browser, ConsoleMessage, Page, Route, expect

from jobservice.memory_inference import Failure, Slow
from tests.dashboard.pages_helpers import (
    User,
    Watched,
    in_process_service,
    make_user,
    shot,
    sign_in,
    signed_in,
)
from tests.support import InProcessService, wait_until

pytestmark = pytest.mark.e2e

service = in_process_service("day", {"PHONOS_MODELS": "esmfold,alphafold2,diffdock"})
PHONE = {"width": 375, "height": 740}

RAISE = """(messages) => import('/static/js/dom.js').then((dom) => { messages.forEach((m) => dom.toast(m)); })"""
MESSAGES = ["Copied to the clipboard", "Rate limit saved",
            "Could not delete the webhook: the job service did not answer in time. Try again in a minute."]
# The toasts a person sees (drawn, not only in the page), their words and the column's height.
SHOWN = """() => ({
    shown: [...document.querySelectorAll('.toast')].filter((t) => t.getClientRects().length)
        .map((t) => ({text: t.querySelector('.toast-text').textContent,
                      more: ((m) => (m && m.getClientRects().length ? m.dataset.behind : null))(
                          t.querySelector('.toast-more'))})),
    height: document.getElementById('toasts').getBoundingClientRect().height,
})"""


@pytest.fixture(scope="module")
def cleo(service: InProcessService) -> User:
    return make_user(service, "cleo")  # type: ignore[arg-type]


@pytest.fixture
def cleo_page(browser: Browser, service: InProcessService, cleo: User) -> Iterator[Page]:
    watched = Watched()
    page = signed_in(browser, service, cleo, watched)  # type: ignore[arg-type]
    yield page
    assert watched.problems() == []
    page.close()  # its context (signed_in's session) serves the next test


def console_errors(page: Page) -> list[str]:
    """Every console error the page logs from now on (a refused fetch is one: "Failed to load resource ... 401")."""
    seen: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            seen.append(f"{page.url}: {message.text}")

    page.on("console", on_console)
    page.on("pageerror", lambda error: seen.append(f"{page.url}: pageerror {error}"))
    return seen


def test_toasts_on_a_phone_show_the_newest_with_a_count_of_the_others(cleo_page: Page,
                                                                      service: InProcessService) -> None:
    page = cleo_page
    page.set_viewport_size(PHONE)
    page.goto(f"{service.base_url}/keys")
    expect(page.locator("#menu-toggle")).to_be_visible()
    page.mouse.move(0, 0)  # not over where the toasts come (hovering one holds it)
    page.evaluate(RAISE, MESSAGES)
    expect(page.locator(".toast")).to_have_count(3)
    seen = page.evaluate(SHOWN)
    # The newest alone, saying two more wait behind it, in a strip: three stacked took 25% of the screen.
    assert seen["shown"] == [{"text": MESSAGES[2], "more": "2"}], seen
    assert seen["height"] <= PHONE["height"] * 0.1, seen
    expect(page.locator("#announcer")).to_contain_text(MESSAGES[2])  # each is still said
    shot(page, "day-01-toasts-phone-collapsed", full_page=False)

    # Dismiss shows the one before, with its count; the keyboard's focus on it, Escape goes on to the first.
    page.locator(".toast").last.get_by_role("button", name="Dismiss").click()
    assert page.evaluate(SHOWN)["shown"] == [{"text": MESSAGES[1], "more": "1"}]
    page.locator(".toast").last.get_by_role("button", name="Dismiss").focus()
    page.keyboard.press("Escape")
    assert page.evaluate(SHOWN)["shown"] == [{"text": MESSAGES[0], "more": None}]
    expect(page.locator(".toast").last.get_by_role("button", name="Dismiss")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator(".toast")).to_have_count(0)

    # A laptop's screen has room for all three: each shown, none with a count.
    page.set_viewport_size({"width": 1440, "height": 900})
    page.evaluate(RAISE, MESSAGES)
    expect(page.locator(".toast")).to_have_count(3)
    assert [t["more"] for t in page.evaluate(SHOWN)["shown"]] == [None, None, None]
    page.evaluate("() => document.querySelectorAll('.toast-close').forEach((b) => b.click())")


def test_a_session_ended_in_another_tab_goes_to_sign_in_without_a_console_error(
        browser: Browser, service: InProcessService, cleo: User) -> None:
    service.client(cleo.api_key).predict(name="before the sign-out")
    page = sign_in(browser, service, cleo, width=PHONE["width"])  # its own session: this test ends it
    expect(page.locator("#jobs-body tr").first).to_be_visible()
    errors = console_errors(page)
    # Another tab of this browser signs out: the cookie is gone for this tab too, which does not know it yet.
    other = page.context.new_page()
    other.goto(f"{service.base_url}/usage")
    other.click("#menu-toggle")  # a phone's: the links and Sign out are behind the menu button
    other.click("#sign-out")
    other.wait_for_url("**/sign-in")
    page.locator("button[data-status=completed]").click()  # the page's next call
    page.wait_for_url("**/sign-in?next=%2Fjobs%3Fstatus%3Dcompleted")  # back to the filter after signing in
    expect(page.locator("#username")).to_be_focused()
    assert errors == []
    page.context.close()


def test_a_password_changed_on_another_device_ends_this_page_without_a_console_error(
        browser: Browser, service: InProcessService) -> None:
    dan = make_user(service, "dan")  # type: ignore[arg-type]
    laptop = sign_in(browser, service, dan)
    laptop.goto(f"{service.base_url}/keys")
    expect(laptop.locator("#keys-table input.limit").first).to_be_visible()
    errors = console_errors(laptop)
    # The phone changes the password: every other session (the laptop's) ends; the laptop's cookie is stale.
    phone = sign_in(browser, service, dan, width=PHONE["width"])
    token = phone.evaluate("() => import('/static/js/api.js').then((api) => api.loadSession())")["csrf_token"]
    assert phone.context.request.post(f"{service.base_url}/auth/password", headers={
        "Origin": service.base_url, "X-CSRF-Token": token}, data={
        "current_password": dan.password, "new_password": "dan has a newer passphrase"}).ok
    # A state-changing call on the laptop (a key's rate limit): refused before any change, and sign-in is next.
    laptop.locator("#keys-table input.limit").first.fill("30")
    laptop.locator("#keys-table [data-action=save-limit]").first.click()
    laptop.wait_for_url("**/sign-in?next=%2Fkeys")
    assert errors == []
    assert [c for c in laptop.context.cookies() if c["name"] == "phonos_session"] == []  # cleared on the way
    laptop.context.close()
    phone.context.close()


def test_only_a_dashboard_call_that_asks_gets_the_redirect(service: InProcessService, cleo: User) -> None:
    """API clients keep the API's 401 (the header is the page's); a key's 401 stays a 401 with it too."""
    stale = {"phonos_session": "x" * 43}
    asks = {"X-Phonos-If-Signed-Out": "status"}
    answer = requests.get(f"{service.base_url}/v1/jobs", cookies=stale, headers=asks, allow_redirects=False,
                          timeout=30)
    assert (answer.status_code, answer.headers["Location"]) == (303, "/auth/status")
    followed = requests.post(f"{service.base_url}/v1/predict", cookies=stale, headers=asks, timeout=30,
                             json={"model": "esmfold", "sequence": "MKTV"})
    assert (followed.status_code, followed.json()) == (200, {"signed_in": False})
    assert requests.get(f"{service.base_url}/v1/jobs", cookies=stale, timeout=30).status_code == 401
    assert requests.get(f"{service.base_url}/v1/jobs", timeout=30, headers={
        **asks, "Authorization": "Bearer pk_not_a_key"}).status_code == 401
    # Signed in, the header changes nothing.
    assert service.client(cleo.api_key).get("/v1/jobs", headers=asks).status_code == 200


@pytest.fixture(scope="module")
def cleo_jobs(service: InProcessService, cleo: User) -> int:
    """More jobs than one page of the list (20) holds: how many cleo has in all."""
    client = service.client(cleo.api_key)
    ids = [client.predict(name=f"variant {i}").json()["job_id"] for i in range(21)]
    for job_id in ids:
        client.wait_for(job_id)
    return int(client.get("/v1/jobs", params={"limit": 1}).json()["pagination"]["total"])


def test_the_jobs_pager_keeps_the_keyboards_place_and_an_empty_search_offers_every_job(
        cleo_page: Page, service: InProcessService, cleo_jobs: int) -> None:
    page = cleo_page
    expect(page.locator("#page-info")).to_have_text(f"1–20 of {cleo_jobs}")
    # Enter on "Older ›": the next page, and the focus still on the pager (it fell to the page's top), on "‹ Newer"
    # where "Older ›" is now disabled (the last page).
    page.focus("#page-next")
    page.keyboard.press("Enter")
    expect(page.locator("#page-info")).to_have_text(f"21–{cleo_jobs} of {cleo_jobs}")
    expect(page.locator("#page-prev")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator("#page-info")).to_have_text(f"1–20 of {cleo_jobs}")
    expect(page.locator("#page-next")).to_be_focused()

    # A search that matches nothing offers the way back in one step, and the focus goes to the filters' "All".
    page.fill("#filter-name", "no job has this name")
    page.select_option("#filter-model", "diffdock")
    expect(page.locator("#jobs-list")).to_contain_text("No jobs match these filters")
    shot(page, "day-02-jobs-nothing-matches")
    page.get_by_role("button", name="Show all jobs").click()
    expect(page.locator("#page-info")).to_have_text(f"1–20 of {cleo_jobs}")
    expect(page.locator("#filter-name")).to_have_value("")
    expect(page.locator("#filter-model")).to_have_value("")
    expect(page.locator("button[data-status=all]")).to_be_focused()
    assert page.url == f"{service.base_url}/jobs"


def test_a_phone_shows_the_accounts_figures_two_a_row(cleo_page: Page, service: InProcessService) -> None:
    page = cleo_page
    page.set_viewport_size(PHONE)
    page.goto(f"{service.base_url}/account")
    cards = page.locator(".grid.stats .stat")
    expect(cards).to_have_count(6)  # balance, jobs, completed, active, failed, cancelled
    boxes = [cards.nth(i).bounding_box() for i in range(6)]
    assert all(b is not None and b["x"] >= 16 and b["x"] + b["width"] <= PHONE["width"] - 16 for b in boxes), boxes
    rows = sorted({round(b["y"]) for b in boxes if b is not None})
    assert len(rows) == 3, boxes  # 2 + 2 + 2: the cards one a row took a screen and a half
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    shot(page, "day-03-account-phone", full_page=False)


def test_a_page_whose_first_calls_fail_says_so_inside_the_navigation_with_a_way_to_try_again(
        cleo_page: Page, service: InProcessService) -> None:
    """The job service restarting (a 503) while the jobs page loads: the whole dashboard was replaced by a bare
    "could not load" card, without the links, Sign out or a way to try again but the browser's reload button."""
    page = cleo_page
    page.route("**/v1/models", lambda route: route.fulfill(
        status=503, content_type="application/json",
        body='{"error": "Service Unavailable", "message": "The job service is restarting: try again in a minute."}'))
    page.goto(f"{service.base_url}/jobs")
    failed = page.locator("main #load-failed")
    expect(failed).to_contain_text("This page could not load")
    expect(failed).to_contain_text("The job service is restarting")
    expect(page.locator("main h1")).to_have_text("Jobs")
    expect(page.locator("nav a[href='/usage']")).to_be_visible()  # the navigation stays
    expect(page.locator("#sign-out")).to_be_visible()
    shot(page, "day-04-jobs-could-not-load", full_page=False)
    page.unroute("**/v1/models")
    page.get_by_role("button", name="Try again").click()
    expect(page.locator("#filter-model")).to_be_visible()
    expect(page.locator("#load-failed")).to_have_count(0)


def test_a_rate_limited_page_says_how_long_to_wait_and_its_button_counts_it_down(
        cleo_page: Page, service: InProcessService) -> None:
    """A 429 while the jobs page loaded said only "You have exceeded the rate limit", and Try again pressed at once
    was refused again (a dashboard tester's finding): the Retry-After is said and counted down on the button."""
    page = cleo_page
    page.route("**/v1/models", lambda route: route.fulfill(
        status=429, content_type="application/json", headers={"Retry-After": "3"},
        body='{"error": "Rate limit exceeded", "message": "You have exceeded the rate limit of 300 requests per minute"}'))
    page.goto(f"{service.base_url}/jobs")
    failed = page.locator("main #load-failed")
    expect(failed).to_contain_text("You have exceeded the rate limit of 300 requests per minute. It can be asked "
                                   "again in 3 s.")
    retry = page.locator("#load-retry")
    expect(retry).to_be_disabled()
    expect(retry).to_have_text(re.compile(r"^Try again in [1-3] s$"))
    page.unroute("**/v1/models")
    expect(retry).to_have_text("Try again", timeout=10_000)
    expect(retry).to_be_enabled()
    retry.click()
    expect(page.locator("#filter-model")).to_be_visible()


def test_a_job_page_goes_on_updating_after_a_failed_poll_and_a_503_is_not_job_not_found(
        cleo_page: Page, service: InProcessService, cleo: User) -> None:
    """A running job's page polls it: one failed poll (the job service restarting) stopped the updates for good, the
    job "Running" on the page after it had completed. And a 503 for the job itself said "This job does not exist in
    your account"."""
    page = cleo_page
    service.settle()  # the module's service is shared: the slow call must be this job's, not an earlier test's
    # Long enough to be running through the page's load, its Try again and the failing polls (4 s was a guess that a
    # loaded host's browser could use up before the "running" check); the last check waits for it to complete.
    service.inference.script("esmfold", Slow(8))
    job_id = service.client(cleo.api_key).predict(name="polled through a restart").json()["job_id"]
    job_url = f"**/v1/jobs/{job_id}"
    unavailable = '{"error": "Service Unavailable", "message": "The job service is restarting."}'
    page.route(job_url, lambda route: route.fulfill(status=503, content_type="application/json", body=unavailable))
    page.goto(f"{service.base_url}/jobs/{job_id}")
    expect(page.locator("#load-failed")).to_contain_text("The job service is restarting")
    expect(page.locator("main h1")).not_to_have_text("Job not found")
    page.unroute(job_url)
    page.get_by_role("button", name="Try again").click()
    expect(page.locator("main .pill").first).to_have_attribute("data-status", "running")
    page.route(job_url, lambda route: route.fulfill(status=503, content_type="application/json", body=unavailable))
    expect(page.locator(".toast")).to_contain_text("Could not update this job: The job service is restarting. Trying again.")
    page.wait_for_timeout(2_000)  # polls meanwhile fail too: one toast for them all
    expect(page.locator(".toast")).to_have_count(1)
    page.unroute(job_url)
    expect(page.locator("main .pill").first).to_have_attribute("data-status", "completed")


def test_a_slow_page_says_it_is_loading(cleo_page: Page, service: InProcessService) -> None:
    """On a phone's slow network the page was blank under the navigation until its first answers came, and the
    jobs card showed its filters over nothing (as if there were no jobs): "Loading…" now, then the page."""
    page = cleo_page
    held: list[Route] = []
    page.route("**/v1/models", lambda route: held.append(route))  # answered when the test lets it
    page.goto(f"{service.base_url}/jobs")
    expect(page.locator("main #page-loading")).to_have_text("Loading…")
    expect(page.locator("#sign-out")).to_be_visible()
    page.wait_for_timeout(800)  # past the fade-in
    shot(page, "day-05-page-loading", full_page=False)
    page.unroute("**/v1/models")  # which lets the held request go on
    expect(page.locator("main h1")).to_have_text("Jobs")
    expect(page.locator("#page-loading")).to_have_count(0)

    page.route("**/v1/jobs?*", lambda route: held.append(route))
    page.goto(f"{service.base_url}/jobs")
    expect(page.locator("#jobs-list")).to_have_text("Loading jobs…")
    page.unroute("**/v1/jobs?*")
    expect(page.locator("#jobs-list .page-loading")).to_have_count(0)

    # Before the dashboard's code has come at all: the shell's words (CSS), where the page was blank.
    page.route("**/static/js/app.js", lambda route: held.append(route))
    page.goto(f"{service.base_url}/jobs", wait_until="commit")  # DOMContentLoaded waits for the module script
    page.wait_for_selector("#app.app-loading", state="attached")
    # Once the stylesheet has applied (the element can be there before it: CI read `none` at once on a busy host).
    # Polled from here: wait_for_function's predicate is eval'ed in the page, which its CSP (script-src 'self') refused
    # on a busy host ("EvalError: ... 'unsafe-eval' is not an allowed source"); evaluate() is not eval.
    wait_until(lambda: page.evaluate("() => getComputedStyle(document.getElementById('app'), '::after').content")
               == '"Loading…"', 15, 0.1)
    page.unroute("**/static/js/app.js")
    expect(page.locator("main h1")).to_have_text("Jobs")


def test_the_usage_page_counts_models_in_words(cleo_page: Page, service: InProcessService, cleo: User) -> None:
    """The Jobs submitted card said "1 model(s)"."""
    client = service.client(cleo.api_key)
    client.wait_for(client.predict(name="for the usage page").json()["job_id"])
    page = cleo_page
    page.goto(f"{service.base_url}/usage")
    card = page.locator(".stat", has_text="Jobs submitted")
    expect(card.locator(".note")).to_have_text("1 model")


def test_a_failed_jobs_page_says_what_it_cost_once(cleo_page: Page, service: InProcessService, cleo: User) -> None:
    """The job service's error already ends with what the failure cost ("…; credits were refunded."); the page
    added "Its credits were refunded." under it, saying it twice."""
    page = cleo_page
    service.settle()  # the failure must be this job's, not an earlier test's
    service.inference.script("esmfold", Failure.MODEL_ERROR)
    job_id = service.client(cleo.api_key).predict(name="crashes the model").json()["job_id"]
    page.goto(f"{service.base_url}/jobs/{job_id}")
    error = page.locator("#job-error")
    expect(error).to_contain_text("credits were refunded")
    text = page.locator("main").inner_text().lower()
    assert text.count("refunded") == 1, text
