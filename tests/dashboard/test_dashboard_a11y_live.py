"""What a keyboard or a screen reader meets on pages that change by themselves: the jobs list's live status changes
said in one polite region (not on the first load, a burst counted in one message), the focus and the words after
a bulk delete, the 3D viewer turned by keyboard (0 and Reset return it to the view it opened with), the delivery
log's filter named for what it filters, and a walk by keyboard at a desktop's and a phone's width. A job service on
the inference twin (scripted slow calls) for the jobs, one on the session's real tritonserver (tiny ESMFold) for a
structure the viewer draws; one browser."""

from __future__ import annotations

import io
import re
import time
from collections.abc import Iterator

import numpy as np
import pytest
from PIL import Image
from playwright.sync_api import Browser, Page, expect

from jobservice.memory_inference import Slow
from tests.dashboard.pages_helpers import (
    A11Y_PROBLEMS,
    User,
    Watched,
    in_process_service,
    keyboard_walk,
    make_user,
    shot,
    sign_in,
)
from tests.support import ApiClient, InProcessService, ServiceProcess, TritonFixture

pytestmark = pytest.mark.e2e

service = in_process_service("a11y-live", {"PHONOS_MODELS": "esmfold"})

# Every text the page's live region (dom.js announce) is given, with when, from before the page's first script runs.
RECORD_SAID = """
window.said = [];
new MutationObserver(() => {
    const region = document.getElementById('announcer');
    const text = region ? region.textContent : '';
    if (text && (!window.said.length || window.said[window.said.length - 1].text !== text)) {
        window.said.push({at: performance.now(), text});
    }
}).observe(document, {subtree: true, childList: true, characterData: true});
"""

# The jobs list's answers held back 1.5 s once window.slowList is set: a live refresh asked for before a bulk
# delete answers after it (with the jobs deleted in it), as a loaded server or network makes it.
SLOW_LIST = """
const realFetch = window.fetch;
window.fetch = async (resource, init) => {
    const response = await realFetch(resource, init);
    if (window.slowList && String(resource).includes('/v1/jobs?') && (!init || !init.method || init.method === 'GET')) {
        await new Promise((resolve) => setTimeout(resolve, 1500));
    }
    return response;
};
"""

ANNOUNCE_GAP_S = 3.0  # jobs.js ANNOUNCE_GAP_MS


@pytest.fixture(scope="module")
def folding(shared_triton: TritonFixture, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceProcess]:
    """A job service on the session's tritonserver: the twin's results are not structures a viewer can draw."""
    process = ServiceProcess.start(tmp_path_factory.mktemp("a11y-fold") / "var", shared_triton.grpc_url, {})
    yield process
    process.stop()


@pytest.fixture(scope="module")
def lea(service: InProcessService) -> User:
    return make_user(service, "lea")  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def client(service: InProcessService, lea: User) -> ApiClient:
    return service.client(lea.api_key)


@pytest.fixture(scope="module")
def page(browser: Browser, service: InProcessService, lea: User) -> Iterator[Page]:
    watched = Watched()
    opened = sign_in(browser, service, lea, watched)  # type: ignore[arg-type]
    yield opened
    opened.context.close()
    assert watched.problems() == [], watched.problems()


def said(page: Page) -> list[dict[str, object]]:
    return page.evaluate("window.said")  # type: ignore[no-any-return]


def refresh_now(page: Page) -> None:
    """What the list does when its tab is shown again: refreshes at once (instead of at its next poll)."""
    page.evaluate("document.dispatchEvent(new Event('visibilitychange'))")


def test_live_status_changes_are_said_once_concisely_and_a_burst_in_one_message(page: Page, client: ApiClient,
                                                                               service: InProcessService) -> None:
    done = client.wait_for(client.predict(name="done").json()["job_id"])["job_id"]
    service.inference.script("esmfold", Slow(3))
    solo = client.predict(name="solo").json()["job_id"]
    # Running before the page's first load: a dispatch behind that load (a loaded host) is a change it says.
    client.wait_for(solo, ("running",))
    page.add_init_script(RECORD_SAID)
    page.add_init_script(SLOW_LIST)
    page.goto(f"{service.base_url}/jobs")
    expect(page.locator("#jobs-body tr")).to_have_count(2)
    region = page.locator("#announcer")
    expect(region).to_have_attribute("aria-live", "polite")
    expect(region).to_have_attribute("role", "status")
    time.sleep(0.5)
    assert said(page) == [], "the first load is not said"
    expect(region).to_have_text("solo completed", timeout=20_000)
    messages = [str(m["text"]) for m in said(page)]
    assert all(m in ("solo running", "solo completed") for m in messages), messages
    for job_id in (done, solo):
        expect(page.locator(f"tr[data-job-id='{job_id}'] [data-status]")).to_have_attribute("data-status", "completed")

    # Five jobs end at once: one message that counts them, not five.
    service.inference.script("esmfold", *[Slow(5)] * 5)
    burst = [client.predict(name=f"burst {n}").json()["job_id"] for n in range(5)]
    refresh_now(page)
    expect(page.locator("#jobs-body tr")).to_have_count(7)
    # The tab goes to the background (not polled): the jobs end meanwhile, and the list sees them all when shown again.
    page.evaluate("window.tabHidden = true; Object.defineProperty(document, 'hidden', {get: () => window.tabHidden})")
    time.sleep(2.5)  # the poll already scheduled runs once more
    for job_id in burst:
        client.wait_for(job_id)
    page.evaluate("window.tabHidden = false")
    refresh_now(page)
    expect(region).to_have_text("5 jobs changed status: 5 completed", timeout=10_000)
    log = said(page)
    texts = [str(m["text"]) for m in log]
    assert all(len(t) <= 80 for t in texts), texts
    assert all(t.count(";") <= 2 for t in texts), texts  # at most three jobs named in one message
    gaps = [float(b["at"]) - float(a["at"]) for a, b in zip(log, log[1:], strict=False)]  # type: ignore[arg-type]
    assert all(g >= ANNOUNCE_GAP_S * 1000 - 150 for g in gaps), (texts, gaps)
    shot(page, "a11y-live-jobs-said")


def test_a_bulk_delete_says_how_many_and_puts_the_focus_on_the_list(page: Page, client: ApiClient,
                                                                     service: InProcessService) -> None:
    for n in range(4):
        client.wait_for(client.predict(name=f"old {n}").json()["job_id"])
    page.goto(f"{service.base_url}/jobs?name=old")
    rows = page.locator("#jobs-body tr")
    expect(rows).to_have_count(4)
    gone = [rows.nth(i).get_attribute("data-job-id") for i in (0, 1)]
    for job_id in gone:
        page.locator(f"tr[data-job-id='{job_id}'] input.pick").check()
    expect(page.locator("#bulk-delete")).to_have_text("Delete 2 jobs")
    # A live refresh is in flight (asked for before the delete, answered after it) as the jobs go.
    page.evaluate("window.slowList = true")
    refresh_now(page)
    page.focus("#bulk-delete")
    page.keyboard.press("Enter")
    expect(page.locator("dialog")).to_contain_text("deleted for good")
    page.keyboard.press("Tab")  # Cancel -> Delete 2 jobs
    page.keyboard.press("Enter")
    expect(page.locator("#announcer")).to_have_text("Deleted 2 jobs")
    expect(page.locator("#select-all")).to_be_focused()  # the list's top, not the page's
    expect(rows).to_have_count(2)
    time.sleep(1.6)  # what was in flight has answered: the deleted jobs are not drawn again, the focus stays
    expect(rows).to_have_count(2)
    expect(page.locator("#select-all")).to_be_focused()
    page.evaluate("window.slowList = false")
    for job_id in gone:
        assert client.get(f"/v1/jobs/{job_id}").status_code == 404
    assert said(page)[-1]["text"] == "Deleted 2 jobs"  # not followed by the statuses of jobs it deleted


def viewer_pixels(page: Page) -> bytes:
    return page.locator("#viewer canvas").first.screenshot()


def pixels_apart(a: bytes, b: bytes) -> int:
    """How many pixels of two pictures of the same size differ by more than a shade (the focus ring's rounded
    corners are drawn a little differently from one frame to the next, up to 3 of 255)."""
    first, second = (np.asarray(Image.open(io.BytesIO(p)).convert("RGB"), dtype=np.int16) for p in (a, b))
    return int((np.abs(first - second).max(axis=2) > 16).sum())


def test_the_viewer_turns_and_the_plots_read_by_keyboard_and_still_by_pointer(browser: Browser,
                                                                             folding: ServiceProcess) -> None:
    max_ = make_user(folding, "max")
    api = folding.client(max_.api_key)
    job_id = api.wait_for(api.predict(name="fold").json()["job_id"])["job_id"]
    watched = Watched()
    # A phone's width: the keyboard works there too (a tablet's keyboard), and software WebGL draws a phone's
    # viewer in a quarter of a desktop's time (each key below draws the scene again).
    page = sign_in(browser, folding, max_, watched, width=390)
    page.goto(f"{folding.base_url}/jobs/{job_id}")
    viewer = page.locator("#viewer")
    expect(viewer).to_have_attribute("data-ready", "true")
    expect(viewer).to_have_attribute("role", "application")
    expect(viewer).to_have_attribute("tabindex", "0")
    keys = page.locator(f"#{viewer.get_attribute('aria-describedby')}")
    expect(keys).to_have_text("Arrow keys turn the molecule, + and − zoom, 0 resets the view.")
    expect(keys).to_be_hidden()
    page.focus("#view-reset")
    page.keyboard.press("Tab")  # the viewer is the stop after its buttons, drawn above it
    expect(viewer).to_be_focused()
    expect(keys).to_be_visible()
    # On screen with the viewer it describes, in its box: it sat at the card's foot, under the note of a structure
    # shown as sticks and below the screen's edge (a keyboard tester's finding).
    on_screen, inside = page.evaluate("""() => {
        const keys = document.querySelector('.viewer-keys').getBoundingClientRect();
        const box = document.getElementById('viewer').getBoundingClientRect();
        return [keys.top >= 0 && keys.bottom <= window.innerHeight,
                keys.top >= box.top && keys.bottom <= box.bottom];
    }""")
    assert on_screen and inside, (on_screen, inside)
    shot(page, "a11y-live-viewer-focused", full_page=False)
    start = viewer_pixels(page)
    scrolled = page.evaluate("window.scrollY")
    page.keyboard.press("ArrowRight")
    turned = viewer_pixels(page)
    assert turned != start
    assert page.evaluate("window.scrollY") == scrolled  # the arrows turned the molecule, not the page
    page.keyboard.press("ArrowDown")
    tilted = viewer_pixels(page)
    assert tilted != turned
    page.keyboard.press("+")
    zoomed = viewer_pixels(page)
    assert zoomed != tilted
    page.keyboard.press("-")
    away = viewer_pixels(page)
    assert away != zoomed
    page.keyboard.press("0")  # as the Reset button: the view the page opened with, not the turned one fitted again
    assert pixels_apart(viewer_pixels(page), start) == 0
    # The pointer turns it as before; a click gives it the focus without the keys' note over it.
    page.click("h1")  # the keyboard's focus leaves the viewer
    expect(keys).to_be_hidden()
    viewer.scroll_into_view_if_needed()
    box = viewer.bounding_box()
    assert box is not None
    before = viewer_pixels(page)
    page.mouse.move(box["x"] + box["width"] * 0.3, box["y"] + box["height"] * 0.5)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.6, box["y"] + box["height"] * 0.55, steps=2)
    page.mouse.up()
    page.mouse.move(box["x"] + 5, box["y"] + 5)  # off the atoms: no hover label
    assert viewer_pixels(page) != before
    expect(viewer).to_be_focused()
    expect(keys).to_be_hidden()
    turned_by_pointer = viewer_pixels(page)
    page.keyboard.press("ArrowLeft")  # and the keys work after the pointer
    assert viewer_pixels(page) != turned_by_pointer
    page.click("#view-reset")  # the turns undone, the view fitted: as the page opened (its focus ring drawn again)
    page.mouse.move(0, 0)
    page.focus("#view-reset")
    page.keyboard.press("Tab")
    assert pixels_apart(viewer_pixels(page), start) == 0
    # The Compare card's list, with nothing to compare yet, says so in words that fit a phone's select (it cuts them).
    compare = page.locator("#compare-with")
    expect(compare).to_be_disabled()
    text_width, room = compare.evaluate("""(s) => {
        const style = getComputedStyle(s);
        const context = document.createElement('canvas').getContext('2d');
        context.font = `${style.fontWeight} ${style.fontSize} ${style.fontFamily}`;
        return [context.measureText(s.options[s.selectedIndex].text).width,
                s.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight) - 20];  // 20: its arrow
    }""")
    assert text_width <= room, (compare.inner_text(), text_width, room)

    # The pLDDT plot and the PAE map are read by keyboard too, as by hovering; the readout is said as it changes
    # while the plot has the focus (and not as a pointer passes over it).
    scores = api.get(f"/v1/jobs/{job_id}/download", params={"format": "json"}).json()
    plddt, pae, sequence = scores["plddt"], scores["pae"], scores["sequence"]
    plot, readout = page.locator("#plddt-plot"), page.locator("#plddt-readout")
    expect(plot).to_have_attribute("role", "application")
    expect(page.locator(f"#{plot.get_attribute('aria-describedby')}")).to_contain_text("arrow keys")
    expect(readout).not_to_have_attribute("aria-live", "polite")
    page.focus("#view-reset")
    while not plot.evaluate("(e) => e === document.activeElement"):  # Tab on to the plot, past the Compare card
        page.keyboard.press("Tab")
    expect(readout).to_have_attribute("aria-live", "polite")
    expect(readout).to_have_text(f"Residue 1 ({sequence[0]}): pLDDT {plddt[0]:.1f}")
    page.keyboard.press("ArrowRight")
    expect(readout).to_have_text(f"Residue 2 ({sequence[1]}): pLDDT {plddt[1]:.1f}")
    scrolled = page.evaluate("window.scrollY")
    page.keyboard.press("End")
    expect(readout).to_have_text(f"Residue {len(plddt)} ({sequence[-1]}): pLDDT {plddt[-1]:.1f}")
    assert page.evaluate("window.scrollY") == scrolled
    heatmap, pae_readout = page.locator("#pae-canvas"), page.locator("#pae-readout")
    page.keyboard.press("Tab")
    expect(heatmap).to_be_focused()
    expect(readout).not_to_have_attribute("aria-live", "polite")
    expect(pae_readout).to_have_attribute("aria-live", "polite")
    expect(pae_readout).to_have_text(f"Aligned on residue 1, scored residue 1: {pae[0][0]:.1f} Å")
    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")
    expect(pae_readout).to_have_text(f"Aligned on residue 2, scored residue 3: {pae[1][2]:.1f} Å")
    mark, map_box = page.locator(".pae-mark").bounding_box(), heatmap.bounding_box()  # where the keys are, drawn
    assert mark and map_box
    cell = map_box["width"] / len(pae)
    assert abs(mark["x"] - (map_box["x"] + 2 * cell)) <= 2 and abs(mark["y"] - (map_box["y"] + cell)) <= 2, (mark, map_box)
    shot(page, "a11y-live-pae-by-keyboard", full_page=False)
    box = plot.bounding_box()  # and the pointer reads them as before
    assert box is not None
    page.mouse.move(box["x"] + box["width"] * 0.5, box["y"] + box["height"] * 0.5)
    expect(readout).to_contain_text("Residue ")
    expect(readout).not_to_have_attribute("aria-live", "polite")
    # The page walked by keyboard: the viewer and both plots are stops, in order, with a ring to see.
    page.mouse.move(0, 0)
    visited, problems = keyboard_walk(page)
    for stop in ("The structure in 3D", "pLDDT per residue", "Predicted aligned error heatmap"):
        assert any(v.startswith(stop) for v in visited), (stop, visited)
    assert problems + page.evaluate(A11Y_PROBLEMS) == []
    assert watched.problems() == []
    page.context.close()


def test_on_a_phone_the_plots_say_touch_and_a_touch_reads_them(browser: Browser, folding: ServiceProcess) -> None:
    """A phone has no hover: the plots' hints said "Hover the plot" and only a mouse's moves read them. A touch reads
    a residue (and a pair on the PAE map), and the hints say so."""
    mia = make_user(folding, "mia")
    api = folding.client(mia.api_key)
    job_id = api.wait_for(api.predict(name="fold").json()["job_id"])["job_id"]
    scores = api.get(f"/v1/jobs/{job_id}/download", params={"format": "json"}).json()
    watched = Watched()
    page = sign_in(browser, folding, mia, watched, width=390, touch=True)
    page.goto(f"{folding.base_url}/jobs/{job_id}")
    readout, pae_readout = page.locator("#plddt-readout"), page.locator("#pae-readout")
    expect(readout).to_have_text("Touch the plot, or slide along it, to read a residue.")
    expect(pae_readout).to_have_text("Touch the map to read a residue pair.")
    plot = page.locator("#plddt-plot")
    plot.scroll_into_view_if_needed()
    box = plot.bounding_box()
    assert box is not None
    page.touchscreen.tap(box["x"] + box["width"] * 0.5, box["y"] + box["height"] * 0.5)
    expect(readout).to_have_text(re.compile(r"^Residue \d+ \([A-Z]\): pLDDT \d+\.\d$"))
    heatmap = page.locator("#pae-canvas")
    heatmap.scroll_into_view_if_needed()
    map_box = heatmap.bounding_box()
    assert map_box is not None
    cell = map_box["width"] / len(scores["pae"])
    page.touchscreen.tap(map_box["x"] + 2.5 * cell, map_box["y"] + 1.5 * cell)
    expect(pae_readout).to_have_text(f"Aligned on residue 2, scored residue 3: {scores['pae'][1][2]:.1f} Å")
    assert watched.problems() == []
    page.context.close()


def test_the_delivery_filter_and_each_rows_buttons_are_named_for_what_they_act_on(page: Page, client: ApiClient,
                                                                                   service: InProcessService) -> None:
    urls = ["http://127.0.0.1:9/a11y-one", "http://127.0.0.1:9/a11y-two"]
    hooks = [client.post("/v1/webhooks", json={"url": url, "events": ["job.completed"]}).json()["webhook"]["webhook_id"]
             for url in urls]
    page.goto(f"{service.base_url}/webhooks")
    for url in urls:  # not "Send test, Deliveries, Delete" twice over: each names its receiver, its visible word first
        for name in (f"Send test to {url}", f"Deliveries to {url}", f"Rotate secret of {url}", f"Delete webhook {url}"):
            expect(page.get_by_role("button", name=name, exact=True)).to_have_count(1)
    page.get_by_role("button", name=f"Deliveries to {urls[1]}", exact=True).click()
    expect(page.get_by_role("combobox", name="Delivery status", exact=True)).to_be_visible()
    for hook_id in hooks:
        assert client.delete(f"/v1/webhooks/{hook_id}").status_code == 200
    # The jobs list's row actions too ("Open, Open, Open" was all a list of links said).
    page.goto(f"{service.base_url}/jobs")
    expect(page.get_by_role("link", name="Open solo", exact=True)).to_have_attribute("href", re.compile(r"^/jobs/"))
    expect(page.get_by_role("link", name="Open done", exact=True)).to_have_count(1)
