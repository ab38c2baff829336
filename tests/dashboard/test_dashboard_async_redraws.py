"""The dashboard's async redraws, page by page, as a person clicking quickly (or working while a page polls) meets
them: an answer that arrives late drew over what the person had chosen since (the New job page's tabs, the usage
period, the webhook whose deliveries were asked for, a deliveries filter, the account's signed-in browsers), a
table drawn again after an action closed the editor open on another row and dropped what was typed in it (API keys)
or lost a test event's answer (webhooks), a Cancel question stayed open over a job that had completed meanwhile
(job page, jobs list), a poll's late "running" put a cancelled job's Cancel button back, Delete stayed pressable
while its request went, and a file chosen just before Submit was sent as no file. Each request that makes the race
is held (or its answer kept back) with `page.route`: no sleeps. A job service on the inference twin, in this module
alone."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import date

import pytest
from playwright.sync_api import APIResponse, Browser, Page, Route, expect

from tests.dashboard.pages_helpers import User, in_process_service, make_user, shot, sign_in, signed_in
from tests.support import ApiClient, InProcessService, wait_until

pytestmark = pytest.mark.e2e

service = in_process_service("async-redraws", {"PHONOS_MODELS": "esmfold,alphafold2,diffdock"})

# Each API answer the page has read (api.js reads every one with response.text()), pushed once every promise chained
# on it has run (a task after it: what the page drew with it is on the page), to wait for a held answer's effect.
ANSWERED = """(() => {
    const text = Response.prototype.text;
    window.__answered = [];
    Response.prototype.text = function () {
        const url = this.url;
        return text.call(this).then((body) => { setTimeout(() => window.__answered.push(url)); return body; });
    };
})()"""


@pytest.fixture(scope="module")
def dash(service: InProcessService) -> User:
    return make_user(service, "dashrace")  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def client(service: InProcessService, dash: User) -> ApiClient:
    """The same account through its key: the tests' set-ups (jobs, webhooks, keys) and what they check."""
    return service.client(dash.api_key)


def open_at(browser: Browser, service: InProcessService, user: User, path: str,
            before: Callable[[Page], None] | None = None) -> Page:
    page = signed_in(browser, service, user)  # type: ignore[arg-type]
    page.add_init_script(ANSWERED)
    if before:
        before(page)
    page.goto(f"{service.base_url}{path}")
    return page


def answered(page: Page, part: str, count: int = 1) -> None:
    """Waits until `count` answers whose URL holds `part` have been read and drawn."""
    page.wait_for_function("([part, n]) => window.__answered.filter((u) => u.includes(part)).length >= n",
                           arg=[part, count])


class Holder:
    """Holds the requests `route` is given while `holding`; `release()` sends them on."""

    def __init__(self) -> None:
        self.held: list[Route] = []
        self.holding = True

    def __call__(self, route: Route) -> None:
        if self.holding:
            self.held.append(route)
        else:
            route.continue_()

    def wait(self, page: Page, count: int = 1) -> None:
        """Until `count` requests are held (Playwright hands them over while the page is waited on)."""
        wait_until(lambda: len(self.held) >= count or page.wait_for_timeout(50), timeout_s=15)

    def release(self) -> None:
        self.holding = False
        for route in self.held:
            route.continue_()
        self.held.clear()


class Late:
    """The first request `route` is given while `armed` is answered by the server at once, and that answer handed to
    the page only at `deliver()`, as a slow network would; every other request goes through."""

    def __init__(self, armed: bool = True) -> None:
        self.armed = armed
        self.kept: list[tuple[Route, APIResponse]] = []

    def __call__(self, route: Route) -> None:
        if self.armed and not self.kept:
            self.kept.append((route, route.fetch()))
        else:
            route.continue_()

    def wait(self, page: Page) -> None:
        wait_until(lambda: self.kept or page.wait_for_timeout(50), timeout_s=15)

    def deliver(self) -> None:
        route, response = self.kept[0]
        route.fulfill(response=response)


def test_a_model_tab_chosen_while_the_docking_form_loads_keeps_its_form_and_tabs_say_credits(
        browser: Browser, service: InProcessService, dash: User) -> None:
    """DiffDock's form waits for the account's structures (its receptor list): ESMFold chosen meanwhile, and a sequence
    typed into its form, were drawn over by the docking form once the list came, under the ESMFold tab. The tabs said
    "10 cr" where the rest of the dashboard spells credits out."""
    page = open_at(browser, service, dash, "/submit?model=esmfold")
    expect(page.locator("#tab-esmfold .cost")).to_have_text("10 credits")
    for model in ("alphafold2", "diffdock"):
        expect(page.locator(f"#tab-{model} .cost")).to_have_text(re.compile(r"^\d+ credits$"))
    shot(page, "async-submit-tabs-credits")
    page.set_viewport_size({"width": 375, "height": 800})  # on a phone each price goes under its model's name
    assert page.locator(".tabs").evaluate("(tabs) => tabs.scrollWidth <= tabs.clientWidth"), "the tabs fit a phone"
    shot(page, "async-submit-tabs-credits-375", full_page=False)
    page.set_viewport_size({"width": 1440, "height": 960})
    structures = Holder()
    page.route("**/v1/jobs?*", structures)
    page.locator("#tab-diffdock").click()
    structures.wait(page, 2)  # ESMFold's and AlphaFold2's completed jobs
    page.locator("#tab-esmfold").click()
    page.locator("#form-esmfold #f-sequence").fill("MKTAYIAKQRQ")
    structures.release()
    answered(page, "/v1/jobs?", 2)
    expect(page.locator("#form-esmfold #f-sequence")).to_have_value("MKTAYIAKQRQ")
    expect(page.locator("#form-diffdock")).to_have_count(0)
    expect(page.locator("#tab-esmfold")).to_have_attribute("aria-selected", "true")
    page.close()


def test_an_a3m_chosen_just_before_submit_is_sent(browser: Browser, service: InProcessService, dash: User) -> None:
    """The file was read after it was chosen, and Submit sent what had been read so far: nothing, for a file chosen a
    moment before. AlphaFold2 then searched (or ran without) an MSA instead of the person's. Submit waits for it."""
    page = open_at(browser, service, dash, "/submit?model=alphafold2")
    sent: list[dict[str, object]] = []

    def refuse(route: Route) -> None:  # what was sent is all this asks; nothing is submitted
        sent.append(json.loads(route.request.post_data or "{}"))
        route.fulfill(status=400, content_type="application/json",
                      body=json.dumps({"error": "Bad Request", "message": "checked by the test"}))

    page.route("**/v1/predict", refuse)
    expect(page.locator("#f-a3m")).to_be_visible()
    page.evaluate("""() => {
        const box = document.querySelector('#f-a3m');
        const files = new DataTransfer();
        files.items.add(new File(['>query\\nMKTAYIAKQRQ\\n'], 'mine.a3m'));
        box.files = files.files;
        box.dispatchEvent(new Event('change'));
        document.querySelector('#f-sequence').value = 'MKTAYIAKQRQ';
        document.querySelector('#submit-job').click();
    }""")
    expect(page.locator("#form-error")).to_contain_text("checked by the test")
    assert len(sent) == 1
    assert sent[0]["params"].get("a3m") == ">query\nMKTAYIAKQRQ\n", sent[0]  # type: ignore[union-attr]
    page.close()


def test_the_usage_period_pressed_last_is_the_one_shown(browser: Browser, service: InProcessService, dash: User,
                                                        client: ApiClient) -> None:
    """7 days pressed, then 90 before the 7 days' report came: the slower report was drawn last, its figures under
    the 90 days button."""
    start = date.fromisoformat(client.get("/v1/usage", params={"days": 90}).json()["period"]["start_date"])
    start_90 = re.compile(rf"{start.day} {start:%b}t? {start.year}")  # as the page writes it: "3 Nov 2026" ("Sept")
    page = open_at(browser, service, dash, "/usage")
    expect(page.locator(".stat .note").first).to_contain_text("API calls")
    week = Holder()
    page.route("**/v1/usage?days=7", week)
    page.locator("[data-days='7']").click()
    week.wait(page)
    page.locator("[data-days='90']").click()
    expect(page.locator(".stat .note").first).to_contain_text(start_90)
    week.release()
    answered(page, "days=7")
    expect(page.locator(".stat .note").first).to_contain_text(start_90)
    expect(page.locator("[data-days='90']")).to_have_attribute("aria-pressed", "true")
    page.close()


def test_the_deliveries_asked_for_last_are_shown(browser: Browser, service: InProcessService, dash: User,
                                                client: ApiClient) -> None:
    """Deliveries of one webhook pressed, then of another before the first log came: the first was drawn last. In a
    log, a filter chosen twice quickly drew both filters' rows ("Failed" then "Delivered": the failed row under
    "Delivered")."""
    first = client.post("/v1/webhooks", json={"url": "http://127.0.0.1:9/first", "events": ["job.completed"]}).json()
    second = client.post("/v1/webhooks", json={"url": "http://127.0.0.1:9/second", "events": ["job.completed"]}).json()
    first_id, second_id = first["webhook"]["webhook_id"], second["webhook"]["webhook_id"]
    client.post(f"/v1/webhooks/{second_id}/test")  # refused (nothing listens on port 9): a failed delivery
    try:
        page = open_at(browser, service, dash, "/webhooks")
        log = Holder()

        def first_log(route: Route) -> None:  # its log, not its "Last test" (event=webhook.test)
            if "event=" in route.request.url:
                route.continue_()
            else:
                log(route)

        page.route(f"**/v1/webhooks/{first_id}/deliveries?*", first_log)
        expect(page.locator("#webhooks-table tbody tr")).to_have_count(2)
        page.locator(f"tr[data-webhook-id='{first_id}'] [data-action='deliveries']").click()
        log.wait(page)
        page.locator(f"tr[data-webhook-id='{second_id}'] [data-action='deliveries']").click()
        card = page.locator("#deliveries-card")
        expect(card.locator(".card-head .hint")).to_have_text("http://127.0.0.1:9/second")
        expect(card.locator("#deliveries-body tr")).to_have_count(1)
        log.release()
        answered(page, f"/v1/webhooks/{first_id}/deliveries?limit=")
        expect(card.locator(".card-head .hint")).to_have_text("http://127.0.0.1:9/second")

        failed = Holder()
        page.route(f"**/v1/webhooks/{second_id}/deliveries?*status=failed*", failed)
        page.select_option("#deliveries-status", "failed")
        failed.wait(page)
        page.select_option("#deliveries-status", "delivered")
        expect(page.locator("#deliveries-empty")).to_have_text("No delivered deliveries.")
        failed.release()
        answered(page, "status=failed")
        expect(page.locator("#deliveries-empty")).to_be_visible()
        expect(page.locator("#deliveries-body tr")).to_have_count(0)
        page.close()
    finally:
        for hook_id in (first_id, second_id):
            client.delete(f"/v1/webhooks/{hook_id}")


def test_an_editor_open_on_one_key_survives_another_keys_save(browser: Browser, service: InProcessService,
                                                             dash: User, client: ApiClient) -> None:
    """The keys table is drawn again after each action: a Rename opened on one key while another key's rate limit was
    being saved was closed by it, the name typed lost, and a rate limit typed (not yet saved) in its row put back."""
    other = client.post("/v1/keys", json={"name": "other key"}).json()["key"]["key_id"]
    mine = next(k for k in client.get("/v1/keys").json()["keys"] if k["key_id"] != other and not k["revoked"])
    page = open_at(browser, service, dash, "/keys")
    saving = Holder()
    page.route("**/v1/keys/*", lambda route: saving(route) if route.request.method == "PATCH" else route.continue_())
    mine_row = page.locator(f"tr[data-key-id='{mine['key_id']}']")
    other_row = page.locator(f"tr[data-key-id='{other}']")
    mine_row.locator("input.limit").fill("42")
    mine_row.locator("[data-action='save-limit']").click()
    saving.wait(page)
    other_row.locator("input.limit").fill("7")
    other_row.locator("[data-action='rename']").click()
    name = other_row.locator("input[data-field='name']")
    expect(name).to_have_value("other key")  # opened by a click: the key's name, selected to type over
    expect(name).to_be_focused()
    name.fill("renamed while the other saved")
    saving.release()
    expect(page.locator("#toasts")).to_contain_text("Rate limit saved")
    answered(page, "/v1/keys", 2)
    expect(mine_row.locator("input.limit")).to_have_value("42")
    expect(name).to_have_value("renamed while the other saved")
    expect(name).to_be_focused()
    expect(other_row.locator("input.limit")).to_have_value("7")
    shot(page, "async-keys-editor-kept")
    name.press("Enter")  # and it saves as before, the editor then gone
    expect(other_row.locator("td.name")).to_contain_text("renamed while the other saved")
    expect(other_row.locator("input[data-field='name']")).to_have_count(0)
    page.close()


class PretendRunning:
    """A route that answers the job (alone or in a list) as still running while `running`, though the real one has
    completed; the real answers once `running` is cleared."""

    def __init__(self, job_id: str) -> None:
        self.job_id = job_id
        self.running = True

    def __call__(self, route: Route) -> None:
        if not self.running:
            route.continue_()
            return
        response = route.fetch()
        body = response.json()
        for job in body.get("jobs", [body]):
            if job.get("job_id") == self.job_id:
                job.update(status="running", formats=[], metrics=None)
        route.fulfill(response=response, body=json.dumps(body))


@pytest.mark.parametrize("where", ["job page", "jobs list"])
def test_the_cancel_question_closes_when_the_job_completes_meanwhile(browser: Browser, service: InProcessService,
                                                                     dash: User, client: ApiClient, where: str) -> None:
    """Cancel's question stayed open over a job that completed while it was asked (the page's poll drew the
    results behind it); "Cancel job" then got the API's refusal. It closes, and the page says why."""
    job_id = client.wait_for(client.predict(name="ends while asked").json()["job_id"])["job_id"]
    pretend = PretendRunning(job_id)
    on_job_page = where == "job page"
    page = open_at(browser, service, dash, f"/jobs/{job_id}" if on_job_page else "/jobs",
                   lambda p: p.route(f"**/v1/jobs/{job_id}" if on_job_page else "**/v1/jobs?*", pretend))
    page.locator("#cancel-job" if on_job_page else f"tr[data-job-id='{job_id}'] [data-action='cancel']").click()
    dialog = page.locator("dialog.modal")
    expect(dialog).to_be_visible()
    expect(dialog.locator("[data-dismiss]")).to_have_text("Keep it")  # not "Cancel" beside "Cancel job"
    pretend.running = False  # the next poll sees it completed
    expect(dialog).to_have_count(0)
    expect(page.locator("#toasts")).to_contain_text("completed meanwhile: there is nothing to cancel")
    if on_job_page:
        expect(page.locator("#downloads")).to_be_visible()
    else:  # the question's opener went with the old row: the keyboard goes on from the new row's Open
        expect(page.locator(f"tr[data-job-id='{job_id}'] a.btn")).to_be_focused()
    page.close()


def test_a_poll_answered_after_cancel_does_not_bring_the_running_card_back(browser: Browser, service: InProcessService,
                                                                          dash: User, client: ApiClient) -> None:
    """A poll on its way when Cancel was confirmed answered "running" after Cancel's own poll had drawn "Cancelled":
    the status card and its Cancel button were drawn again over it, until the next poll."""
    from jobservice.memory_inference import Slow

    service.settle()
    service.inference.script("esmfold", Slow(120))
    job_id = client.predict(name="cancelled mid-poll").json()["job_id"]
    client.wait_for(job_id, ("running",))
    late = Late(armed=False)
    page = open_at(browser, service, dash, f"/jobs/{job_id}", lambda p: p.route(f"**/v1/jobs/{job_id}", late))
    try:
        expect(page.locator("#status-card")).to_be_visible()
        late.armed = True
        late.wait(page)  # the timer's poll: answered now (running), handed over after Cancel
        page.locator("#cancel-job").click()
        page.locator("dialog.modal [data-confirm]").click()
        expect(page.locator("#job-cancelled")).to_be_visible()
        late.deliver()
        answered(page, f"/v1/jobs/{job_id}", 4)  # the first load, the cancel, Cancel's poll, the late one
        # Read at once, not waited for: the next poll (1.5 s on) drew "Cancelled" again.
        assert page.locator("#status-card").count() == 0
        assert page.locator("#job-cancelled").count() == 1
    finally:  # a failure leaves no job running for the module's next test (its settle())
        page.close()
        client.post(f"/v1/jobs/{job_id}/cancel")


@pytest.mark.parametrize("where", ["job page", "jobs list"])
def test_delete_pressed_again_while_the_first_is_sent_asks_nothing_twice(
        browser: Browser, service: InProcessService, dash: User, client: ApiClient, where: str) -> None:
    """After "Delete" was confirmed, its button stayed enabled while the request went: pressed again it asked again
    and sent the DELETE twice (the second refused: 404), on the job's page and in the jobs list's bulk bar (whose
    buttons the live refresh drew again, enabled, meanwhile)."""
    name = f"deleted once from the {where}"
    job_id = client.wait_for(client.predict(name=name).json()["job_id"])["job_id"]
    on_job_page = where == "job page"
    page = open_at(browser, service, dash, f"/jobs/{job_id}" if on_job_page else f"/jobs?name={name}")
    deleting = Holder()
    page.route(f"**/v1/jobs/{job_id}", lambda route: deleting(route) if route.request.method == "DELETE"
               else route.continue_())
    if on_job_page:
        button = page.locator("#delete-job")
    else:
        page.locator(f"tr[data-job-id='{job_id}'] input.pick").check()
        button = page.locator("#bulk-delete")
    button.click()
    page.locator("dialog.modal [data-confirm]").click()
    deleting.wait(page)
    expect(button).to_be_disabled()
    assert page.locator("dialog.modal").count() == 0
    deleting.release()
    if on_job_page:
        page.wait_for_url("**/jobs")
    else:
        expect(page.locator("#toasts")).to_contain_text("Deleted 1 job")
        expect(page.locator(f"tr[data-job-id='{job_id}']")).to_have_count(0)
    assert client.get(f"/v1/jobs/{job_id}").status_code == 404
    page.close()


def test_a_test_event_sent_while_the_list_is_drawn_again_shows_its_answer(
        browser: Browser, service: InProcessService, dash: User, client: ApiClient) -> None:
    """"Send test" pressed, then a webhook added before the receiver answered: the list was drawn again, the answer
    went to the row drawn before (gone), and the new row said "Never tested" with its Send test enabled."""
    hook_id = client.post("/v1/webhooks", json={"url": "http://127.0.0.1:9/tested",
                                                "events": ["job.completed"]}).json()["webhook"]["webhook_id"]
    try:
        page = open_at(browser, service, dash, "/webhooks")
        sending = Holder()
        page.route(f"**/v1/webhooks/{hook_id}/test", sending)
        row = page.locator(f"tr[data-webhook-id='{hook_id}']")
        row.locator("[data-action='test']").click()
        sending.wait(page)
        page.fill("#webhook-url", "http://127.0.0.1:9/added-meanwhile")
        page.locator("#webhook-add").click()
        expect(page.locator("#webhooks-table tbody tr")).to_have_count(2)
        expect(row.locator(".test-result")).to_have_text("Sending…")
        expect(row.locator("[data-action='test']")).to_be_disabled()
        sending.release()
        expect(row.locator(".test-result [data-status-code]")).to_have_text("unreachable")
        expect(row.locator("[data-action='test']")).to_be_enabled()
        page.close()
    finally:
        for hook in client.get("/v1/webhooks").json()["webhooks"]:
            client.delete(f"/v1/webhooks/{hook['webhook_id']}")


def test_browsers_a_password_change_signed_out_stay_off_the_list(browser: Browser, service: InProcessService) -> None:
    """The account page's list of signed-in browsers, asked as the page opened, came after the list a password change
    asked for (a slow network): it drew the browsers the change had just signed out, each with its Sign out."""
    person = make_user(service, "dashpassword")  # type: ignore[arg-type]
    elsewhere = sign_in(browser, service, person)  # type: ignore[arg-type]
    page = sign_in(browser, service, person)  # type: ignore[arg-type]
    page.add_init_script(ANSWERED)
    late = Late()
    page.route("**/auth/sessions", late)
    page.goto(f"{service.base_url}/account")
    late.wait(page)  # the page's first list: both browsers
    page.fill("#password-current", person.password)
    page.fill("#password-new", "another long passphrase")
    page.fill("#password-again", "another long passphrase")
    page.locator("#password-change").click()
    expect(page.locator("#password-changed")).to_contain_text("Your other session was signed out")
    expect(page.locator("#sessions-list li")).to_have_count(1)
    late.deliver()
    answered(page, "/auth/sessions", 2)
    assert page.locator("#sessions-list li").count() == 1
    page.context.close()
    elsewhere.context.close()


def test_a_link_created_before_the_share_list_loaded_stays_listed(browser: Browser, service: InProcessService,
                                                                  dash: User, client: ApiClient) -> None:
    """Create link works before the panel's list of links has loaded: that first list, slow to come, drew "No working
    links" over the list the new link's Create had read, under the link just made."""
    job_id = client.wait_for(client.predict(name="shared at once").json()["job_id"])["job_id"]
    late = Late()
    page = open_at(browser, service, dash, f"/jobs/{job_id}", lambda p: p.route(
        f"**/v1/jobs/{job_id}/shares", lambda route: late(route) if route.request.method == "GET" else route.continue_()))
    page.get_by_role("button", name="Share", exact=True).click()
    late.wait(page)  # the panel's first list: no link yet
    page.locator("#share-create").click()
    expect(page.locator("#share-url")).to_be_visible()
    expect(page.locator("#share-links tbody tr")).to_have_count(1)
    late.deliver()
    answered(page, "/shares", 3)  # the Create, its list, the first list
    assert page.locator("#share-links tbody tr").count() == 1
    assert page.locator("#share-none").count() == 0
    page.close()


@pytest.mark.parametrize("what", ["key", "webhook"])
def test_a_revoke_or_delete_confirmed_is_disabled_while_it_is_sent(browser: Browser, service: InProcessService,
                                                                   dash: User, client: ApiClient, what: str) -> None:
    """A key's Revoke and a webhook's Delete stayed enabled while their request went: pressed again, they asked again
    and sent it twice (the second refused)."""
    if what == "key":
        target = client.post("/v1/keys", json={"name": "revoked once"}).json()["key"]["key_id"]
        path, request, row = "/keys", f"**/v1/keys/{target}/revoke", f"tr[data-key-id='{target}']"
        button = "[data-action='revoke']"
    else:
        target = client.post("/v1/webhooks", json={"url": "http://127.0.0.1:9/deleted-once",
                                                   "events": ["job.completed"]}).json()["webhook"]["webhook_id"]
        path, request, row = "/webhooks", f"**/v1/webhooks/{target}", f"tr[data-webhook-id='{target}']"
        button = "[data-action='delete']"
    page = open_at(browser, service, dash, path)
    sending = Holder()
    page.route(request, lambda route: sending(route) if route.request.method in ("POST", "DELETE") else route.continue_())
    page.locator(f"{row} {button}").click()
    page.locator("dialog.modal [data-confirm]").click()
    sending.wait(page)
    expect(page.locator(f"{row} {button}")).to_be_disabled()
    sending.release()
    if what == "key":
        expect(page.locator(row)).to_have_attribute("data-revoked", "true")
    else:
        expect(page.locator(row)).to_have_count(0)
    expect(page.locator("#toasts")).not_to_contain_text("not found")
    page.close()


@pytest.mark.parametrize("where", ["job page", "jobs list"])
def test_cancel_pressed_again_while_the_first_is_sent_asks_nothing(browser: Browser, service: InProcessService,
                                                                   dash: User, client: ApiClient, where: str) -> None:
    """Cancel, once confirmed, stayed available while its request went (and the jobs list's refresh drew it again):
    pressed again it asked again, and the second cancel got the API's 409. It is marked unavailable (aria-disabled,
    so the keyboard's focus stays on it and goes on to "Cancelled" after)."""
    from jobservice.memory_inference import Slow

    service.settle()
    service.inference.script("esmfold", Slow(120))
    job_id = client.predict(name=f"cancelled once from the {where}").json()["job_id"]
    client.wait_for(job_id, ("running",))
    on_job_page = where == "job page"
    page = open_at(browser, service, dash, f"/jobs/{job_id}" if on_job_page else f"/jobs?name=cancelled once from the {where}")
    sending = Holder()
    page.route(f"**/v1/jobs/{job_id}/cancel", sending)
    try:
        cancel = page.locator("#cancel-job" if on_job_page else f"tr[data-job-id='{job_id}'] [data-action='cancel']")
        cancel.click()
        page.locator("dialog.modal [data-confirm]").click()
        sending.wait(page)
        expect(cancel).to_have_attribute("aria-disabled", "true")
        cancel.click(force=True)  # force: Playwright waits for an aria-disabled button to be enabled
        assert page.locator("dialog.modal").count() == 0
        sending.release()
        if on_job_page:
            expect(page.locator("#job-cancelled")).to_be_visible()
        else:
            expect(page.locator(f"tr[data-job-id='{job_id}'] [data-status]")).to_have_attribute("data-status", "cancelled")
        # Read until the API answers with the job (CI once got a body without `status` here: an error answer,
        # likely the key's rate limit after the module's polling); it must be cancelled, by the one request.
        assert client.wait_for(job_id, timeout_s=30)["status"] == "cancelled"
    finally:  # a failure leaves no job running for the module's next test (its settle())
        sending.release()
        page.close()
        client.post(f"/v1/jobs/{job_id}/cancel")


def test_a_download_refused_for_the_downloads_in_progress_is_asked_again(browser: Browser,
                                                                          service: InProcessService) -> None:
    """A job page's files answered 429 (the downloads in progress from this address: several people behind one NAT)
    are asked again after Retry-After, and the page shows the results. Was: "Could not load the results: Too many
    downloads in progress from your address" on the first refusal."""
    dash = make_user(service, "refusedonce")  # type: ignore[arg-type]  # its own account (a whole-suite run: the module key's minute or credits were spent)
    client = service.client(dash.api_key)
    service.settle()
    answer = client.predict(name="refused once").json()
    assert "job_id" in answer, answer
    job_id = client.wait_for(answer["job_id"])["job_id"]
    asked: list[str] = []

    def refuse_first(route: Route) -> None:
        fmt = re.search(r"format=([a-z_]+)", route.request.url)
        name = fmt.group(1) if fmt else "?"
        asked.append(name)
        if asked.count(name) == 1:
            route.fulfill(status=429, headers={"Retry-After": "1", "Content-Type": "application/json"},
                          body=json.dumps({"error": "Rate limit exceeded", "message": "Too many downloads in progress "
                                           "from your address (16 at once); wait for one to finish"}))
        else:
            route.continue_()

    page = open_at(browser, service, dash, f"/jobs/{job_id}", lambda p: p.route("**/download?format=*", refuse_first))
    try:
        expect(page.locator("#downloads")).to_be_visible()
        wait_until(lambda: any(asked.count(name) >= 2 for name in asked), timeout_s=15)
        expect(page.locator("#results-error")).to_have_count(0)
    finally:
        page.close()
