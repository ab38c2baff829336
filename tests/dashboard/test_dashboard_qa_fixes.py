"""What a tester found driving the dashboard in Chromium: a 200-character job name with no space (a FASTA record's)
widened the jobs table to 3350 px and ran under the job page's buttons; the live refresh took a row's Cancel away
while its question was open, and Escape left the keyboard on the page; an address that is not valid percent-encoding
broke the whole dashboard; the Share panel and the Webhooks page kept "copy it now" boxes of a link revoked and a
webhook deleted; relative times showed a raw UTC time on hover, or nothing; unknown filters in the jobs list's address
failed the list; a "Dock this" link to a job since deleted chose a blank receptor. A job service on the inference twin
(a slow call scripted for a job that stays running), in this module alone."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from jobservice.memory_inference import Slow
from tests.dashboard.pages_helpers import User, in_process_service, make_user, shot, signed_in
from tests.support import InProcessService, WebhookReceiver

pytestmark = pytest.mark.e2e

service = in_process_service("qa-fixes", {"PHONOS_MODELS": "esmfold,diffdock"})

LONG_NAME = "Long_" + "N" * 195  # the API's 200 characters, one word
LONG_KEY_NAME = "K" * 100  # a key name's 100


@pytest.fixture(scope="module")
def quinn(service: InProcessService) -> User:
    return make_user(service, "quinn")  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def long_job(service: InProcessService, quinn: User) -> str:
    client = service.client(quinn.api_key)
    return str(client.wait_for(client.predict(name=LONG_NAME).json()["job_id"])["job_id"])


def sideways(page: Page) -> int:
    """How far the page scrolls sideways (0: it does not)."""
    return int(page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth"))


def overlap(page: Page, first: str, second: str) -> bool:
    """Whether the boxes of two elements overlap."""
    return bool(page.evaluate("""([a, b]) => {
        const r = document.querySelector(a).getBoundingClientRect();
        const s = document.querySelector(b).getBoundingClientRect();
        return r.left < s.right && s.left < r.right && r.top < s.bottom && s.top < r.bottom;
    }""", [first, second]))


def test_a_long_name_without_spaces_wraps_in_the_list_and_on_its_page(browser: Browser, service: InProcessService,
                                                                       quinn: User, long_job: str) -> None:
    for width in (1440, 768, 390):
        page = signed_in(browser, service, quinn, width=width)  # type: ignore[arg-type]
        row = f'#jobs-body tr[data-job-id="{long_job}"]'
        expect(page.locator(f"{row} td.name a")).to_have_text(LONG_NAME)
        assert sideways(page) == 0, f"the jobs list scrolls sideways at {width} px"
        table = page.locator("#jobs-table").bounding_box()
        assert table is not None and table["x"] + table["width"] <= width, (width, table)
        expect(page.locator(f"{row} td.action .btn")).to_be_in_viewport()
        assert not overlap(page, f"{row} td.name a", f"{row} td.action .btn"), f"the name runs under Open at {width} px"
        shot(page, f"qa-long-name-jobs-{width}")
        page.goto(f"{service.base_url}/jobs/{long_job}")
        expect(page.locator("h1")).to_have_text(LONG_NAME)
        expect(page.locator("#run-again")).to_be_visible()
        assert sideways(page) == 0, f"the job page scrolls sideways at {width} px"
        assert not overlap(page, "h1", ".topbar > .row"), f"the title runs under the buttons at {width} px"
        shot(page, f"qa-long-name-job-{width}")
        page.close()


def test_a_long_key_name_wraps_in_the_keys_list_and_the_activity(browser: Browser, service: InProcessService,
                                                                 quinn: User) -> None:
    client = service.client(quinn.api_key)
    assert client.post("/v1/keys", json={"name": LONG_KEY_NAME}).status_code in (200, 201)
    for width in (1440, 390):
        page = signed_in(browser, service, quinn, width=width)  # type: ignore[arg-type]
        page.goto(f"{service.base_url}/keys")
        expect(page.locator("#keys-table")).to_contain_text(LONG_KEY_NAME)
        assert sideways(page) == 0, f"the keys page scrolls sideways at {width} px"
        page.goto(f"{service.base_url}/account")
        entry = page.locator("#activity-body td.what", has_text=LONG_KEY_NAME).first
        expect(entry).to_be_visible()
        assert sideways(page) == 0, f"the account page scrolls sideways at {width} px"
        # Nothing of the entry is cut at its card's edge (the card clips what overflows).
        assert entry.evaluate("(e) => e.scrollWidth <= e.clientWidth && e.getBoundingClientRect().right"
                              " <= e.closest('.card').getBoundingClientRect().right"), width
        shot(page, f"qa-long-key-name-account-{width}")
        page.close()


def test_escape_on_a_rows_cancel_gives_the_focus_back_after_the_live_refresh(browser: Browser,
                                                                             service: InProcessService,
                                                                             quinn: User) -> None:
    client = service.client(quinn.api_key)
    service.inference.script("esmfold", Slow(120))
    job_id = client.predict(name="slow one").json()["job_id"]
    client.wait_for(job_id, ("running",))
    page = signed_in(browser, service, quinn)  # type: ignore[arg-type]
    row = f'#jobs-body tr[data-job-id="{job_id}"]'
    cancel = page.locator(f"{row} [data-action=cancel]")
    expect(cancel).to_be_visible()
    cancel.focus()
    page.keyboard.press("Enter")
    expect(page.locator("dialog.modal")).to_be_visible()
    # The live refresh (every 2 s while a job runs) draws the row again while the question is open.
    page.locator(row).evaluate("(tr) => { tr.dataset.old = 'yes'; }")
    expect(page.locator(f"{row}:not([data-old])")).to_have_count(1)
    page.keyboard.press("Escape")
    expect(page.locator("dialog.modal")).to_have_count(0)
    expect(cancel).to_be_focused()
    client.post(f"/v1/jobs/{job_id}/cancel")
    page.close()


def test_an_address_that_is_not_valid_percent_encoding_is_a_page_not_found(browser: Browser,
                                                                           service: InProcessService,
                                                                           quinn: User) -> None:
    page = signed_in(browser, service, quinn, width=390)  # type: ignore[arg-type]
    page.goto(f"{service.base_url}/jobs/%E0%A4%A")
    expect(page.locator("#not-found")).to_contain_text("There is nothing here")
    expect(page.locator("h1")).to_have_text("Page not found")
    expect(page.locator("#menu-toggle")).to_be_visible()  # the navigation is there
    page.close()


def confirm(page: Page) -> None:
    page.locator("dialog.modal [data-confirm]").click()
    expect(page.locator("dialog.modal")).to_have_count(0)


def test_a_revoked_share_links_copy_box_goes_with_it(browser: Browser, service: InProcessService, quinn: User,
                                                     long_job: str) -> None:
    page = signed_in(browser, service, quinn)  # type: ignore[arg-type]
    page.goto(f"{service.base_url}/jobs/{long_job}")
    page.click("#share-job")
    page.select_option("#share-expiry", "7")
    page.click("#share-create")
    expect(page.locator("#share-url")).to_be_visible()
    expect(page.locator("#share-links [data-revoke]")).to_have_count(1)
    page.click("#share-links [data-revoke]")
    confirm(page)
    expect(page.locator("#share-none")).to_be_visible()
    expect(page.locator("#share-url")).to_have_count(0)
    expect(page.locator("#share-created")).to_be_empty()
    page.close()


def test_a_deleted_webhooks_new_secret_goes_with_it(browser: Browser, service: InProcessService, quinn: User) -> None:
    client = service.client(quinn.api_key)
    with WebhookReceiver() as receiver:
        assert client.post("/v1/webhooks", json={"url": receiver.url}).status_code in (200, 201)
        page = signed_in(browser, service, quinn)  # type: ignore[arg-type]
        page.goto(f"{service.base_url}/webhooks")
        page.click("#webhooks-table [data-action=rotate]")
        confirm(page)
        expect(page.locator("#secret-callout")).to_contain_text("New signing secret")
        page.click("#webhooks-table [data-action=delete]")
        confirm(page)
        expect(page.get_by_text("No webhooks yet")).to_be_visible()
        expect(page.locator("#secret-callout")).to_have_count(0)
        page.close()


def local_time(page: Page, iso: str) -> str:
    """The page's own words for a moment (format.js dateTime), in the browser's time zone."""
    return str(page.evaluate("async (iso) => (await import('/static/js/format.js')).dateTime(iso)", iso))


def test_relative_times_give_the_local_time_on_hover(browser: Browser, service: InProcessService, quinn: User,
                                                     long_job: str) -> None:
    client = service.client(quinn.api_key)
    job: dict[str, Any] = client.get(f"/v1/jobs/{long_job}").json()
    key = client.post("/v1/keys", json={"name": "to revoke"}).json()["key"]
    assert client.post(f"/v1/keys/{key['key_id']}/revoke", json={}).status_code == 200
    revoked = next(k for k in client.get("/v1/keys").json()["keys"] if k["key_id"] == key["key_id"])
    page = signed_in(browser, service, quinn)  # type: ignore[arg-type]
    submitted = page.locator(f'#jobs-body tr[data-job-id="{long_job}"] td.submitted')
    expect(submitted).to_have_attribute("title", local_time(page, job["created_at"]))
    assert not re.search(r"\d{4}-\d\d-\d\dT", submitted.get_attribute("title") or "")
    page.goto(f"{service.base_url}/jobs/{long_job}")
    expect(page.locator("#job-submitted")).to_have_attribute("title", local_time(page, job["created_at"]))
    page.goto(f"{service.base_url}/keys")
    expect(page.locator(f'tr[data-key-id="{key["key_id"]}"] [data-field=revoked-at]')).to_have_attribute(
        "title", local_time(page, revoked["revoked_at"]))
    page.close()


def test_unknown_filters_in_the_address_are_dropped_and_the_list_loads(browser: Browser, service: InProcessService,
                                                                       quinn: User, long_job: str) -> None:
    page = signed_in(browser, service, quinn)  # type: ignore[arg-type]
    page.goto(f"{service.base_url}/jobs?status=bogus&model=nope&offset=abc")
    expect(page.locator(f'#jobs-body tr[data-job-id="{long_job}"]')).to_have_count(1)
    expect(page.get_by_text("Could not load jobs")).to_have_count(0)
    expect(page.locator('[data-status="all"]')).to_have_attribute("aria-pressed", "true")
    page.wait_for_url(f"{service.base_url}/jobs")
    page.close()


def test_a_dock_this_link_to_a_job_not_there_says_so(browser: Browser, service: InProcessService, quinn: User,
                                                     long_job: str) -> None:
    page = signed_in(browser, service, quinn, width=390)  # type: ignore[arg-type]
    page.goto(f"{service.base_url}/submit?model=diffdock&receptor=bogus")
    note = page.locator("#f-protein_pdb-missing")
    expect(note).to_contain_text("The job in the link (bogus) is not available")
    select = page.locator("#f-protein_pdb-job")
    # No other structure chosen in its place (one was, and a ligand was docked into a protein nobody chose): the
    # list asks for one, and neither way to give a receptor is chosen.
    expect(select).to_have_value("")
    expect(select.locator("option:checked")).to_have_text("Choose a structure…")
    expect(page.locator("#receptor-from-job")).not_to_be_checked()
    page.wait_for_url(f"{service.base_url}/submit?model=diffdock")  # the address no longer names it
    shot(page, "qa-dock-this-missing-390")
    page.close()


def test_the_forms_speak_in_their_own_words(browser: Browser, service: InProcessService, quinn: User) -> None:
    """API field names in the forms' messages, a lower-case sign-in message, a rate limit kept after a key was made,
    a key name cut to 100 characters without a word."""
    page = signed_in(browser, service, quinn)  # type: ignore[arg-type]
    said = page.evaluate("""async () => {
        const {inFormWords} = await import('/static/js/pages/submit.js');
        const spec = {fields: [['a3m', 'A3M file', 'file', {}],
                               ['msa_mode', 'MSA', 'select', {labels: {a3m: 'Upload an A3M'}}]]};
        return inFormWords('params.a3m is required when msa_mode is "a3m"', spec);
    }""")
    assert said == "“A3M file” is required when “MSA” is “Upload an A3M”"
    page.goto(f"{service.base_url}/keys")
    page.fill("#key-name", "N" * 150)
    page.click("#key-create")
    expect(page.locator("#key-error")).to_have_text("A key name has at most 100 characters; this one has 150.")
    expect(page.locator("#key-name")).to_have_attribute("aria-invalid", "true")
    page.fill("#key-name", "rate limited")
    page.fill("#key-rate-limit", "100000")
    page.click("#key-create")
    expect(page.locator("#key-error")).to_contain_text("The rate limit must be between 1 and")
    page.fill("#key-rate-limit", "5")
    page.click("#key-create")
    expect(page.locator("#secret-callout")).to_contain_text("rate limited")
    expect(page.locator("#key-rate-limit")).to_have_value("")
    expect(page.locator("#key-name")).to_have_value("")
    page.context.clear_cookies()
    page.goto(f"{service.base_url}/sign-in")
    page.click("form button[type=submit]")
    expect(page.get_by_role("alert")).to_contain_text("Enter a username and a password.")
    expect(page.locator("#username")).to_be_focused()
    page.close()


def test_the_sidebars_balance_follows_jobs_the_list_draws_by_itself(browser: Browser, service: InProcessService) -> None:
    """A tester kept Jobs open while four jobs were submitted with a key: the table drew them by itself, and the
    sidebar still said the balance from before them (it was read once per page load)."""
    rhea = make_user(service, "rhea")  # type: ignore[arg-type]
    page = signed_in(browser, service, rhea)  # type: ignore[arg-type]
    credits = page.locator("#side-credits")
    expect(credits).to_have_text("5,000 credits")
    expect(page.locator("#jobs-list")).to_contain_text("No jobs")  # the list's first answer, before the jobs come
    client = service.client(rhea.api_key)
    ids = [client.predict(name=f"from a script {i}").json()["job_id"] for i in range(2)]
    for job_id in ids:
        expect(page.locator(f'#jobs-body tr[data-job-id="{job_id}"]')).to_be_visible()
    expect(credits).to_have_text("4,980 credits")  # two ESMFold jobs, 10 credits each, without a reload
    assert client.balance() == 4980
    page.close()

