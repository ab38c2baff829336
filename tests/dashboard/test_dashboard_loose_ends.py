"""The dashboard's loose ends after its async redraws were fixed: a usage period whose report failed said nothing (an
unhandled rejection) under the new period's button with the old figures; "Sign out everywhere" and a share link's
Revoke stayed pressable while their request went (a second press asked again and got an error); two quick arrow keys
on the New job page's model tabs left the focus off the selected tab. Then what a look at every page at 1440 px and
375 px found: "Length 0 residues" for a job whose files cannot be read, a share link's guest told to run the job
again, lower-case metadata labels in Provenance, DiffDock's pocket example cut on a phone, a 404 page that said
neither which address nor why, a Share button that looked the same open or shut, the usage period in the API’s dates,
model names set as code and a docking job’s unknown ligand as a bare "-". A job service on the inference twin, in
this module alone."""

from __future__ import annotations

import re
from datetime import date

import pytest
from playwright.sync_api import Browser, expect

from tests.dashboard.pages_helpers import User, Watched, in_process_service, make_user, shot, sign_in
from tests.dashboard.test_dashboard_async_redraws import Holder, answered, open_at
from tests.support import REPO, ApiClient, InProcessService

pytestmark = pytest.mark.e2e

service = in_process_service("loose-ends", {"PHONOS_MODELS": "esmfold,alphafold2,diffdock"})
UNAVAILABLE = '{"error": "Service Unavailable", "message": "The job service is restarting: try again in a minute."}'


@pytest.fixture(scope="module")
def loose(service: InProcessService) -> User:
    return make_user(service, "looseends")  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def client(service: InProcessService, loose: User) -> ApiClient:
    return service.client(loose.api_key)


def test_a_usage_period_whose_report_fails_says_so_with_a_way_to_try_again(
        browser: Browser, service: InProcessService, loose: User, client: ApiClient) -> None:
    """7 days pressed while the job service restarted (a 503): the page said nothing (an unhandled rejection in the
    console) and the 30 days' figures stayed under the 7 days button. The figures go, a notice says why, and its
    "Try again" asks again; the focus goes on to the period's button, the notice's button being gone."""
    period = client.get("/v1/usage", params={"days": 7}).json()["period"]
    start, end = date.fromisoformat(period["start_date"]), date.fromisoformat(period["end_date"])
    watched = Watched()
    page = open_at(browser, service, loose, "/usage")
    page.on("pageerror", lambda e: watched.errors.append(f"pageerror: {e}"))
    expect(page.locator(".stat .note").first).to_contain_text("API calls")
    page.route("**/v1/usage?days=7", lambda route: route.fulfill(status=503, content_type="application/json",
                                                                 body=UNAVAILABLE))
    page.locator("[data-days='7']").click()
    failed = page.locator("#usage-failed")
    expect(failed).to_contain_text("The usage of the last 7 days could not load")
    expect(failed).to_contain_text("The job service is restarting")
    expect(page.locator(".stat")).to_have_count(0)  # not the 30 days' figures under "7 days"
    expect(page.locator("#usage-csv")).to_be_disabled()
    expect(page.locator("[data-days='7']")).to_have_attribute("aria-pressed", "true")
    shot(page, "loose-usage-failed", full_page=False)
    page.set_viewport_size({"width": 375, "height": 800})
    box = failed.bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 375, box
    shot(page, "loose-usage-failed-375", full_page=False)
    page.set_viewport_size({"width": 1440, "height": 960})
    page.unroute("**/v1/usage?days=7")
    page.locator("#usage-retry").focus()
    page.keyboard.press("Enter")
    # The period in the dashboard's dates, as the charts' axes below it ("3 Nov"), not the API's "2026-11-03".
    expect(page.locator(".stat .note").first).to_contain_text(re.compile(  # Chromium writes September "Sept"
        rf"API calls {start.day} {start:%b}t? {start.year} to {end.day} {end:%b}t? {end.year} \(a batch of jobs is one\)"))
    expect(failed).to_have_count(0)
    expect(page.locator("#usage-csv")).to_be_enabled()
    expect(page.locator("[data-days='7']")).to_be_focused()
    assert watched.problems() == []
    page.close()


def test_sign_out_everywhere_is_disabled_while_it_is_sent(browser: Browser, service: InProcessService) -> None:
    """Confirmed, it stayed pressable while the request went: a second press asked again and got an error toast."""
    user = make_user(service, "looseout")  # type: ignore[arg-type]
    page = sign_in(browser, service, user)
    page.goto(f"{service.base_url}/account")
    sending = Holder()
    page.route("**/auth/sign-out", sending)
    button = page.locator("#sign-out-all")
    button.click()
    page.locator("dialog.modal [data-confirm]").click()
    sending.wait(page)
    expect(button).to_be_disabled()
    sending.release()
    page.wait_for_url("**/sign-in?signed_out=everywhere")  # and it says so: a bare sign-in form read as nothing done
    expect(page.locator("#signed-out-everywhere")).to_contain_text("Every dashboard session of this account has ended")
    shot(page, "loose-signed-out-everywhere")
    page.context.close()


def test_a_share_links_revoke_is_disabled_while_it_is_sent(browser: Browser, service: InProcessService, loose: User,
                                                           client: ApiClient) -> None:
    """Confirmed, a link's Revoke stayed pressable while the request went: a second press asked again and its DELETE
    got a "not found" toast."""
    job_id = client.wait_for(client.predict(name="shared then revoked").json()["job_id"])["job_id"]
    share_id = client.post(f"/v1/jobs/{job_id}/shares", json={}).json()["share"]["share_id"]
    page = open_at(browser, service, loose, f"/jobs/{job_id}")
    page.get_by_role("button", name="Share", exact=True).click()
    # The Share button looks pressed while its panel is open (it looked the same open or shut).
    share = page.locator("#share-job")
    expect(share).to_have_attribute("aria-expanded", "true")
    page.mouse.move(0, 0)  # not hovered: its resting look
    open_look = share.evaluate("(b) => getComputedStyle(b).backgroundColor")
    share.click()
    expect(share).to_have_attribute("aria-expanded", "false")
    page.mouse.move(0, 0)
    assert share.evaluate("(b) => getComputedStyle(b).backgroundColor") != open_look
    share.click()
    revoke = page.locator(f"[data-revoke='{share_id}']")
    sending = Holder()
    page.route(f"**/shares/{share_id}", lambda route: sending(route) if route.request.method == "DELETE"
               else route.continue_())
    revoke.click()
    page.locator("dialog.modal [data-confirm]").click()
    sending.wait(page)
    expect(revoke).to_be_disabled()
    sending.release()
    expect(page.locator("#share-none")).to_be_visible()
    expect(page.locator("#toasts")).to_contain_text("Link revoked")
    expect(page.locator("#toasts")).not_to_contain_text("not found")
    page.close()


def test_two_quick_arrow_keys_on_the_model_tabs_leave_the_focus_on_the_selected_tab(
        browser: Browser, service: InProcessService, loose: User) -> None:
    """The focus went to a tab once that tab's form came: DiffDock's form (it waits for the account's structures)
    superseded by AlphaFold2 meanwhile took the focus to the DiffDock tab, no longer selected; and until a form came
    the focus had fallen to the page, where the second arrow key went nowhere."""
    page = open_at(browser, service, loose, "/submit?model=esmfold")
    expect(page.locator("#form-esmfold")).to_be_visible()
    structures = Holder()
    page.route("**/v1/jobs?*", structures)
    page.locator("#tab-esmfold").focus()
    page.keyboard.press("ArrowLeft")  # round to DiffDock, whose form waits for the structures (held)
    structures.wait(page, 2)
    expect(page.locator("#tab-diffdock")).to_be_focused()
    page.keyboard.press("ArrowLeft")  # on to AlphaFold2 before DiffDock's form came
    expect(page.locator("#tab-alphafold2")).to_have_attribute("aria-selected", "true")
    expect(page.locator("#form-alphafold2")).to_be_visible()
    structures.release()
    answered(page, "/v1/jobs?", 2)
    expect(page.locator("#tab-alphafold2")).to_be_focused()
    expect(page.locator("#form-diffdock")).to_have_count(0)
    page.close()



# ---- what a look at every page found ------------------------------------------------------------------------------

def test_a_job_whose_files_cannot_be_read_says_its_length_is_not_known_and_a_guest_is_not_told_to_run_it(
        browser: Browser, service: InProcessService, loose: User, client: ApiClient) -> None:
    """With neither the scores nor the structure readable (the twin's placeholder files), the page said "Length 0
    residues", a length the job never had, beside "Mean pLDDT - not known". On a share link's page the reader, who
    has no account, was told to "run the job again". The Provenance card's metadata keys ("weights") were the only
    lower-case labels under its "Job id" and "Submitted"."""
    job_id = client.wait_for(client.predict(name="unreadable files").json()["job_id"])["job_id"]
    url = client.post(f"/v1/jobs/{job_id}/shares", json={}).json()["url"]
    page = open_at(browser, service, loose, f"/jobs/{job_id}")
    expect(page.locator("#structure-unreadable")).to_be_visible()
    expect(page.locator("#metric-length .value")).to_have_text("-")
    expect(page.locator("#metric-length .note")).to_have_text("not known")
    expect(page.locator("#inputs dd").last).to_have_text("Not known")
    expect(page.locator("#scores-unreadable")).to_contain_text("run the job again")
    weights = page.locator("#provenance dt", has_text="weights")
    expect(weights).to_have_count(1)
    assert weights.evaluate("(dt) => getComputedStyle(dt, '::first-letter').textTransform") == "uppercase"
    shot(page, "loose-job-unreadable-length", full_page=False)
    page.close()
    guest = browser.new_page()
    guest.goto(f"{service.base_url}{url}")
    expect(guest.locator("#scores-unreadable")).to_contain_text("whoever shared the job can run it again")
    expect(guest.locator("#scores-unreadable")).not_to_contain_text("; run the job again")
    expect(guest.locator("#metric-length .note")).to_have_text("not known")
    guest.close()


def test_the_pocket_example_fits_its_box_on_a_phone(browser: Browser, service: InProcessService, loose: User) -> None:
    """DiffDock's pocket box showed "A:45,A:48  or  12.5, -3" on a phone, its example cut beside the radius."""
    page = open_at(browser, service, loose, "/submit?model=diffdock")
    page.set_viewport_size({"width": 375, "height": 800})
    for box in (page.locator("#f-pocket"), page.locator("#f-pocket-radius")):
        text_width, room = box.evaluate("""(box) => {
            const style = getComputedStyle(box);
            const context = document.createElement('canvas').getContext('2d');
            context.font = `${style.fontWeight} ${style.fontSize} ${style.fontFamily}`;
            return [context.measureText(box.placeholder).width,
                    box.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight)
                    - (box.type === 'number' ? 16 : 0)];  // 16: a number box's spin buttons
        }""")
        assert text_width <= room, (box.get_attribute("placeholder"), text_width, room)
    page.locator("#f-pocket").scroll_into_view_if_needed()
    shot(page, "loose-submit-pocket-375", full_page=False)
    page.close()


def test_the_not_found_page_says_which_address_and_why(browser: Browser, service: InProcessService,
                                                       loose: User) -> None:
    """It said only "There is nothing here": not which address was not found, nor why, where a share link's
    missing page says both."""
    page = open_at(browser, service, loose, "/jobz/recent")
    card = page.locator("#not-found")
    expect(card).to_contain_text("There is nothing here")
    expect(card).to_contain_text("No dashboard page has the address /jobz/recent: it may be mistyped")
    expect(card.get_by_role("link", name="Go to jobs")).to_be_visible()
    shot(page, "loose-not-found", full_page=False)
    page.close()


def test_usage_writes_model_names_in_the_pages_type_and_endpoints_as_code(
        browser: Browser, service: InProcessService, loose: User, client: ApiClient) -> None:
    """"ESMFold · 40 credits" in Jobs by model was set in the monospace type of the endpoints below it
    ("/v1/jobs/{job_id}"), as if it were code; a model's name is in the page's type everywhere else."""
    client.wait_for(client.predict(name="counted by model").json()["job_id"])
    page = open_at(browser, service, loose, "/usage")
    model = page.locator("#by-model .item > :first-child").first
    expect(model).to_contain_text("ESMFold · ")
    endpoint = page.locator("#by-endpoint .item > :first-child").first
    font = "(e) => getComputedStyle(e).fontFamily"
    assert model.evaluate(font) == page.locator("main h1").evaluate(font)
    assert endpoint.evaluate(font) != model.evaluate(font)  # endpoints stay code
    page.close()


def test_a_docking_job_whose_report_cannot_be_read_says_its_ligand_is_not_known(
        browser: Browser, service: InProcessService, loose: User, client: ApiClient) -> None:
    """With the report damaged (the twin's placeholder), the Ligand card showed a bare small "-" with nothing under
    it, and the Input card "Ligand -", beside "Mean pLDDT - not known" on a structure's page. The owner's page names
    the ligand from the job's stored request now (GET /v1/jobs/{id}/input); with that unreadable too, "not known"."""
    receptor = (REPO / "tests" / "diffdock" / "data" / "receptor_small.pdb").read_text()
    answer = client.post("/v1/predict", json={"model": "diffdock", "sequence": "CC(=O)Oc1ccccc1C(=O)O",
                                               "name": "ligand not known", "params": {"protein_pdb": receptor}})
    job_id = client.wait_for(answer.json()["job_id"])["job_id"]
    page = open_at(browser, service, loose, f"/jobs/{job_id}")
    expect(page.locator("#scores-unreadable")).to_be_visible()
    expect(page.locator("#metric-ligand .value")).to_have_text("CC(=O)Oc1ccccc1C(=O)O")
    expect(page.locator("#inputs dd").first).to_have_text("CC(=O)Oc1ccccc1C(=O)O")
    page.route(f"**/v1/jobs/{job_id}/input", lambda route: route.fulfill(status=503, content_type="application/json",
                                                                        body='{"error": "Unavailable", "message": "x"}'))
    page.reload()
    expect(page.locator("#scores-unreadable")).to_be_visible()
    expect(page.locator("#metric-ligand .value")).to_have_text("-")
    expect(page.locator("#metric-ligand .note")).to_have_text("not known")
    expect(page.locator("#inputs dd").first).to_have_text("Not known")
    page.close()
