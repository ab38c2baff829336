"""Every dashboard page passes axe-core's WCAG 2.1 A and AA rules (the standard automated accessibility audit), at a
desktop's width (1440 px) and a phone's (375 px): signed out (sign-in, with its error shown; a share link), and
signed in with jobs of each state (completed, running, pending, failed, cancelled), a completed fold (its 3D viewer, a
comparison with a second fold, its share panel), a docking job, the submit forms (each model, one with its
validation errors shown), API keys (a new key's one-time secret shown), webhooks (one webhook), usage, the account
page (credits, password, sessions), the page-not-found page and every dialog and menu that opens (a confirm dialog,
the navigation's menu on a phone). The dashboard has no dark colour scheme (app.css has no prefers-color-scheme),
so light only.

What is audited where (each state at both widths, one page load per state where the page's scripts do not look at
the width):
- A page whose scripts draw the same DOM at any width (sign-in, the submit forms, keys, webhooks, account, the jobs
  list, a job that has no results yet, page-not-found, the share-link-not-found page) is loaded once and audited at
  one width, then resized to the other (Playwright's set_viewport_size: the CSS's media queries apply at once;
  app.css has no transitions, and no script listens for a resize) and audited again, in the same state (an error
  shown, a dialog or the secret open): what a fresh load at that width shows. The phone's menu is opened at 375.
- A page with charts (plots.js picks its layout by `matchMedia` as it draws: a completed job's page, usage) or the
  3D viewer (sized to its box as it draws) is loaded at each width.
- The 3D viewer is drawn and audited at 375 px (the fold's page, its share panel and comparison; the dock's page; a
  share link's page), its own markup included (an image named for what it shows, its buttons) and any text over it
  judged from the pixels drawn. At 1440 px the same pages are audited with the viewer's module (3Dmol.js) refused
  (page.route), so that the page shows its "3D viewer unavailable" notice in the viewer's box: the rest of the
  wide layout is audited, and the notice too, without software WebGL drawing a 1440 px page's viewer (~2/3 of this
  module's time before; a viewer 1440 px wide costs several times a phone's).

axe-core comes from node_modules (npm, a dev dependency: never served to users). The dashboard's CSP allows scripts
from its own origin only (script-src 'self'), so an inline <script> (Playwright's add_script_tag(path=...)) is
refused; the page is given the file at a same-origin address it asks for by a <script src> (add_script_tag(url=...)),
answered by Playwright from the local file (page.route): nothing is fetched from outside, and the gateway never
serves that address. A page's screenshot (artifacts/screenshots/axe-NAME.png) is taken of an audit that found a
violation, for a person to look at; every page's look is shot by the other modules. One job service on the session's
tritonserver (the directory's `service`) for real structures and docks, one on the inference twin for states
scripted cheaply (a failure, a slow call), one browser.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest
import requests
from PIL import Image
from playwright.sync_api import Browser, Page, Route, expect

from jobservice.memory_inference import Failure, Slow
from tests.dashboard.pages_helpers import VIEWPORT, User, Watched, make_user, open_page, shot, signed_in
from tests.support import REPO, ApiClient, InProcessService, ServiceProcess

pytestmark = pytest.mark.e2e

AXE = REPO / "node_modules" / "axe-core" / "axe.min.js"
AXE_URL = "/__tests__/axe.min.js"  # answered by page.route below, never by the gateway
WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
SHORT = "MKTAYIAKQRQISFVKSHFSRQLEERLGLIEVQ"
ASPIRIN = "CC(=O)Oc1ccccc1C(=O)O"
RECEPTOR = (REPO / "tests" / "diffdock" / "data" / "receptor_small.pdb").read_text()
WIDE, PHONE = 1440, 375
# The viewer's library (viewer.js LIBRARY, gateway/dashboard/assets.py VIEWER_PREFIX): refused at 1440 px.
VIEWER_MODULE = "**/static/vendor/3dmol/**"
VIEWER_DRAWN = "#viewer[data-ready=true]"
VIEWER_MISSING = "#viewer:not([role]) .viewer-missing"  # viewer.js missing(), job.js plainText()

# axe's violations, one line per element: the rule, its impact, what it asks for and where (selectors), why; and the
# elements whose text contrast axe could not judge ("incomplete": text over a gradient, an SVG chart's labels), for
# `drawn_contrast` to judge from the pixels drawn.
RUN_AXE = """async (tags) => {
    const results = await axe.run(document, {runOnly: {type: 'tag', values: tags}, resultTypes: ['violations', 'incomplete']});
    const violations = results.violations.flatMap((v) => v.nodes.map((n) =>
        `${v.id} (${v.impact}): ${v.help} | ${n.target.join(' ')} | ${(n.failureSummary || '').replace(/\\s+/g, ' ')}`));
    const unjudged = results.incomplete.filter((v) => v.id === 'color-contrast').flatMap((v) => v.nodes.map((n) => n.target[0]));
    return {violations, unjudged};
}"""

# The texts axe could not judge made transparent (and back): what is drawn behind them, for `drawn_contrast`; each
# one's text colour, whether it is large text (3:1 is enough) and its box in the page (not the viewport). Hidden by a
# style sheet of their selectors, not on the elements: a page that polls (a running job's, every 1.5 s) may draw its
# texts again before the screenshot, and new elements the selectors match are hidden too (hidden one by one, they
# were not, and their own glyphs read as their background: 1.0:1, in a CI run).
HIDE_TEXTS = """([selectors, hide]) => {
    document.adoptedStyleSheets = document.adoptedStyleSheets.filter((sheet) => !sheet.axeHidden);
    if (!hide) return [];
    const texts = selectors.map((selector) => {
        const el = document.querySelector(selector);
        if (!el) return null;
        const style = getComputedStyle(el);
        const size = parseFloat(style.fontSize);
        const colour = el instanceof SVGElement ? style.fill : style.color;
        const r = el.getBoundingClientRect();
        return {selector, colour, large: size >= 24 || (size >= 18.66 && Number(style.fontWeight) >= 700),
                box: [r.left + scrollX, r.top + scrollY, r.width, r.height]};
    });
    // A constructed sheet: the dashboard's Content-Security-Policy refuses a <style> element.
    const sheet = new CSSStyleSheet();
    sheet.axeHidden = true;
    sheet.replaceSync(selectors.map((s) => `${s} { color: transparent !important; fill: transparent !important; }`).join(' '));
    document.adoptedStyleSheets = [...document.adoptedStyleSheets, sheet];
    return texts;
}"""


def luminance(rgb: np.ndarray) -> np.ndarray:
    c = rgb / 255.0
    c = np.where(c <= 0.03928, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    return c @ np.array([0.2126, 0.7152, 0.0722])  # type: ignore[no-any-return]


def drawn_contrast(page: Page, selectors: list[str]) -> list[str]:
    """Text axe could not judge (over a gradient, in an SVG chart) judged from the pixels drawn behind it: its text
    colour against the background as drawn with the texts hidden (one screenshot of the part of the page that holds
    them all), at the 5th percentile of its box's pixels (a stray pixel of a border or a neighbour's glyph does not
    decide). Each element under 4.5:1 (3:1 large text) is named."""
    selectors = list(dict.fromkeys(selectors))
    if not selectors:
        return []
    hidden = [h for h in page.evaluate(HIDE_TEXTS, [selectors, True]) if h]
    boxes = [tuple(round(v) for v in text["box"]) for text in hidden]
    shown = [(x, y, w, h) for x, y, w, h in boxes if w > 0 and h > 0 and x + w > 0 and y + h > 0]
    try:
        if not shown:
            return []
        # The screenshot clipped to the boxes' union (page coordinates): a whole page's, with a viewer or a chart
        # far from the texts, cost up to ~1 s more to draw and encode for pixels nobody judges.
        left, top = max(min(x for x, _, _, _ in shown), 0), max(min(y for _, y, _, _ in shown), 0)
        right, bottom = max(x + w for x, _, w, _ in shown), max(y + h for _, y, _, h in shown)
        png = page.screenshot(full_page=True, animations="disabled",
                              clip={"x": left, "y": top, "width": right - left, "height": bottom - top})
    finally:
        page.evaluate(HIDE_TEXTS, [selectors, False])
    drawn = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), dtype=float)
    found = []
    for text, (x, y, w, h) in zip(hidden, boxes, strict=True):
        box = drawn[max(y - top, 0):max(y + h - top, 0), max(x - left, 0):max(x + w - left, 0)].reshape(-1, 3)
        colour = [float(c) for c in re.findall(r"[\d.]+", text["colour"])]
        if not box.size or len(colour) < 3 or (len(colour) == 4 and colour[3] == 0):
            continue
        ink, back = luminance(np.array(colour[:3])), luminance(box)
        worst = float(np.percentile((np.maximum(ink, back) + 0.05) / (np.minimum(ink, back) + 0.05), 5))
        if worst < (3 if text["large"] else 4.5):
            found.append(f"color-contrast (drawn): {worst:.2f}:1 | {text['selector']} | text {text['colour']} on what "
                         "is drawn behind it")
    return found


@pytest.fixture(scope="module")
def axel(service: ServiceProcess) -> User:
    return make_user(service, "axel")


@pytest.fixture(scope="module")
def client(service: ServiceProcess, axel: User) -> ApiClient:
    return service.client(axel.api_key)


@pytest.fixture(scope="module")
def made(client: ApiClient) -> dict[str, Any]:
    """The jobs, link and webhook the pages show: two folds (one to compare with), a dock, a share link of the first
    fold, one webhook. All three submitted before any is waited for: the dock runs beside the folds (one job per
    model at a time)."""
    fold = client.predict(SHORT, name="Lysozyme fragment").json()["job_id"]
    other = client.predict(SHORT[:-4], name="Shorter fragment").json()["job_id"]
    dock = client.post("/v1/predict", json={"model": "diffdock", "sequence": ASPIRIN, "name": "Aspirin dock",
                                            "params": {"protein_pdb": RECEPTOR, "inference_steps": 10,
                                                       "samples_per_complex": 2}})
    assert dock.status_code == 200, dock.text
    done = [client.wait_for(job_id, timeout_s=180) for job_id in (fold, other, dock.json()["job_id"])]
    assert [job["status"] for job in done] == ["completed"] * 3, done
    share = client.post(f"/v1/jobs/{fold}/shares", json={"expires_in_days": 7})
    assert share.status_code in (200, 201), share.text
    hook = client.post("/v1/webhooks", json={"url": "http://127.0.0.1:9/hook", "events": ["job.completed"]})
    assert hook.status_code in (200, 201), hook.text
    return {"fold": fold, "other": other, "dock": done[2]["job_id"], "share": share.json()["url"]}


@pytest.fixture(scope="module")
def twin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InProcessService]:
    """A job service on the inference twin, for what the real tiny models cannot show cheaply: AlphaFold2's form
    (the directory's service serves ESMFold and DiffDock), a failed job (a model's crash), a running job (a slow
    call) and one pending behind it (one ESMFold job at a time), all scripted."""
    process = InProcessService(tmp_path_factory.mktemp("axe-twin") / "var", {
        "PHONOS_MODELS": "esmfold,alphafold2", "PHONOS_MAX_INFLIGHT_PER_MODEL": "1"})
    yield process
    process.stop()


def give_axe(route: Route) -> None:
    route.fulfill(status=200, content_type="text/javascript", body=AXE.read_text())


def refuse(route: Route) -> None:
    route.abort()


def audit(page: Page, name: str, found: dict[str, list[str]]) -> None:
    """axe-core's WCAG 2.1 A/AA audit of the page as it is now; its violations (if any) under `name` in `found`,
    and a screenshot of the page so audited (artifacts/screenshots/axe-NAME.png) for a person to look at."""
    assert AXE.exists(), f"{AXE} is missing: scripts/install.sh installs it (npm ci, package-lock.json)"
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.add_script_tag(url=AXE_URL)
    results: dict[str, list[str]] = page.evaluate(RUN_AXE, WCAG_TAGS)
    violations = results["violations"] + drawn_contrast(page, results["unjudged"])
    if violations:
        found[name] = violations
        shot(page, f"axe-{name}")


def at_width(page: Page, width: int) -> None:
    page.set_viewport_size({"width": width, "height": VIEWPORT["height"]})


def audit_both(page: Page, name: str, found: dict[str, list[str]]) -> None:
    """The page as it is now audited at its width, then resized to the other width and audited again (for pages
    whose scripts do not look at the width: the module's docstring); it is left at the other width."""
    first = page.viewport_size["width"] if page.viewport_size else WIDE
    for width in (first, PHONE if first == WIDE else WIDE):
        at_width(page, width)
        audit(page, f"{name}-{width}", found)


def viewer_at(page: Page, width: int) -> str:
    """The page at `width` for the pages with the 3D viewer: drawn at 375 px, its module refused at 1440 px (the
    module's docstring). What shows the viewer's box is done: its selector."""
    at_width(page, width)
    if width == WIDE:
        page.route(VIEWER_MODULE, refuse)
        return VIEWER_MISSING
    page.unroute(VIEWER_MODULE, refuse)
    return VIEWER_DRAWN


def settled(page: Page) -> None:
    """The page has drawn what its first answers say (no 'Loading…' left)."""
    expect(page.locator("#page-loading")).to_have_count(0)
    page.wait_for_load_state("networkidle")
    expect(page.locator("#main .loading, #main [aria-busy=true]")).to_have_count(0)


def report(found: dict[str, list[str]]) -> str:
    return "axe-core found WCAG 2.1 A/AA violations (screenshots: artifacts/screenshots/axe-NAME.png):\n" + "\n".join(
        f"  [{name}] {line}" for name, lines in found.items() for line in lines)


@pytest.fixture
def watched() -> Iterator[Watched]:
    seen = Watched()
    yield seen
    assert seen.problems() == [], seen.problems()  # no script error or CSP refusal, axe's script included


def test_signed_out_pages_pass_axe(browser: Browser, service: ServiceProcess, made: dict[str, Any],
                                   watched: Watched) -> None:
    found: dict[str, list[str]] = {}
    page = open_page(browser, watched, width=WIDE)
    page.route(f"**{AXE_URL}", give_axe)
    page.goto(f"{service.base_url}/sign-in")
    expect(page.locator("#username")).to_be_visible()
    audit_both(page, "sign-in", found)
    page.fill("#username", "axel")
    page.fill("#password", "not the password")
    page.click("form button[type=submit]")
    expect(page.locator("#sign-in-error")).to_be_visible()
    audit_both(page, "sign-in-error", found)
    for width in (PHONE, WIDE):
        viewer = viewer_at(page, width)
        page.goto(f"{service.base_url}{made['share']}")
        expect(page.locator("#shared-banner")).to_be_visible()
        expect(page.locator(viewer)).to_have_count(1, timeout=60_000)
        audit(page, f"shared-{width}", found)
    page.goto(f"{service.base_url}/shared/no-such-link")
    expect(page.locator("#shared-missing")).to_be_visible()
    audit_both(page, "shared-missing", found)
    page.context.close()
    assert not found, report(found)


def test_signed_in_pages_and_dialogs_pass_axe(browser: Browser, service: ServiceProcess, axel: User,
                                              made: dict[str, Any], watched: Watched) -> None:
    found: dict[str, list[str]] = {}
    page = signed_in(browser, service, axel, watched, width=WIDE)
    page.route(f"**{AXE_URL}", give_axe)
    base = service.base_url

    def visit(path: str, ready: str | None = None) -> None:
        page.goto(f"{base}{path}")
        if ready:
            expect(page.locator(ready).first).to_be_visible(timeout=60_000)
        settled(page)

    def submit_error(field_error: str, fill: Callable[[], None] | None = None) -> None:
        if fill:
            fill()
        page.click("#submit-job")
        expect(page.locator(field_error).first).to_be_visible()

    visit("/jobs", "#jobs-body tr")
    audit_both(page, "jobs", found)  # left at 375, where the navigation folds behind its menu button
    page.click("#menu-toggle")
    expect(page.locator("#side-menu")).to_be_visible()
    audit(page, f"menu-open-{PHONE}", found)
    page.keyboard.press("Escape")

    for width in (PHONE, WIDE):
        viewer = viewer_at(page, width)
        visit(f"/jobs/{made['fold']}", viewer)
        audit(page, f"job-fold-{width}", found)
        page.click("#share-job")
        expect(page.locator("#share-panel")).to_be_visible()
        settled(page)
        audit(page, f"job-fold-share-panel-{width}", found)
        # The comparison with the second fold, on the same page (its viewer not drawn again from the start).
        page.select_option("#compare-with", made["other"])
        page.click("#compare-go")
        expect(page.locator("#compare-tm")).to_be_visible(timeout=60_000)
        settled(page)
        audit(page, f"job-compare-{width}", found)
        visit(f"/jobs/{made['dock']}", viewer)
        audit(page, f"job-dock-{width}", found)
    for width in (WIDE, PHONE):  # the charts are drawn for the width the page opens at
        at_width(page, width)
        visit("/usage", "h1")
        audit(page, f"usage-{width}", found)

    visit("/submit", "#submit-job")
    audit_both(page, "submit-esmfold", found)
    submit_error(".field .error:visible, #form-error:visible")  # no sequence: the form's validation error
    audit_both(page, "submit-esmfold-error", found)
    visit("/submit?model=diffdock", "#submit-job")
    audit_both(page, "submit-diffdock", found)
    visit(f"/submit?model=diffdock&receptor={made['fold']}", "#submit-job")
    audit_both(page, "submit-diffdock-receptor", found)
    # Not a molecule: the API's 400 beside the field.
    submit_error("#error-ligand_smiles", lambda: page.fill("#f-ligand_smiles", "C1CC"))
    audit_both(page, "submit-diffdock-error", found)

    visit("/keys", "#keys-table")
    audit_both(page, "keys", found)
    page.fill("#key-name", "axe")
    page.click("#key-create")
    expect(page.locator("#secret-callout")).to_be_visible()
    audit_both(page, "keys-new-secret", found)
    visit("/webhooks", "#webhook-url")
    audit_both(page, "webhooks", found)
    visit("/account", "h1")
    audit_both(page, "account", found)
    visit("/no-such-page", "#not-found")
    audit_both(page, "not-found", found)
    page.close()
    assert not found, report(found)


def test_the_audit_finds_a_violation(browser: Browser, service: ServiceProcess, watched: Watched) -> None:
    """The audit is not vacuous: axe runs on the page and an unnamed button is reported, and so is pale text over a
    gradient (axe leaves it undecided: judged from the pixels drawn, in the screenshot's clip of it), well below the
    page's top left corner."""
    page = open_page(browser, watched)
    page.route(f"**{AXE_URL}", give_axe)
    page.goto(f"{service.base_url}/sign-in")
    expect(page.locator("#username")).to_be_visible()
    page.evaluate("""() => {
        document.querySelector('form').append(document.createElement('button'));
        const pale = document.createElement('p');
        pale.id = 'pale-on-gradient';
        pale.textContent = 'Pale words on a pale gradient';
        // CSSOM, not a style attribute: the dashboard's CSP refuses inline styles.
        Object.assign(pale.style, {color: '#bbbbbb', backgroundImage: 'linear-gradient(#ffffff, #eeeeee)',
                                   margin: '300px 0 0 200px', padding: '8px', fontSize: '14px'});
        document.body.append(pale);
    }""")
    found: dict[str, list[str]] = {}
    audit(page, "sign-in-broken", found)
    page.context.close()
    assert any(re.match(r"button-name \(critical\)", line) for line in found["sign-in-broken"]), found
    assert any(line.startswith("color-contrast (drawn)") and "#pale-on-gradient" in line
               for line in found["sign-in-broken"]), found
    # axe-core is the tests' alone: the gateway serves none of it, at any address it might be looked for at.
    for path in (AXE_URL, "/static/vendor/axe-core/axe.min.js", "/node_modules/axe-core/axe.min.js"):
        answer = requests.get(f"{service.base_url}{path}", timeout=10)
        assert "axe.run" not in answer.text, path


def test_jobs_of_every_state_and_alphafold2s_form_pass_axe(browser: Browser, twin: InProcessService,
                                                          watched: Watched) -> None:
    found: dict[str, list[str]] = {}
    ines = make_user(twin, "ines")  # type: ignore[arg-type]
    client = twin.client(ines.api_key)
    twin.settle()  # the scripted calls are these jobs'
    twin.inference.script("esmfold", Failure.MODEL_ERROR, Slow(120))
    failed = client.wait_for(client.predict(SHORT, name="Crashed the model").json()["job_id"])
    assert failed["status"] == "failed", failed
    running = client.predict(SHORT, name="Slow fold").json()["job_id"]
    client.wait_for(running, ("running",))
    pending = client.predict(SHORT, name="Waiting its turn").json()["job_id"]
    cancelled = client.predict(SHORT, name="Not wanted").json()["job_id"]
    assert client.post(f"/v1/jobs/{cancelled}/cancel").status_code == 200
    done = client.wait_for(client.predict(SHORT, name="Quick fold", model="alphafold2").json()["job_id"])
    assert done["status"] == "completed", done
    try:
        page = signed_in(browser, twin, ines, watched, width=WIDE)  # type: ignore[arg-type]
        page.route(f"**{AXE_URL}", give_axe)
        for status in ("completed", "running", "pending", "failed", "cancelled"):
            expect(page.locator("#jobs-body")).to_contain_text(status)
        settled(page)
        audit_both(page, "jobs-every-state", found)
        # A confirm dialog (cancelling the pending job, not confirmed).
        page.click(f"#jobs-body tr[data-job-id='{pending}'] [data-action=cancel]")
        expect(page.locator("dialog[open]")).to_be_visible()
        audit_both(page, "jobs-confirm-dialog", found)
        page.keyboard.press("Escape")
        expect(page.locator("dialog[open]")).to_have_count(0)
        # Jobs with no results (no charts, no viewer): one load each, both widths.
        for job_id, name, ready in ((failed["job_id"], "job-failed", "#job-error"), (running, "job-running", "#status-card"),
                                    (pending, "job-pending", "#status-card"), (cancelled, "job-cancelled", "#job-cancelled")):
            page.goto(f"{twin.base_url}/jobs/{job_id}")
            expect(page.locator(ready)).to_be_visible()
            settled(page)
            audit_both(page, name, found)
        page.goto(f"{twin.base_url}/submit?model=alphafold2")
        expect(page.locator("#tab-alphafold2")).to_have_attribute("aria-selected", "true")
        settled(page)
        audit_both(page, "submit-alphafold2", found)
        page.click("#submit-job")  # no sequence: the form's validation error
        expect(page.locator(".field .error:visible, #form-error:visible").first).to_be_visible()
        audit_both(page, "submit-alphafold2-error", found)
        page.close()
    finally:
        for job_id in (running, pending):
            client.post(f"/v1/jobs/{job_id}/cancel")
    assert not found, report(found)
