"""The dashboard's last loose ends: the note under a new webhook's secret told only of `v1=` (the service signs the
delivery id with `v2=` too, which stops a replay under another id); a refund in the credit history read "ESMFold job
failed (model_error)", a program's code; a phone's receptor list cut a long job name's short id; "Dock a ligand"
was offered on a structure with no atoms; the sidebar's subtitle wrapped at 1440 px; DiffDock's confidence said
"unknown" where every other page says "not known". A job service on the inference twin, in this module alone."""

from __future__ import annotations

import json

import pytest
from playwright.sync_api import Browser, Route, expect

from jobservice.memory_inference import Failure
from tests.dashboard.pages_helpers import (
    User,
    Watched,
    in_process_service,
    make_user,
    shot,
    signed_in,
)
from tests.dashboard.test_dashboard_async_redraws import open_at
from tests.support import REPO, ApiClient, InProcessService

pytestmark = pytest.mark.e2e

service = in_process_service("last-ends", {"PHONOS_MODELS": "esmfold,alphafold2,diffdock"})
SEQ = "MKTVRQERLKSIVRILERSKEPV"
PHONE = 375
RECEPTOR = (REPO / "tests" / "diffdock" / "data" / "receptor_small.pdb").read_text()


@pytest.fixture(scope="module")
def lena(service: InProcessService) -> User:
    return make_user(service, "lastends")  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def client(service: InProcessService, lena: User) -> ApiClient:
    return service.client(lena.api_key)


def test_a_new_webhooks_note_recommends_v2_and_names_v1_as_the_older_form(
        browser: Browser, service: InProcessService, lena: User) -> None:
    """It described only `t=…,v1=…`: a receiver built from it never checked the delivery id, so a captured delivery
    sent again under another id passed. It recommends `v2=` now, names `v1=` as the older form and the docs."""
    watched = Watched()
    page = open_at(browser, service, lena, "/webhooks")
    page.on("pageerror", lambda e: watched.errors.append(f"pageerror: {e}"))
    page.fill("#webhook-url", "https://example.org/last-ends-hook")
    page.click("#webhook-add")
    note = page.locator("#secret-callout")
    expect(note).to_contain_text("X-Phonos-Signature")
    text = note.inner_text()
    assert '"<t>.<X-Phonos-Delivery>.<raw body>"' in text, text
    assert "v2=" in text and "v1=" in text and text.index("v2=") < text.index("v1="), text
    assert "older" in text and "another id" in text and "docs/webhooks.md" in text, text
    assert "verify_webhook(…, delivery_id=…)" in text, text
    page.set_viewport_size({"width": PHONE, "height": 800})
    note.scroll_into_view_if_needed()
    # The long code spans wrap in the callout on a phone: no sideways scrolling.
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE
    shot(page, "last-webhook-verify-note-375", full_page=False)
    assert watched.problems() == []
    page.close()


def test_a_refund_in_the_credit_history_says_why_in_words(browser: Browser, service: InProcessService, lena: User,
                                                          client: ApiClient) -> None:
    """"Refunded ESMFold job failed (model_error)": the API's note ends with the job's error code. The page says it in
    words; a code it does not know is still readable (its underscores as spaces), and the note of a submission is
    unchanged."""
    service.settle()
    service.inference.script("esmfold", Failure.MODEL_ERROR)
    job = client.wait_for(client.predict(SEQ, name="crashes in the model").json()["job_id"])
    assert job["status"] == "failed" and job["error_code"] == "model_error"
    page = open_at(browser, service, lena, "/account")
    refund = page.locator(f"#credit-history-body tr[data-kind=refund]:has(a[href='/jobs/{job['job_id']}'])")
    expect(refund.locator("td.why")).to_contain_text("RefundedESMFold job failed in the model")
    expect(refund.locator("td.why")).not_to_contain_text("model_error")

    def unknown_code(route: Route) -> None:
        answer = route.fetch()
        page_json = answer.json()
        entry = dict(page_json["entries"][0], kind="refund", note="alphafold2 job failed (gpu_on_fire)")
        page_json["entries"] = [entry]
        route.fulfill(response=answer, body=json.dumps(page_json))

    page.route("**/v1/account/credits?*", unknown_code)
    page.reload()
    expect(page.locator("#credit-history-body td.why").first).to_contain_text("AlphaFold2 job failed (gpu on fire)")
    page.unroute("**/v1/account/credits?*")
    page.close()


def test_the_receptor_list_shows_each_jobs_short_id_on_a_phone(browser: Browser, service: InProcessService,
                                                               lena: User, client: ApiClient) -> None:
    """A receptor (an earlier structure job) was listed as "<name> · ESMFold · <short id>": at 375 px a long name
    pushed the short id, what tells two runs of one name apart, past the select's edge. The id comes first now."""
    name = "Lysozyme C from hen egg white, relaxed, seed 3, second try"
    job_id = client.wait_for(client.predict(SEQ, name=name).json()["job_id"])["job_id"]
    page = open_at(browser, service, lena, f"/submit?model=diffdock&receptor={job_id}")
    page.set_viewport_size({"width": PHONE, "height": 800})
    select = page.locator("#f-protein_pdb-job")
    expect(select).to_have_value(job_id)
    id_end, room = select.evaluate("""(s, shortId) => {
        const style = getComputedStyle(s);
        const context = document.createElement('canvas').getContext('2d');
        context.font = `${style.fontWeight} ${style.fontSize} ${style.fontFamily}`;
        const text = s.options[s.selectedIndex].text;
        const end = text.indexOf(shortId) + shortId.length;
        return [text.indexOf(shortId) < 0 ? Infinity : context.measureText(text.slice(0, end)).width,
                s.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight) - 20];  // 20: its arrow
    }""", job_id[:8])
    assert id_end <= room, (select.inner_text(), id_end, room)
    expect(select.locator(f"option[value='{job_id}']")).to_have_text(f"{job_id[:8]} · ESMFold · {name}")
    select.scroll_into_view_if_needed()
    shot(page, "last-receptor-list-375", full_page=False)
    page.close()


def test_dock_a_ligand_is_not_offered_for_a_structure_without_atoms(browser: Browser, service: InProcessService,
                                                                    lena: User, client: ApiClient) -> None:
    """The twin's structure file holds no atoms (as a damaged file would): the page said it cannot be drawn, and
    still offered "Dock a ligand to this structure", a docking job bound to fail. A structure with atoms keeps it."""
    job_id = client.wait_for(client.predict(SEQ, name="no atoms").json()["job_id"])["job_id"]
    page = open_at(browser, service, lena, f"/jobs/{job_id}")
    expect(page.locator("#structure-unreadable")).to_be_visible()
    expect(page.locator("#dock-this")).to_have_count(0)
    expect(page.locator("#run-again")).to_be_visible()  # the header's other actions stay
    page.close()

    def real_structure(route: Route) -> None:
        route.fulfill(status=200, content_type="chemical/x-pdb", body=RECEPTOR)

    page = signed_in(browser, service, lena)  # type: ignore[arg-type]
    page.route(f"**/v1/jobs/{job_id}/download?format=pdb*", real_structure)
    page.goto(f"{service.base_url}/jobs/{job_id}")
    expect(page.locator("#viewer")).to_be_visible()
    expect(page.locator("#dock-this")).to_be_visible()
    page.close()


def test_the_sidebar_subtitle_keeps_one_line(browser: Browser, service: InProcessService, lena: User) -> None:
    """"Structure prediction & docking" (169 px in DejaVu Sans) wrapped under the logo in the 232 px sidebar at
    1440 px: two lines beside a one-line name."""
    page = open_at(browser, service, lena, "/jobs")
    tag = page.locator(".side .brand-tag")
    expect(tag).not_to_be_empty()
    lines = tag.evaluate("(e) => Math.round(e.getBoundingClientRect().height / parseFloat(getComputedStyle(e).lineHeight))")
    assert lines == 1, lines
    box, side = tag.bounding_box(), page.locator(".side").bounding_box()
    assert box and side and box["x"] + box["width"] <= side["x"] + side["width"] - 12, (box, side)  # its padding
    page.close()


def test_a_docking_confidence_not_given_is_not_known(browser: Browser, service: InProcessService, lena: User,
                                                     client: ApiClient) -> None:
    """A docking job whose report cannot be read (the twin's placeholder) said its confidence band was "unknown",
    where every other figure the pages lack is "not known" (a structure's mean pLDDT, a ligand)."""
    answer = client.post("/v1/predict", json={"model": "diffdock", "sequence": "CC(=O)Oc1ccccc1C(=O)O",
                                               "name": "confidence not known", "params": {"protein_pdb": RECEPTOR}})
    job_id = client.wait_for(answer.json()["job_id"])["job_id"]
    page = open_at(browser, service, lena, f"/jobs/{job_id}")
    expect(page.locator("#metric-confidence .band")).to_have_text("not known")
    expect(page.locator("#poses tbody tr").first.locator(".band")).to_have_text("not known")
    expect(page.locator("#main")).not_to_contain_text("unknown")
    shot(page, "last-docking-not-known", full_page=False)
    page.close()
