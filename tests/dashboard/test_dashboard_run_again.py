"""A job page's "Run again": the new-job form starts from that job's request (GET /v1/jobs/{id}/input), files
kept, and what is changed before submitting is what the new job runs. A job service on the inference twin
serving all three models (the form and the API only), in this module alone."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect

from tests.dashboard.pages_helpers import Watched, in_process_service, make_user, shot, sign_in
from tests.support import InProcessService

pytestmark = pytest.mark.e2e

SEQ = "MKTVRQERLKSIVRILERSKEPV"
PDB = (Path(__file__).parents[1] / "diffdock" / "data" / "receptor_small.pdb").read_text()
ASPIRIN = "CC(=O)Oc1ccccc1C(=O)O"


service = in_process_service("again", {"PHONOS_MODELS": "esmfold,alphafold2,diffdock"})


def test_run_again_fills_the_form_from_the_jobs_request(browser: Browser, service: InProcessService) -> None:
    fay = make_user(service, "fay")  # type: ignore[arg-type]
    client = service.client(fay.api_key)
    a3m = f">query\n{SEQ}\n>hit\n{SEQ[:-3]}---\n"
    folded = client.post("/v1/predict", json={
        "model": "alphafold2", "sequence": SEQ, "name": "kinase, MSA v1",
        "params": {"model_preset": "monomer_ptm", "msa_mode": "a3m", "a3m": a3m, "num_recycles": 2}}).json()["job_id"]
    docked = client.post("/v1/predict", json={
        "model": "diffdock", "sequence": ASPIRIN,
        "params": {"protein_pdb": PDB, "samples_per_complex": 2, "random_seed": 7,
                   "pocket": {"residues": "A:2", "radius": 12}}}).json()["job_id"]

    watched = Watched()
    page = sign_in(browser, service, fay, watched)  # type: ignore[arg-type]
    page.goto(f"{service.base_url}/jobs/{folded}")
    page.click("#run-again")
    page.wait_for_url("**/submit?model=alphafold2*")
    expect(page.locator("#run-again")).to_contain_text(f"Filled in from job {folded[:8]}")
    expect(page.locator("#run-again a")).to_have_attribute("href", f"/jobs/{folded}")
    expect(page.locator("#f-name")).to_have_value("kinase, MSA v1")
    expect(page.locator("#f-sequence")).to_have_value(SEQ)
    expect(page.locator("#f-model_preset")).to_have_value("monomer_ptm")
    expect(page.locator("#f-msa_mode")).to_have_value("a3m")
    expect(page.locator("#f-num_recycles")).to_have_value("2")
    expect(page.locator(".kept-file")).to_be_visible()  # the A3M is kept without choosing the file again
    shot(page, "35-run-again-alphafold2")
    page.fill("#f-num_recycles", "1")
    page.fill("#f-name", "kinase, MSA v1, 1 recycle")
    page.click("#submit-job")
    page.wait_for_url("**/jobs/*")
    again = client.get(f"/v1/jobs/{page.url.rsplit('/', 1)[1]}/input").json()
    assert again["name"] == "kinase, MSA v1, 1 recycle" and again["params"]["num_recycles"] == 1
    assert again["params"]["a3m"] == a3m and again["params"]["model_preset"] == "monomer_ptm"

    page.goto(f"{service.base_url}/jobs/{docked}")
    page.click("#run-again")
    page.wait_for_url("**/submit?model=diffdock*")
    expect(page.locator("#receptor-from-file")).to_be_checked()  # the receptor's PDB text, kept
    expect(page.locator("#f-ligand_smiles")).to_have_value(ASPIRIN)
    expect(page.locator("#f-pocket")).to_have_value("A:2")
    expect(page.locator("#f-pocket-radius")).to_have_value("12")
    # The seed is left empty (a re-run samples anew: with it filled in, Run again gave the same poses for another 30
    # credits), the earlier one named beside it and a click away.
    expect(page.locator("#f-random_seed")).to_have_value("")
    expect(page.locator("#f-random_seed-earlier")).to_contain_text("The earlier run used seed 7")
    page.click("#use-earlier-seed")
    expect(page.locator("#f-random_seed")).to_have_value("7")
    expect(page.locator("#f-random_seed-earlier")).to_contain_text("Clear it for new sampling")
    page.click("#submit-job")
    page.wait_for_url("**/jobs/*")
    redone = client.get(f"/v1/jobs/{page.url.rsplit('/', 1)[1]}/input").json()
    original = client.get(f"/v1/jobs/{docked}/input").json()
    assert redone["params"] == original["params"] and redone["sequence"] == original["sequence"]
    assert watched.problems() == []
    page.context.close()


def test_an_alphafold2_complex_runs_from_the_form_and_again(browser: Browser, service: InProcessService) -> None:
    """The preset list held only monomer presets: a complex pasted into the box was sent as `monomer` and refused
    ("a complex needs 'Model preset' 'multimer'", a choice the list lacked), and Run again of a multimer job fell
    back to `monomer` and was refused the same way. The server's default (multimer for a complex) is now the
    form's, and `multimer` a choice."""
    gil = make_user(service, "gil")  # type: ignore[arg-type]
    client = service.client(gil.api_key)
    complex_ = "MKTAYIAKQR:GSHMASEPEPLL"
    watched = Watched()
    page = sign_in(browser, service, gil, watched)  # type: ignore[arg-type]
    page.goto(f"{service.base_url}/submit?model=alphafold2")
    expect(page.locator("#f-model_preset")).to_have_value("")
    expect(page.locator("#f-model_preset option[value='multimer']")).to_have_count(1)
    page.fill("#f-sequence", complex_)
    page.click("#submit-job")
    page.wait_for_url("**/jobs/*")
    sent = client.get(f"/v1/jobs/{page.url.rsplit('/', 1)[1]}/input").json()
    assert sent["sequence"] == complex_ and sent["params"]["model_preset"] == "multimer"  # the server's choice

    multimer = client.post("/v1/predict", json={"model": "alphafold2", "sequence": complex_,
                                                 "params": {"model_preset": "multimer", "num_recycles": 2}}).json()
    page.goto(f"{service.base_url}/jobs/{multimer['job_id']}")
    page.click("#run-again")
    page.wait_for_url("**/submit?model=alphafold2*")
    expect(page.locator("#f-model_preset")).to_have_value("multimer")
    page.click("#submit-job")
    page.wait_for_url("**/jobs/*")
    again = client.get(f"/v1/jobs/{page.url.rsplit('/', 1)[1]}/input").json()
    assert again["params"]["model_preset"] == "multimer" and again["sequence"] == complex_
    assert watched.problems() == []
    page.context.close()
