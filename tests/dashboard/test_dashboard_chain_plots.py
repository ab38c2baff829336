"""The job page's pLDDT plot and PAE map for structural biologists (a dashboard tester's findings): a complex's two
chains (ESMFold "A:B") were numbered 1-55 in one run with no boundary, as one chain; the PAE map's axes had titles
and no residue numbers; and a keyboard user who tabbed to a plot and pressed the arrow keys did not see its readout,
which sat under the plot below the window's edge at 1366x768. Real folds by the tiny ESMFold (the session's
tritonserver), so the page reads the chains from the result JSON the model writes."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, ViewportSize, expect

from tests.dashboard.pages_helpers import A11Y_PROBLEMS, User, Watched, make_user, shot, signed_in
from tests.support import ServiceProcess

pytestmark = pytest.mark.e2e

CHAIN_A = "MKTVRQERLKSIVRILERSKEPVSGAQLAE"  # 30 residues
CHAIN_B = "GSHMWDEFNPYLCQIKTVRAEGGHK"  # 25: its first letter is not the one after A's last, nor ':'
LAPTOP = ViewportSize(width=1366, height=768)
PHONE = ViewportSize(width=390, height=844)


@pytest.fixture(scope="module")
def cleo(service: ServiceProcess) -> User:
    return make_user(service, "cleo")


@pytest.fixture(scope="module")
def folds(service: ServiceProcess, cleo: User) -> dict[str, tuple[str, dict[str, Any]]]:
    """A complex (chains A and B) and a single chain (A's sequence), folded: (job id, result JSON) by name."""
    api = service.client(cleo.api_key)
    out = {}
    for name, sequence in (("complex", f"{CHAIN_A}:{CHAIN_B}"), ("single", CHAIN_A)):
        job = api.wait_for(api.predict(sequence, name=f"chain plots {name}").json()["job_id"])
        assert job["status"] == "completed", job
        scores = api.get(f"/v1/jobs/{job['job_id']}/download", params={"format": "json"}).json()
        out[name] = (job["job_id"], scores)
    assert [(c["id"], c["length"]) for c in out["complex"][1]["chains"]] == [("A", 30), ("B", 25)]
    return out


@pytest.fixture
def page(browser: Browser, service: ServiceProcess, cleo: User) -> Iterator[Page]:
    watched = Watched()
    page = signed_in(browser, service, cleo, watched, width=LAPTOP["width"])
    page.set_viewport_size(LAPTOP)
    yield page
    page.close()
    assert watched.problems() == []


def open_job(page: Page, service: ServiceProcess, job_id: str) -> None:
    page.goto(f"{service.base_url}/jobs/{job_id}")
    expect(page.locator("#plddt-plot")).to_be_visible()
    expect(page.locator("#pae-canvas")).to_be_visible()


def to_phone(page: Page) -> None:
    """The window at a phone's size, once both plots are drawn again for it (the same change of width redraws both):
    a plot looked for at once was sometimes the one just taken out of the page."""
    page.set_viewport_size(PHONE)
    expect(page.locator("#plddt-plot")).to_have_attribute("viewBox", re.compile(r"^0 0 340 "))


def look(page: Page, name: str) -> None:
    """The window's screenshot, two frames after a scroll or a resize: taken at once, a phone's showed the PAE map
    over a blank card (the frame before)."""
    page.evaluate("() => new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(done)))")
    shot(page, name, full_page=False)


# The pLDDT plot as drawn: its points' x (one per residue), its x ticks (x, label), its chain lines' x, its chain
# names (x, text), its x title; in the SVG's units.
PLDDT_DRAWN = """(svg) => ({
    points: [...svg.querySelector('path').getAttribute('d').matchAll(/[ML]([\\d.]+),/g)].map((m) => Number(m[1])),
    ticks: [...svg.querySelectorAll('g.axis text[text-anchor=middle]')].map((t) => [Number(t.getAttribute('x')), t.textContent]),
    boundaries: [...svg.querySelectorAll('line.chain-boundary')].map((l) => Number(l.getAttribute('x1'))),
    names: [...svg.querySelectorAll('text.chain')].map((t) => [Number(t.getAttribute('x')), t.textContent]),
    title: [...svg.querySelectorAll('text.title')][0].textContent,
})"""

# The PAE map's box, and each of its ticks, chain names and chain lines: [text, centre x, centre y] in CSS px.
PAE_DRAWN = """() => {
    const centre = (e) => { const r = e.getBoundingClientRect(); return [e.textContent, r.left + r.width / 2, r.top + r.height / 2]; };
    const all = (selector) => [...document.querySelectorAll(selector)].map(centre);
    const map = document.getElementById('pae-canvas').getBoundingClientRect();
    return {map: [map.left, map.top, map.width, map.height],
            xTicks: all('.pae-ticks.x span'), yTicks: all('.pae-ticks.y span'),
            xNames: all('.pae-chains.x span'), yNames: all('.pae-chains.y span'),
            down: all('.pae-boundary.down'), across: all('.pae-boundary.across')};
}"""


def tick_residues(labels: list[str]) -> list[int]:
    """The residues (0-based, across the chains) that tick labels numbered within each chain stand for: a label
    smaller than the one before starts the next chain (A's 30, then B's 10 is residue 40)."""
    lengths, chain, out, last = [len(CHAIN_A), len(CHAIN_B)], 0, [], 0
    for label in labels:
        if int(label) <= last:
            chain += 1
        out.append(sum(lengths[:chain]) + int(label) - 1)
        last = int(label)
    return out


def test_a_complexs_plddt_plot_marks_its_chains_and_its_readout_names_them(
        page: Page, service: ServiceProcess, folds: dict[str, tuple[str, dict[str, Any]]]) -> None:
    """Chains A (30) and B (25) were numbered 1-55 with no boundary. A line between residue A 30 and B 1, each
    chain's name over its part, residues numbered within their chain (as the PDB and the viewer number them), and
    the readout says "B 12" with B's own letter (the sequence's ':' was counted: B's letters were one off)."""
    job_id, scores = folds["complex"]
    plddt = scores["plddt"]
    open_job(page, service, job_id)
    plot = page.locator("#plddt-plot")
    expect(plot).to_have_attribute("aria-label", "pLDDT per residue of chains A (30 residues) and B (25 residues)")
    drawn = plot.evaluate(PLDDT_DRAWN)
    points = drawn["points"]
    assert len(points) == 55
    assert len(drawn["boundaries"]) == 1 and points[29] < drawn["boundaries"][0] < points[30], drawn["boundaries"]
    (a_x, a_name), (b_x, b_name) = drawn["names"]
    assert (a_name, b_name) == ("Chain A", "Chain B")
    assert points[0] < a_x < points[29] and points[30] < b_x < points[54], drawn["names"]
    labels = [label for _, label in drawn["ticks"]]
    assert labels == ["10", "20", "30", "10", "20"], labels  # B's restart at its own 10
    for (x, _), residue in zip(drawn["ticks"], tick_residues(labels), strict=True):
        assert abs(x - points[residue]) < 0.1, (drawn["ticks"], residue)
    assert drawn["title"] == "Residue (numbered within each chain)"

    readout = page.locator("#plddt-readout")
    plot.focus()
    page.keyboard.press("End")
    expect(readout).to_have_text(f"Residue B 25 ({CHAIN_B[-1]}): pLDDT {plddt[54]:.1f}")
    for _ in range(24):
        page.keyboard.press("ArrowLeft")
    expect(readout).to_have_text(f"Residue B 1 ({CHAIN_B[0]}): pLDDT {plddt[30]:.1f}")
    page.keyboard.press("ArrowLeft")
    expect(readout).to_have_text(f"Residue A 30 ({CHAIN_A[-1]}): pLDDT {plddt[29]:.1f}")
    page.keyboard.press("Home")
    expect(readout).to_have_text(f"Residue A 1 ({CHAIN_A[0]}): pLDDT {plddt[0]:.1f}")
    box = plot.bounding_box()  # the pointer reads the chains as the keys do
    assert box is not None
    page.mouse.move(box["x"] + box["width"] * 0.97, box["y"] + box["height"] * 0.5)
    expect(readout).to_have_text(re.compile(r"^Residue B 2[45] \([A-Z]\): pLDDT \d+\.\d$"))

    page.locator(".grid.two").filter(has=plot).scroll_into_view_if_needed()
    look(page, "chain-plots-complex-1366")
    to_phone(page)  # drawn again for a phone's frame: the chains still marked, the labels apart
    drawn = plot.evaluate(PLDDT_DRAWN)
    assert len(drawn["boundaries"]) == 1 and [name for _, name in drawn["names"]] == ["Chain A", "Chain B"]
    labels = [label for _, label in drawn["ticks"]]
    assert labels[:3] == ["10", "20", "30"] and labels[3:] and int(labels[3]) < 30, labels
    plot.scroll_into_view_if_needed()
    look(page, "chain-plots-complex-plddt-390")


def test_a_complexs_pae_map_marks_its_chains_on_both_axes_and_its_axes_are_numbered(
        page: Page, service: ServiceProcess, folds: dict[str, tuple[str, dict[str, Any]]]) -> None:
    """The map of A (30) and B (25) showed one 55-residue square with "Scored residue" and "Aligned residue" under
    and beside it, and no number. A line across and down the map at the boundary, each chain's name along both axes,
    numbered ticks at their residues' cells, and a readout that names the chain of both residues."""
    job_id, scores = folds["complex"]
    pae = scores["pae"]
    open_job(page, service, job_id)
    heatmap = page.locator("#pae-canvas")
    expect(heatmap).to_have_attribute("aria-label",
                                      "Predicted aligned error heatmap of chains A (30 residues) and B (25 residues)")
    heatmap.scroll_into_view_if_needed()
    drawn = page.evaluate(PAE_DRAWN)
    left, top, width, height = drawn["map"]
    cell = width / 55
    assert len(drawn["down"]) == 1 and abs(drawn["down"][0][1] - (left + 30 * cell)) <= 1.5, (drawn["down"], drawn["map"])
    assert len(drawn["across"]) == 1 and abs(drawn["across"][0][2] - (top + 30 * cell)) <= 1.5, drawn["across"]
    assert [name for name, _, _ in drawn["xNames"]] == ["A", "B"] == [name for name, _, _ in drawn["yNames"]]
    (_, ax, _), (_, bx, _) = drawn["xNames"]
    assert left < ax < left + 30 * cell < bx < left + width, drawn["xNames"]
    (_, _, ay), (_, _, by) = drawn["yNames"]
    assert top < ay < top + 30 * cell < by < top + height, drawn["yNames"]
    labels = [label for label, _, _ in drawn["xTicks"]]
    assert labels == [label for label, _, _ in drawn["yTicks"]]
    assert labels[:3] == ["10", "20", "30"] and labels[3:] and int(labels[3]) < 30, labels  # B numbered from 1 again
    for (_, x, _), (_, _, y), residue in zip(drawn["xTicks"], drawn["yTicks"], tick_residues(labels), strict=True):
        assert abs(x - (left + (residue + 0.5) * cell)) <= 1.5, (labels, drawn["xTicks"])  # under its column
        assert abs(y - (top + (residue + 0.5) * cell)) <= 1.5, (labels, drawn["yTicks"])  # beside its row

    readout = page.locator("#pae-readout")
    heatmap.focus()
    expect(readout).to_have_text(f"Aligned on residue A 1, scored residue A 1: {pae[0][0]:.1f} Å")
    page.keyboard.press("End")
    for _ in range(30):
        page.keyboard.press("ArrowDown")
    expect(readout).to_have_text(f"Aligned on residue B 1, scored residue B 25: {pae[30][54]:.1f} Å")
    page.keyboard.press("ArrowUp")
    expect(readout).to_have_text(f"Aligned on residue A 30, scored residue B 25: {pae[29][54]:.1f} Å")
    # The pointer on the chains' lines still reads the map beneath them (where the map is now: the keys scrolled
    # its readout into view).
    box = heatmap.bounding_box()
    assert box is not None
    page.mouse.move(box["x"] + 30 * cell + 0.5, box["y"] + 10.5 * cell)
    expect(readout).to_have_text(f"Aligned on residue A 11, scored residue B 1: {pae[10][30]:.1f} Å")
    page.mouse.move(0, 0)
    # The ticks and names are text a person reads: at 4.5:1 on the card, like every text on the page.
    assert page.evaluate(A11Y_PROBLEMS) == []
    look(page, "chain-plots-complex-pae-1366")
    to_phone(page)
    heatmap.scroll_into_view_if_needed()
    drawn = page.evaluate(PAE_DRAWN)
    assert len(drawn["down"]) == 1 and [n for n, _, _ in drawn["xNames"]] == ["A", "B"], drawn
    spans = [x for _, x, _ in drawn["xTicks"]]
    assert all(b - a >= 20 for a, b in zip(spans, spans[1:], strict=False)), drawn["xTicks"]  # labels apart
    look(page, "chain-plots-complex-pae-390")


def test_a_single_chain_is_plotted_as_before_and_its_pae_axes_are_numbered(
        page: Page, service: ServiceProcess, folds: dict[str, tuple[str, dict[str, Any]]]) -> None:
    """One chain: no boundary, no chain names, numbered 1..30 as before and its readouts unchanged. Its PAE map
    gets the numbered ticks the pLDDT plot has (the same step here, 5 residues). A `chains` list that does not add
    up to the plotted residues (a damaged file) is one chain too, not boundaries at made-up places."""
    job_id, scores = folds["single"]
    plddt, pae = scores["plddt"], scores["pae"]
    open_job(page, service, job_id)
    plot, heatmap = page.locator("#plddt-plot"), page.locator("#pae-canvas")
    expect(plot).to_have_attribute("aria-label", "pLDDT per residue")
    expect(plot).to_have_attribute("viewBox", "0 0 560 300")
    expect(heatmap).to_have_attribute("aria-label", "Predicted aligned error heatmap")
    drawn = plot.evaluate(PLDDT_DRAWN)
    assert drawn["boundaries"] == [] and drawn["names"] == [] and drawn["title"] == "Residue"
    assert [label for _, label in drawn["ticks"]] == ["5", "10", "15", "20", "25", "30"]
    expect(page.locator(".pae-boundary, .pae-chains")).to_have_count(0)
    heatmap.scroll_into_view_if_needed()
    pae_drawn = page.evaluate(PAE_DRAWN)
    left, top, width, _ = pae_drawn["map"]
    cell = width / 30
    assert [label for label, _, _ in pae_drawn["xTicks"]] == ["5", "10", "15", "20", "25", "30"]
    for (label, x, _), (_, _, y) in zip(pae_drawn["xTicks"], pae_drawn["yTicks"], strict=True):
        assert abs(x - (left + (int(label) - 0.5) * cell)) <= 1.5 and abs(y - (top + (int(label) - 0.5) * cell)) <= 1.5
    plot.focus()
    expect(page.locator("#plddt-readout")).to_have_text(f"Residue 1 ({CHAIN_A[0]}): pLDDT {plddt[0]:.1f}")
    heatmap.focus()
    page.keyboard.press("ArrowRight")
    expect(page.locator("#pae-readout")).to_have_text(f"Aligned on residue 1, scored residue 2: {pae[0][1]:.1f} Å")
    page.locator(".grid.two").filter(has=plot).scroll_into_view_if_needed()
    look(page, "chain-plots-single-1366")
    to_phone(page)
    plot.scroll_into_view_if_needed()
    look(page, "chain-plots-single-plddt-390")
    heatmap.scroll_into_view_if_needed()
    look(page, "chain-plots-single-pae-390")

    damaged = dict(scores, chains=[{"id": "A", "length": 20}, {"id": "B", "length": 5}])
    serve_scores(page, job_id, damaged)
    expect(plot).to_have_attribute("aria-label", "pLDDT per residue")
    expect(page.locator("#plddt-plot line.chain-boundary, .pae-boundary")).to_have_count(0)

    # A peptide of 4: its axis read "0.5", "1", "1.5"... (a step under one residue); whole residues now.
    page.set_viewport_size(LAPTOP)
    serve_scores(page, job_id, dict(scores, sequence="MKTV", plddt=plddt[:4], pae=[row[:4] for row in pae[:4]],
                                    chains=[{"id": "A", "length": 4}]))
    expect(plot.locator("g.axis text[text-anchor=middle]")).to_have_text(["1", "2", "3", "4"])
    expect(page.locator(".pae-ticks.x span")).to_have_text(["1", "2", "3", "4"])


def serve_scores(page: Page, job_id: str, scores: dict[str, Any]) -> None:
    """The job page again, its result JSON `scores`."""
    page.unroute(f"**/v1/jobs/{job_id}/download?format=json*")
    page.route(f"**/v1/jobs/{job_id}/download?format=json*",
               lambda route: route.fulfill(content_type="application/json", body=json.dumps(scores)))
    page.reload()


def test_a_plots_readout_is_on_screen_while_the_keyboard_reads_it(
        page: Page, service: ServiceProcess, folds: dict[str, tuple[str, dict[str, Any]]]) -> None:
    """At 1366x768, Tab to the pLDDT plot scrolled only until the plot was in sight: the readout under it (and what
    the arrow keys read) stayed below the window's edge. It comes into view as the plot takes the focus and as the
    keys move, the plot still in sight; the PAE map's likewise, with the mark of the pair read."""
    job_id, _ = folds["complex"]
    open_job(page, service, job_id)
    expect(page.locator("#viewer[data-ready=true]")).to_have_count(1, timeout=30_000)
    page.focus("#view-reset")  # the viewer's last button, above the plots: then Tab on, as the tester did
    plot = page.locator("#plddt-plot")
    for _ in range(12):
        if plot.evaluate("(e) => e === document.activeElement"):
            break
        page.keyboard.press("Tab")
    expect(plot).to_be_focused()
    on_screen = """([readout, figure]) => {
        const r = document.getElementById(readout).getBoundingClientRect();
        const f = document.getElementById(figure).getBoundingClientRect();
        const seen = Math.min(f.bottom, window.innerHeight) - Math.max(f.top, 0); // of the plot, in px
        return r.top >= 0 && r.bottom <= window.innerHeight && seen >= 0.5 * Math.min(f.height, window.innerHeight);
    }"""
    page.wait_for_function(on_screen, arg=["plddt-readout", "plddt-plot"])
    page.keyboard.press("ArrowRight")
    expect(page.locator("#plddt-readout")).to_contain_text("Residue A 2 ")
    assert page.evaluate(on_screen, ["plddt-readout", "plddt-plot"])
    look(page, "chain-plots-keyboard-plddt-1366")
    page.keyboard.press("Tab")
    expect(page.locator("#pae-canvas")).to_be_focused()
    page.keyboard.press("ArrowDown")
    expect(page.locator("#pae-readout")).to_have_text(re.compile(r"^Aligned on residue A 2, scored residue A 1: "))
    page.wait_for_function(on_screen, arg=["pae-readout", "pae-canvas"])
    mark = page.locator(".pae-mark").bounding_box()
    assert mark and 0 <= mark["y"] <= LAPTOP["height"], mark
    look(page, "chain-plots-keyboard-pae-1366")
