"""Dashboard flows found wanting by a walk-through: phone-width pages, renaming a key, a webhook form
with no event ticked, errors that look like errors, and a running job's live progress.

Real Chromium on the real service (the package's Triton and job service), as its own account.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
import requests
from PIL import Image
from playwright.sync_api import Browser, Page, expect

from tests.dashboard.pages_helpers import User, Watched, make_user, shot, sign_in, signed_in
from tests.support import ServiceProcess

pytestmark = pytest.mark.e2e

SHORT = "MKTAYIAKQRQISFVKSHFSRQLEERLGLIEVQ"
PHONE = {"width": 390, "height": 844}
TABLET = {"width": 800, "height": 900}  # below 980 px the sidebar is a bar on top
ERROR_RED = "rgb(197, 48, 48)"  # --bad in app.css


@pytest.fixture(scope="module")
def cleo(service: ServiceProcess) -> User:
    return make_user(service, "cleo")


@pytest.fixture(scope="module")
def cleo_job(service: ServiceProcess, cleo: User) -> dict[str, Any]:
    api = service.client(cleo.api_key)
    job = api.predict(SHORT, name="A fold with a rather long name for a phone screen").json()
    return api.wait_for(job["job_id"], timeout_s=180)


@pytest.fixture
def cleo_page(browser: Browser, service: ServiceProcess, cleo: User) -> Iterator[Page]:
    watched = Watched()
    page = signed_in(browser, service, cleo, watched)
    yield page
    page.close()  # its context (signed_in's session) serves the next test
    assert watched.problems() == [], watched.problems()


def light_background(png: bytes) -> bool:
    """Dark text on a light page: most pixels of a heading's box are light."""
    pixels = np.asarray(Image.open(io.BytesIO(png)).convert("L"))
    return float(np.median(pixels)) > 160


def sideways_scrollers(page: Page) -> list[str]:
    """Tables and tab strips whose content is wider than their box (they scroll sideways inside the page)."""
    return page.evaluate("""() => Array.from(document.querySelectorAll('.table-scroll, .tabs'))
        .filter((e) => e.scrollWidth > e.clientWidth + 1)
        .map((e) => `${e.className}: ${e.scrollWidth} px in ${e.clientWidth} px`)""")


# Every visible element matching these, with its own text, against the first opaque background under it.
LOW_CONTRAST = """(selectors) => {
    const rgb = (c) => (c.match(/[\\d.]+/g) || []).map(Number);
    const lum = ([r, g, b]) => [r, g, b].map((v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; })
        .reduce((sum, v, i) => sum + v * [0.2126, 0.7152, 0.0722][i], 0);
    const background = (el) => {
        for (let e = el; e; e = e.parentElement) {
            const c = rgb(getComputedStyle(e).backgroundColor);
            if (c.length === 3 || c[3] === 1) return c;
        }
        return [255, 255, 255];
    };
    const low = [];
    for (const el of document.querySelectorAll(selectors)) {
        if (!el.offsetParent || !el.textContent.trim()) continue;
        const [a, b] = [lum(rgb(getComputedStyle(el).color)), lum(background(el))];
        const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
        if (ratio < 4.5) low.push(`${el.className || el.tagName} "${el.textContent.trim().slice(0, 30)}": ${ratio.toFixed(2)}`);
    }
    return low;
}"""
SECONDARY_TEXT = (".sub, .help, .hint, .muted, .crumbs a, th, .pill, .band, .nav-section, .stat .label, .stat .note, "
                  ".tabs .cost, .id, .segmented button")


# Words about the machinery that a scientist using the dashboard has no reason to know.
OPERATOR_WORDS = re.compile(r"triton|job service|model instance|install\.sh|weights directory", re.IGNORECASE)


def edges_are_blank(png: bytes) -> bool:
    """Nothing drawn in the outer 3 pixel columns of a white viewer: the molecule is not cut off at its sides."""
    pixels = np.asarray(Image.open(io.BytesIO(png)).convert("L"))
    return bool((pixels[:, :3] > 235).all() and (pixels[:, -3:] > 235).all())


def test_every_page_fits_a_phone_and_its_title_is_readable(cleo_page: Page, service: ServiceProcess, cleo: User,
                                                            cleo_job: dict[str, Any]) -> None:
    api = service.client(cleo.api_key)
    if not api.get("/v1/webhooks").json()["webhooks"]:
        assert api.post("/v1/webhooks", json={"url": "http://127.0.0.1:9/cleo"}).status_code == 200
    page = cleo_page
    page.set_viewport_size(PHONE)
    pages = {  # path -> what shows once the page has its data
        "/jobs": "#jobs-table", "/submit?model=diffdock": "#submit-job", "/keys": "#keys-table",
        "/webhooks": "#webhooks-table", "/usage": "#chart-requests", "/account": "#account-username",
        f"/jobs/{cleo_job['job_id']}": "#downloads",
    }
    for path, ready in pages.items():
        page.goto(service.base_url + path)
        expect(page.locator(ready)).to_be_visible(timeout=30_000)
        width = page.evaluate("document.documentElement.scrollWidth")
        name = re.sub(r"\W+", "-", path.strip("/"))[:20]
        shot(page, f"20-phone-{name}")
        assert width <= PHONE["width"], f"{path} is {width} px wide on a {PHONE['width']} px screen"
        # Nor sideways inside the page: the jobs, keys and webhooks rows and the model tabs fit the card.
        assert sideways_scrollers(page) == [], path
        title = page.locator("h1")
        assert light_background(title.screenshot()), f"{path}: the title sits on a dark background"
        jargon = OPERATOR_WORDS.findall(page.locator("main").inner_text())
        assert jargon == [], f"{path} speaks the operator's language: {jargon}"
    action = page.locator(f"#jobs-table tr[data-job-id='{cleo_job['job_id']}'] a.btn")
    page.goto(f"{service.base_url}/jobs")
    expect(action).to_be_in_viewport(ratio=1)  # a job's Open button on screen, beside its name and status
    # The age runs on under the Open button (beside model and status it was cut to "43 min…").
    age, button = page.locator("#jobs-table td.submitted").first.bounding_box(), action.bounding_box()
    assert age and button and age["x"] + age["width"] >= button["x"] + button["width"] - 1, (age, button)
    page.locator("#jobs-table td.submitted").first.hover()  # no tinted patch of cells inside a stacked row
    expect(page.locator("#jobs-table td.submitted").first).to_have_css("background-color", "rgba(0, 0, 0, 0)")
    page.goto(f"{service.base_url}/usage")
    expect(page.locator("#chart-requests text").first).to_be_visible()
    ticks = page.evaluate("Array.from(document.querySelectorAll('#chart-requests text'), (t) => t.getBoundingClientRect().height)")
    assert min(ticks) >= 10, f"the usage chart's labels are {min(ticks):.1f} px tall on a phone"
    page.goto(f"{service.base_url}/jobs/{cleo_job['job_id']}")
    viewer = page.locator("#viewer[data-ready=true]")
    expect(viewer).to_have_count(1, timeout=30_000)
    page.wait_for_timeout(300)
    assert edges_are_blank(viewer.screenshot()), "the structure is cut off at the phone viewer's sides"


def test_rename_a_key_from_the_keys_page(cleo_page: Page, service: ServiceProcess, cleo: User) -> None:
    page = cleo_page
    api = service.client(cleo.api_key)
    key_id = api.get("/v1/keys").json()["keys"][0]["key_id"]
    page.goto(f"{service.base_url}/keys")
    row = page.locator(f"tr[data-key-id='{key_id}']")
    # No new key yet: the empty "copy your key" slot takes no room above the list (as on every page,
    # the first card sits 20 px under the header).
    expect(row).to_be_visible()
    assert page.evaluate("document.querySelector('.content > .card').offsetTop"
                         " - document.querySelector('.content').offsetTop") == 20
    row.locator("[data-action=rename]").click()
    field = row.locator("input[data-field=name]")
    expect(field).to_be_focused()
    field.fill("")
    field.press("Escape")  # changed her mind: the name stays
    expect(row.locator("input[data-field=name]")).to_have_count(0)
    expect(row.locator("[data-action=rename]")).to_be_focused()  # back on Rename, not fallen to the page's top
    row.locator("[data-action=rename]").click()
    expect(row.locator("input[data-field=name]")).to_have_attribute("maxlength", "100")  # the API's limit (MAX_KEY_NAME)
    row.locator("input[data-field=name]").fill("Cryo-EM pipeline")
    row.locator("input[data-field=name]").press("Enter")
    expect(row.locator(".name")).to_contain_text("Cryo-EM pipeline")
    expect(row.locator("[data-action=rename]")).to_be_focused()  # in the table drawn again
    assert api.get("/v1/keys").json()["keys"][0]["name"] == "Cryo-EM pipeline"
    row.locator("[data-action=rename]").click()
    row.locator("input[data-field=name]").fill("Cryo-EM, second site")
    row.locator("[data-action=save-name]").click()  # the button saves as Enter does
    expect(row.locator(".name")).to_contain_text("Cryo-EM, second site")
    shot(page, "21-keys-renamed")
    # The rate limit: Enter in its box saves (it did nothing), and the focus stays where it was, in the table drawn
    # again (it fell to the page's top); then back to 600 with its Save button, by keyboard.
    row.locator("input.limit").fill("42")
    row.locator("input.limit").press("Enter")
    expect(page.locator(".toast", has_text="Rate limit saved")).to_have_count(1)
    expect(row.locator("input.limit")).to_be_focused()
    assert [k["rate_limit"] for k in api.get("/v1/keys").json()["keys"] if k["key_id"] == key_id] == [42]
    row.locator("input.limit").fill("600")
    row.locator("[data-action=save-limit]").focus()
    page.keyboard.press("Enter")
    expect(row.locator("input.limit")).to_have_value("600")
    expect(row.locator("[data-action=save-limit]")).to_be_focused()


def test_key_form_errors_look_like_errors(cleo_page: Page, service: ServiceProcess) -> None:
    page = cleo_page
    page.goto(f"{service.base_url}/keys")
    page.fill("#key-rate-limit", "0")
    page.click("#key-create")
    error = page.locator("#key-error")
    expect(error).to_contain_text("The rate limit must be between 1 and")  # the box's words, not the API field's
    expect(error).to_have_css("color", ERROR_RED)
    expect(page.locator("#key-rate-limit")).to_have_class(re.compile("invalid"))
    row = page.locator("#keys-table tbody tr").first
    row.locator("input[type=number]").fill("0")
    row.locator("[data-action=save-limit]").click()
    expect(row.locator("[data-error=rate-limit]")).to_have_css("color", ERROR_RED)
    # The form's error is announced (role=alert) and describes the field it is about, whose name stays short.
    limit = page.get_by_label("Rate limit (requests/min)", exact=True)
    expect(limit).to_have_attribute("aria-invalid", "true")
    expect(limit).to_have_accessible_name("Rate limit (requests/min)")
    expect(limit).to_have_accessible_description(re.compile(r"^The rate limit must be between 1 and \d+.*this account’s maximum"))
    expect(page.locator("#key-error")).to_have_attribute("role", "alert")
    shot(page, "22-keys-errors")


def test_a_webhook_with_no_event_ticked_is_not_created(cleo_page: Page, service: ServiceProcess, cleo: User) -> None:
    page = cleo_page
    api = service.client(cleo.api_key)
    before = len(api.get("/v1/webhooks").json()["webhooks"])
    page.goto(f"{service.base_url}/webhooks")
    page.fill("#webhook-url", "http://127.0.0.1:9/nothing")
    for box in page.locator("#webhook-form input[type=checkbox]").all():
        box.uncheck()
    page.click("#webhook-add")
    error = page.locator("#webhook-events-error")  # beside the boxes it is about, not under the URL
    expect(error).to_contain_text("at least one event")
    expect(page.locator("#webhook-error")).to_be_hidden()
    expect(page.get_by_role("group", name="Events")).to_have_accessible_description("Tick at least one event.")
    shot(page, "23-webhook-no-event")
    assert len(api.get("/v1/webhooks").json()["webhooks"]) == before  # not silently subscribed to every event


def test_form_fields_are_named_by_their_label_alone(browser: Browser, cleo_page: Page, service: ServiceProcess) -> None:
    """A label used to wrap its help and error text, so a screen reader read the whole paragraph as the
    field's name. Every labelled control's accessible name is now its label's text, and the help is its
    description."""
    page = cleo_page
    forms = {"/submit?model=esmfold": "#submit-job", "/submit?model=alphafold2": "#submit-job",
             "/submit?model=diffdock": "#submit-job", "/keys": "#key-create", "/webhooks": "#webhook-add"}
    for path, ready in forms.items():
        page.goto(service.base_url + path)
        expect(page.locator(ready)).to_be_visible()
        labels = page.locator("main label.label[for]").evaluate_all("ls => ls.map((l) => [l.htmlFor, l.textContent])")
        assert labels, path
        for control_id, text in labels:
            control = page.locator(f"[id='{control_id}']")
            expect(control).to_have_accessible_name(text)
            help_text = page.locator(f"[id='{control_id}-help']")
            if help_text.count():
                expect(control).to_have_accessible_description(help_text.inner_text())
    # The groups of controls are named by their legend.
    page.goto(f"{service.base_url}/submit?model=diffdock")
    expect(page.get_by_role("group", name="Receptor")).to_be_visible()
    expect(page.get_by_label("Earlier job", exact=True)).to_have_role("combobox")
    expect(page.get_by_label("Pocket radius (Å)", exact=True)).to_have_accessible_description(re.compile("^Blind docking"))
    page.goto(f"{service.base_url}/webhooks")
    expect(page.get_by_role("group", name="Events").get_by_role("checkbox")).to_have_count(4)  # the seed's three and job.cancelled
    signed_out = browser.new_page()
    signed_out.goto(f"{service.base_url}/sign-in")
    expect(signed_out.get_by_label("Username", exact=True)).to_have_accessible_name("Username")
    expect(signed_out.get_by_label("Password", exact=True)).to_have_accessible_name("Password")
    signed_out.context.close()


def test_the_model_tabs_work_from_the_keyboard(cleo_page: Page, service: ServiceProcess) -> None:
    """The ARIA tabs pattern the markup announced: one tab stop, arrow keys, Home and End, and a tab panel
    (this module's server serves ESMFold and DiffDock)."""
    page = cleo_page
    page.goto(f"{service.base_url}/submit?model=esmfold")
    esmfold = page.get_by_role("tab", name="ESMFold, 10 credits")  # its name and price, spoken apart
    diffdock = page.get_by_role("tab", name=re.compile(r"^DiffDock, \d+ credits$"))
    expect(esmfold).to_have_attribute("aria-selected", "true")
    expect(diffdock).to_have_attribute("tabindex", "-1")  # one tab stop
    esmfold.focus()
    page.keyboard.press("ArrowRight")
    expect(diffdock).to_be_focused()
    expect(diffdock).to_have_attribute("aria-selected", "true")
    expect(page.get_by_role("tabpanel", name=re.compile("^DiffDock"))).to_contain_text("Ligand (SMILES)")
    assert page.url.endswith("model=diffdock")
    page.keyboard.press("ArrowRight")  # wraps round
    expect(esmfold).to_be_focused()
    page.keyboard.press("End")
    expect(diffdock).to_be_focused()
    page.keyboard.press("Home")
    expect(esmfold).to_be_focused()
    expect(page.get_by_role("tabpanel", name=re.compile("^ESMFold"))).to_contain_text("Protein sequence")
    page.keyboard.press("Tab")  # out of the tab list, into the form
    expect(page.get_by_label("Job name", exact=True)).to_be_focused()


def test_a_running_job_shows_the_models_progress_live(cleo_page: Page, service: ServiceProcess, cleo: User) -> None:
    page = cleo_page
    api = service.client(cleo.api_key)
    job_id = api.predict(SHORT * 8, name="Many trunk passes", params={"num_recycles": 24}).json()["job_id"]
    try:
        page.goto(f"{service.base_url}/jobs/{job_id}")
        message = page.locator("#progress-message")
        expect(message).to_contain_text(re.compile(r"trunk pass \d+ of 25"), timeout=60_000)
        expect(page.locator("#status-card strong")).to_have_text("Running")  # was "Running on Triton"
        assert not OPERATOR_WORDS.search(page.locator("#status-card").inner_text())
        bar = page.locator("#job-progress")
        expect(bar).to_have_attribute("max", "25")
        first = int(bar.get_attribute("value") or "0")
        shot(page, "24-job-progress", full_page=False)
        expect(bar).not_to_have_attribute("value", str(first), timeout=30_000)  # it moves without a reload
        # The header is drawn again at every poll (1.5 s): a keyboard user on "Run again" keeps the focus there
        # (it fell to the page's top at each poll).
        page.focus("#run-again")
        page.evaluate("window.__runAgain = document.activeElement")
        for _ in range(100):  # until the header is drawn again (wait_for_function would need eval: the CSP forbids it)
            if page.evaluate("() => !document.contains(window.__runAgain)"):
                break
            page.wait_for_timeout(100)
        else:
            raise AssertionError("the job page's header was not drawn again in 10 s")
        expect(page.locator("#run-again")).to_be_focused()
        # Cancelled by keyboard: the focus goes to the words that take the status card's place, not the page's top.
        page.focus("#cancel-job")
        page.keyboard.press("Enter")
        # A started job keeps its whole price, and the dialog and the page say so plainly ("credits for compute
        # already spent are not refunded" read as a partial refund to a tester).
        expect(page.locator("dialog[open]")).to_contain_text("keeps its whole price")
        page.locator("dialog[open] [data-confirm]").focus()
        page.keyboard.press("Enter")
        expect(page.locator("#job-cancelled")).to_be_focused(timeout=30_000)
        expect(page.locator("#job-cancelled")).to_contain_text(re.compile(r"It had started, so it keeps its whole "
                                                                          r"price: \d+ credits, not refunded\."))
    finally:
        api.post(f"/v1/jobs/{job_id}/cancel")  # free the only ESMFold slot for the other tests
    expect(page.locator("#status-card")).to_have_count(0, timeout=30_000)


def test_job_page_keeps_its_actions_on_one_line_and_speaks_plainly_without_its_viewer(
        cleo_page: Page, service: ServiceProcess, cleo_job: dict[str, Any]) -> None:
    page = cleo_page
    page.set_viewport_size({"width": 1280, "height": 800})
    page.route("**/3Dmol.es6-min.js", lambda route: route.abort())  # a server whose viewer files are missing
    page.goto(f"{service.base_url}/jobs/{cleo_job['job_id']}")
    missing = page.locator(".viewer-missing")
    expect(missing).to_contain_text("3D viewer unavailable")
    expect(missing).to_contain_text("ask the server’s administrator")
    assert not OPERATOR_WORDS.search(missing.inner_text())
    # Words a screen reader reads, not an image named "the structure in 3D" that hides them.
    expect(page.locator("#viewer")).not_to_have_attribute("role", "img")
    dock, delete = page.locator("#dock-this").bounding_box(), page.locator("#delete-job").bounding_box()
    assert dock and delete and abs(dock["y"] - delete["y"]) < 1, "Dock and Delete are stacked"
    shot(page, "30-job-actions-1280", full_page=False)
    page.unroute("**/3Dmol.es6-min.js")


def test_a_mistyped_page_address_shows_the_dashboards_page_not_found(cleo_page: Page, service: ServiceProcess) -> None:
    page = cleo_page
    response = page.goto(f"{service.base_url}/jobs/")  # a trailing slash, a stale bookmark, a typo
    assert response is not None and response.status == 404
    expect(page.locator("h1")).to_have_text("Page not found")
    expect(page.locator("#side-user")).to_have_text("cleo")  # inside the dashboard, with its navigation
    shot(page, "25-page-not-found")
    page.click("text=Go to jobs")
    page.wait_for_url("**/jobs")
    # Scripts and API clients keep the API's JSON 404, whatever they accept.
    html = {"Accept": "text/html"}
    for path, accept in (("/no-such-page", {"Accept": "application/json"}), ("/v1/no-such-route", html),
                         ("/static/js/no-such-file.js", html)):
        answer = requests.get(service.base_url + path, headers=accept, timeout=10)
        assert answer.status_code == 404 and answer.json()["error"] == "Not found", path


def test_keyboard_focus_survives_the_jobs_tables_live_refresh(cleo_page: Page, service: ServiceProcess, cleo: User,
                                                               cleo_job: dict[str, Any]) -> None:
    page = cleo_page
    api = service.client(cleo.api_key)
    running = api.predict(SHORT * 8, name="Keeps the table refreshing", params={"num_recycles": 24}).json()["job_id"]
    try:
        api.wait_for(running, ("running",), timeout_s=60)
        page.goto(f"{service.base_url}/jobs")
        link = page.locator(f"tr[data-job-id='{cleo_job['job_id']}'] a.btn")
        link.focus()  # a keyboard user has tabbed to "Open"
        page.evaluate("window.__row = document.activeElement.closest('tr')")
        for _ in range(60):  # until the table is redrawn (wait_for_function would need eval, which the CSP forbids)
            if page.evaluate("() => !document.contains(window.__row)"):
                break
            page.wait_for_timeout(500)
        else:
            raise AssertionError("the jobs table was not refreshed in 30 s")
        focused = page.evaluate("""() => {
            const e = document.activeElement;
            return {tag: e.tagName, job: e.closest('tr')?.dataset.jobId, text: e.textContent};
        }""")
        assert focused == {"tag": "A", "job": cleo_job["job_id"], "text": "Open"}
    finally:
        api.post(f"/v1/jobs/{running}/cancel")


def test_filter_and_period_buttons_say_which_one_is_on(cleo_page: Page, service: ServiceProcess) -> None:
    """The highlighted button is only a colour: screen readers hear it from aria-pressed."""
    page = cleo_page
    page.goto(f"{service.base_url}/jobs")
    expect(page.locator(".segmented [data-status=all]")).to_have_attribute("aria-pressed", "true")
    page.click(".segmented [data-status=completed]")
    expect(page.locator(".segmented [data-status=completed]")).to_have_attribute("aria-pressed", "true")
    expect(page.locator(".segmented [data-status=all]")).to_have_attribute("aria-pressed", "false")
    page.goto(f"{service.base_url}/usage?days=7")
    expect(page.get_by_role("button", name="7 days")).to_have_attribute("aria-pressed", "true")
    page.get_by_role("button", name="90 days").click()
    expect(page.get_by_role("button", name="90 days")).to_have_attribute("aria-pressed", "true")
    expect(page.get_by_role("button", name="7 days")).to_have_attribute("aria-pressed", "false")


def test_search_finds_jobs_by_name_and_a_finished_job_can_be_deleted(cleo_page: Page, service: ServiceProcess,
                                                                     cleo: User) -> None:
    api = service.client(cleo.api_key)
    # The one to delete is folded; the two the search is also about need only their names: cancelled while they
    # wait behind it (one ESMFold job at a time), they end at once instead of each holding the model ~3 s.
    ids = {name: api.predict(SHORT, name=name).json()["job_id"] for name in ("zebra fold 2", "Zebra fold 1", "Okapi")}
    for name in ("Zebra fold 1", "Okapi"):
        assert api.post(f"/v1/jobs/{ids[name]}/cancel").status_code == 200
    for job_id in ids.values():
        api.wait_for(job_id, timeout_s=180)
    assert api.get(f"/v1/jobs/{ids['zebra fold 2']}").json()["status"] == "completed"  # a finished job is deleted
    page = cleo_page
    page.goto(f"{service.base_url}/jobs")
    page.fill("#filter-name", "ZEBRA")  # any case
    expect(page.locator("#jobs-body tr")).to_have_count(2)
    assert "name=ZEBRA" in page.url  # the search is in the address, like the other filters
    page.fill("#filter-name", "no job is called this")
    expect(page.locator("#jobs-list")).to_contain_text("No jobs match these filters")
    shot(page, "28-jobs-search-empty")

    page.goto(f"{service.base_url}/jobs/{ids['zebra fold 2']}")
    page.click("#delete-job")
    dialog = page.locator("dialog.modal")
    expect(dialog).to_contain_text("deleted for good")
    shot(page, "28-job-delete-confirm")
    dialog.locator("[data-confirm]").click()
    page.wait_for_url("**/jobs")
    # The list says what happened, as the bulk bar's "Deleted 2 jobs" does (the page only changed before), once.
    expect(page.locator(".toast-text")).to_have_text("Deleted “zebra fold 2”")
    shot(page, "28-job-deleted-said-on-the-list", full_page=False)
    expect(page.locator(f"#jobs-body tr[data-job-id='{ids['Zebra fold 1']}']")).to_be_visible()
    assert page.locator(f"#jobs-body tr[data-job-id='{ids['zebra fold 2']}']").count() == 0
    assert api.get(f"/v1/jobs/{ids['zebra fold 2']}").status_code == 404
    page.reload()
    expect(page.locator(f"#jobs-body tr[data-job-id='{ids['Zebra fold 1']}']")).to_be_visible()
    expect(page.locator(".toast-text")).to_have_count(0)  # said once, not at every visit


def test_a_missing_receptor_file_is_marked_on_the_upload_not_on_the_unused_job_list(
        cleo_page: Page, service: ServiceProcess, cleo_job: dict[str, Any]) -> None:
    page = cleo_page
    page.goto(f"{service.base_url}/submit?model=diffdock")
    posted: list[str] = []
    page.on("request", lambda r: posted.append(r.url) if r.method == "POST" and "/v1/predict" in r.url else None)
    page.check("#receptor-from-file")  # she means to upload a PDB, then forgets to choose the file
    page.fill("#f-ligand_smiles", "CCO")
    page.click("#submit-job")
    # Said by the form, before any request (the API's "set "Receptor" to PDB text or a job_id" spoke of neither)
    expect(page.locator("#error-protein_pdb")).to_have_text(
        "Upload the receptor’s PDB file, or choose a structure from an earlier job.")
    expect(page.locator("#f-protein_pdb-file")).to_have_class(re.compile("invalid"))
    expect(page.locator("#f-protein_pdb-job")).not_to_have_class(re.compile("invalid"))
    # A file that is no PDB is said by its name, before any request: the API's words ("file paths and URLs are not
    # accepted") spoke to API callers, not to someone who had just chosen a file.
    page.set_input_files("#f-protein_pdb-file", files=[{"name": "notes.txt", "mimeType": "text/plain",
                                                          "buffer": b"not a structure\n"}])
    page.click("#submit-job")
    expect(page.locator("#error-protein_pdb")).to_have_text(
        "notes.txt has no ATOM or HETATM records: choose the receptor's PDB file (mmCIF, SDF and other formats cannot "
        "be read here).")
    expect(page.locator("#f-protein_pdb-file")).to_be_focused()
    assert posted == []
    shot(page, "28-receptor-upload-not-a-pdb")


def test_sign_out_is_one_menu_away_in_the_top_bar_below_the_sidebar_width(browser: Browser, service: ServiceProcess,
                                                                           cleo: User) -> None:
    """A laptop split-screen or a tablet: the sidebar is a bar on top, and its menu button leads to
    "Sign out" (it used to be only on the Account page)."""
    watched = Watched()
    page = sign_in(browser, service, cleo, watched)
    page.set_viewport_size(TABLET)
    toggle = page.locator(".side #menu-toggle")
    sign_out = page.locator(".side #sign-out")
    expect(toggle).to_be_visible()
    expect(toggle).to_have_attribute("aria-expanded", "false")
    expect(sign_out).to_be_hidden()  # folded away until asked for
    toggle.focus()
    page.keyboard.press("Enter")  # by keyboard: open, tab into the links, Escape back to the button
    expect(toggle).to_have_attribute("aria-expanded", "true")
    expect(sign_out).to_be_visible()
    expect(page.locator("#side-user")).to_have_text("cleo")
    shot(page, "26-menu-open-800", full_page=False)
    page.keyboard.press("Tab")
    expect(page.locator("#side-menu a[href='/jobs']")).to_be_focused()
    page.keyboard.press("Escape")
    expect(toggle).to_have_attribute("aria-expanded", "false")
    expect(page.locator("#side-menu")).to_be_hidden()
    expect(toggle).to_be_focused()
    page.set_viewport_size(PHONE)
    toggle.click()
    expect(sign_out).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    shot(page, "26-menu-open-390", full_page=False)
    page.set_viewport_size(TABLET)
    sign_out.click()
    page.wait_for_url("**/sign-in")
    page.goto(f"{service.base_url}/keys")  # the session really ended
    page.wait_for_url("**/sign-in?next=%2Fkeys")
    assert watched.problems() == [], watched.problems()
    page.context.close()


def test_wide_screen_keeps_the_menu_button_away_and_sign_out_in_the_sidebar(cleo_page: Page) -> None:
    page = cleo_page
    expect(page.locator("#menu-toggle")).to_be_hidden()
    expect(page.locator("#sign-out")).to_be_visible()
    expect(page.locator("#side-menu a[href='/usage']")).to_be_visible()


def test_the_header_action_lines_up_with_the_content_column_at_every_width(
        cleo_page: Page, service: ServiceProcess, cleo_job: dict[str, Any]) -> None:
    """On a 2560 px screen the content is capped at its column; the header's "New job" used to sit at
    the window's far right."""
    page = cleo_page
    for width in (390, 800, 1024, 1280, 2560):
        page.set_viewport_size({"width": width, "height": 900})
        page.goto(f"{service.base_url}/jobs")
        expect(page.locator("#jobs-table")).to_be_visible(timeout=30_000)
        action = page.locator(".topbar a.btn.primary").bounding_box()
        title = page.locator(".topbar h1").bounding_box()
        column = page.locator(".content > .card").bounding_box()
        main = page.locator("main").bounding_box()
        assert action and title and column and main
        shot(page, f"26-jobs-header-{width}")
        assert action["x"] + action["width"] <= column["x"] + column["width"] + 1, f"{width} px: {action} {column}"
        assert abs(title["x"] - column["x"]) <= 1, f"{width} px: {title} {column}"
        if width >= 1280:  # one row: the button ends where the column ends
            assert abs(action["x"] + action["width"] - (column["x"] + column["width"])) <= 1, f"{width} px"
        # The column is centred beside the sidebar (at 2560 px it used to leave ~1,000 px empty on the right).
        left, right = column["x"] - main["x"], main["x"] + main["width"] - (column["x"] + column["width"])
        assert abs(left - right) <= 2, f"{width} px: {left} px left of the column, {right} px right"
        assert sideways_scrollers(page) == [], f"{width} px"  # the whole jobs table, phone to desktop
    page.set_viewport_size({"width": 1024, "height": 900})
    page.goto(f"{service.base_url}/keys")  # 1024 px beside the sidebar: the keys table's seven columns fit too
    expect(page.locator("#keys-table")).to_be_visible()
    assert sideways_scrollers(page) == []


def test_secondary_text_is_readable_on_its_background(cleo_page: Page, service: ServiceProcess,
                                                      cleo_job: dict[str, Any]) -> None:
    """Grey help text, table headers, hints and status badges reach WCAG AA's 4.5:1 (the greys were 3.7:1
    on the page background, "completed" 3.7:1 and "cancelled" 3.3:1 on their badges)."""
    page = cleo_page
    for path, ready in (("/jobs", "#jobs-table"), ("/submit?model=alphafold2", "#submit-job"), ("/keys", "#keys-table"),
                        (f"/jobs/{cleo_job['job_id']}", "#provenance")):
        page.goto(service.base_url + path)
        expect(page.locator(ready)).to_be_visible(timeout=30_000)
        if path == "/jobs":  # every status and band the dashboard shows, whatever this account's jobs are now
            page.evaluate("""() => {
                const cell = document.querySelector('#jobs-table td');
                for (const cls of ['pill pending', 'pill running', 'pill completed', 'pill failed', 'pill cancelled',
                        'pill revoked', 'pill active', 'band high', 'band moderate', 'band low', 'band very-low']) {
                    const badge = document.createElement('span');
                    badge.className = cls;
                    badge.textContent = cls;
                    cell.append(badge);
                }
            }""")
        assert page.evaluate(LOW_CONTRAST, SECONDARY_TEXT) == [], path


def test_keys_table_with_long_names_fits_a_laptop_beside_the_sidebar(cleo_page: Page, service: ServiceProcess,
                                                                    cleo: User) -> None:
    """At 1024–1280 px a long key name took the table past its card (Revoke cut off, "Save" under its box,
    "Last used" on two lines); now only the name wraps, and it keeps a readable width."""
    api = service.client(cleo.api_key)
    for name in ("Cryo-EM processing pipeline on the shared lab workstation (room 2.14)",
                 "AlphaFoldScreeningNotebookForTheKinaseLibrary_v2_final"):
        assert api.post("/v1/keys", json={"name": name}).status_code == 200
    page = cleo_page
    for width in (1024, 1152, 1280):
        page.set_viewport_size({"width": width, "height": 900})
        page.goto(f"{service.base_url}/keys")
        expect(page.locator("#keys-table")).to_be_visible()
        shot(page, f"29-keys-long-names-{width}", full_page=False)
        assert sideways_scrollers(page) == [], width
        card = page.locator("#keys-table").bounding_box()
        assert card
        header_heights = page.locator("#keys-table th").evaluate_all("ths => ths.map((t) => t.getBoundingClientRect().height)")
        assert max(header_heights) < 45, f"{width} px: a column heading wraps ({header_heights})"
        for row in page.locator("#keys-table tbody tr[data-revoked=false]").all():
            box, save = row.locator("input.limit").bounding_box(), row.locator("[data-action=save-limit]").bounding_box()
            revoke, name = row.locator("[data-action=revoke]").bounding_box(), row.locator("td.name").bounding_box()
            assert box and save and revoke and name
            assert abs((box["y"] + box["height"] / 2) - (save["y"] + save["height"] / 2)) < 2, f"{width} px: Save under its box"
            assert revoke["x"] + revoke["width"] <= card["x"] + card["width"], f"{width} px: Revoke cut off"
            assert name["width"] >= 200, f"{width} px: the name column is {name['width']} px"


def test_a_docking_jobs_receptor_job_deleted_since_is_said_not_linked(browser: Browser, service: ServiceProcess,
                                                                      cleo: User) -> None:
    """A tester deleted a fold, then opened the docking job made from it: "Receptor: structure of job f13a7e8d" still
    linked to it, and the link led to "Job not found", which read as an error."""
    client = service.client(cleo.api_key)
    fold = client.wait_for(client.predict("MKTAYIAKQRQISFVKSHFSRQ", name="fold to delete").json()["job_id"])["job_id"]
    dock = client.post("/v1/predict", json={"model": "diffdock", "params": {"protein_pdb": fold, "ligand_smiles": "CCO"}})
    assert dock.status_code == 200, dock.text
    docked = client.wait_for(dock.json()["job_id"])
    assert docked["status"] == "completed", docked
    page = signed_in(browser, service, cleo)  # type: ignore[arg-type]
    page.goto(f"{service.base_url}/jobs/{docked['job_id']}")
    expect(page.locator("a#receptor-job")).to_have_text(f"structure of job {fold[:8]}")  # there: a link
    assert client.delete(f"/v1/jobs/{fold}").status_code in (200, 204)
    page.reload()
    receptor = page.locator("#receptor-job")
    expect(receptor).to_have_text(f"structure of job {fold[:8]} (deleted since)")
    assert receptor.evaluate("el => el.tagName") == "SPAN"
    shot(page, "28-docking-receptor-deleted-since")
    page.close()
