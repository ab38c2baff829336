"""A DiffDock job's page as a computational chemist reads it (QA report 30): the ligand's heavy atoms, the input's
warnings one per line near the top, each pose's docked stereo SMILES, one precision for confidences, the receptor's
cofactors and ions and the pocket in the viewer, the selected pose kept blue under the mouse, Provenance's words on
the last diffusion step, and "Run again" of a fold-then-dock job choosing that fold again with a fresh seed. Real
tiny ESMFold and DiffDock (the directory's service)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, Route, expect

from tests.dashboard.pages_helpers import User, Watched, make_user, shot, signed_in
from tests.support import ApiClient, ServiceProcess

pytestmark = pytest.mark.e2e

SEQ = "MKTAYIAKQRQISFVKSHFSRQLEERLGLIEVQAPILSRVGDGTQDNLSGAEKAVQVKVKALPDAQ"
IBUPROFEN = "CC(C)Cc1ccc(cc1)C(C)C(=O)O"  # one stereocentre left unspecified: a warning
# The test receptor (a peptide with a calcium ion) with an acetate as a cofactor: a hetero group of 4 atoms and an ion.
RECEPTOR = (Path(__file__).parents[1] / "diffdock" / "data" / "receptor_small.pdb").read_text().replace("END\n", (
    "HETATM 9003  C   ACT C   2     -12.000   0.000   0.000  1.00  0.00           C\n"
    "HETATM 9004  O   ACT C   2     -11.300   1.050   0.000  1.00  0.00           O\n"
    "HETATM 9005  OXT ACT C   2     -11.300  -1.050   0.000  1.00  0.00           O\n"
    "HETATM 9006  CH3 ACT C   2     -13.500   0.000   0.000  1.00  0.00           C\n"
    "END\n"))


@pytest.fixture(scope="module")
def chem(service: ServiceProcess) -> User:
    return make_user(service, "chem")


@pytest.fixture(scope="module")
def client(service: ServiceProcess, chem: User) -> ApiClient:
    return ApiClient(service.base_url, chem.api_key)


@pytest.fixture(scope="module")
def jobs(client: ApiClient) -> dict[str, str]:
    """A fold, ibuprofen docked into it (no seed: the server draws one), and aspirin docked into an uploaded receptor
    with a cofactor and an ion, in a pocket."""
    fold = client.wait_for(client.predict(SEQ, name="fold for dock").json()["job_id"], timeout_s=300)["job_id"]
    dock = client.post("/v1/predict", json={"model": "diffdock", "sequence": IBUPROFEN, "name": "ibuprofen",
                                             "params": {"protein_pdb": fold, "samples_per_complex": 3,
                                                        "inference_steps": 10}}).json()["job_id"]
    pocket = client.post("/v1/predict", json={"model": "diffdock", "sequence": "CC(=O)Oc1ccccc1C(=O)O",
                                               "name": "aspirin in a pocket",
                                               "params": {"protein_pdb": RECEPTOR, "samples_per_complex": 2,
                                                          "inference_steps": 10, "random_seed": 3,
                                                          "pocket": {"center": [-5.0, 0.0, 0.0], "radius": 12}}}).json()
    for job_id in (dock, pocket["job_id"]):
        assert client.wait_for(job_id, timeout_s=600)["status"] == "completed"
    return {"fold": fold, "dock": dock, "pocket": pocket["job_id"]}


def _sd_values(sdf: str, name: str) -> list[str]:
    return re.findall(rf"^>\s*<{name}>[^\n]*\n([^\n]*)", sdf, re.M)


def _job_page(browser: Browser, service: ServiceProcess, chem: User, job_id: str, watched: Watched) -> Page:
    page = signed_in(browser, service, chem, watched)
    page.goto(f"{service.base_url}/jobs/{job_id}")
    expect(page.locator("#viewer[data-ready=true]")).to_have_count(1, timeout=60_000)
    return page


def test_the_ligand_card_warnings_and_docked_stereo(browser: Browser, service: ServiceProcess, chem: User,
                                                    client: ApiClient, jobs: dict[str, str]) -> None:
    """The Ligand card read `num_heavy_atoms`, a key the result never had (`heavy_atoms`): no count was ever shown.
    The warnings were one comma-joined line inside Provenance; they are a notice at the top, one per line. Each pose's
    stereo SMILES as docked (the SDF's docked_smiles) shows under the viewer. The top confidence had 2 decimals beside
    the table's 3."""
    watched = Watched()
    page = _job_page(browser, service, chem, jobs["dock"], watched)
    report = client.get(f"/v1/jobs/{jobs['dock']}/download", params={"format": "json"}).json()
    sdf = client.get(f"/v1/jobs/{jobs['dock']}/download", params={"format": "sdf"}).text
    job = client.get(f"/v1/jobs/{jobs['dock']}").json()

    expect(page.locator("#metric-ligand .note")).to_have_text(f"{report['ligand']['heavy_atoms']} heavy atoms")
    warnings = job["metadata"]["warnings"]
    assert any("stereocentre" in w for w in warnings), warnings
    notice = page.locator("#job-warnings")
    expect(notice.locator("li")).to_have_count(len(warnings))
    expect(notice.locator("li").first).to_contain_text(warnings[0][:40])
    # Above the results, not only in Provenance; Provenance lists them one per line too.
    assert page.evaluate("""() => document.getElementById('job-warnings').compareDocumentPosition(
        document.getElementById('viewer')) & Node.DOCUMENT_POSITION_FOLLOWING""")
    expect(page.locator("#provenance ul.warnings li")).to_have_count(len(warnings))

    docked = _sd_values(sdf, "docked_smiles")
    assert len(docked) == 3
    expect(page.locator("#pose-smiles code")).to_have_text(docked[0])
    page.click("#poses tr[data-rank='2']")
    expect(page.locator("#pose-smiles")).to_contain_text("Pose #2 as docked")
    expect(page.locator("#pose-smiles code")).to_have_text(docked[1])

    # The card's figure is the table's, to 3 decimals (the browser rounds 0.4295 up where Python's format does not).
    in_table = page.locator("#poses tr[data-rank='1'] td.num").first.inner_text()
    assert re.fullmatch(r"-?\d+\.\d{3}", in_table), in_table
    assert abs(float(in_table) - report["poses"][0]["confidence"]) <= 0.0005 + 1e-9
    expect(page.locator("#metric-confidence .value")).to_have_text(in_table)

    # The pose picked keeps its highlight under the mouse (the hover's grey won: 0,2,3 over 0,2,2).
    row = page.locator("#poses tr[data-rank='2']")
    row.hover()
    selected, other = page.evaluate("""() => [
        getComputedStyle(document.querySelector("#poses tr[data-rank='2'] td")).backgroundColor,
        getComputedStyle(document.querySelector("#poses tr[data-rank='1'] td")).backgroundColor]""")
    brand_soft = page.evaluate("""() => { const probe = document.createElement('div');
        probe.style.background = 'var(--brand-soft)'; document.body.append(probe);
        const colour = getComputedStyle(probe).backgroundColor; probe.remove(); return colour; }""")
    assert selected == brand_soft and selected != other, (selected, other, brand_soft)
    shot(page, "dd-job-warnings-stereo")
    assert watched.problems() == []
    page.close()


def test_a_damaged_report_still_names_the_ligand(browser: Browser, service: ServiceProcess, chem: User,
                                                 jobs: dict[str, str]) -> None:
    """With the JSON result unreadable the Ligand card said "not known": its fallback read `metadata.ligand`, which no
    job has. The SMILES comes from the job's stored request."""
    watched = Watched()
    page = signed_in(browser, service, chem, watched)

    def garbled(route: Route) -> None:
        route.fulfill(status=200, content_type="application/json", body="{not json")

    page.route(re.compile(r".*/download\?format=json$"), garbled)
    page.goto(f"{service.base_url}/jobs/{jobs['dock']}")
    expect(page.locator("#scores-unreadable")).to_be_visible(timeout=60_000)
    expect(page.locator("#metric-ligand .value")).to_have_text(IBUPROFEN)
    expect(page.locator("#inputs")).to_contain_text(IBUPROFEN)
    page.unroute(re.compile(r".*/download\?format=json$"))
    page.close()


def test_the_viewer_shows_cofactors_ions_and_the_pocket(browser: Browser, service: ServiceProcess, chem: User,
                                                        jobs: dict[str, str]) -> None:
    """The complex keeps the receptor's cofactors and ions, and the viewer styled only `not resn LIG` as a cartoon:
    they were invisible, and so was the pocket. The acetate is drawn as sticks, the calcium as a sphere, the pocket
    as a translucent sphere."""
    watched = Watched()
    page = _job_page(browser, service, chem, jobs["pocket"], watched)
    expect(page.locator("#viewer")).to_have_attribute("data-hetero", "4 1")  # acetate's 4 atoms; one Ca ion
    expect(page.locator("#viewer")).to_have_attribute("data-pocket", "true")
    expect(page.locator("#pocket-note")).to_contain_text("translucent sphere")
    page.locator("#viewer").scroll_into_view_if_needed()
    shot(page, "dd-job-hetero-pocket", full_page=False)
    assert watched.problems() == []
    page.close()


def test_run_again_of_a_fold_then_dock_job_chooses_the_fold_and_samples_anew(
        browser: Browser, service: ServiceProcess, chem: User, client: ApiClient, jobs: dict[str, str]) -> None:
    """Run again switched the receptor to "Upload a PDB file" with the fold's PDB text (the new job's provenance said
    "uploaded PDB"), and filled in the seed the server had drawn: submitted as it was, the same poses again."""
    seed = client.get(f"/v1/jobs/{jobs['dock']}").json()["metadata"]["random_seed"]
    page = signed_in(browser, service, chem)
    page.goto(f"{service.base_url}/jobs/{jobs['dock']}")
    page.click("#run-again")
    page.wait_for_url("**/submit?model=diffdock*")
    expect(page.locator("#receptor-from-job")).to_be_checked()
    expect(page.locator("#f-protein_pdb-job")).to_have_value(jobs["fold"])
    expect(page.locator(".kept-file")).to_have_count(0)
    expect(page.locator("#f-ligand_smiles")).to_have_value(IBUPROFEN)
    expect(page.locator("#f-random_seed")).to_have_value("")
    expect(page.locator("#f-random_seed-earlier")).to_contain_text(f"The earlier run used seed {seed}")
    shot(page, "dd-run-again-fold")
    page.close()


def test_provenance_says_the_noise_free_last_step_is_run(browser: Browser, service: ServiceProcess,
                                                         chem: User) -> None:
    """"the last, noise-free step is not run" said the opposite of docs/diffdock.md: one step fewer is run and the
    last one jumps to t = 0 without noise."""
    page = signed_in(browser, service, chem)
    note = page.evaluate("""async () => {
        const {provenance} = await import('/static/js/provenance.js');
        const card = provenance({job_id: 'x', created_at: '2026-05-01T10:00:00Z', updated_at: '2026-05-01T10:00:42Z',
                                 metadata: {sampling: {inference_steps: 10, steps_run: 9}}});
        return card.querySelector('[data-note=steps_run]').textContent;
    }""")
    assert "is not run" not in note
    assert "the last one run is noise-free and jumps to t = 0" in note, note
    page.close()
