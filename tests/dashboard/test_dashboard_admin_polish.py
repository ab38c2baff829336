"""A lab admin's pass over the dashboard: the Account page's sign-out buttons each name their session (three sessions
of one browser were three "Sign out Chrome (headless) on Linux"); the API keys page's refused rate limit shows under
its own box, and an error in the table's rate limit leaves the table's columns as they were; the jobs list's phone
cards show what a job took and its credits; a webhook being retried says so, apart from the failure's words and the
time, with its next try; the New job form says before Submit that the balance does not cover the job.

Each at 1440 px and 390 px where the layout differs (screenshots in artifacts/screenshots/). A job service on the
inference twin, in this module alone."""

from __future__ import annotations

import asyncio
import re
import socket
from concurrent.futures import ThreadPoolExecutor

import pytest
from playwright.sync_api import Browser, Page, expect

from jobservice import admin
from tests.dashboard import pages_helpers as pages
from tests.support import InProcessService, wait_until

pytestmark = pytest.mark.e2e

PHONE = 390
# Retries 30 s, 60 s… apart: a failed first attempt waits long enough for the page to show it pending.
service = pages.in_process_service("adminpolish", {"PHONOS_MODELS": "esmfold", "PHONOS_WEBHOOK_MAX_ATTEMPTS": "5",
                                             "PHONOS_WEBHOOK_BACKOFF_BASE_S": "30"})
TWO_RECORDS = ">one\nMKTAYIAKQRQISFVKSHFSRQLEERLGLIEVQ\n>two\nMKTVRQERLKSIVRILERSKEPV\n"


def user(service: InProcessService, name: str, *, balance: int | None = None) -> pages.User:
    """make_user's account (5000 credits), its balance brought to `balance` when given (in a thread: Playwright owns
    this thread's event loop)."""
    person = pages.make_user(service, name)  # type: ignore[arg-type]
    if balance is not None:
        with ThreadPoolExecutor(1) as pool:
            pool.submit(asyncio.run, admin.add_credits(service.settings, username=name, amount=balance - 5000,
                                                       note="test")).result()
    return person


def problems(page: Page) -> list[str]:
    return page.evaluate(pages.A11Y_PROBLEMS)


def test_each_sessions_sign_out_button_names_its_own_session(browser: Browser, service: InProcessService) -> None:
    sam = user(service, "sam")
    watched = pages.Watched()
    # Three sessions of one browser (the same User-Agent): the list's rows read alike but for their times.
    pages.sign_in(browser, service, sam)  # type: ignore[arg-type]
    pages.sign_in(browser, service, sam)  # type: ignore[arg-type]
    page = pages.sign_in(browser, service, sam, watched)  # type: ignore[arg-type]
    page.goto(f"{service.base_url}/account")
    rows = page.locator("#sessions-list li.session")
    expect(rows).to_have_count(3)
    names = page.locator("#sessions-list button").evaluate_all("bs => bs.map((b) => b.getAttribute('aria-label'))")
    assert len(names) == 3 and len(set(names)) == 3, names  # a screen reader's list of buttons tells them apart
    what = rows.first.locator(".session-what").inner_text()
    assert names[0].startswith(f"Sign out this browser, {what}"), names  # this one first, and said to be this one
    for name in names:
        assert name.startswith("Sign out ") and what in name and "signed in just now" in name, name  # as the row says
    assert all("this browser" not in name for name in names[1:]), names
    assert problems(page) == []
    pages.shot(page, "admin-polish-sessions-1440")
    page.set_viewport_size({"width": PHONE, "height": 844})
    pages.shot(page, "admin-polish-sessions-390")
    assert watched.problems() == []


def test_a_refused_rate_limit_shows_under_its_box_and_a_table_error_keeps_the_columns(
        browser: Browser, service: InProcessService) -> None:
    kim = user(service, "kim")
    watched = pages.Watched()
    page = pages.sign_in(browser, service, kim, watched)  # type: ignore[arg-type]
    page.goto(f"{service.base_url}/keys")
    limit = page.locator("#key-rate-limit")
    limit.fill("5000")  # the account's maximum is 600
    page.click("#key-create")
    error = page.locator("#key-error")
    expect(error).to_be_visible()
    expect(error).to_contain_text("The rate limit must be between 1 and 600")
    expect(limit).to_be_focused()
    expect(limit).to_have_attribute("aria-invalid", "true")
    assert (limit.get_attribute("aria-describedby") or "").split()[0] == "key-error"
    # Under the box it is about (in its field), not at the form's foot under Expires and Access.
    assert page.locator("#key-rate-limit").evaluate("(el) => el.closest('.field').contains(document.getElementById('key-error'))")
    box, said, expiry = limit.bounding_box(), error.bounding_box(), page.locator("#key-expiry").bounding_box()
    assert box and said and expiry
    assert box["y"] + box["height"] <= said["y"] < expiry["y"], (box, said, expiry)
    assert abs(said["x"] - box["x"]) < 2
    pages.shot(page, "admin-polish-key-form-error-1440")
    # Corrected, the error goes and the key is made.
    limit.fill("120")
    page.click("#key-create")
    expect(page.locator("#secret-callout")).to_be_visible()
    expect(error).to_be_hidden()

    # The table's rate limit: a refused 0 shows under its box, and no column changes its width (the key's id broke
    # onto two lines as the error's words took the key column's room).
    expect(page.locator("#keys-table tbody tr")).to_have_count(2)  # the table drawn again with the new key
    row = page.locator("#keys-table tbody tr").first
    widths = "(t) => [...t.querySelectorAll('thead th')].map((th) => Math.round(th.getBoundingClientRect().width))"
    before = page.locator("#keys-table").evaluate(widths)
    id_height = row.locator(".id").evaluate("(el) => el.getBoundingClientRect().height")
    row.locator("input.limit").fill("0")
    row.locator("[data-action=save-limit]").click()
    table_error = row.locator("[data-error=rate-limit]")
    expect(table_error).to_be_visible()
    expect(table_error).to_contain_text("got 0")
    assert page.locator("#keys-table").evaluate(widths) == before
    assert row.locator(".id").evaluate("(el) => el.getBoundingClientRect().height") == id_height
    cell = row.locator("td[data-label='Rate limit']").bounding_box()
    said = table_error.bounding_box()
    assert cell and said and said["x"] >= cell["x"] and said["x"] + said["width"] <= cell["x"] + cell["width"] + 1
    assert problems(page) == []
    pages.shot(page, "admin-polish-keys-table-error-1440")
    page.set_viewport_size({"width": PHONE, "height": 844})
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE
    pages.shot(page, "admin-polish-keys-table-error-390")
    assert watched.problems() == []


def test_the_phone_cards_of_the_jobs_list_show_took_and_credits(browser: Browser, service: InProcessService) -> None:
    jo = user(service, "jo")
    client = service.client(jo.api_key)
    job = client.wait_for(client.predict(name="Phone card").json()["job_id"])
    assert job["status"] == "completed"
    watched = pages.Watched()
    page = pages.sign_in(browser, service, jo, watched, width=PHONE)  # type: ignore[arg-type]
    row = page.locator(f"#jobs-table tr[data-job-id='{job['job_id']}']")
    took, credits = row.locator("td.took"), row.locator("td.credits")
    for cell in (took, credits):
        expect(cell).to_be_visible()
        box = cell.bounding_box()
        assert box and box["x"] >= 0 and box["x"] + box["width"] <= PHONE
    # Named, as the wide table's header names them; the figures as the wide table shows them (credits net of refunds).
    expect(credits).to_have_text(str(job["credits_used"]))
    assert credits.evaluate("(el) => getComputedStyle(el, '::before').content") == '"Credits "'
    assert took.evaluate("(el) => getComputedStyle(el, '::before').content") == '"Took "'
    assert took.inner_text() not in ("", "-")
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE
    pages.shot(page, "admin-polish-jobs-390")
    page.set_viewport_size({"width": 1440, "height": 960})
    expect(credits).to_have_text(str(job["credits_used"]))
    assert credits.evaluate("(el) => getComputedStyle(el, '::before').content") == "none"  # the header says it
    pages.shot(page, "admin-polish-jobs-1440")
    assert watched.problems() == []


def closed_port() -> int:
    """A loopback port nothing listens on: a receiver that cannot be reached."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_a_webhook_being_retried_says_so_with_its_next_try(browser: Browser, service: InProcessService) -> None:
    wes = user(service, "wes")
    client = service.client(wes.api_key)
    hook_id = client.post("/v1/webhooks", json={"url": f"http://127.0.0.1:{closed_port()}/hook",
                                                "events": ["job.completed"]}).json()["webhook"]["webhook_id"]
    client.wait_for(client.predict().json()["job_id"])
    log = f"/v1/webhooks/{hook_id}/deliveries"
    wait_until(lambda: any(d["attempts"] >= 1 for d in client.get(log, params={"status": "pending"}).json()["deliveries"]), 15)

    watched = pages.Watched()
    page = pages.sign_in(browser, service, wes, watched, width=PHONE)  # type: ignore[arg-type]
    page.goto(f"{service.base_url}/webhooks")
    line = page.locator(f"#webhooks-table tr[data-webhook-id='{hook_id}'] [data-field=last-delivery]")
    expect(line).to_have_attribute("data-status", "pending")
    expect(line.locator(".pill")).to_have_text("retrying")  # not "pending" beside the failure's words
    expect(line.locator("[data-field=next-try]")).to_be_visible()
    # The state, the failure's words, when, and the next try, each set apart (read aloud, the state by a colon).
    text = " ".join((line.text_content() or "").split())
    assert re.fullmatch(r"Last delivery retrying: the receiver could not be reached \(no HTTP answer\) · [\w ]+ · "
                        r"next try (in ~\d+ s|due now)", text), text  # 30 s after the first attempt (due now: a slow run)
    box = line.bounding_box()
    assert box and box["x"] >= 0 and box["x"] + box["width"] <= PHONE
    assert problems(page) == []
    pages.shot(page, "admin-polish-webhook-retrying-390")
    page.set_viewport_size({"width": 1440, "height": 960})
    pages.shot(page, "admin-polish-webhook-retrying-1440")
    assert watched.problems() == []


def test_the_new_job_form_says_when_the_balance_does_not_cover_the_job(browser: Browser,
                                                                        service: InProcessService) -> None:
    # No credits at all: said before Submit, the button still usable (the balance may have changed since).
    nat = user(service, "nat", balance=0)
    watched = pages.Watched()
    page = pages.sign_in(browser, service, nat, watched)  # type: ignore[arg-type]
    page.goto(f"{service.base_url}/submit?model=esmfold")
    short = page.locator("#balance-short")
    expect(short).to_be_visible()
    expect(short).to_contain_text("This job costs 10 credits and your balance is 0")
    submit = page.locator("#submit-job")
    expect(submit).to_be_enabled()
    expect(submit).to_have_attribute("aria-describedby", "balance-short")
    assert problems(page) == []
    pages.shot(page, "admin-polish-submit-short-1440")
    page.set_viewport_size({"width": PHONE, "height": 844})
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE
    pages.shot(page, "admin-polish-submit-short-390")
    page.click("#use-example")
    submit.click()  # the server's 402 then, which says it with the balance it read
    expect(page.locator("#form-error")).to_contain_text("Insufficient credits")
    expect(short).to_be_hidden()

    # 15 credits: one job is covered (no notice); two FASTA records (20 credits) are not.
    ola = user(service, "ola", balance=15)
    page = pages.sign_in(browser, service, ola, watched)  # type: ignore[arg-type]
    page.goto(f"{service.base_url}/submit?model=esmfold")
    short = page.locator("#balance-short")
    expect(page.locator("#submit-job")).to_have_text("Submit · 10 credits")
    expect(short).to_be_hidden()
    assert page.locator("#submit-job").get_attribute("aria-describedby") is None
    page.fill("#f-sequence", TWO_RECORDS)
    expect(short).to_be_visible()
    expect(short).to_contain_text("These 2 jobs cost 20 credits and your balance is 15")
    page.fill("#f-sequence", "MKTAYIAKQRQISFVKSHFSRQLEERLGLIEVQ")
    expect(short).to_be_hidden()
    assert watched.problems() == []
