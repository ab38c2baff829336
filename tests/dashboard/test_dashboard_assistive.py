"""What a screen reader and a keyboard get on the job, jobs, webhooks, keys and usage pages (a tester's findings):
the job page says its job's status change once through the polite live region (not on the first load, not the
model's progress); the jobs list's bulk Cancel/Delete question gives the focus back to the bar's button drawn again
while it was open; a webhook's "Send test" outcome is said; a key's refused rate limit is tied to its box and wraps
inside the card; a key's name cleared says so; the daily charts have their values as a table; a form's error takes
the focus to its field; row controls name the key or say whether they are expanded. A job service on the inference
twin (scripted slow and failing calls), one browser."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from phonos_models.common.progress import Progress
from playwright.sync_api import Browser, Page, expect

from jobservice.memory_inference import Failure, Progressing, Slow
from tests.dashboard.pages_helpers import User, Watched, in_process_service, make_user, signed_in
from tests.support import ApiClient, InProcessService, WebhookReceiver

pytestmark = pytest.mark.e2e

service = in_process_service("assistive", {"PHONOS_MODELS": "esmfold"})

# Every text the page's live region (dom.js announce) is given, from before the page's first script runs.
RECORD_SAID = """
window.said = [];
new MutationObserver(() => {
    const region = document.getElementById('announcer');
    const text = region ? region.textContent : '';
    if (text && (!window.said.length || window.said[window.said.length - 1] !== text)) window.said.push(text);
}).observe(document, {subtree: true, childList: true, characterData: true});
"""


@pytest.fixture(scope="module")
def ally(service: InProcessService) -> User:
    return make_user(service, "ally")  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def client(service: InProcessService, ally: User) -> ApiClient:
    return service.client(ally.api_key)


@pytest.fixture
def page(browser: Browser, service: InProcessService, ally: User) -> Iterator[Page]:
    watched = Watched()
    opened = signed_in(browser, service, ally, watched)  # type: ignore[arg-type]
    opened.add_init_script(RECORD_SAID)
    yield opened
    opened.close()
    assert watched.problems() == [], watched.problems()


def said(page: Page) -> list[str]:
    return page.evaluate("window.said")  # type: ignore[no-any-return]


def test_the_job_page_says_once_that_its_job_completed_or_failed_and_nothing_for_a_finished_one(
        page: Page, client: ApiClient, service: InProcessService) -> None:
    service.inference.script("esmfold", Slow(5))  # running still when the page has loaded
    slow = client.predict(name="slowpoke").json()["job_id"]
    client.wait_for(slow, ("running",))
    page.goto(f"{service.base_url}/jobs/{slow}")
    expect(page.locator("#status-card")).to_be_visible()
    expect(page.locator("#announcer")).to_have_text("slowpoke completed", timeout=20_000)
    assert said(page) == ["slowpoke completed"], said(page)  # once; the progress and the first load say nothing

    steps = tuple(Progress("running", i, 6, f"step {i} of 6") for i in range(1, 7))
    service.inference.script("esmfold", Progressing(steps, 0.8, Failure.MODEL_ERROR))
    doomed = client.predict(name="doomed").json()["job_id"]
    client.wait_for(doomed, ("running",))
    page.goto(f"{service.base_url}/jobs/{doomed}")
    expect(page.locator("#status-card")).to_be_visible()
    expect(page.locator("#job-error")).to_be_visible(timeout=20_000)
    expect(page.locator("#announcer")).to_contain_text("doomed failed: ")
    messages = said(page)
    assert len(messages) == 1 and messages[0].startswith("doomed failed: "), messages
    error = client.get(f"/v1/jobs/{doomed}").json()["error"]
    assert error.rstrip(".") in messages[0], (error, messages)

    page.goto(f"{service.base_url}/jobs/{slow}")  # already completed: the page shows it, nothing is said
    expect(page.locator("#job-results")).not_to_contain_text("Loading results")
    time.sleep(2)  # more than a poll's interval (1.5 s): a finished job is not polled, so nothing comes later
    assert said(page) == [], said(page)


def test_the_job_page_says_a_cancel_made_elsewhere_and_not_its_own_twice(page: Page, client: ApiClient,
                                                                        service: InProcessService) -> None:
    service.inference.script("esmfold", Slow(60), Slow(60))
    elsewhere = client.predict(name="elsewhere").json()["job_id"]
    client.wait_for(elsewhere, ("running",))
    page.goto(f"{service.base_url}/jobs/{elsewhere}")
    expect(page.locator("#status-card")).to_be_visible()
    client.post(f"/v1/jobs/{elsewhere}/cancel")  # the CLI, another tab
    expect(page.locator("#job-cancelled")).to_be_visible()
    expect(page.locator("#announcer")).to_have_text("elsewhere cancelled")

    here = client.predict(name="here").json()["job_id"]
    client.wait_for(here, ("running",))
    page.goto(f"{service.base_url}/jobs/{here}")
    page.locator("#cancel-job").click()
    page.locator("dialog.modal [data-confirm]").click()
    expect(page.locator("#job-cancelled")).to_be_visible()
    expect(page.locator("#announcer")).not_to_have_text("")
    time.sleep(1)  # the poll that drew "Cancelled" has run: anything it said is in the region
    assert "here cancelled" not in said(page), said(page)  # the toast's "Cancelled" says it


def test_a_poll_landing_while_the_pages_own_cancel_is_answered_says_nothing(page: Page, client: ApiClient,
                                                                          service: InProcessService) -> None:
    """The page's cancel was done at the server, its answer still on its way, when a poll saw `cancelled`: the
    page said "racing cancelled", then its toast "Cancelled" (found by a reviewer)."""
    service.inference.script("esmfold", Slow(60))
    racing = client.predict(name="racing").json()["job_id"]
    client.wait_for(racing, ("running",))
    page.goto(f"{service.base_url}/jobs/{racing}")
    expect(page.locator("#status-card")).to_be_visible()
    held: list[Any] = []  # the cancel's answer, held after the server acted on it
    page.route(f"**/v1/jobs/{racing}/cancel", lambda route: held.append((route, route.fetch())))
    page.locator("#cancel-job").click()
    page.locator("dialog.modal [data-confirm]").click()
    client.wait_for(racing, ("cancelled",))
    page.evaluate("document.dispatchEvent(new Event('visibilitychange'))")
    expect(page.locator("#job-cancelled")).to_be_visible(timeout=15_000)  # a poll drew it, the answer still held
    assert "racing cancelled" not in said(page), said(page)
    route, answer = held[0]
    route.fulfill(response=answer)
    expect(page.locator(".toast").last).to_contain_text("Cancelled")
    time.sleep(1)
    assert "racing cancelled" not in said(page), said(page)


def test_the_bulk_question_gives_the_focus_back_to_the_bar_drawn_again_while_it_was_open(
        page: Page, client: ApiClient, service: InProcessService) -> None:
    client.wait_for(client.predict(name="bulk-one").json()["job_id"])
    page.goto(f"{service.base_url}/jobs")
    row = page.locator("#jobs-body tr", has_text="bulk-one").first
    row.locator("input.pick").check()
    page.locator("#bulk-delete").focus()
    page.keyboard.press("Enter")
    expect(page.locator("dialog.modal")).to_be_visible()
    page.evaluate("document.getElementById('bulk-delete').dataset.before = 'yes'")  # the button that opened it
    # The list's live refresh (its tab shown again refreshes at once) draws the bulk bar again under the question.
    page.evaluate("document.dispatchEvent(new Event('visibilitychange'))")
    expect(page.locator("#bulk-delete[data-before]")).to_have_count(0)
    expect(page.locator("#bulk-delete")).to_have_count(1)
    page.keyboard.press("Escape")
    expect(page.locator("dialog.modal")).to_have_count(0)
    expect(page.locator("#bulk-delete")).to_be_focused()


def test_a_webhook_test_s_outcome_is_said(page: Page, client: ApiClient, service: InProcessService) -> None:
    with WebhookReceiver([200]) as receiver:
        hook = client.post("/v1/webhooks", json={"url": receiver.url}).json()["webhook"]
        page.goto(f"{service.base_url}/webhooks")
        row = page.locator(f"#webhooks-table tr[data-webhook-id='{hook['webhook_id']}']")
        row.locator("[data-action=test]").click()
        expect(row.locator("td.test-result [data-status-code]")).to_have_text("HTTP 200")
        expect(page.locator("#announcer")).to_have_text(f"Test to {receiver.url}: delivered, HTTP 200")
    client.delete(f"/v1/webhooks/{hook['webhook_id']}")  # no job event of a later test goes to the closed receiver


def test_a_webhook_s_deliveries_button_says_whether_its_log_is_shown(page: Page, client: ApiClient,
                                                                     service: InProcessService) -> None:
    hook = client.post("/v1/webhooks", json={"url": "https://example.org/toggle"}).json()["webhook"]
    page.goto(f"{service.base_url}/webhooks")
    row = page.locator(f"#webhooks-table tr[data-webhook-id='{hook['webhook_id']}']")
    toggle = row.locator("[data-action=deliveries]")
    expect(toggle).to_have_attribute("aria-expanded", "false")
    expect(toggle).to_have_attribute("aria-controls", "deliveries-slot")
    toggle.click()
    expect(page.locator("#deliveries-card")).to_be_visible()
    expect(toggle).to_have_attribute("aria-expanded", "true")
    toggle.click()
    expect(page.locator("#deliveries-card")).to_have_count(0)
    expect(toggle).to_have_attribute("aria-expanded", "false")
    client.delete(f"/v1/webhooks/{hook['webhook_id']}")


def test_deleting_a_webhook_keeps_another_webhooks_log_that_is_on_its_way(page: Page, client: ApiClient,
                                                                          service: InProcessService) -> None:
    """Deleting a webhook dropped any delivery log still loading, another webhook's too (found by a reviewer)."""
    shown, loading = (client.post("/v1/webhooks", json={"url": f"https://example.org/{name}"}).json()["webhook"]
                      for name in ("shown", "loading"))
    page.goto(f"{service.base_url}/webhooks")
    rows = {hook["webhook_id"]: page.locator(f"#webhooks-table tr[data-webhook-id='{hook['webhook_id']}']")
            for hook in (shown, loading)}
    rows[shown["webhook_id"]].locator("[data-action=deliveries]").click()
    expect(page.locator("#deliveries-card")).to_be_visible()

    held: list[Any] = []  # the log's request, held on its way while the other webhook is deleted
    page.route(f"**/v1/webhooks/{loading['webhook_id']}/deliveries*", lambda route: held.append(route))
    rows[loading["webhook_id"]].locator("[data-action=deliveries]").click()
    for _ in range(100):
        if held:
            break
        page.wait_for_timeout(50)
    assert held, "the log was never asked for"
    rows[shown["webhook_id"]].locator("[data-action=delete]").click()
    page.locator("dialog [data-confirm]").click()
    expect(page.locator(".toast").last).to_contain_text("Webhook deleted")
    held[0].continue_()
    toggle = page.locator(f"#webhooks-table tr[data-webhook-id='{loading['webhook_id']}'] [data-action=deliveries]")
    expect(toggle).to_have_attribute("aria-expanded", "true", timeout=10_000)  # its log came, and is shown
    expect(page.locator("#deliveries-card")).to_be_visible()
    client.delete(f"/v1/webhooks/{loading['webhook_id']}")


def test_the_add_webhook_form_takes_the_focus_to_the_field_it_refused(page: Page, service: InProcessService) -> None:
    page.goto(f"{service.base_url}/webhooks")
    # A refused URL: the focus goes to the URL box (it stayed on Add webhook).
    page.fill("#webhook-url", "ftp://example.org/hook")
    page.locator("#webhook-add").click()
    expect(page.locator("#webhook-error")).to_be_visible()
    expect(page.locator("#webhook-url")).to_be_focused()
    expect(page.locator("#webhook-url")).to_have_attribute("aria-invalid", "true")
    # No event ticked: the focus goes to the first box.
    for box in page.locator("#webhook-events input[type=checkbox]").all():
        box.uncheck()
    page.locator("#webhook-add").click()
    expect(page.locator("#webhook-events-error")).to_be_visible()
    expect(page.locator("#webhook-events input[type=checkbox]").first).to_be_focused()


def test_a_keys_rate_limit_box_and_save_name_their_key(page: Page, client: ApiClient,
                                                       service: InProcessService) -> None:
    named = client.post("/v1/keys", json={"name": "a lab workstation key"}).json()["key"]
    unnamed = client.post("/v1/keys", json={}).json()["key"]
    page.goto(f"{service.base_url}/keys")
    row = page.locator(f"#keys-table tr[data-key-id='{named['key_id']}']")
    expect(row.locator("input.limit")).to_have_attribute("aria-label",
                                                         "Rate limit of a lab workstation key, requests per minute")
    expect(row.locator("[data-action=save-limit]")).to_have_attribute("aria-label",
                                                                      "Save rate limit of a lab workstation key")
    other = page.locator(f"#keys-table tr[data-key-id='{unnamed['key_id']}']")
    expect(other.locator("[data-action=save-limit]")).to_have_attribute(
        "aria-label", f"Save rate limit of {unnamed['key_id']}")  # by its id, as its Rename and Revoke


def test_a_keys_refused_rate_limit_is_tied_to_its_box_and_wraps_inside_the_card(
        page: Page, client: ApiClient, service: InProcessService) -> None:
    key_id = client.post("/v1/keys", json={"name": "a lab workstation key"}).json()["key"]["key_id"]
    page.goto(f"{service.base_url}/keys")
    row = page.locator(f"#keys-table tr[data-key-id='{key_id}']")
    box = row.locator("input.limit")
    box.fill("99999999")
    row.locator("[data-action=save-limit]").click()
    error = row.locator("[data-error=rate-limit]")
    expect(error).to_be_visible()
    expect(box).to_have_attribute("aria-invalid", "true")
    error_id = error.get_attribute("id")
    assert error_id and error_id in (box.get_attribute("aria-describedby") or "").split(), error_id
    scroller = page.locator("#keys-table").locator("xpath=..")
    widths = scroller.evaluate("(el) => [el.scrollWidth, el.clientWidth]")
    assert widths[0] <= widths[1], f"the keys table is wider than its card: {widths}"
    revoke = row.locator("[data-action=revoke]").bounding_box()
    card = page.locator("#keys-table").locator("xpath=ancestor::div[contains(@class,'card')][1]").bounding_box()
    assert revoke and card and revoke["x"] + revoke["width"] <= card["x"] + card["width"], (revoke, card)


def test_a_key_renamed_to_nothing_says_its_name_was_cleared(page: Page, client: ApiClient,
                                                            service: InProcessService) -> None:
    key_id = client.post("/v1/keys", json={"name": "to be cleared"}).json()["key"]["key_id"]
    page.goto(f"{service.base_url}/keys")
    row = page.locator(f"#keys-table tr[data-key-id='{key_id}']")
    row.locator("[data-action=rename]").click()
    row.locator("input[data-field=name]").fill("   ")
    row.locator("[data-action=save-name]").click()
    expect(page.locator(".toast").last).to_contain_text("Key name cleared")
    expect(row.locator("td.name > span").first).to_have_text("Unnamed key")
    assert not any(k.get("name") for k in client.get("/v1/keys").json()["keys"] if k["key_id"] == key_id)
    # every control of the unnamed key's row names it the same way (the rate limit's said "key pk_…")
    for control, label in [("input.limit", f"Rate limit of {key_id}, requests per minute"),
                           ("[data-action=save-limit]", f"Save rate limit of {key_id}"),
                           ("[data-action=rename]", f"Rename {key_id}"), ("[data-action=revoke]", f"Revoke {key_id}")]:
        expect(row.locator(control)).to_have_attribute("aria-label", label)
    row.locator("[data-action=rename]").click()
    row.locator("input[data-field=name]").fill("named again")
    row.locator("[data-action=save-name]").click()
    expect(page.locator(".toast").last).to_contain_text("Key renamed")
    expect(row.locator("td.name > span").first).to_have_text("named again")


def test_the_create_key_form_takes_the_focus_to_the_field_it_refused(page: Page, service: InProcessService) -> None:
    page.goto(f"{service.base_url}/keys")
    page.fill("#key-name", "n" * 101)
    page.locator("#key-create").click()
    expect(page.locator("#key-error")).to_be_visible()
    expect(page.locator("#key-name")).to_be_focused()
    page.fill("#key-name", "ok")
    page.fill("#key-rate-limit", "99999999")
    page.locator("#key-create").click()
    expect(page.locator("#key-error")).to_contain_text("rate limit")
    expect(page.locator("#key-rate-limit")).to_be_focused()
    expect(page.locator("#key-rate-limit")).to_have_attribute("aria-invalid", "true")


def test_the_usage_charts_give_each_days_value_as_a_table_the_keyboard_opens(page: Page, client: ApiClient,
                                                                             service: InProcessService) -> None:
    client.wait_for(client.predict(name="counted").json()["job_id"])
    page.goto(f"{service.base_url}/usage")
    chart = page.locator("#chart-requests")
    expect(chart).to_be_visible()
    titles = chart.locator("rect.bar title").all_text_contents()
    assert titles
    values = page.locator("#chart-requests-values")
    summary = values.locator("summary")
    summary.focus()
    page.keyboard.press("Enter")
    expect(values).to_have_attribute("open", "")
    rows = values.locator("tbody tr")
    expect(rows).to_have_count(len(titles))
    cells = [r.locator("td").all_text_contents() for r in rows.all()]
    # Each bar's hover title ("<day>: <value> requests") has its row: the day, then the value.
    assert [f"{day}: {value} requests" for day, value in cells] == titles, (cells, titles)
    assert any(value != "0" for _, value in cells), cells
