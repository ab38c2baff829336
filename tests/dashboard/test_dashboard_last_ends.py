"""The dashboard's last loose ends: the note under a new webhook's secret told only of `v1=` (the service signs the
delivery id with `v2=` too, which stops a replay under another id); a refund in the credit history read "ESMFold job
failed (model_error)", a program's code; a phone's receptor list cut a long job name's short id; "Dock a ligand"
was offered on a structure with no atoms; the sidebar's subtitle wrapped at 1440 px; DiffDock's confidence said
"unknown" where every other page says "not known". Then what a look at every page at 1440 and 375 px found: lengths
in Provenance without their unit, a blank value, "Sha256" and "Files wait"; "4.2 Å" broken before its unit; DiffDock's
band rules in code's "<=". A job service on the inference twin, in this module alone."""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime

import pytest
from playwright.sync_api import Browser, Route, expect

from jobservice.memory_inference import Failure
from tests.dashboard.pages_helpers import (
    User,
    Watched,
    in_process_service,
    make_user,
    open_page,
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


# ---- what a look at every page at 1440 and 375 px found ------------------------------------------------------------

# DiffDock's receptor as its metadata gives it (phonos_models/diffdock/receptor_prep.py), with ESMFold's file stages.
RECEPTOR_METADATA = {
    "weights": {"esm": {"name": "esm2-tiny", "sha256": "ab" * 32}},
    "receptor": {"residues": 60, "center": [-11.387, -12.031, 1.937],
                 "preparation": {"altloc_kept": "", "residues_without_ca": [], "pdbqt_columns_ignored": False}},
    "pocket": {"center": [1.5, 2.0, -3.25], "radius": 10.0},
    "sampling": {"inference_steps": 10, "steps_run": 9},
    "timings": {"triton_call_s": 1.2, "fold_s": 0.5, "files_s": 0.09, "files_wait_s": 0.19, "total_s": 1.1},
}


def test_provenance_gives_lengths_their_unit_names_as_written_and_no_blank_value(
        browser: Browser, service: InProcessService, lena: User) -> None:
    """A docking job's Provenance said "Center -11.387, -12.031, 1.937" with no unit, "Altloc kept" with nothing
    beside it (an empty text: no altlocs), "Sha256", "Esm", "Residues without ca" and "Pdbqt", and ESMFold's
    timings "Files" and "Files wait", words of the machinery (and DiffDock's "Total" beside the service's)."""
    page = open_at(browser, service, lena, "/jobs")
    expect(page.locator("h1")).to_have_text("Jobs")
    page.evaluate("""async (metadata) => {
        const {provenance} = await import('/static/js/provenance.js');
        const job = {job_id: '3db1a163-0fb9-4405-b76c-1ffcb51d6b1a', created_at: '2026-05-01T10:00:00Z',
                     updated_at: '2026-05-01T10:00:42Z', metadata};
        document.querySelector('main').prepend(provenance(job));
    }""", RECEPTOR_METADATA)
    card = page.locator("#provenance")

    def value(group: str, term: str) -> str:
        dt = card.locator(f".kv-group[data-group={group}] dt", has_text=term).first
        return str(dt.evaluate("(dt) => dt.nextElementSibling.textContent"))

    assert value("receptor", "center") == "-11.387, -12.031, 1.937\u00a0Å"
    assert value("pocket", "radius") == "10\u00a0Å"
    assert value("receptor", "residues") == "60"  # a count, no unit
    assert value("preparation", "altloc kept") == "none"
    expect(card.locator(".kv-group[data-group=preparation] dt")).to_contain_text(
        ["altloc kept", "residues without Cα", "PDBQT columns ignored"])
    expect(card.locator(".kv-group[data-group=esm] dt")).to_contain_text(["name", "SHA-256"])
    expect(card.locator(".kv-group[data-group=esm] h4")).to_have_text("ESM")
    # "Steps run 9" beside "Inference steps 10" read as a mistake: why, after it.
    assert value("sampling", "steps run").startswith("9 (one fewer than the inference steps asked for")
    assert value("sampling", "inference steps") == "10"
    expect(card.locator("#timings dt")).to_have_text(["on the model server", "fold", "writing the result files",
                                                      "waiting for a file writer", "total in the model"])
    page.close()


def test_a_sticks_structures_distances_keep_their_unit_on_their_line(
        browser: Browser, service: InProcessService, lena: User, client: ApiClient) -> None:
    """On a phone the note under a structure drawn as sticks broke "4.2 Å" after the number, the unit alone at the
    next line's start."""
    job_id = client.wait_for(client.predict(SEQ, name="a chain of far apart atoms").json()["job_id"])["job_id"]
    # Ten Cα atoms 6 Å apart: no real chain, drawn as sticks (viewer.js), as tiny random weights make.
    pdb = "".join(f"ATOM  {i:5d}  CA  GLY A{i:4d}    {6.0 * i:8.3f}{0.0:8.3f}{0.0:8.3f}  1.00 50.00           C\n"
                  for i in range(1, 11))
    page = signed_in(browser, service, lena)  # type: ignore[arg-type]
    page.set_viewport_size({"width": PHONE, "height": 800})
    page.route(f"**/v1/jobs/{job_id}/download?format=pdb*",
               lambda route: route.fulfill(status=200, content_type="chemical/x-pdb", body=pdb))
    page.goto(f"{service.base_url}/jobs/{job_id}")
    note = page.locator("#viewer-note")
    expect(note).to_contain_text("more than 4.2")
    text = note.text_content() or ""
    assert "4.2\u00a0Å or less than 2.6\u00a0Å apart (3.8\u00a0Å in" in text, text
    # Drawn as a cartoon on request, the note says so (it kept saying "Shown as sticks ... a cartoon would show").
    page.locator("#viewer[data-ready=true]").wait_for()
    page.click("#view-cartoon")
    expect(note).to_contain_text("Shown as a cartoon, as asked")
    expect(note).to_contain_text("Sticks shows every atom")
    page.click("#view-sticks")
    expect(note).to_contain_text("Shown as sticks")
    expect(note).to_contain_text("a cartoon would show almost nothing")
    page.close()


def test_docking_band_rules_use_the_signs_of_print(browser: Browser, service: InProcessService, lena: User,
                                                  client: ApiClient) -> None:
    """DiffDock's band rules under the poses read "confidence <= -1.5", as code."""
    answer = client.post("/v1/predict", json={"model": "diffdock", "sequence": "CC(=O)Oc1ccccc1C(=O)O",
                                               "name": "band rules", "params": {"protein_pdb": RECEPTOR}})
    dock_id = client.wait_for(answer.json()["job_id"])["job_id"]
    report = {"ligand": {"smiles": "CC(=O)Oc1ccccc1C(=O)O"},
              "poses": [{"rank": 1, "confidence": -0.4, "confidence_band": "moderate"}],
              "confidence_meaning": {"bands": {"high": "confidence > 0", "moderate": "-1.5 < confidence <= 0",
                                               "low": "confidence <= -1.5"}}}
    page = signed_in(browser, service, lena)  # type: ignore[arg-type]
    page.route(f"**/v1/jobs/{dock_id}/download?format=json*",
               lambda route: route.fulfill(status=200, content_type="application/json", body=json.dumps(report)))
    page.goto(f"{service.base_url}/jobs/{dock_id}")
    side = page.locator(".card", has=page.locator("#poses"))
    expect(side).to_contain_text("-1.5 < confidence ≤ 0")
    expect(side).to_contain_text("confidence ≤ -1.5")
    expect(side).not_to_contain_text("<=")
    page.close()


def test_esmfolds_mean_plddt_says_it_is_over_all_atoms_when_the_plots_mean_differs(
        browser: Browser, service: InProcessService, lena: User, client: ApiClient) -> None:
    """ESMFold's "Mean pLDDT 50.3" (over every atom, as esm-fold reports it) stood beside a per-residue plot whose
    values average 59.0: a scientist reads one of them as wrong. The residues' mean is said under it, with which
    is which; a result whose two means agree (or that gives one) shows the one."""
    job_id = client.wait_for(client.predict(SEQ, name="two means").json()["job_id"])["job_id"]
    plddt = [59.0 + (i % 3 - 1) * 0.5 for i in range(len(SEQ))]
    scores = {"sequence": SEQ, "plddt": plddt, "mean_plddt": 50.28, "mean_plddt_ca": 59.03}
    page = signed_in(browser, service, lena)  # type: ignore[arg-type]
    page.route(f"**/v1/jobs/{job_id}/download?format=json*",
               lambda route: route.fulfill(status=200, content_type="application/json", body=json.dumps(scores)))
    page.goto(f"{service.base_url}/jobs/{job_id}")
    stat = page.locator("#metric-plddt")
    expect(stat.locator(".value")).to_have_text("50.3")
    expect(stat.locator("#plddt-which")).to_have_text("all atoms; 59.0 over residues (the plot)")
    shot(page, "last-mean-plddt-1440", full_page=False)
    page.set_viewport_size({"width": PHONE, "height": 800})
    shot(page, "last-mean-plddt-375", full_page=False)
    page.unroute(f"**/v1/jobs/{job_id}/download?format=json*")
    one = dict(scores, mean_plddt_ca=None)
    page.route(f"**/v1/jobs/{job_id}/download?format=json*",
               lambda route: route.fulfill(status=200, content_type="application/json", body=json.dumps(one)))
    page.reload()
    expect(stat.locator(".value")).to_have_text("50.3")
    expect(stat.locator("#plddt-which")).to_have_count(0)
    page.close()


def test_a_usage_charts_first_day_keeps_clear_of_the_axis_zero(browser: Browser, service: InProcessService,
                                                               lena: User, client: ApiClient) -> None:
    """The first day's label ("3 Nov"), centred on its bar, ran into the y axis's "0" at the chart's corner: the
    two touched on a phone, and nearly did at 1440 px."""
    client.wait_for(client.predict(SEQ, name="counted").json()["job_id"])
    page = open_at(browser, service, lena, "/usage")
    for width in (1440, PHONE):
        page.set_viewport_size({"width": width, "height": 900})
        for chart in page.locator(".chart svg").all():
            zero, first = chart.evaluate("""(svg) => {
                const texts = [...svg.querySelectorAll('text')];
                const zero = texts.find((t) => t.textContent === '0' && t.getAttribute('text-anchor') === 'end');
                const first = texts.find((t) => t.closest('g') && !t.closest('g.grid') && t.getAttribute('text-anchor') !== 'end'
                    && t !== zero);
                const box = (t) => { const r = t.getBoundingClientRect(); return [r.left, r.right, r.top, r.bottom]; };
                return [box(zero), box(first)];
            }""")
            apart = first[0] - zero[1] >= 2 or first[2] - zero[3] >= 2  # beside it, or under it
            assert apart, (width, zero, first)
    page.close()


def test_a_usage_chart_labels_today_and_its_labels_stay_apart_inside_the_chart(
        browser: Browser, service: InProcessService, lena: User, client: ApiClient) -> None:
    """Day labels were counted from the window's first day, so the 30-day charts labelled "3 Dec" beside today's bar
    and left today, the day a user looks for first, without one. They now count back from today."""
    client.wait_for(client.predict(SEQ, name="today").json()["job_id"])
    today = datetime.now(UTC)
    today_short = f"{today.day} {today.strftime('%b')}"
    page = open_at(browser, service, lena, "/usage")
    for width in (1440, PHONE):
        page.set_viewport_size({"width": width, "height": 900})
        for days in (7, 30, 90):
            page.goto(f"{service.base_url}/usage?days={days}")
            chart = page.locator("#chart-requests")
            expect(chart.locator("rect.bar")).to_have_count(days)
            svg, bar, labels = chart.evaluate("""(svg) => {
                const box = (e) => { const r = e.getBoundingClientRect(); return [r.left, r.right, r.top, r.bottom]; };
                const bars = [...svg.querySelectorAll('rect.bar')];
                return [box(svg), box(bars[bars.length - 1]),
                        [...svg.querySelectorAll('text.day')].map((t) => [t.textContent, ...box(t)])];
            }""")
            where = (width, days)
            assert labels and labels[-1][0] == today_short, (where, labels)
            left, right = labels[-1][1], labels[-1][2]
            assert left - 1 <= bar[0] and bar[1] <= right + 1 or left <= (bar[0] + bar[1]) / 2 <= right, (where, bar, labels[-1])
            assert all(svg[0] - 0.5 <= lb[1] and lb[2] <= svg[1] + 0.5 for lb in labels), (where, svg, labels)
            assert all(a[2] + 2 <= b[1] for a, b in itertools.pairwise(labels)), (where, labels)  # apart, left to right
    page.close()


def test_plots_are_drawn_again_for_a_window_narrowed_to_a_phones_width(
        browser: Browser, service: InProcessService, lena: User, client: ApiClient) -> None:
    """A plot laid out for a wide window kept that layout when the window narrowed (or a tablet turned upright): the
    pLDDT plot's labels were ~7 px. The plots are drawn again as the window crosses the phone's width, and a table of
    a chart's values folded open stays open."""
    job_id = client.wait_for(client.predict(SEQ, name="narrowed").json()["job_id"])["job_id"]
    tick_heights = "(svg) => [...svg.querySelectorAll('text')].map((t) => t.getBoundingClientRect().height)"
    scores = {"sequence": SEQ, "plddt": [60.0 + i % 7 for i in range(len(SEQ))], "mean_plddt": 63.0}
    page = signed_in(browser, service, lena)  # type: ignore[arg-type]
    page.route(f"**/v1/jobs/{job_id}/download?format=json*",  # the twin's result has no per-residue scores
               lambda route: route.fulfill(status=200, content_type="application/json", body=json.dumps(scores)))
    page.goto(f"{service.base_url}/jobs/{job_id}")
    plot = page.locator("#plddt-plot")
    expect(plot).to_have_attribute("viewBox", "0 0 560 300")
    page.set_viewport_size({"width": PHONE, "height": 800})
    expect(plot).to_have_attribute("viewBox", "0 0 340 230")
    assert min(plot.evaluate(tick_heights)) >= 11, "the pLDDT plot's labels are too small on a phone"
    plot.focus()  # still read by the keys after the redraw
    page.keyboard.press("End")
    expect(page.locator("#plddt-readout")).to_contain_text(f"Residue {len(SEQ)} ")
    page.set_viewport_size({"width": 1440, "height": 900})
    expect(plot).to_have_attribute("viewBox", "0 0 560 300")

    page.goto(f"{service.base_url}/usage")
    chart = page.locator("#chart-requests")
    expect(chart).to_have_attribute("viewBox", "0 0 600 230")
    page.locator("#chart-requests-values summary").click()
    page.set_viewport_size({"width": PHONE, "height": 800})
    expect(chart).to_have_attribute("viewBox", "0 0 340 190")
    assert min(chart.evaluate(tick_heights)) >= 11, "the usage chart's labels are too small on a phone"
    expect(page.locator("#chart-requests-values")).to_have_attribute("open", "")
    page.close()


def test_the_pae_scale_keeps_its_unit_and_a_folds_json_is_not_said_to_hold_poses(
        browser: Browser, service: InProcessService, lena: User, client: ApiClient) -> None:
    """On a phone the PAE map's scale read "30+" over a lone "Å"; an ESMFold job's JSON download was described as
    "Scores: pLDDT, pTM, PAE / pose confidences", a docking job's words on a fold."""
    job_id = client.wait_for(client.predict(SEQ, name="pae scale").json()["job_id"])["job_id"]
    n = len(SEQ)
    scores = {"sequence": SEQ, "plddt": [70.0] * n, "mean_plddt": 70.0,
              "pae": [[abs(i - j) * 1.5 for j in range(n)] for i in range(n)]}
    page = signed_in(browser, service, lena)  # type: ignore[arg-type]
    page.set_viewport_size({"width": PHONE, "height": 800})
    page.route(f"**/v1/jobs/{job_id}/download?format=json*",
               lambda route: route.fulfill(status=200, content_type="application/json", body=json.dumps(scores)))
    page.goto(f"{service.base_url}/jobs/{job_id}")
    top = page.locator(".pae .scale span").first
    expect(top).to_have_text("30+ Å")
    assert top.text_content() == "30+\u00a0Å"
    box = top.bounding_box()
    assert box and box["height"] < 20, box  # one line
    expect(page.locator(".downloads")).to_contain_text("Scores: pLDDT, pTM, PAE")
    expect(page.locator(".downloads")).not_to_contain_text("pose")
    page.close()


def test_a_structure_job_without_pae_is_not_said_to_have_pae_scores(
        browser: Browser, service: InProcessService, lena: User, client: ApiClient) -> None:
    """An AlphaFold2 monomer job (no PAE, no pTM) had its JSON download described as "Scores: pLDDT, pTM, PAE" beside
    the page's "This job has no PAE"."""
    job_id = client.wait_for(client.predict(SEQ, name="no pae").json()["job_id"])["job_id"]

    def without_pae(route: Route) -> None:
        job = route.fetch().json()
        job["formats"] = [f for f in job.get("formats", []) if f not in ("pae", "pae_plot")]
        route.fulfill(status=200, content_type="application/json", body=json.dumps(job))

    page = signed_in(browser, service, lena)  # type: ignore[arg-type]
    page.route(f"**/v1/jobs/{job_id}", without_pae)
    page.goto(f"{service.base_url}/jobs/{job_id}")
    json_download = page.locator('.downloads [data-format="json"]')
    expect(json_download).to_contain_text("Scores: per-residue pLDDT")
    expect(json_download).not_to_contain_text("PAE")
    page.close()


def test_a_mean_plddt_just_under_a_band_edge_is_not_rounded_onto_it(
        browser: Browser, service: InProcessService, lena: User, client: ApiClient) -> None:
    """A complex's mean of 49.95 was shown "50.0" with the badge "Very low", whose legend says "pLDDT < 50"."""
    job_id = client.wait_for(client.predict(SEQ, name="edge").json()["job_id"])["job_id"]

    def at_the_edge(route: Route) -> None:
        job = route.fetch().json()
        job.setdefault("metrics", {})["mean_plddt"] = 49.95
        route.fulfill(status=200, content_type="application/json", body=json.dumps(job))

    page = signed_in(browser, service, lena)  # type: ignore[arg-type]
    page.route(f"**/v1/jobs/{job_id}", at_the_edge)
    page.goto(f"{service.base_url}/jobs/{job_id}")
    expect(page.locator("#metric-plddt .value")).to_have_text("49.95")
    expect(page.locator("#metric-plddt .band")).to_have_text("Very low")
    page.close()


def test_a_receptor_jobs_reference_in_provenance_is_a_link_to_it(
        browser: Browser, service: InProcessService, lena: User, client: ApiClient) -> None:
    """The job page's Provenance card names a docking job's receptor job as a link, as its Input card does: it showed
    "Protein source job:3db1a163-...-..." raw (gateway/static/js/provenance.js). A share link's page, whose visitor
    has no account there, names the job without a link."""
    folded = client.wait_for(client.predict(name="receptor").json()["job_id"])["job_id"]
    # The twin's structure is a placeholder text: the job's PDB becomes a real protein, a receptor DiffDock takes.
    (service.data_dir / "results" / folded[:2] / f"{folded}.pdb").write_text(RECEPTOR)
    answer = client.post("/v1/predict", json={"model": "diffdock", "sequence": "CC(=O)Oc1ccccc1C(=O)O",
                                               "params": {"protein_pdb": folded}})
    assert answer.status_code == 200, answer.text
    docked = client.wait_for(answer.json()["job_id"])
    assert docked["metadata"]["protein_source"] == f"job:{folded}"
    assert docked["metadata"]["protein_file"] == "pdb"  # the fold was not relaxed: its PDB was docked

    page = signed_in(browser, service, lena)  # type: ignore[arg-type]
    page.goto(f"{service.base_url}/jobs/{docked['job_id']}")
    link = page.locator("#provenance dd a[data-job-ref]")
    expect(link).to_have_text(folded[:8])  # the short id, as the Input card says it
    expect(link).to_have_attribute("href", f"/jobs/{folded}")
    expect(link.locator("xpath=..")).to_have_text(f"job {folded[:8]}")
    expect(page.locator("#provenance")).not_to_contain_text(f"job:{folded}")
    link.click()
    page.wait_for_url(f"**/jobs/{folded}")
    page.close()

    shared = client.post(f"/v1/jobs/{docked['job_id']}/shares", json={}).json()["url"]
    guest = open_page(browser)
    guest.goto(f"{service.base_url}{shared}" if shared.startswith("/") else shared)
    expect(guest.locator("#provenance")).to_contain_text(f"job {folded[:8]}")
    expect(guest.locator("#provenance a[data-job-ref]")).to_have_count(0)  # not the guest's to open
    guest.context.close()


def test_a_deleted_receptor_job_is_not_a_link_in_provenance(browser: Browser, service: InProcessService, lena: User,
                                                            client: ApiClient) -> None:
    """Provenance named a deleted receptor job as a working link that led to "Job not found", while the Input card
    said "(deleted since)" (a dashboard tester's finding): both say it now, and neither links."""
    folded = client.wait_for(client.predict(name="receptor to delete").json()["job_id"])["job_id"]
    (service.data_dir / "results" / folded[:2] / f"{folded}.pdb").write_text(RECEPTOR)
    answer = client.post("/v1/predict", json={"model": "diffdock", "sequence": "CC(=O)Oc1ccccc1C(=O)O",
                                               "params": {"protein_pdb": folded}})
    docked = client.wait_for(answer.json()["job_id"])["job_id"]
    assert client.delete(f"/v1/jobs/{folded}").status_code == 200
    page = signed_in(browser, service, lena)  # type: ignore[arg-type]
    page.goto(f"{service.base_url}/jobs/{docked}")
    expect(page.locator("#receptor-job")).to_contain_text("(deleted since)")
    gone = page.locator(f"#provenance [data-job-gone='{folded}']")
    expect(gone).to_have_text(folded[:8])
    expect(gone.locator("xpath=..")).to_contain_text(f"job {folded[:8]} (deleted since)")
    expect(page.locator("#provenance a[data-job-ref]")).to_have_count(0)
    page.close()


def test_offline_a_delete_or_a_download_says_the_connection_not_failed_to_fetch(
        browser: Browser, service: InProcessService, lena: User, client: ApiClient) -> None:
    """Offline, Delete's and a download's toasts and the Share panel said only "Failed to fetch" (fetch's TypeError),
    nothing of whether the job was deleted (a dashboard tester's finding)."""
    job_id = client.wait_for(client.predict(name="offline").json()["job_id"])["job_id"]
    page = signed_in(browser, service, lena)  # type: ignore[arg-type]
    page.goto(f"{service.base_url}/jobs/{job_id}")
    expect(page.locator("#delete-job")).to_be_visible()
    page.context.set_offline(True)
    try:
        page.click("#delete-job")
        page.click("dialog[open] button.danger")
        toast = page.locator("#toasts")
        expect(toast).to_contain_text("You are offline: nothing was sent, so nothing was changed. Try again once the "
                                      "connection is back.")
        expect(toast).not_to_contain_text("Failed to fetch")
        page.click("#share-job")
        expect(page.locator("#share-panel")).to_contain_text("You are offline: nothing was sent.")
    finally:
        page.context.set_offline(False)
    assert client.get(f"/v1/jobs/{job_id}").status_code == 200  # not deleted, as it said
    page.close()
