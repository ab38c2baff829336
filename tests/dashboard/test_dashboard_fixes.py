"""Dashboard defects a lab user met: a signed-out visitor's way to the sign-in page logged a 401 in the browser's
console (GET /auth/session); a damaged scores file (a result JSON that is not JSON) showed the raw parse error as the
job page's only words; toasts raised together were drawn one over the other. A job service on the inference twin
serving all three models, in this module alone."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from playwright.sync_api import Browser, ConsoleMessage, Page, expect

from tests.dashboard.pages_helpers import (
    User,
    Watched,
    in_process_service,
    make_user,
    open_page,
    shot,
    signed_in,
)
from tests.support import InProcessService

pytestmark = pytest.mark.e2e

SEQ = "MKTVRQERLKSIVRILERSKEPV"
PDB = (Path(__file__).parents[1] / "diffdock" / "data" / "receptor_small.pdb").read_text()
ASPIRIN = "CC(=O)Oc1ccccc1C(=O)O"
# What a script's JSON.parse says of a damaged file (Chromium's words): never a person's message.
PARSE_ERROR_WORDS = ("Unexpected", "JSON.parse", "SyntaxError", "is not valid JSON", "Unterminated")

service = in_process_service("fixes", {"PHONOS_MODELS": "esmfold,alphafold2,diffdock"})


@pytest.fixture(scope="module")
def ines(service: InProcessService) -> User:
    return make_user(service, "ines")  # type: ignore[arg-type]


@pytest.fixture
def ines_page(browser: Browser, service: InProcessService, ines: User) -> Iterator[Page]:
    watched = Watched()
    page = signed_in(browser, service, ines, watched)  # type: ignore[arg-type]
    yield page
    assert watched.problems() == []
    page.close()  # its context (signed_in's session) serves the next test


def console_errors(page: Page) -> list[str]:
    """Every console error the page logs from now on, with the address it was logged on (a failed fetch is logged
    as "Failed to load resource: ... 401", on the page that asked, even as it leaves for the next)."""
    seen: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            seen.append(f"{page.url}: {message.text}")

    page.on("console", on_console)
    page.on("pageerror", lambda error: seen.append(f"{page.url}: pageerror {error}"))
    return seen


def test_a_signed_out_visitor_reaches_the_sign_in_page_without_a_console_error(
        browser: Browser, service: InProcessService, ines: User) -> None:
    page = open_page(browser)
    errors = console_errors(page)
    for path, goes_to in (("/", "/sign-in?next=%2Fjobs"), ("/jobs", "/sign-in?next=%2Fjobs"),
                          ("/keys", "/sign-in?next=%2Fkeys"), ("/sign-in", "/sign-in")):
        page.goto(service.base_url + path)
        page.wait_for_url(f"**{goes_to}")
        expect(page.locator("#username")).to_be_focused()
    assert errors == []
    shot(page, "60-sign-in-signed-out")

    # A cookie the job service does not know (ended elsewhere, a password changed): signed out too, without an
    # error, and the cookie is cleared (the next page need not ask about it).
    page.context.add_cookies([{"name": "phonos_session", "value": "x" * 43, "url": service.base_url}])
    page.goto(f"{service.base_url}/usage")
    page.wait_for_url("**/sign-in?next=%2Fusage")
    expect(page.locator("#username")).to_be_focused()
    assert [c for c in page.context.cookies() if c["name"] == "phonos_session"] == []

    page.fill("#username", ines.username)
    page.fill("#password", ines.password)
    page.click("form button[type=submit]")
    page.wait_for_url("**/usage")
    expect(page.locator("#side-user")).to_have_text(ines.username)
    assert errors == []
    # Signed in, the page learnt its CSRF token from the same answer: a state-changing call works.
    page.goto(f"{service.base_url}/keys")
    page.click("#sign-out")
    page.wait_for_url("**/sign-in")
    assert errors == []
    page.context.close()


def test_the_session_status_route_answers_signed_out_without_an_error(service: InProcessService,
                                                                     ines: User) -> None:
    """GET /auth/status: 200 either way, the CSRF token only to a signed-in browser, never to another site (no
    CORS); GET /auth/session keeps its 401 (scripts and tests read it as "signed out")."""
    answer = requests.get(f"{service.base_url}/auth/status", timeout=10)
    assert answer.status_code == 200 and answer.json() == {"signed_in": False}
    assert answer.headers["Cache-Control"] == "no-store" and "Access-Control-Allow-Origin" not in answer.headers
    assert requests.get(f"{service.base_url}/auth/session", timeout=10).status_code == 401

    browser = requests.Session()
    signed = browser.post(f"{service.base_url}/auth/sign-in", timeout=30,
                          json={"username": ines.username, "password": ines.password})
    assert signed.status_code == 200, signed.text
    status = browser.get(f"{service.base_url}/auth/status", timeout=10).json()
    assert status["signed_in"] is True and status["username"] == ines.username
    assert status["csrf_token"] == signed.json()["csrf_token"] and status["expires_at"].endswith("Z")
    # An API key is no session: refused as on every /auth route.
    keyed = browser.get(f"{service.base_url}/auth/status", headers={"Authorization": f"Bearer {ines.api_key}"},
                        timeout=10)
    assert keyed.status_code == 400 and keyed.json()["error"] == "Invalid request"
    browser.post(f"{service.base_url}/auth/sign-out", json={}, timeout=10,
                 headers={"X-CSRF-Token": status["csrf_token"]})


def pose_sdf(x: float) -> str:
    """A two-atom "ligand" at (x, 0, 0): a pose as DiffDock's SDF lists them."""
    atoms = "".join(f"{ax:10.4f}{0:10.4f}{0:10.4f} {el}   0  0  0  0  0  0  0  0  0  0  0  0\n"
                    for ax, el in ((x, "C"), (x + 1.5, "O")))
    return f"lig\n  phonos\n\n  2  1  0  0  0  0  0  0  0  0999 V2000\n{atoms}  1  2  1  0\nM  END\n$$$$\n"


def submit_and_damage(service: InProcessService, user: User, body: dict[str, Any], files: dict[str, str]) -> str:
    """A completed job with the result `files` (by extension: the twin's own are placeholders, no structure) and a
    damaged JSON result (its scores, or the pose report): a file cut off mid-way, as a full disk leaves it."""
    client = service.client(user.api_key)
    job_id = str(client.post("/v1/predict", json=body).json()["job_id"])
    assert client.wait_for(job_id)["status"] == "completed"
    shard = service.settings.results_dir / job_id[:2]
    for extension, text in {**files, "json": '{"plddt": [91.2, 88.4, 90.'}.items():
        assert (shard / f"{job_id}.{extension}").exists(), sorted(p.name for p in shard.iterdir())
        (shard / f"{job_id}.{extension}").write_text(text)
    return job_id


def test_a_damaged_alphafold2_scores_file_is_said_in_words_and_the_structure_still_shows(
        ines_page: Page, service: InProcessService, ines: User) -> None:
    job_id = submit_and_damage(service, ines, {"model": "alphafold2", "sequence": SEQ, "name": "damaged scores",
                                               "params": {"model_preset": "monomer_ptm",
                                                          "msa_mode": "single_sequence"}}, {"pdb": PDB})
    page = ines_page
    page.goto(f"{service.base_url}/jobs/{job_id}")
    notice = page.locator("#scores-unreadable")
    expect(notice).to_contain_text("This job’s scores file could not be read")
    expect(notice).to_contain_text("the per-residue pLDDT and PAE plots cannot be shown")
    text = page.locator("#job-body").inner_text()
    assert not [w for w in PARSE_ERROR_WORDS if w in text], text
    # The rest of the page: the structure drawn (coloured from the PDB's B-factors), its length, its tools, the
    # downloads and the provenance.
    viewer = page.locator("#viewer[data-ready=true]")
    expect(viewer).to_be_visible()
    expect(page.locator(".stat", has_text="Length")).to_contain_text("30")  # the PDB's Cα atoms (its calcium ion is no residue)
    expect(page.locator("#pae-missing")).to_have_text("Not shown: the scores file is damaged.")
    page.click("#view-sticks")
    expect(page.locator("#view-sticks")).to_have_attribute("aria-pressed", "true")
    expect(page.locator("#downloads a[data-format=pdb]")).to_be_visible()
    expect(page.locator("#downloads a[data-format=json]")).to_be_visible()
    expect(page.locator("#run-again")).to_be_visible()
    shot(page, "61-job-alphafold2-damaged-scores")


def test_a_damaged_diffdock_report_still_lists_the_poses(ines_page: Page, service: InProcessService,
                                                         ines: User) -> None:
    job_id = submit_and_damage(service, ines, {"model": "diffdock", "sequence": ASPIRIN, "name": "damaged report",
                                               "params": {"protein_pdb": PDB, "samples_per_complex": 2}},
                               {"pdb": PDB, "sdf": pose_sdf(1.0) + pose_sdf(4.0)})
    page = ines_page
    page.goto(f"{service.base_url}/jobs/{job_id}")
    expect(page.locator("#scores-unreadable")).to_contain_text("the poses’ confidences cannot be shown")
    assert not [w for w in PARSE_ERROR_WORDS if w in page.locator("#job-body").inner_text()]
    expect(page.locator("#poses tbody tr")).to_have_count(2)  # from the SDF
    expect(page.locator("#viewer[data-ready=true]")).to_be_visible()
    page.click("#pose-next")
    expect(page.locator("#pose-selected")).to_contain_text("Showing pose #2")
    shot(page, "62-job-diffdock-damaged-report")


def test_a_poses_confidence_is_rounded_alike_in_the_table_and_the_line_above_the_viewer(
        ines_page: Page, service: InProcessService, ines: User) -> None:
    """The same confidence 0.4325 read "confidence 0.432" above the viewer (toFixed, binary rounding) and "0.433" in
    the pose table: one number shown two ways reads as two numbers."""
    client = service.client(ines.api_key)
    job_id = str(client.post("/v1/predict", json={"model": "diffdock", "sequence": ASPIRIN, "name": "rounding",
                                                  "params": {"protein_pdb": PDB, "samples_per_complex": 2}}
                             ).json()["job_id"])
    assert client.wait_for(job_id)["status"] == "completed"
    report = {"ligand": {"smiles": ASPIRIN},
              "poses": [{"rank": 1, "confidence": 0.4325, "confidence_band": "high"},
                        {"rank": 2, "confidence": -1.0005, "confidence_band": "moderate"}]}
    shard = service.settings.results_dir / job_id[:2]
    for extension, text in {"pdb": PDB, "sdf": pose_sdf(1.0) + pose_sdf(4.0), "json": json.dumps(report)}.items():
        (shard / f"{job_id}.{extension}").write_text(text)
    page = ines_page
    page.goto(f"{service.base_url}/jobs/{job_id}")
    rows = page.locator("#poses tbody tr")
    expect(rows).to_have_count(2)
    expect(page.locator("#viewer[data-ready=true]")).to_be_visible()
    for rank, shown in ((1, "0.433"), (2, "-1.001")):
        rows.nth(rank - 1).locator(".pose-pick").click()
        expect(rows.nth(rank - 1).locator("td.num").first).to_have_text(shown)
        expect(page.locator("#pose-selected")).to_contain_text(f"Showing pose #{rank} · confidence {shown} (")


def test_a_structure_file_with_no_atoms_is_said_in_words_with_no_viewer(ines_page: Page, service: InProcessService,
                                                                        ines: User) -> None:
    """The inference twin's files are placeholders (no atom, no JSON): as a damaged PDB, the page says so in place
    of an empty viewer (whose buttons were swapped in later, under a keyboard walk), and still lists the downloads."""
    client = service.client(ines.api_key)
    job_id = client.predict(SEQ, name="placeholder files").json()["job_id"]
    client.wait_for(job_id)
    page = ines_page
    page.goto(f"{service.base_url}/jobs/{job_id}")
    expect(page.locator("#structure-unreadable")).to_contain_text("This job’s structure file could not be read")
    expect(page.locator("#scores-unreadable")).to_be_visible()
    expect(page.locator("#downloads a[data-format=pdb]")).to_be_visible()
    assert page.locator("#viewer").count() == 0
    assert not [w for w in PARSE_ERROR_WORDS if w in page.locator("#job-body").inner_text()]


RAISE = """(messages) => import('/static/js/dom.js').then((dom) => { messages.forEach((m) => dom.toast(m)); })"""
BOXES = """() => [...document.querySelectorAll('.toast')].map((t) => { const r = t.getBoundingClientRect();
    return {x: r.x, y: r.y, width: r.width, height: r.height, text: t.textContent}; })"""
MESSAGES = ["Copied to the clipboard", "Rate limit saved",
            "Could not delete the webhook: the job service did not answer in time. Try again in a minute.",
            "Deleted 3 jobs"]


def overlap(a: dict[str, float], b: dict[str, float]) -> bool:
    return (a["x"] < b["x"] + b["width"] and b["x"] < a["x"] + a["width"]
            and a["y"] < b["y"] + b["height"] and b["y"] < a["y"] + a["height"])


def assert_stacked(page: Page, count: int) -> list[dict[str, Any]]:
    """`count` toasts, each wholly on the screen and none over another."""
    expect(page.locator(".toast")).to_have_count(count)
    boxes: list[dict[str, Any]] = page.evaluate(BOXES)
    viewport = page.viewport_size
    assert viewport is not None
    for box in boxes:
        assert box["x"] >= 0 and box["y"] >= 0, box
        assert box["x"] + box["width"] <= viewport["width"] and box["y"] + box["height"] <= viewport["height"], box
    clashes = [(a["text"], b["text"]) for i, a in enumerate(boxes) for b in boxes[i + 1:] if overlap(a, b)]
    assert clashes == [], clashes
    return boxes


def test_toasts_raised_together_stack_readable_and_dismissable(ines_page: Page, service: InProcessService) -> None:
    page = ines_page
    page.mouse.move(0, 0)  # not over where the toasts come (hovering one holds it)
    page.evaluate(RAISE, MESSAGES)
    boxes = assert_stacked(page, 4)
    assert [b["text"].removesuffix("×") for b in boxes] == MESSAGES  # newest at the bottom
    expect(page.locator("#announcer")).to_contain_text("Deleted 3 jobs")  # the live region says them, as before
    shot(page, "63-toasts-stacked", full_page=False)

    page.locator(".toast", has_text="Rate limit saved").get_by_role("button", name="Dismiss").click()
    assert_stacked(page, 3)
    # The keyboard: the focus on a toast's button holds it; Enter dismisses it and the focus goes to the next.
    page.locator(".toast").first.get_by_role("button", name="Dismiss").focus()
    page.keyboard.press("Enter")
    assert_stacked(page, 2)
    expect(page.locator(".toast").first.get_by_role("button", name="Dismiss")).to_be_focused()
    page.keyboard.press("Escape")
    expect(page.locator(".toast")).to_have_count(1)
    # A burst keeps four, the newest.
    page.evaluate(RAISE, [f"Message {i}" for i in range(6)])
    assert [b["text"].removesuffix("×") for b in assert_stacked(page, 4)] == [f"Message {i}" for i in range(2, 6)]


def test_toasts_on_a_phone_cover_neither_the_menu_nor_the_pages_actions(ines_page: Page, service: InProcessService,
                                                                       ines: User) -> None:
    page = ines_page
    page.set_viewport_size({"width": 375, "height": 740})
    page.goto(f"{service.base_url}/keys")
    expect(page.locator("#menu-toggle")).to_be_visible()
    page.mouse.move(0, 0)
    page.evaluate(RAISE, MESSAGES[:3])
    boxes = assert_stacked(page, 3)
    controls: list[dict[str, Any]] = page.evaluate("""() => [...document.querySelectorAll(
        '#menu-toggle, .topbar a, .topbar button, .brand')].map((c) => { const r = c.getBoundingClientRect();
        return {x: r.x, y: r.y, width: r.width, height: r.height, text: c.id || c.textContent.trim()}; })""")
    assert len(controls) >= 2
    covered = [(c["text"], b["text"]) for c in controls for b in boxes if overlap(c, b)]
    assert covered == [], covered
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    shot(page, "64-toasts-phone", full_page=False)

    # A click on a label ticks its box with toasts up: the page does not move under the pointer. A click's focus on
    # <main> at mousedown is no keyboard's move (see below): the page had scrolled and the click missed its label.
    job = service.client(ines.api_key).predict(name="for the jobs list").json()["job_id"]
    service.client(ines.api_key).wait_for(job)
    page.goto(f"{service.base_url}/jobs")
    expect(page.locator("#jobs-body tr").first).to_be_visible()
    page.mouse.move(0, 0)
    page.evaluate(RAISE, MESSAGES[:3])
    page.get_by_text("Select all on this page").click()
    expect(page.locator("#select-all")).to_be_checked()

    # The keyboard goes down the new-job form with toasts up: each control it reaches is scrolled above them (the
    # Submit button went under them unseen), the last one too.
    page.goto(f"{service.base_url}/submit")
    page.mouse.move(0, 0)
    page.evaluate(RAISE, MESSAGES[:3])
    page.focus("#f-name")
    reached = []
    for _ in range(12):
        page.keyboard.press("Tab")
        seen = page.evaluate(FOCUS_UNDER_TOASTS)
        if seen is None:
            break  # the toasts' own buttons, past the form
        reached.append(seen["id"])
        assert seen["hidden_by"] == 0, seen
    assert "submit-job" in reached, reached
    shot(page, "65-toasts-phone-focus-on-submit", full_page=False)


# The focused control (None for a toast's own button): its id and how many toasts cover it.
FOCUS_UNDER_TOASTS = """() => {
    const el = document.activeElement;
    if (el.closest('.toast')) return null;
    const a = el.getBoundingClientRect();
    const hidden_by = [...document.querySelectorAll('.toast')].map((t) => t.getBoundingClientRect())
        .filter((b) => a.left < b.right && b.left < a.right && a.top < b.bottom && b.top < a.bottom).length;
    return {id: el.id || el.textContent.trim().slice(0, 30), hidden_by};
}"""


def test_the_sign_in_page_fits_a_phones_screen(browser: Browser, service: InProcessService) -> None:
    """Its card was 380 px wide on a 375 px screen (an auto grid column held max-width: 100% at 380 px): the page
    scrolled sideways and the card's right edge was cut off."""
    page = open_page(browser, width=375)
    page.goto(f"{service.base_url}/sign-in")
    card = page.locator(".signin .card")
    expect(card).to_be_visible()
    box = card.bounding_box()
    assert box is not None and box["x"] >= 16 and box["x"] + box["width"] <= 375 - 16, box
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    shot(page, "66-sign-in-phone")
    page.context.close()


def test_stacked_tables_label_their_cells_in_the_pages_font(ines_page: Page, service: InProcessService) -> None:
    """On a phone the account's tables show each cell under its column's name; a monospace cell's (an address, a
    job id) was drawn in monospace too, unlike its neighbours."""
    page = ines_page
    page.set_viewport_size({"width": 375, "height": 740})
    page.goto(f"{service.base_url}/account")
    expect(page.locator(".table.stacked td.mono, .table.stacked td .mono").first).to_be_visible()
    fonts: list[list[str]] = page.evaluate("""() => [...document.querySelectorAll('.table.stacked td')]
        .filter((td) => getComputedStyle(td, '::before').content !== 'none')
        .map((td) => [td.dataset.label, getComputedStyle(td, '::before').fontFamily])""")
    body = page.evaluate("getComputedStyle(document.body).fontFamily")
    assert fonts and [f for f in fonts if f[1] != body] == []


def test_the_docking_viewer_takes_the_pose_out_of_the_complex_by_the_name_its_remark_gives(
        ines_page: Page, service: InProcessService) -> None:
    """The complex's copy of the rank-1 pose is drawn from the SDF instead, so the viewer leaves it out of the
    receptor by name: LIG, or LG1... where the receptor held a LIG of its own (the pose's REMARK says which)."""
    page = ines_page
    page.goto(f"{service.base_url}/jobs")
    names = page.evaluate("""async () => {
        const {complexLigandName} = await import('/static/js/viewer.js');
        const renamed = 'REMARK 250 PHONOS DIFFDOCK: receptor + rank-1 ligand pose\\n' +
          'REMARK 250 rank-1 ligand pose: HETATM residue LG1, chain L, number 1 (the\\n' +
          'REMARK 250 receptor has a residue named LIG already)\\nHETATM    1  C1  LIG X   1\\n';
        const plain = 'REMARK 250 rank-1 ligand pose: HETATM residue LIG, chain L, number 1\\n';
        return [complexLigandName(renamed), complexLigandName(plain), complexLigandName('ATOM ...\\n')];
    }""")
    assert names == ["LG1", "LIG", "LIG"]  # a complex written before the REMARK: LIG, as it always was
