"""Every dashboard page passes axe-core's WCAG 2.1 A and AA rules (the standard automated accessibility audit), at a
desktop's width (1440 px) and a phone's (375 px): signed out (sign-in, with its error shown; a share link), and
signed in with jobs of each state (completed, running, pending, cancelled), a completed fold (its 3D viewer, a
comparison with a second fold, its share panel), a docking job, the submit forms (each model, one with its
validation errors shown), API keys (a new key's one-time secret shown), webhooks (one webhook), usage, the account
page (credits, password, sessions), the page-not-found page and every dialog and menu that opens (a confirm dialog,
the navigation's menu on a phone). The dashboard has no dark colour scheme (app.css has no prefers-color-scheme),
so light only.

axe-core comes from node_modules (npm, a dev dependency: never served to users). The dashboard's CSP allows scripts
from its own origin only (script-src 'self'), so an inline <script> (Playwright's add_script_tag(path=...)) is
refused; the page is given the file at a same-origin address it asks for by a <script src> (add_script_tag(url=...)),
answered by Playwright from the local file (page.route): nothing is fetched from outside, and the gateway never
serves that address. One job service on the session's tritonserver (the directory's `service`), one browser.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
import requests
from PIL import Image
from playwright.sync_api import Browser, Page, Route, expect

from jobservice.memory_inference import Failure
from tests.dashboard.pages_helpers import User, Watched, make_user, open_page, shot, signed_in
from tests.support import REPO, ApiClient, InProcessService, ServiceProcess

pytestmark = pytest.mark.e2e

AXE = REPO / "node_modules" / "axe-core" / "axe.min.js"
AXE_URL = "/__tests__/axe.min.js"  # answered by page.route below, never by the gateway
WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
SHORT = "MKTAYIAKQRQISFVKSHFSRQLEERLGLIEVQ"
ASPIRIN = "CC(=O)Oc1ccccc1C(=O)O"
RECEPTOR = (REPO / "tests" / "diffdock" / "data" / "receptor_small.pdb").read_text()
WIDTHS = [1440, 375]

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

# The element's text made transparent (and back): what is drawn behind it, for `drawn_contrast`; its text colour and
# whether it is large text (3:1 is enough).
HIDE_TEXT = """([selector, hide]) => {
    const el = document.querySelector(selector);
    if (!el) return null;
    const svg = el instanceof SVGElement;
    if (hide) {
        const style = getComputedStyle(el);
        el.dataset.axeColour = svg ? style.fill : style.color;
        const size = parseFloat(style.fontSize);
        el.dataset.axeLarge = String(size >= 24 || (size >= 18.66 && Number(style.fontWeight) >= 700));
        el.style.setProperty(svg ? 'fill' : 'color', 'transparent', 'important');
        el.scrollIntoView({block: 'center', inline: 'center', behavior: 'instant'});
        const r = el.getBoundingClientRect(); // in the viewport, cut to it
        const [x, y] = [Math.max(r.left, 0), Math.max(r.top, 0)];
        const box = [x, y, Math.min(r.right, innerWidth) - x, Math.min(r.bottom, innerHeight) - y];
        return {colour: el.dataset.axeColour, large: el.dataset.axeLarge === 'true', box};
    }
    el.style.removeProperty(svg ? 'fill' : 'color');
    window.scrollTo(0, 0);
    return null;
}"""


def luminance(rgb: np.ndarray) -> np.ndarray:
    c = rgb / 255.0
    c = np.where(c <= 0.03928, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    return c @ np.array([0.2126, 0.7152, 0.0722])  # type: ignore[no-any-return]


def drawn_contrast(page: Page, selectors: list[str]) -> list[str]:
    """Text axe could not judge (over a gradient, in an SVG chart) judged from the pixels drawn behind it: its text
    colour against the background as drawn with the text hidden, at the 5th percentile of the box's pixels (a
    stray pixel of a border or a neighbour's glyph does not decide). Each element under 4.5:1 (3:1 large) is named."""
    found = []
    for selector in dict.fromkeys(selectors):
        hidden = page.evaluate(HIDE_TEXT, [selector, True])
        if not hidden or hidden["box"][2] < 1 or hidden["box"][3] < 1:
            continue
        x, y, w, h = hidden["box"]
        try:
            png = page.screenshot(clip={"x": x, "y": y, "width": w, "height": h}, animations="disabled")
        finally:
            page.evaluate(HIDE_TEXT, [selector, False])
        pixels = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), dtype=float).reshape(-1, 3)
        colour = re.findall(r"[\d.]+", hidden["colour"])
        if len(colour) < 3 or (len(colour) == 4 and float(colour[3]) == 0):
            continue
        text = luminance(np.array([float(c) for c in colour[:3]]))
        back = luminance(pixels)
        ratios = (np.maximum(text, back) + 0.05) / (np.minimum(text, back) + 0.05)
        worst = float(np.percentile(ratios, 5))
        if worst < (3 if hidden["large"] else 4.5):
            found.append(f"color-contrast (drawn): {worst:.2f}:1 | {selector} | text {hidden['colour']} on what is "
                         "drawn behind it")
    return found


@pytest.fixture(scope="module")
def axel(service: ServiceProcess) -> User:
    return make_user(service, "axel")


@pytest.fixture(scope="module")
def client(service: ServiceProcess, axel: User) -> ApiClient:
    return service.client(axel.api_key)


@pytest.fixture(scope="module")
def made(client: ApiClient) -> dict[str, Any]:
    """The jobs, link and webhook the pages show: two folds (one to compare with), a dock, a cancelled job, a
    share link of the first fold, one webhook."""
    fold = client.wait_for(client.predict(SHORT, name="Lysozyme fragment").json()["job_id"], timeout_s=180)
    other = client.wait_for(client.predict(SHORT[:-4], name="Shorter fragment").json()["job_id"], timeout_s=180)
    dock = client.post("/v1/predict", json={"model": "diffdock", "sequence": ASPIRIN, "name": "Aspirin dock",
                                            "params": {"protein_pdb": RECEPTOR, "inference_steps": 10,
                                                       "samples_per_complex": 2}})
    assert dock.status_code == 200, dock.text
    docked = client.wait_for(dock.json()["job_id"], timeout_s=180)
    assert [fold["status"], other["status"], docked["status"]] == ["completed"] * 3, (fold, other, docked)
    share = client.post(f"/v1/jobs/{fold['job_id']}/shares", json={"expires_in_days": 7})
    assert share.status_code in (200, 201), share.text
    hook = client.post("/v1/webhooks", json={"url": "http://127.0.0.1:9/hook", "events": ["job.completed"]})
    assert hook.status_code in (200, 201), hook.text
    return {"fold": fold["job_id"], "other": other["job_id"], "dock": docked["job_id"], "share": share.json()["url"]}


@pytest.fixture
def busy(client: ApiClient, made: dict[str, Any]) -> Iterator[dict[str, str]]:
    """A long fold running (one ESMFold job at a time in this service) and one pending behind it, then a third
    cancelled while pending: the jobs list shows every state. Both cancelled at the test's end (the long fold takes
    ~30 s: a test of its own each, as each width's pages are audited while it runs)."""
    running = client.predict(SHORT * 8, name="Many trunk passes", params={"num_recycles": 24}).json()["job_id"]
    client.wait_for(running, ("running",), timeout_s=60)
    pending = client.predict(SHORT, name="Waiting its turn").json()["job_id"]
    cancelled = client.predict(SHORT, name="Not wanted").json()["job_id"]
    assert client.post(f"/v1/jobs/{cancelled}/cancel").status_code == 200
    yield {"running": running, "pending": pending, "cancelled": cancelled}
    for job_id in (running, pending):
        client.post(f"/v1/jobs/{job_id}/cancel")


@pytest.fixture(scope="module")
def twin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InProcessService]:
    """A job service on the inference twin, for what the real tiny models cannot show cheaply: AlphaFold2's form
    (the directory's service serves ESMFold and DiffDock) and a failed job (a model's crash, scripted)."""
    process = InProcessService(tmp_path_factory.mktemp("axe-twin") / "var", {"PHONOS_MODELS": "esmfold,alphafold2"})
    yield process
    process.stop()


def give_axe(route: Route) -> None:
    route.fulfill(status=200, content_type="text/javascript", body=AXE.read_text())


def audit(page: Page, name: str, found: dict[str, list[str]]) -> None:
    """axe-core's WCAG 2.1 A/AA audit of the page as it is now; its violations (if any) under `name` in `found`,
    and a screenshot of what was audited."""
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.add_script_tag(url=AXE_URL)
    results: dict[str, list[str]] = page.evaluate(RUN_AXE, WCAG_TAGS)
    violations = results["violations"] + drawn_contrast(page, results["unjudged"])
    if violations:
        found[name] = violations
    shot(page, f"axe-{name}", full_page=False)


def settled(page: Page) -> None:
    """The page has drawn what its first answers say (no 'Loading…' left)."""
    expect(page.locator("#page-loading")).to_have_count(0)
    page.wait_for_load_state("networkidle")
    expect(page.locator("#main .loading, #main [aria-busy=true]")).to_have_count(0)


def report(found: dict[str, list[str]]) -> str:
    return "axe-core found WCAG 2.1 A/AA violations:\n" + "\n".join(
        f"  [{name}] {line}" for name, lines in found.items() for line in lines)


@pytest.fixture
def watched() -> Iterator[Watched]:
    seen = Watched()
    yield seen
    assert seen.problems() == [], seen.problems()  # no script error or CSP refusal, axe's script included


@pytest.mark.parametrize("width", WIDTHS)
def test_signed_out_pages_pass_axe(browser: Browser, service: ServiceProcess, made: dict[str, Any], width: int,
                                   watched: Watched) -> None:
    found: dict[str, list[str]] = {}
    page = open_page(browser, watched, width=width)
    page.route(f"**{AXE_URL}", give_axe)
    page.goto(f"{service.base_url}/sign-in")
    expect(page.locator("#username")).to_be_visible()
    audit(page, f"sign-in-{width}", found)
    page.fill("#username", "axel")
    page.fill("#password", "not the password")
    page.click("form button[type=submit]")
    expect(page.locator("#sign-in-error")).to_be_visible()
    audit(page, f"sign-in-error-{width}", found)
    page.goto(f"{service.base_url}{made['share']}")
    expect(page.locator("#shared-banner")).to_be_visible()
    expect(page.locator("#viewer[data-ready=true]")).to_have_count(1, timeout=60_000)
    audit(page, f"shared-{width}", found)
    page.goto(f"{service.base_url}/shared/no-such-link")
    expect(page.locator("#shared-missing")).to_be_visible()
    audit(page, f"shared-missing-{width}", found)
    page.context.close()
    assert not found, report(found)


@pytest.mark.parametrize("width", WIDTHS)
def test_signed_in_pages_and_dialogs_pass_axe(browser: Browser, service: ServiceProcess, axel: User,
                                              made: dict[str, Any], busy: dict[str, str], width: int,
                                              watched: Watched) -> None:
    found: dict[str, list[str]] = {}
    page = signed_in(browser, service, axel, watched, width=width)
    page.route(f"**{AXE_URL}", give_axe)
    base = service.base_url

    def visit(path: str, name: str, ready: str | None = None) -> None:
        page.goto(f"{base}{path}")
        if ready:
            expect(page.locator(ready).first).to_be_visible(timeout=60_000)
        settled(page)
        audit(page, f"{name}-{width}", found)

    visit("/jobs", "jobs", "#jobs-body tr")
    for status in ("completed", "running", "pending", "cancelled"):
        expect(page.locator("#jobs-body")).to_contain_text(status)
    # A confirm dialog (cancelling the pending job, not confirmed).
    page.click("#jobs-body button[aria-label='Cancel Waiting its turn']")
    expect(page.locator("dialog[open]")).to_be_visible()
    audit(page, f"jobs-confirm-dialog-{width}", found)
    page.keyboard.press("Escape")
    expect(page.locator("dialog[open]")).to_have_count(0)
    if width < 980:  # the navigation folds behind its menu button
        page.click("#menu-toggle")
        expect(page.locator("#side-menu")).to_be_visible()
        audit(page, f"menu-open-{width}", found)
        page.keyboard.press("Escape")

    visit(f"/jobs/{made['fold']}", "job-fold", "#viewer[data-ready=true]")
    page.click("#share-job")
    expect(page.locator("#share-panel")).to_be_visible()
    settled(page)
    audit(page, f"job-fold-share-panel-{width}", found)
    visit(f"/jobs/{made['fold']}?compare={made['other']}", "job-compare", "#compare-tm")
    visit(f"/jobs/{made['dock']}", "job-dock", "#viewer[data-ready=true]")
    visit(f"/jobs/{busy['running']}", "job-running", "#status-card")
    visit(f"/jobs/{busy['cancelled']}", "job-cancelled", "#job-cancelled")

    visit("/submit", "submit-esmfold", "#submit-job")
    page.click("#submit-job")  # no sequence: the form's validation error
    expect(page.locator(".field .error:visible, #form-error:visible").first).to_be_visible()
    audit(page, f"submit-esmfold-error-{width}", found)
    visit("/submit?model=diffdock", "submit-diffdock", "#submit-job")
    visit(f"/submit?model=diffdock&receptor={made['fold']}", "submit-diffdock-receptor", "#submit-job")
    page.fill("#f-ligand_smiles", "C1CC")  # not a molecule: the API's 400 beside the field
    page.click("#submit-job")
    expect(page.locator("#error-ligand_smiles")).to_be_visible()
    audit(page, f"submit-diffdock-error-{width}", found)

    visit("/keys", "keys", "#keys-table")
    page.fill("#key-name", f"axe {width}")
    page.click("#key-create")
    expect(page.locator("#secret-callout")).to_be_visible()
    audit(page, f"keys-new-secret-{width}", found)
    visit("/webhooks", "webhooks", "#webhook-url")
    visit("/usage", "usage", "h1")
    visit("/account", "account", "h1")
    visit("/no-such-page", "not-found", "#not-found")
    page.close()
    assert not found, report(found)


def test_the_audit_finds_a_violation(browser: Browser, service: ServiceProcess, watched: Watched) -> None:
    """The audit is not vacuous: axe runs on the page and an unnamed button is reported."""
    page = open_page(browser, watched)
    page.route(f"**{AXE_URL}", give_axe)
    page.goto(f"{service.base_url}/sign-in")
    expect(page.locator("#username")).to_be_visible()
    page.evaluate("document.querySelector('form').append(document.createElement('button'))")
    found: dict[str, list[str]] = {}
    audit(page, "sign-in-broken", found)
    page.context.close()
    assert any(re.match(r"button-name \(critical\)", line) for line in found["sign-in-broken"]), found
    # axe-core is the tests' alone: the gateway serves none of it, at any address it might be looked for at.
    for path in (AXE_URL, "/static/vendor/axe-core/axe.min.js", "/node_modules/axe-core/axe.min.js"):
        answer = requests.get(f"{service.base_url}{path}", timeout=10)
        assert "axe.run" not in answer.text, path


@pytest.mark.parametrize("width", WIDTHS)
def test_alphafold2_form_and_a_failed_job_pass_axe(browser: Browser, twin: InProcessService, width: int,
                                                  watched: Watched) -> None:
    found: dict[str, list[str]] = {}
    ines = make_user(twin, f"ines{width}")  # type: ignore[arg-type]
    client = twin.client(ines.api_key)
    twin.settle()
    twin.inference.script("esmfold", Failure.MODEL_ERROR)
    failed = client.wait_for(client.predict(SHORT, name="Crashed the model").json()["job_id"])
    assert failed["status"] == "failed", failed
    page = signed_in(browser, twin, ines, watched, width=width)  # type: ignore[arg-type]
    page.route(f"**{AXE_URL}", give_axe)
    expect(page.locator("#jobs-body")).to_contain_text("failed")
    settled(page)
    audit(page, f"jobs-failed-{width}", found)
    page.goto(f"{twin.base_url}/jobs/{failed['job_id']}")
    expect(page.locator("#job-error")).to_be_visible()
    settled(page)
    audit(page, f"job-failed-{width}", found)
    page.goto(f"{twin.base_url}/submit?model=alphafold2")
    expect(page.locator("#tab-alphafold2")).to_have_attribute("aria-selected", "true")
    settled(page)
    audit(page, f"submit-alphafold2-{width}", found)
    page.click("#submit-job")  # no sequence: the form's validation error
    expect(page.locator(".field .error:visible, #form-error:visible").first).to_be_visible()
    audit(page, f"submit-alphafold2-error-{width}", found)
    page.close()
    assert not found, report(found)
