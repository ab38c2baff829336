"""What a newcomer met walking the README's first steps on the dashboard (a job service on the inference twin,
ESMFold and DiffDock): DiffDock's ligand box showed aspirin's SMILES in grey, read as a ligand already given, and
Submit then answered "DiffDock needs a ligand ... (or put the SMILES in sequence)" under it, naming a box the form
does not have (its tab had no "Use an example" as the others have); a webhook's "Send test" answered "HTTP 204
Receiver answered HTTP 204", the badge said twice, where a reload says when ("HTTP 204 just now"); the Account
page's password form had no username field, so Chrome warned and a password manager could not file the new password
under the account; and the 3D viewer's buttons lay over its top right corner, where "Whole complex" hid a docking pose
that tiny random weights put far out (the fit fills the canvas to its edges)."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Browser, ConsoleMessage, expect

from tests.dashboard.pages_helpers import User, in_process_service, make_user, shot, signed_in
from tests.support import InProcessService, WebhookReceiver

pytestmark = pytest.mark.e2e

RECEPTOR = Path(__file__).parents[1] / "diffdock" / "data" / "receptor_small.pdb"
ASPIRIN = "CC(=O)Oc1ccccc1C(=O)O"

service = in_process_service("newcomer", {"PHONOS_MODELS": "esmfold,diffdock"})


@pytest.fixture(scope="module")
def nell(service: InProcessService) -> User:
    return make_user(service, "nell")  # type: ignore[arg-type]


def test_the_docking_form_has_an_example_ligand_and_no_ligand_in_grey(browser: Browser, service: InProcessService,
                                                                       nell: User) -> None:
    page = signed_in(browser, service, nell)  # type: ignore[arg-type]
    page.goto(f"{service.base_url}/submit?model=diffdock")
    ligand = page.locator("#f-ligand_smiles")
    expect(ligand).to_have_value("")
    placeholder = ligand.get_attribute("placeholder") or ""
    assert " " in placeholder and "(" not in placeholder, f"the placeholder reads as a SMILES: {placeholder!r}"
    page.set_input_files("#f-protein_pdb-file", str(RECEPTOR))  # no fold yet: the upload is the receptor chosen
    expect(page.locator("#receptor-from-file")).to_be_checked()

    page.click("#submit-job")  # no ligand: the API's word, in the form's, under the box
    error = page.locator("#error-ligand_smiles")
    expect(error).to_contain_text("DiffDock needs a ligand")
    expect(error).to_contain_text("“Ligand (SMILES)”")
    assert "sequence" not in error.inner_text(), error.inner_text()  # no such box here
    shot(page, "95-newcomer-docking-no-ligand")

    page.click("#use-example")
    expect(ligand).to_have_value(ASPIRIN)
    expect(ligand).to_be_focused()
    page.click("#submit-job")
    page.wait_for_url("**/jobs/*")
    job_id = page.url.rsplit("/", 1)[1]
    stored = service.client(nell.api_key).get(f"/v1/jobs/{job_id}/input").json()
    assert (stored["model"], stored["params"]["ligand_smiles"]) == ("diffdock", ASPIRIN)
    page.close()


def test_a_passing_webhook_test_says_when_not_the_badge_again(browser: Browser, service: InProcessService,
                                                             nell: User) -> None:
    client = service.client(nell.api_key)
    with WebhookReceiver([200, 503]) as receiver:
        hook = client.post("/v1/webhooks", json={"url": receiver.url}).json()["webhook"]
        for width in (1440, 375):
            page = signed_in(browser, service, nell, width=width)  # type: ignore[arg-type]
            page.goto(f"{service.base_url}/webhooks")
            row = page.locator(f"#webhooks-table tr[data-webhook-id='{hook['webhook_id']}']")
            cell = row.locator("td.test-result")
            row.get_by_role("button", name="Send test").click()
            if width == 1440:  # the 200: the badge, then when, as after a reload
                expect(cell.locator("[data-status-code]")).to_have_text("HTTP 200")
                expect(cell.locator("time")).to_have_text("just now")
                assert "Receiver answered" not in cell.inner_text(), cell.inner_text()
                page.reload()
                expect(cell.locator("time")).to_have_text("just now")
            else:  # the 503: what was expected stays said
                expect(cell.locator("[data-status-code]")).to_have_text("HTTP 503")
                expect(cell).to_contain_text("Receiver answered HTTP 503 (expected 2xx)")
            shot(page, f"96-newcomer-webhook-test-{width}")
            page.close()


def test_the_password_form_names_the_account_for_password_managers(browser: Browser, service: InProcessService,
                                                                   nell: User) -> None:
    page = signed_in(browser, service, nell)  # type: ignore[arg-type]
    said: list[str] = []

    def hear(message: ConsoleMessage) -> None:
        said.append(message.text)

    page.on("console", hear)
    page.goto(f"{service.base_url}/account")
    form = page.locator("#password-form")
    expect(form.locator("#password-current")).to_be_visible()
    name = form.locator("input[autocomplete=username]")
    expect(name).to_have_value(nell.username)
    expect(name).to_be_hidden()  # nothing to see or type: the account is the signed-in one
    assert name.evaluate("(e) => e.readOnly && e.tabIndex === -1")
    page.wait_for_load_state("networkidle")
    assert not [m for m in said if "Password forms should have" in m], said
    page.close()


# The viewer card as the job page builds it (pages/job.js: the canvas's box, then its buttons, then a note).
VIEWER_CARD = """([labels]) => {
    document.getElementById('viewer-card-test')?.remove();
    const el = (tag, cls) => { const e = document.createElement(tag); if (cls) e.className = cls; return e; };
    const card = el('div', 'card viewer-card');
    card.id = 'viewer-card-test';
    const body = el('div', 'card-body');
    const viewer = el('div', 'viewer');
    const tools = el('div', 'viewer-tools');
    for (const label of labels) { const b = el('button', 'btn small'); b.textContent = label; tools.append(b); }
    const note = el('div', 'small muted');
    note.id = 'viewer-note';
    note.textContent = 'Shown as sticks';
    body.append(tools, viewer, note);
    card.append(body);
    document.getElementById('main').append(card);
    const box = (e) => e.getBoundingClientRect().toJSON();
    return {viewer: box(viewer), buttons: [...tools.children].map(box), note: box(note),
            order: [...body.children].map((e) => e.className)};
}"""


def test_the_viewers_buttons_sit_above_it_not_over_the_structure(browser: Browser, service: InProcessService,
                                                                 nell: User) -> None:
    page = signed_in(browser, service, nell)  # type: ignore[arg-type]
    page.locator("#main").wait_for()  # the shell builds it after the page's load event (CI: null on a busy host)
    for width in (1440, 375):
        page.set_viewport_size({"width": width, "height": 900})
        for labels in (["Cartoon", "Sticks", "Spin", "Reset"], ["Ligand", "Whole complex"]):
            drawn = page.evaluate(VIEWER_CARD, [labels])
            viewer = drawn["viewer"]
            assert viewer["height"] > 300, drawn
            for button in drawn["buttons"]:
                assert button["bottom"] <= viewer["top"] + 0.5, f"{width} px: {labels} over the viewer: {drawn}"
                assert viewer["left"] <= button["left"] and button["right"] <= viewer["right"], drawn
            assert drawn["note"]["top"] >= viewer["bottom"] - 0.5, drawn  # the note stays under it
            # The keyboard's order is the document's, as shown: the buttons, then the viewer.
            assert drawn["order"] == ["viewer-tools", "viewer", "small muted"], drawn
        shot(page, f"97-newcomer-viewer-buttons-{width}", full_page=False)
    page.close()
