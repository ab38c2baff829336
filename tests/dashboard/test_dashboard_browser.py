"""The dashboard as a person uses it: a real Chromium on the real service with real (tiny) models.

Each test looks at what is on screen (text, drawn pixels, rows changing state) and saves screenshots
to artifacts/screenshots/.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import numpy as np
import pytest
import requests
from PIL import Image
from playwright.sync_api import Browser, Page, expect

from phonos.v1 import phonos_pb2 as pb
from tests.dashboard.pages_helpers import (
    A11Y_PROBLEMS,
    User,
    Watched,
    keyboard_walk,
    open_page,
    shot,
    sign_in,
    signed_in,
)
from tests.support import ServiceProcess, WebhookReceiver

pytestmark = pytest.mark.e2e

ASPIRIN = "CC(=O)Oc1ccccc1C(=O)O"
SHORT = "MKTAYIAKQRQISFVKSHFSRQLEERLGLIEVQ"
XSS_NAME = "<img src=x onerror=alert(1)>"


@pytest.fixture(scope="module")
def folded(service: ServiceProcess, ada: User) -> dict[str, Any]:
    """A completed ESMFold job of ada's, submitted through the API."""
    api = service.client(ada.api_key)
    job = api.predict(SHORT, name="Lysozyme fragment").json()
    return api.wait_for(job["job_id"], timeout_s=180)


@pytest.fixture
def ada_page(browser: Browser, service: ServiceProcess, ada: User) -> Iterator[tuple[Page, Watched]]:
    watched = Watched()
    page = signed_in(browser, service, ada, watched)
    yield page, watched
    page.close()  # its context (signed_in's session) serves the next test
    assert watched.problems() == [], watched.problems()  # no script error or CSP refusal on any page


def drawn_fraction(png: bytes) -> float:
    """The share of pixels that are not the white background."""
    pixels = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))
    return float((pixels.min(axis=2) < 235).mean())


def grpc_status(service: ServiceProcess, key: str) -> grpc.StatusCode:
    channel, stub = service.grpc_stub()
    with channel:
        try:
            stub.GetAccount(pb.GetAccountRequest(), metadata=[("authorization", f"Bearer {key}")], timeout=10)
            return grpc.StatusCode.OK
        except grpc.RpcError as exc:
            return exc.code()


# ---------------------------------------------------------------------------------------------------


def test_sign_in_page_refuses_a_wrong_password_then_signs_in(browser: Browser, service: ServiceProcess,
                                                             ada: User) -> None:
    watched = Watched()
    page = open_page(browser, watched)
    page.goto(f"{service.base_url}/keys")
    page.wait_for_url("**/sign-in?next=%2Fkeys")
    shot(page, "01-sign-in")
    page.fill("#username", ada.username)
    page.fill("#password", "not the password")
    page.click("form button[type=submit]")
    expect(page.locator("[role=alert]")).to_contain_text("Wrong username or password")
    shot(page, "01-sign-in-error")
    page.fill("#password", ada.password)
    page.click("form button[type=submit]")
    page.wait_for_url("**/keys")  # back where the person wanted to go
    expect(page.locator("#side-user")).to_have_text("ada")
    assert "phonos_session" not in page.evaluate("document.cookie")  # HttpOnly: scripts cannot read it
    page.click("#sign-out")
    page.wait_for_url("**/sign-in")
    page.goto(f"{service.base_url}/jobs")
    page.wait_for_url("**/sign-in?next=%2Fjobs")
    assert watched.problems() == []
    # A next the browser reads as another site ("/\\evil.example" is "//evil.example" to it): the page itself
    # stays here too (the server redirects such a URL, but the page may be reached without it: history, a cache).
    page.evaluate("history.replaceState(null, '', '/sign-in?next=' + encodeURIComponent('/\\\\evil.example'))")
    page.fill("#username", ada.username)
    page.fill("#password", ada.password)
    page.click("form button[type=submit]")
    page.wait_for_url(f"{service.base_url}/jobs")
    page.context.close()


def test_create_a_key_use_it_from_the_api_then_revoke_it(ada_page: tuple[Page, Watched], service: ServiceProcess) -> None:
    page, _ = ada_page
    page.goto(f"{service.base_url}/keys")
    page.fill("#key-name", "notebook")
    page.fill("#key-rate-limit", "30")
    page.click("#key-create")
    secret = page.locator("#secret-value").inner_text()
    assert secret.startswith("pk_")
    shot(page, "02-keys-new-secret")
    api = service.client(secret)
    assert api.get("/v1/account").json()["account"]["username"] == "ada"
    assert grpc_status(service, secret) == grpc.StatusCode.OK
    page.reload()  # shown once: gone after a reload
    expect(page.locator("#secret-value")).to_have_count(0)
    key_id = api.get("/v1/keys").json()["keys"][0]["key_id"]
    row = page.locator(f"tr[data-key-id='{key_id}']")
    expect(row).to_contain_text("notebook")
    row.locator("[data-action=revoke]").click()
    page.click("dialog [data-confirm]")
    expect(row).to_have_attribute("data-revoked", "true")
    assert api.get("/v1/account").status_code == 401  # the very next call
    assert api.predict().status_code == 401
    assert grpc_status(service, secret) == grpc.StatusCode.UNAUTHENTICATED
    shot(page, "02-keys-revoked")
    page.fill("#key-name", "created by mistake")  # revoked at once: its "copy it now" secret goes with it
    page.click("#key-create")
    expect(page.locator("#secret-callout")).to_contain_text("created by mistake")
    page.locator("#keys-table tbody tr", has_text="created by mistake").locator("[data-action=revoke]").click()
    page.click("dialog [data-confirm]")
    expect(page.locator("#secret-callout")).to_have_count(0)


def test_esmfold_from_the_form_turns_completed_in_the_table_without_a_reload(
    ada_page: tuple[Page, Watched], service: ServiceProcess, ada: User
) -> None:
    page, _ = ada_page
    api = service.client(ada.api_key)
    # A long fold holds the only ESMFold slot (PHONOS_MAX_INFLIGHT_PER_MODEL=1): the form's job waits pending.
    blocker = api.predict(SHORT * 5, name="Long fold", params={"num_recycles": 24}).json()["job_id"]
    api.wait_for(blocker, ("running",), timeout_s=60)

    page.goto(f"{service.base_url}/submit?model=esmfold")
    page.fill("#f-name", "From the form")
    page.fill("#f-sequence", ">my protein\n" + SHORT)
    page.fill("#f-num_recycles", "2")
    shot(page, "03-submit-esmfold")
    page.click("#submit-job")
    page.wait_for_url(re.compile(r".*/jobs/[0-9a-f-]{36}$"))
    job_id = page.url.rsplit("/", 1)[1]
    expect(page.locator("#status-card strong")).to_have_text("Waiting to start")  # the scientist's words, not the operator's
    shot(page, "03-job-pending")

    page.goto(f"{service.base_url}/jobs")
    row = page.locator(f"tr[data-job-id='{job_id}']")
    expect(row.locator(".pill")).to_have_attribute("data-status", "pending")
    page.evaluate("window.__sameDocument = true")
    shot(page, "03-jobs-live-pending")
    page.locator(f"tr[data-job-id='{blocker}'] [data-action=cancel]").click()
    page.click("dialog [data-confirm]")
    expect(page.locator(f"tr[data-job-id='{blocker}'] .pill")).to_have_attribute("data-status", "cancelled", timeout=60_000)
    expect(row.locator(".pill")).to_have_attribute("data-status", "completed", timeout=120_000)
    assert page.evaluate("window.__sameDocument") is True  # updated in place: no reload happened
    expect(row).to_contain_text("From the form")
    shot(page, "03-jobs-live-completed")
    # filters and pagination
    page.click(".segmented [data-status=cancelled]")
    expect(page.locator("#jobs-body tr")).to_have_count(1)
    assert "status=cancelled" in page.url
    page.click(".segmented [data-status=all]")
    page.select_option("#filter-model", "diffdock")
    expect(page.locator(".empty .title")).to_have_text("No jobs match these filters")


def ca_steps_mostly_real(pdb: str) -> bool:
    """At most a quarter of the steps between numbered-consecutive Cα atoms of a chain exceed 4.2 Å."""
    cas = [(line[21], int(line[22:26]), np.array([float(line[30:38]), float(line[38:46]), float(line[46:54])]))
           for line in pdb.splitlines() if line.startswith("ATOM") and line[12:16].strip() == "CA"]
    steps = [float(np.linalg.norm(b[2] - a[2])) for a, b in zip(cas, cas[1:], strict=False)
             if a[0] == b[0] and b[1] == a[1] + 1]
    return sum(step > 4.2 for step in steps) <= len(steps) / 4


def test_the_viewer_draws_a_cartoon_only_where_the_backbone_allows_one(ada_page: tuple[Page, Watched],
                                                                         service: ServiceProcess) -> None:
    """viewer.js's rule on made-up chains (not structures anyone is shown): 3.8 Å steps draw as a cartoon,
    a chain of 9 Å steps does not, and one long step (a break the numbering does not show) is not enough; nor does
    one of Cα atoms mostly 1.3 Å apart (tiny weights' collapsed chains drew as big folded sheets)."""
    page, _ = ada_page
    page.goto(f"{service.base_url}/jobs")
    verdicts = page.evaluate("""async () => {
        const {cartoonDrawable} = await import('/static/js/viewer.js');
        const chain = (steps) => steps.reduce((atoms, step, i) => [...atoms, {chain: 'A', resi: i + 2, atom: 'CA',
            hetflag: false, x: atoms[atoms.length - 1].x + step, y: 0, z: 0}],
            [{chain: 'A', resi: 1, atom: 'CA', hetflag: false, x: 0, y: 0, z: 0}]);
        const renumbered = chain(Array(19).fill(9)).map((a, i) => ({...a, resi: a.resi + 10 * i}));
        return {
            real: cartoonDrawable(chain(Array(19).fill(3.8))),
            spread: cartoonDrawable(chain(Array(19).fill(9))),
            one_break: cartoonDrawable(chain([...Array(9).fill(3.8), 30, ...Array(9).fill(3.8)])),
            cis: cartoonDrawable(chain([...Array(9).fill(3.8), 2.9, ...Array(9).fill(3.8)])),
            crowded: cartoonDrawable(chain([...Array(10).fill(1.3), ...Array(9).fill(3.8)])),
            numbered_breaks: cartoonDrawable(renumbered),
            ligand_only: cartoonDrawable([{chain: 'L', resi: 1, atom: 'C1', hetflag: true, x: 0, y: 0, z: 0}]),
        };
    }""")
    assert verdicts == {"real": True, "spread": False, "one_break": True, "cis": True, "crowded": False,
                        "numbered_breaks": True, "ligand_only": True}


def test_structure_page_draws_the_viewer_the_plddt_plot_and_the_pae_map(
    ada_page: tuple[Page, Watched], service: ServiceProcess, folded: dict[str, Any]
) -> None:
    page, _ = ada_page
    page.goto(f"{service.base_url}/jobs/{folded['job_id']}")
    viewer = page.locator("#viewer[data-ready=true]")
    expect(viewer).to_have_count(1, timeout=30_000)
    page.wait_for_timeout(500)  # one more frame
    assert drawn_fraction(viewer.screenshot()) > 0.02, "the 3D viewer drew nothing"
    expect(page.locator("#plddt-legend")).to_contain_text("Very high")
    expect(page.locator("#plddt-legend")).to_contain_text("Very low")
    segments = page.locator("#plddt-plot path").get_attribute("d") or ""
    assert segments.count("L") == len(SHORT) - 1  # one point per residue
    colours = page.evaluate("""() => {
        const c = document.getElementById('pae-canvas');
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        const seen = new Set();
        for (let i = 0; i < d.length; i += 4) seen.add(`${d[i]},${d[i + 1]},${d[i + 2]}`);
        return {size: c.width, colours: seen.size};
    }""")
    assert colours["size"] == len(SHORT) and colours["colours"] > 5
    # Its colour scale is beside it (12 px), not at the card's far edge (100 px away here, 275 at a tablet's width).
    heatmap, scale = page.locator("#pae-canvas").bounding_box(), page.locator("#pae-card .scale").bounding_box()
    assert heatmap and scale and 0 <= scale["x"] - (heatmap["x"] + heatmap["width"]) <= 24, (heatmap, scale)
    expect(page.locator("#metric-plddt")).to_contain_text(f"{folded['metrics']['mean_plddt']:.1f}")
    expect(page.locator("#weights-notice")).to_contain_text("Not a real prediction")
    expect(page.locator("#provenance")).to_contain_text("esmfold-tiny-random")
    # The chains, a list of objects, are a table: a row per chain, a column per key (they read as loose terms).
    chain = page.locator("#provenance table[data-items=chains] tbody tr")
    expect(chain).to_have_count(1)
    expect(chain.locator("td[data-label=id]")).to_have_text("A")
    expect(chain.locator("td[data-label=length]")).to_have_text(str(len(SHORT)))
    # Timings name what happened, not the machinery ("triton call", "service total"); the key is in the tooltip.
    expect(page.locator("#timings")).to_contain_text("on the model server")
    expect(page.locator("#timings dt[title=triton_call_s]")).to_have_count(1)
    assert "triton" not in page.locator("#job-body").inner_text().lower()
    formats = page.locator("#downloads a").evaluate_all("els => els.map(e => e.dataset.format)")
    assert formats == folded["formats"]
    # The AlphaFold DB-shaped PAE file is named for what it is (it fell back to "PAE / Result file").
    expect(page.locator("#downloads a[data-format=pae]")).to_contain_text("AlphaFold DB format")
    with page.expect_download() as download:
        page.click("#downloads a[data-format=pdb]")
    assert download.value.suggested_filename == f"{folded['job_id']}.pdb"
    # A backbone a cartoon cannot draw (most Cα–Cα steps > 4.2 Å: tiny weights) starts as sticks, and says why.
    pdb = page.evaluate("(url) => fetch(url).then((r) => r.text())", folded["download_url"])
    cartoon = ca_steps_mostly_real(pdb)
    expect(page.locator("#view-cartoon")).to_have_attribute("aria-pressed", "true" if cartoon else "false")
    expect(page.locator("#view-sticks")).to_have_attribute("aria-pressed", "false" if cartoon else "true")
    expect(page.locator("#viewer-note")).to_have_count(0 if cartoon else 1)
    page.click("#view-sticks")
    expect(page.locator("#view-sticks")).to_have_attribute("aria-pressed", "true")
    shot(page, "04-job-structure")
    page.click("#view-cartoon")
    page.set_viewport_size({"width": 1440, "height": 1560})
    page.wait_for_timeout(300)
    shot(page, "04-job-structure-overview", full_page=False)  # the README's picture (docs/job-page.png)


def purple_fraction(png: bytes) -> float:
    """The share of pixels in the compared structure's purple (viewer.js OVERLAY_COLOR, shaded): blue above red
    above green, which no pLDDT band's colour is (blue and cyan have more green than red)."""
    rgb = np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(int)
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    return float(((b - r > 25) & (r - g > 25)).mean())


def ca_coordinates(pdb: str) -> np.ndarray:
    return np.array([[float(line[30:38]), float(line[38:46]), float(line[46:54])]
                     for line in pdb.splitlines() if line.startswith("ATOM") and line[12:16].strip() == "CA"])


def test_compare_superposes_another_fold_on_this_one_and_scores_it(
    ada_page: tuple[Page, Watched], service: ServiceProcess, ada: User, folded: dict[str, Any], tmp_path: Path
) -> None:
    page, _ = ada_page
    api = service.client(ada.api_key)
    mutant = SHORT[:10] + "W" + SHORT[11:]  # Q11W
    other = api.wait_for(api.predict(mutant, name="Lysozyme Q11W").json()["job_id"], timeout_s=180)
    page.goto(f"{service.base_url}/jobs/{folded['job_id']}")
    viewer = page.locator("#viewer[data-ready=true]")
    expect(viewer).to_have_count(1, timeout=30_000)
    page.wait_for_timeout(300)
    assert purple_fraction(viewer.screenshot()) < 1e-4
    expect(page.locator("#compare-with option", has_text="Lysozyme Q11W")).to_have_count(1)
    expect(page.locator("#compare-with option", has_text="Lysozyme fragment")).to_have_count(0)  # not itself
    page.select_option("#compare-with", other["job_id"])
    page.focus("#compare-go")  # by keyboard: the button is disabled while it works, and keeps the focus
    page.keyboard.press("Enter")
    expect(page.locator("#compare-tm")).to_be_visible()
    expect(page.locator("#compare-go")).to_be_focused()
    tm = float(page.locator("#compare-tm .value").inner_text())
    assert 0 < tm <= 1
    expect(page.locator("#compare-tm .note")).to_contain_text(f"over this job’s {len(SHORT)} residues")
    expect(page.locator("#compare-identity")).to_contain_text("97%")  # 32 of 33 residues
    expect(page.locator("#compare-legend")).to_contain_text("Lysozyme Q11W")
    # The Cα RMSD is numpy's Kabsch over the 33 pairs of the two downloaded structures.
    mine, theirs = (ca_coordinates(api.get(f"/v1/jobs/{j}/download", params={"format": "pdb"}).text)
                    for j in (folded["job_id"], other["job_id"]))
    p, q = theirs - theirs.mean(0), mine - mine.mean(0)
    u, _, vt = np.linalg.svd(p.T @ q)
    rmsd = float(np.sqrt(((p @ (u @ np.diag([1, 1, np.sign(np.linalg.det(u @ vt))]) @ vt) - q) ** 2).sum(1).mean()))
    expect(page.locator("#compare-rmsd .value")).to_have_text(f"{rmsd:.2f} Å")
    assert f"compare={other['job_id']}" in page.url
    page.wait_for_timeout(300)
    assert purple_fraction(viewer.screenshot()) > 0.002, "the compared structure is not drawn"
    shot(page, "36-job-compare")

    page.reload()  # the address opens the same comparison
    expect(page.locator("#compare-tm .value")).to_have_text(f"{tm:.3f}", timeout=30_000)
    page.click("#compare-stop")
    expect(page.locator("#compare-tm")).to_have_count(0)
    assert "compare=" not in page.url
    page.wait_for_timeout(300)
    assert purple_fraction(page.locator("#viewer").screenshot()) < 1e-4
    # A PDB file from the person's computer: this job's own structure, turned and moved, superposes exactly.
    turn = np.array([[0.36, 0.48, -0.8], [-0.8, 0.6, 0.0], [0.48, 0.64, 0.6]])  # a rotation (orthonormal rows)
    lines = []
    for line in api.get(f"/v1/jobs/{folded['job_id']}/download", params={"format": "pdb"}).text.splitlines():
        if line.startswith("ATOM"):
            x, y, z = turn @ np.array([float(line[30:38]), float(line[38:46]), float(line[46:54])]) + [40.0, -5.0, 12.0]
            line = f"{line[:30]}{x:8.3f}{y:8.3f}{z:8.3f}{line[54:]}"
        lines.append(line)
    (tmp_path / "turned.pdb").write_text("\n".join(lines) + "\n")
    page.set_input_files("#compare-file", str(tmp_path / "turned.pdb"))
    expect(page.locator("#compare-legend")).to_contain_text("Compared: file turned.pdb")
    expect(page.locator("#compare-tm .value")).to_have_text("1.000")
    expect(page.locator("#compare-rmsd .value")).to_have_text("0.00 Å")
    expect(page.locator("#compare-identity .value")).to_have_text("Same")
    assert "compare=" not in page.url  # a file cannot be linked
    # A file that cannot be compared (mmCIF, say) says why; the comparison before it, gone from the viewer,
    # leaves neither a "Stop comparing" button nor its address behind.
    page.select_option("#compare-with", other["job_id"])
    page.click("#compare-go")
    expect(page.locator("#compare-stop")).to_be_visible()
    (tmp_path / "model.cif").write_text("data_model\n_atom_site.group_PDB\nATOM 1 C CA . MET A 1 1 ? 1.0 2.0 3.0\n")
    page.set_input_files("#compare-file", str(tmp_path / "model.cif"))
    expect(page.locator("#compare-error")).to_contain_text("mmCIF is not read here")
    expect(page.locator("#compare-stop")).to_be_hidden()
    assert "compare=" not in page.url
    page.goto(f"{service.base_url}/jobs/{folded['job_id']}?compare=rank_2_pdb")  # an AlphaFold2 link on an ESMFold job
    # The list of structures loads first (two job listings): as the reload's comparison above, given 30 s (CI, on a
    # host at load 15: still "Loading your structures…" at the default 15 s).
    expect(page.locator("#compare-missing")).to_have_text(
        "This job has no rank 2 model (only AlphaFold2 jobs rank several): choose a structure above.", timeout=30_000)

    page.goto(f"{service.base_url}/jobs/{folded['job_id']}?compare=not-a-job")  # a stale or foreign link
    expect(page.locator("#compare-missing")).to_contain_text("is not one of your completed ESMFold or AlphaFold2 jobs")
    page.set_viewport_size({"width": 390, "height": 844})
    page.select_option("#compare-with", other["job_id"])
    page.click("#compare-go")
    expect(page.locator("#compare-tm")).to_be_visible()
    shot(page, "37-job-compare-phone")
    page.set_viewport_size({"width": 1280, "height": 900})


def test_diffdock_from_the_form_on_an_earlier_fold_then_switch_poses(
    ada_page: tuple[Page, Watched], service: ServiceProcess, folded: dict[str, Any], ada: User
) -> None:
    page, _ = ada_page
    page.goto(f"{service.base_url}/jobs/{folded['job_id']}")
    page.click("#dock-this")
    page.wait_for_url("**/submit?model=diffdock&receptor=*")
    assert page.locator("#f-protein_pdb-job").input_value() == folded["job_id"]
    page.fill("#f-name", "Aspirin into the fold")
    page.fill("#f-ligand_smiles", "C1CC")  # not a molecule: the API's 400 shows beside the field
    page.fill("#f-inference_steps", "10")
    page.fill("#f-samples_per_complex", "3")
    page.fill("#f-random_seed", "1")
    page.fill("#f-pocket", "A:5, Z:99")  # Z:99 is not in the fold: the API's 400 shows beside the pocket
    pocket, radius = page.locator("#f-pocket").bounding_box(), page.locator("#f-pocket-radius").bounding_box()
    assert pocket and radius and abs(pocket["y"] - radius["y"]) < 1 and radius["x"] > pocket["x"]  # the radius beside it
    page.click("#submit-job")
    expect(page.locator("#error-ligand_smiles")).to_contain_text("invalid ligand")
    shot(page, "05-submit-diffdock-error")
    page.fill("#f-ligand_smiles", ASPIRIN)
    page.click("#submit-job")
    expect(page.locator("#error-pocket")).to_contain_text("Z:99 are not protein residues")
    expect(page.locator("#error-ligand_smiles")).to_be_hidden()
    shot(page, "05-submit-diffdock-pocket-error")
    page.fill("#f-pocket", "A:5,A:9")
    page.fill("#f-pocket-radius", "8")
    page.click("#submit-job")
    page.wait_for_url(re.compile(r".*/jobs/[0-9a-f-]{36}$"))
    job_id = page.url.rsplit("/", 1)[1]
    viewer = page.locator("#viewer[data-ready=true]")
    expect(viewer).to_have_count(1, timeout=180_000)  # the page polls until the job completes
    expect(page.locator("#poses tbody tr")).to_have_count(3)
    expect(page.locator("#poses thead")).to_contain_text("Pocket")  # each pose's distance to the pocket
    expect(page.locator("#pocket-note")).to_contain_text("radius 8 Å")
    expect(page.locator("#pose-selected")).to_contain_text("pose #1")
    expect(page.locator("#pose-selected")).to_have_attribute("aria-live", "polite")  # said as a pose is picked
    page.click("#poses tr[data-rank='2']")
    expect(page.locator("#viewer")).to_have_attribute("data-pose", "2")
    expect(page.locator("#poses tr[data-rank='2']")).to_have_class(re.compile("selected"))
    expect(page.locator("#pose-selected")).to_contain_text("pose #2")
    page.click("#pose-next")
    expect(page.locator("#viewer")).to_have_attribute("data-pose", "3")
    # By keyboard too: each rank is a button, and the arrows have names a screen reader can say.
    page.get_by_role("button", name="Show pose 1", exact=True).focus()
    page.keyboard.press("Enter")
    expect(page.locator("#viewer")).to_have_attribute("data-pose", "1")
    expect(page.get_by_role("button", name="Show pose 1", exact=True)).to_have_attribute("aria-pressed", "true")
    expect(page.get_by_role("button", name="Show pose 3", exact=True)).to_have_attribute("aria-pressed", "false")
    page.get_by_role("button", name="Next pose").press("Enter")
    expect(page.locator("#viewer")).to_have_attribute("data-pose", "2")
    page.get_by_role("button", name="Next pose").click()
    page.wait_for_timeout(300)
    assert drawn_fraction(page.locator("#viewer").screenshot()) > 0.002, "the docking viewer drew nothing"
    # The two views say which is on; framed on the ligand, the next pose is framed in its turn (was: a blank viewer,
    # the view left on the pose before).
    expect(page.locator("#view-whole")).to_have_attribute("aria-pressed", "true")
    page.click("#view-pocket")
    expect(page.locator("#view-pocket")).to_have_attribute("aria-pressed", "true")
    expect(page.locator("#view-whole")).to_have_attribute("aria-pressed", "false")
    for rank in ("1", "3"):
        page.click(f"#poses tr[data-rank='{rank}']")
        expect(page.locator("#viewer")).to_have_attribute("data-pose", rank)
        page.wait_for_timeout(300)
        assert drawn_fraction(page.locator("#viewer").screenshot()) > 0.002, f"pose {rank}: the viewer drew nothing"
    page.click("#view-whole")
    expect(page.locator("#view-pocket")).to_have_attribute("aria-pressed", "false")
    expect(page.locator("#metric-confidence")).to_contain_text(re.compile("high|moderate|low"))
    expect(page.locator("#inputs")).to_contain_text(ASPIRIN)
    # The receptor follows the structure page's rule: a backbone a cartoon cannot draw is shown as sticks, with why.
    complex_pdb = page.evaluate("(url) => fetch(url).then((r) => r.text())", f"/v1/jobs/{job_id}/download?format=pdb")
    cartoon = ca_steps_mostly_real(complex_pdb)
    expect(page.locator("#viewer")).to_have_attribute("data-receptor", "cartoon" if cartoon else "sticks")
    expect(page.locator("#viewer-note")).to_have_count(0 if cartoon else 1)
    shot(page, "05-job-docking")
    # Provenance shows no heading with nothing under it (the receptor's empty "renamed chains" was one).
    assert page.evaluate("""() => [...document.querySelectorAll('#provenance .kv-group')]
        .filter((group) => ![...group.querySelectorAll('dd, td, .kv-deep')].some((dd) => dd.textContent.trim()))
        .map((group) => group.dataset.group)""") == []
    page.set_viewport_size({"width": 1024, "height": 900})  # four narrow stat cards: the SMILES wraps inside its card
    assert page.evaluate("(e) => e.scrollWidth <= e.clientWidth", page.locator("#metric-ligand .value").element_handle())
    smiles = page.locator("#metric-ligand .value").bounding_box()  # its lines close together, not 36 px apart
    assert smiles and smiles["height"] <= 3 * 22, smiles
    # A laptop beside the sidebar: the pose list goes under the viewer rather than squeeze it to 330–550 px.
    for width in (981, 1100, 1200):
        page.set_viewport_size({"width": width, "height": 900})
        box, poses = page.locator("#viewer").bounding_box(), page.locator("#poses").bounding_box()
        assert box and poses and box["width"] >= 600 and poses["y"] > box["y"] + box["height"], (width, box, poses)
        shot(page, f"05-job-docking-{width}", full_page=False)
    page.set_viewport_size({"width": 1440, "height": 960})  # wide enough for both: the poses beside the viewer
    box, poses = page.locator("#viewer").bounding_box(), page.locator("#poses").bounding_box()
    assert box and poses and poses["x"] > box["x"] + box["width"] and box["width"] >= 600
    # By keyboard and screen reader: every control in order with a ring to see, named, labelled, readable.
    visited, problems = keyboard_walk(page)
    assert any("Next pose" in v for v in visited) and any("Show pose 3" in v for v in visited), visited
    assert problems + page.evaluate(A11Y_PROBLEMS) == []
    report = service.client(ada.api_key).get(f"/v1/jobs/{job_id}/download", params={"format": "json"}).json()
    assert report["pocket"]["residues"] == ["A:5", "A:9"] and report["pocket"]["radius"] == 8.0
    assert all(p["initial_pocket_distance"] <= 8.0 for p in report["poses"])


def test_submit_form_shows_the_apis_400_beside_the_field(ada_page: tuple[Page, Watched], service: ServiceProcess) -> None:
    page, _ = ada_page
    page.goto(f"{service.base_url}/submit?model=esmfold")
    # The empty box says what to paste (an example sequence in grey read as one already there); one click fills one.
    sequence = page.locator("#f-sequence")
    assert not re.fullmatch(r"[A-Z]+", sequence.get_attribute("placeholder") or "")
    page.click("#use-example")
    assert re.fullmatch(r"[ACDEFGHIKLMNPQRSTVWY]{30,}", sequence.input_value())
    expect(sequence).to_be_focused()
    page.fill("#f-sequence", "MKV")
    page.fill("#f-num_recycles", "99")
    page.click("#submit-job")
    # In the form's words: the field's label, not the API's "params.num_recycles".
    expect(page.locator("#error-num_recycles")).to_have_text("“Recycles” must be between 1 and 24 for ESMFold, got 99")
    expect(page.locator("#f-num_recycles")).to_have_class(re.compile("invalid"))
    # A screen reader hears it too: the field is marked invalid and described by the message.
    # Its name stays "Recycles"; the message comes first in its description, then the help.
    recycles = page.get_by_label("Recycles", exact=True)
    expect(recycles).to_have_attribute("aria-invalid", "true")
    expect(recycles).to_be_focused()
    expect(recycles).to_have_accessible_name("Recycles")
    expect(recycles).to_have_accessible_description(re.compile(r"^“Recycles” must be between 1 and 24 .* 1–24, default 4"))
    page.fill("#f-num_recycles", "")
    page.fill("#f-sequence", "HELLO WORLD 42")
    page.click("#submit-job")
    expect(page.locator("#error-sequence")).to_contain_text("invalid amino-acid letters")
    expect(page.locator("#f-num_recycles")).not_to_have_attribute("aria-invalid", "true")  # that one is fixed now
    expect(page.locator("#f-num_recycles")).to_have_accessible_description(re.compile(r"^1–24, default 4"))  # the help alone
    shot(page, "06-submit-errors")
    assert page.url.endswith("/submit?model=esmfold")  # still on the form


def test_amber_relax_from_the_form_gives_relaxed_downloads(ada_page: tuple[Page, Watched], service: ServiceProcess) -> None:
    """params.relax from the ESMFold form; the job page offers the relaxed files beside the unrelaxed ones."""
    page, _ = ada_page
    page.goto(f"{service.base_url}/submit?model=esmfold")
    page.fill("#f-name", "Relaxed from the form")
    page.fill("#f-sequence", "GSHMASMTG")  # tiny weights clash badly: a short chain relaxes in seconds
    page.fill("#f-num_recycles", "1")
    page.select_option("#f-relax", "best")
    with page.expect_request(re.compile(r".*/v1/predict$")) as sent:
        page.click("#submit-job")
    assert sent.value.post_data_json["params"] == {"num_recycles": 1, "relax": "best"}
    page.wait_for_url(re.compile(r".*/jobs/[0-9a-f-]{36}$"))
    expect(page.locator("#downloads [data-format=relaxed_pdb]")).to_contain_text("Relaxed PDB", timeout=180_000)
    expect(page.locator("#downloads [data-format=relaxed_cif]")).to_contain_text("Relaxed mmCIF")
    expect(page.locator("#downloads [data-format=pdb]")).to_be_visible()
    expect(page.locator("#metric-relax")).to_contain_text(re.compile(r"[\d,]+ → [\d,]+"))  # clashing pairs before -> after
    expect(page.locator("#metric-relax")).to_contain_text("RMSD to unrelaxed")
    # The residues the relax left violating bond, angle or clash limits, as the job's metrics count them (0 clashes
    # read as a sound structure when most residues still were not).
    job_id = page.url.rsplit("/", 1)[1]
    metrics = page.request.get(f"{service.base_url}/v1/jobs/{job_id}").json()["metrics"]
    left = metrics["violations_relaxed"]
    if left:
        expect(page.locator("#relax-violations")).to_have_text(
            f"{left:,} {'residue still violates' if left == 1 else 'residues still violate'} bond, angle or clash limits")
    else:
        expect(page.locator("#relax-violations")).to_have_count(0)
    # Which of the two the viewer shows (the page never said): the structure as predicted, its pLDDT the colours.
    expect(page.locator("#structure-which")).to_have_text(
        "The structure as predicted, before Amber relax; the relaxed one is “Relaxed PDB” under Downloads.")
    shot(page, "06-job-relaxed-downloads")
    link = page.locator("#downloads [data-format=relaxed_pdb]").get_attribute("href")
    relaxed = page.request.get(f"{service.base_url}{link}")
    assert relaxed.ok and "Amber-relaxed" in relaxed.text()


def test_a_job_named_like_html_is_shown_as_text_and_runs_nothing(
    ada_page: tuple[Page, Watched], service: ServiceProcess, ada: User
) -> None:
    page, watched = ada_page
    api = service.client(ada.api_key)
    job = api.predict(SHORT, name=XSS_NAME).json()
    api.wait_for(job["job_id"])
    page.goto(f"{service.base_url}/jobs")
    row = page.locator(f"tr[data-job-id='{job['job_id']}']")
    expect(row.locator(".name a")).to_have_text(XSS_NAME)
    page.goto(f"{service.base_url}/jobs/{job['job_id']}")
    expect(page.locator("h1")).to_have_text(XSS_NAME)
    page.wait_for_timeout(500)
    assert page.locator("img[src=x]").count() == 0
    assert page.title().startswith(XSS_NAME)
    assert watched.dialogs == []
    shot(page, "07-job-name-as-text", full_page=False)


def test_jobs_table_pages_through_older_jobs(ada_page: tuple[Page, Watched], service: ServiceProcess,
                                             ada: User) -> None:
    page, _ = ada_page
    api = service.client(ada.api_key)
    for batch in range(2):
        jobs = [{"model": "esmfold", "sequence": "MKTVRQERLK", "name": f"Batch {batch} item {i}"} for i in range(10)]
        assert api.post("/v1/batch", json={"jobs": jobs}).json()["summary"]["successful"] == 10
    total = api.get("/v1/jobs", params={"limit": 1}).json()["pagination"]["total"]
    assert total > 20
    page.goto(f"{service.base_url}/jobs")
    expect(page.locator("#page-info")).to_have_text(f"1–20 of {total}")
    expect(page.locator("#jobs-body tr").first).to_contain_text("Batch 1 item 9")  # newest first
    page.click("#page-next")
    expect(page.locator("#page-info")).to_have_text(f"21–{total} of {total}")
    assert "offset=20" in page.url
    expect(page.locator("#page-prev")).to_be_enabled()
    page.click("#page-prev")
    expect(page.locator("#page-info")).to_have_text(f"1–20 of {total}")


def test_usage_webhooks_and_account_pages(ada_page: tuple[Page, Watched], service: ServiceProcess, ada: User) -> None:
    page, _ = ada_page
    api = service.client(ada.api_key)  # known traffic, whatever ran before
    for path in ("/v1/models", "/v1/jobs", "/v1/account"):
        assert api.get(path).status_code == 200
    job = api.predict(SHORT, name="For the usage page").json()
    api.wait_for(job["job_id"])  # before the webhook below exists: it must only hear the test event
    page.goto(f"{service.base_url}/usage?days=7")
    expect(page.locator("#chart-requests rect.bar")).to_have_count(7)
    assert page.locator("#by-endpoint .item").count() >= 3, page.locator("#by-endpoint").inner_text()
    expect(page.locator("#by-model")).to_contain_text("ESMFold")
    # Credits as the balance sees them: refunds come off on the day they happen (jobservice/usage.py).
    expect(page.locator(".stat", has_text="Credits used").locator(".note")).to_have_text(
        "net of refunds, on the day refunded")
    shot(page, "08-usage")

    with WebhookReceiver() as receiver:
        page.goto(f"{service.base_url}/webhooks")
        expect(page.locator(".empty .title")).to_have_text("No webhooks yet")
        page.fill("#webhook-url", "https://10.0.0.1/hook")  # private: refused with the API's message
        page.click("#webhook-add")
        expect(page.locator("#webhook-error")).to_contain_text("public host")
        expect(page.get_by_label("Receiver URL")).to_have_accessible_description(re.compile("public host.*HTTPS on a public host"))
        page.fill("#webhook-url", receiver.url)
        page.uncheck("#event-job\\.started")
        page.click("#webhook-add")
        expect(page.locator("#secret-value")).to_contain_text("whsec_")
        row = page.locator("#webhooks-table tbody tr")
        expect(row).to_have_count(1)
        expect(row).to_contain_text("job.completed")
        row.locator("[data-action=test]").click()
        expect(row.locator(".test-result [data-status-code]")).to_have_attribute("data-status-code", "200")
        # With the test's answer in its row, Send test, Deliveries, Rotate secret and Delete stay two by two (Delete
        # fell under them alone).
        tops = row.locator("td.actions button").evaluate_all("bs => bs.map((b) => Math.round(b.getBoundingClientRect().top))")
        assert len(tops) == 4 and tops[0] == tops[1] < tops[2] == tops[3], f"the row's buttons are not two by two: {tops}"
        page.set_viewport_size({"width": 1024, "height": 900})  # beside the sidebar, the row still fits its card
        assert page.evaluate("(e) => e.scrollWidth <= e.clientWidth", page.locator("#webhooks-table").locator("..").element_handle())
        page.set_viewport_size({"width": 1440, "height": 960})
        assert receiver.events() == ["webhook.test"]
        shot(page, "09-webhooks")
        row.locator("[data-action=delete]").click()
        page.click("dialog [data-confirm]")
        expect(page.locator(".empty .title")).to_have_text("No webhooks yet")

    page.goto(f"{service.base_url}/account")
    expect(page.locator("#account-username")).to_have_text("ada")
    expect(page.locator("#credit-balance .value")).not_to_have_text("0")
    counts = service.client(ada.api_key).get("/v1/account").json()["jobs"]  # the counts add up with cancelled
    expect(page.locator("#jobs-cancelled .value")).to_have_text(str(counts["cancelled"]))
    assert counts["total"] == sum(counts[k] for k in ("completed", "active", "failed", "cancelled"))
    shot(page, "10-account")


def test_a_second_account_sees_none_of_the_firsts_jobs_keys_or_webhooks(
    browser: Browser, service: ServiceProcess, ada: User, bob: User, folded: dict[str, Any]
) -> None:
    service.client(ada.api_key).post("/v1/webhooks", json={"url": "http://127.0.0.1:9/ada-only"})
    watched = Watched()
    page = sign_in(browser, service, bob, watched)
    expect(page.locator(".empty .title")).to_have_text("No jobs yet")
    shot(page, "11-second-account-jobs")
    page.goto(f"{service.base_url}/jobs/{folded['job_id']}")
    expect(page.locator("h1")).to_have_text("Job not found")
    page.goto(f"{service.base_url}/keys")
    expect(page.locator("#keys-table tbody tr")).to_have_count(1)
    assert "notebook" not in page.content()
    page.goto(f"{service.base_url}/webhooks")
    expect(page.locator(".empty .title")).to_have_text("No webhooks yet")
    for path in (f"/v1/jobs/{folded['job_id']}", f"/v1/jobs/{folded['job_id']}/download"):
        assert page.request.get(service.base_url + path).status == 404  # with bob's cookie
    assert watched.problems() == []
    page.context.close()


def test_cookie_requests_without_the_csrf_token_are_refused(ada_page: tuple[Page, Watched], service: ServiceProcess) -> None:
    page, _ = ada_page
    body = {"model": "esmfold", "sequence": SHORT}
    refused = page.request.post(f"{service.base_url}/v1/predict", data=body)  # the session cookie, no token
    assert refused.status == 403 and refused.json()["error"] == "Forbidden"
    from_page = page.evaluate("""async () => (await fetch('/v1/keys', {method: 'POST', body: '{}',
        headers: {'Content-Type': 'application/json'}})).status""")
    assert from_page == 403
    assert page.request.post(f"{service.base_url}/auth/sign-out", data={}).status == 403
    token = page.request.get(f"{service.base_url}/auth/session").json()["csrf_token"]
    accepted = page.request.post(f"{service.base_url}/v1/predict", data=body, headers={"X-CSRF-Token": token})
    assert accepted.status == 200, accepted.text()
    # A cross-site page cannot get the token: GET /auth/session answers same-origin scripts only (no CORS).
    assert "Access-Control-Allow-Origin" not in requests.get(f"{service.base_url}/auth/session", timeout=10).headers
