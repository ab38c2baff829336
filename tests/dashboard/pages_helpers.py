"""Helpers of the dashboard's browser tests (a module of its own: conftest modules are not imported)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Dialog, Page
from playwright.sync_api import Error as PlaywrightError

from jobservice import admin
from tests.support import REPO, InProcessService, ServiceProcess

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--use-gl=swiftshader", "--enable-unsafe-swiftshader"]
ARTIFACTS = REPO / "artifacts" / "screenshots"
VIEWPORT = {"width": 1440, "height": 960}


@dataclass
class User:
    username: str
    password: str
    api_key: str


@dataclass
class Watched:
    """What a page did that a person would not see: script errors, CSP refusals, alert() dialogs."""

    errors: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)

    def problems(self) -> list[str]:
        return [e for e in self.errors if "Refused to" in e or e.startswith("pageerror")]


def in_process_service(name: str, env: Mapping[str, str] | None = None) -> Callable[..., Iterator[InProcessService]]:
    """A module's `service` fixture: a job service on the inference twin (no Triton, no model), with `env`
    settings, in a data directory of its own; for pages that need the API and the forms, not a model's result.
    Use as `service = in_process_service("name", {...})` at a test module's top level."""

    @pytest.fixture(scope="module")
    def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InProcessService]:
        process = InProcessService(Path(tmp_path_factory.mktemp(name)) / "var", dict(env or {}))
        yield process
        process.stop()

    return service


def make_user(service: ServiceProcess, username: str) -> User:
    """An account with a key and a dashboard password (in a thread: Playwright's sync API owns this
    thread's event loop once a browser is open, and the admin functions are coroutines)."""

    def create() -> User:
        key = service.new_key(credits=5000, rate_limit=600, username=username)
        password = f"{username} has a long passphrase"
        asyncio.run(admin.set_password(service.settings, username=username, password=password))
        return User(username, password, key)

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(create).result()


def open_page(browser: Browser, watched: Watched | None = None, *, width: int = VIEWPORT["width"],
              user_agent: str | None = None, touch: bool = False) -> Page:
    """A page in a browser context of its own (its own cookies); `user_agent`: Chromium's own when None; `touch`: a
    phone's (a touch screen, no mouse: CSS `(hover: none)`)."""
    context = browser.new_context(viewport={"width": width, "height": VIEWPORT["height"]}, user_agent=user_agent,
                                  has_touch=touch, is_mobile=touch)
    return watch(context.new_page(), watched)


def watch(page: Page, watched: Watched | None) -> Page:
    """`page`, its script errors, CSP refusals and dialogs recorded in `watched` (dialogs dismissed)."""
    if watched is not None:
        page.on("console", lambda m: watched.errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: watched.errors.append(f"pageerror: {e}"))

        def on_dialog(dialog: Dialog) -> None:
            watched.dialogs.append(dialog.message)
            dialog.dismiss()

        page.on("dialog", on_dialog)
    return page


def sign_in(browser: Browser, service: ServiceProcess | InProcessService, user: User, watched: Watched | None = None,
            *, width: int = VIEWPORT["width"], user_agent: str | None = None, touch: bool = False) -> Page:
    page = open_page(browser, watched, width=width, user_agent=user_agent, touch=touch)
    page.goto(f"{service.base_url}/jobs")
    page.wait_for_url("**/sign-in?next=%2Fjobs")
    page.fill("#username", user.username)
    page.fill("#password", user.password)
    page.click("form button[type=submit]")
    page.wait_for_url("**/jobs")
    return page


# The browser context of a signed-in session, by (service URL, username, user agent): `signed_in` reuses it.
_SIGNED_IN: dict[tuple[str, str, str | None], BrowserContext] = {}


def signed_in(browser: Browser, service: ServiceProcess | InProcessService, user: User,
              watched: Watched | None = None, *, width: int = VIEWPORT["width"], user_agent: str | None = None) -> Page:
    """`sign_in`'s page (on /jobs, signed in as `user`) for a test that needs a signed-in page but does not test
    signing in: the form is filled once per service and user (and user agent), and later pages are fresh pages of
    that session's browser context, ~1.5-2 s less each (a context, three page loads and a password hash). Close the
    page with `page.close()`, not its context. Signing in itself is tested with `sign_in` and the form. A session
    ended since (a sign-out, a password change) or a context closed is noticed (GET /auth/session) and the form is
    filled again in a new context."""
    key = (service.base_url, user.username, user_agent)
    context = _SIGNED_IN.get(key)
    if context is not None and context.browser is browser and browser.is_connected():
        try:
            alive = context.request.get(f"{service.base_url}/auth/session").ok
        except PlaywrightError:  # the context was closed
            alive = False
        if alive:
            page = watch(context.new_page(), watched)
            page.set_viewport_size({"width": width, "height": VIEWPORT["height"]})
            page.goto(f"{service.base_url}/jobs")
            page.wait_for_url("**/jobs")
            return page
    page = sign_in(browser, service, user, watched, width=width, user_agent=user_agent)
    _SIGNED_IN[key] = page.context
    return page


def shot(page: Page, name: str, *, full_page: bool = True) -> Path:
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    return path


# ---- keyboard and screen-reader checks (WCAG AA), shared by the modules that walk their pages ---------------------

# What a page shows a person that a screen reader or a keyboard would miss: controls with no label, buttons and
# links with no name, descriptions that point at nothing, tab orders forced by a positive tabindex, and text
# (its placeholder too) under 4.5:1 on the background it is drawn on (3:1 for large text), and checkboxes and radios
# with a hit area under 24 px. Colours from the CSS as computed; a background is the nearest opaque one up the tree.
A11Y_PROBLEMS = """() => {
    const rgb = (c) => (c.match(/[\\d.]+/g) || []).map(Number);
    const lum = ([r, g, b]) => [r, g, b].map((v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; })
        .reduce((sum, v, i) => sum + v * [0.2126, 0.7152, 0.0722][i], 0);
    const ratio = (a, b) => { const [x, y] = [lum(a), lum(b)]; return (Math.max(x, y) + 0.05) / (Math.min(x, y) + 0.05); };
    const background = (el) => {
        for (let e = el; e; e = e.parentElement) {
            const style = getComputedStyle(e);
            const c = rgb(style.backgroundColor);
            if (c.length === 3 || c[3] === 1) return c;
            if (style.backgroundImage !== 'none') return null; // a gradient: not judged here
        }
        return [255, 255, 255];
    };
    const shown = (el) => el.getClientRects().length > 0 && getComputedStyle(el).visibility !== 'hidden';
    const what = (el) => `${el.tagName.toLowerCase()}${el.id ? '#' + el.id : ''}${el.className && typeof el.className === 'string' ? '.' + el.className.trim().replace(/\\s+/g, '.') : ''}`;
    const problems = [];
    for (const el of document.querySelectorAll('body *')) {
        if (!shown(el) || el.closest(':disabled, [aria-disabled=true]')) continue;
        if (![...el.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim())) continue;
        const style = getComputedStyle(el);
        const back = background(el);
        if (!back) continue;
        const large = parseFloat(style.fontSize) >= 24 || (parseFloat(style.fontSize) >= 18.66 && Number(style.fontWeight) >= 700);
        const r = ratio(rgb(style.color), back);
        if (r < (large ? 3 : 4.5)) problems.push(`contrast ${r.toFixed(2)}: ${what(el)} "${el.textContent.trim().slice(0, 30)}"`);
    }
    for (const el of document.querySelectorAll('input, select, textarea')) {
        if (el.type === 'hidden' || !shown(el)) continue;
        const labelled = [...(el.labels || [])].map((l) => l.textContent).join(' ').trim() || (el.getAttribute('aria-label') || '').trim()
            || (el.getAttribute('aria-labelledby') || '').split(/\\s+/).map((id) => document.getElementById(id)?.textContent || '').join('').trim();
        if (!labelled) problems.push(`no label: ${what(el)}`);
        if (el.placeholder && !el.disabled) {
            const r = ratio(rgb(getComputedStyle(el, '::placeholder').color), background(el) || [255, 255, 255]);
            if (r < 4.5) problems.push(`placeholder contrast ${r.toFixed(2)}: ${what(el)}`);
        }
    }
    for (const el of document.querySelectorAll('button, a[href], [role=button], [role=tab]')) {
        if (!shown(el)) continue;
        const name = (el.getAttribute('aria-label') || el.textContent || el.title || '').trim()
            || [...el.querySelectorAll('img[alt]')].map((i) => i.alt).join('').trim();
        if (!name) problems.push(`no name: ${what(el)}`);
    }
    for (const el of document.querySelectorAll('[aria-describedby], [aria-labelledby], [aria-controls]')) {
        for (const attr of ['aria-describedby', 'aria-labelledby', 'aria-controls']) {
            for (const id of (el.getAttribute(attr) || '').split(/\\s+/).filter(Boolean)) {
                if (!document.getElementById(id)) problems.push(`${attr} to nothing: ${what(el)} -> ${id}`);
            }
        }
    }
    for (const el of document.querySelectorAll('[tabindex]')) if (el.tabIndex > 0) problems.push(`positive tabindex: ${what(el)}`);
    // Checkboxes and radios: a click anywhere in the 24 px square round the box's centre (WCAG 2.5.8's least target)
    // lands on the box or on its label (the browser's own 13 px box with no label round it was 13 px wide); 11 px
    // each way from the centre, as the hit test rounds a point to its pixel (12 is the next one's).
    const [scrollX, scrollY] = [window.scrollX, window.scrollY];
    for (const el of document.querySelectorAll('input[type=checkbox], input[type=radio]')) {
        if (!shown(el) || el.disabled) continue;
        el.scrollIntoView({block: 'center', inline: 'center'});
        const r = el.getBoundingClientRect();
        const [x, y] = [r.left + r.width / 2, r.top + r.height / 2];
        const missed = [[-11, -11], [11, -11], [-11, 11], [11, 11], [-11, 0], [11, 0], [0, -11], [0, 11]]
            .filter(([dx, dy]) => {
                const hit = document.elementFromPoint(x + dx, y + dy);
                return !hit || (hit !== el && hit.closest('label')?.control !== el);
            });
        if (missed.length) problems.push(`target under 24 px (${Math.round(r.width)}x${Math.round(r.height)} px box): ${what(el)} ${el.getAttribute('aria-label') || el.value}`);
    }
    window.scrollTo(scrollX, scrollY);
    return problems;
}"""

# The controls a keyboard should reach, in document order: shown, enabled, not taken out of the tab order; of a
# group of radios only the checked one (or the first), as the browser tabs to it.
TABBABLE = """() => {
    const seen = new Set();
    const out = [];
    for (const el of document.querySelectorAll('a[href], button, input, select, textarea, [tabindex]')) {
        if (el.disabled || el.tabIndex < 0 || el.type === 'hidden' || el.getClientRects().length === 0) continue;
        if (getComputedStyle(el).visibility === 'hidden' || el.closest('[inert]')) continue;
        if (el.type === 'radio') {
            const group = [...document.getElementsByName(el.name)].filter((r) => !r.disabled);
            const stop = group.find((r) => r.checked) || group[0];
            if (el !== stop || seen.has(el.name)) continue;
            seen.add(el.name);
        }
        out.push(el.dataset.a11y);
    }
    return out;
}"""

# Records each element the focus lands on (its index from keyboard_walk's numbering, its name) and whether its
# focus ring can be seen: a solid outline 2 px or wider at 3:1 or more against what is behind it (WCAG 1.4.11), or a
# box-shadow. A listener, so that the walk presses Tab without a round trip to the page between presses.
RECORD_FOCUS = """() => {
    const rgb = (c) => (c.match(/[\\d.]+/g) || []).map(Number);
    const lum = ([r, g, b]) => [r, g, b].map((v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; })
        .reduce((sum, v, i) => sum + v * [0.2126, 0.7152, 0.0722][i], 0);
    window.a11yFocusLog = [];
    window.a11yFocusListener = (event) => {
        const el = event.target;
        let back = [255, 255, 255];
        for (let e = el.parentElement; e; e = e.parentElement) {
            const c = rgb(getComputedStyle(e).backgroundColor);
            if (c.length === 3 || c[3] === 1) { back = c; break; }
        }
        const style = getComputedStyle(el);
        const [a, b] = [lum(rgb(style.outlineColor)), lum(back)];
        const contrast = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
        const ring = (style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) >= 2 && contrast >= 3) || style.boxShadow !== 'none';
        const label = el.labels && el.labels.length ? el.labels[0].textContent : '';
        const text = (el.getAttribute('aria-label') || label || el.textContent || el.id || el.tagName).trim().replace(/\\s+/g, ' ').slice(0, 40);
        window.a11yFocusLog.push({id: el.dataset.a11y || null, text, ring, contrast: Math.round(contrast * 100) / 100});
    };
    document.addEventListener('focusin', window.a11yFocusListener);
}"""


# Resolves once nothing in the page has changed for `quiet` ms (or after `limit` ms): a list or panel that a page
# redraws after its requests come back replaces the controls numbered before it, which the walk would then report
# as never reached (a share panel's links list, once in CI).
SETTLED = """([quiet, limit]) => new Promise((resolve) => {
    let timer = null;
    const observer = new MutationObserver(() => { clearTimeout(timer); timer = setTimeout(done, quiet); });
    const done = () => { observer.disconnect(); clearTimeout(timer); clearTimeout(cap); resolve(); };
    const cap = setTimeout(done, limit);
    observer.observe(document.body, {childList: true, subtree: true});
    timer = setTimeout(done, quiet);
})"""


def keyboard_walk(page: Page, extra: int = 10, tries: int = 3) -> tuple[list[str], list[str]]:
    """Tabs through the page from its top, as a keyboard user does: returns what the focus visited (by name) and
    the problems found on the way (controls never reached, reached out of order, focus rings not seen). The page
    has drawn what it shows; its controls are numbered (data-a11y) to compare the walk with TABBABLE's list.
    Tab is pressed once per control and `extra` times more (a scrolling box the browser lets the focus into, the
    browser's own address bar past the last control). A walk during which the page replaced some of the numbered
    controls (a redraw) says nothing about them: it is walked again, up to `tries` times, and a control still gone
    is reported as such."""
    for attempt in range(tries):
        page.evaluate(SETTLED, [400, 5_000])
        visited, problems, replaced = _walk_once(page, extra)
        if not replaced or attempt == tries - 1:
            return visited, problems
    raise AssertionError("unreachable")


def _walk_once(page: Page, extra: int) -> tuple[list[str], list[str], bool]:
    """One walk: (what the focus visited, the problems, whether a numbered control left the page meanwhile)."""
    page.evaluate("""() => {
        document.querySelectorAll('*').forEach((el, i) => { el.dataset.a11y = String(i); });
        // Tab goes on from where the focus was (a blurred field, too): from a mark at the page's top instead.
        const start = document.createElement('span');
        start.id = 'a11y-walk-start';
        start.tabIndex = -1;
        document.body.prepend(start);
        start.focus();
        window.scrollTo(0, 0);
    }""")
    wanted: list[str] = page.evaluate(TABBABLE)
    page.evaluate(RECORD_FOCUS)
    for _ in range(len(wanted) + extra):
        page.keyboard.press("Tab")
    log: list[dict[str, object]] = page.evaluate("""() => {
        document.removeEventListener('focusin', window.a11yFocusListener);
        document.getElementById('a11y-walk-start')?.remove();
        return window.a11yFocusLog;
    }""")
    visited: list[dict[str, object]] = []
    for focused in log:
        if visited and focused["id"] == visited[0]["id"]:
            break  # round to the first control again
        visited.append(focused)
    problems = [f"no focus ring seen ({f['contrast']}:1): {f['text']}" for f in visited if not f["ring"]]
    ids = [str(f["id"]) for f in visited]
    names = {str(f["id"]): str(f["text"]) for f in visited}
    missed = [i for i in wanted if i not in ids]
    gone: list[str] = page.evaluate(
        "(ids) => ids.filter((i) => !document.querySelector(`[data-a11y='${i}']`))", wanted)
    still_there = [i for i in missed if i not in gone]
    if still_there:
        problems.append("never reached: " + ", ".join(page.evaluate(
            "(ids) => ids.map((i) => { const e = document.querySelector(`[data-a11y='${i}']`); "
            "return `${e.tagName}#${e.id} ${(e.getAttribute('aria-label') || e.textContent).trim().slice(0, 30)}`; })",
            still_there)))
    if gone:
        problems.append(f"{len(gone)} control(s) left the page during the walk (redrawn)")
    reached = [i for i in ids if i in wanted]
    if reached != [i for i in wanted if i in reached]:
        problems.append("out of document order: " + " | ".join(names[i] for i in reached))
    return [str(f["text"]) for f in visited], problems, bool(gone)
