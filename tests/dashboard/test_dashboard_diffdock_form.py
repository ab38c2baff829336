"""DiffDock's new-job form as a computational chemist uses it (QA report 30): a "Dock this" link to a fold older
than the receptor list's newest 100, no receptor chosen for the person, several SMILES lines as one job each, a
ligand file loaded, an SDF said to be one before anything is sent, and the server's `code` in its messages. A job
service on the inference twin (the form and the API only), in this module alone."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Route, expect

from tests.dashboard.pages_helpers import Watched, in_process_service, make_user, shot, signed_in
from tests.support import InProcessService

pytestmark = pytest.mark.e2e

service = in_process_service("dd-form", {"PHONOS_MODELS": "esmfold,diffdock"})
SEQ = "MKTVRQERLKSIVRILERSKEPV"
PDB = (Path(__file__).parents[1] / "diffdock" / "data" / "receptor_small.pdb").read_text()
SDF = """aspirin
     RDKit          3D

  3  2  0  0  0  0  0  0  0  0999 V2000
    0.0000    0.0000    0.0000 C   0  0  0  0  0  0  0  0  0  0  0  0
    1.5000    0.0000    0.0000 C   0  0  0  0  0  0  0  0  0  0  0  0
    2.2000    1.2000    0.0000 O   0  0  0  0  0  0  0  0  0  0  0  0
  1  2  1  0
  2  3  1  0
M  END
$$$$
"""


def _listed_without(job_id: str):  # noqa: ANN202 (a route handler)
    """The receptor list's answers with `job_id` left out: the job is older than the newest 100 of its model."""

    def handler(route: Route) -> None:
        answer = route.fetch()
        body = answer.json()
        body["jobs"] = [job for job in body.get("jobs", []) if job["job_id"] != job_id]
        route.fulfill(response=answer, body=json.dumps(body))

    return handler


def test_a_dock_this_link_to_a_fold_not_in_the_list_chooses_that_fold(browser: Browser,
                                                                     service: InProcessService) -> None:
    """The list holds each model's newest 100 completed jobs: a link to an older fold said the job was "not available"
    and chose the newest fold in its place, for a ligand docked into the wrong protein. The fold is looked up on its
    own, added to the list and chosen; a link to a job that is not there chooses nothing and says why."""
    ida = make_user(service, "ida")  # type: ignore[arg-type]
    client = service.client(ida.api_key)
    old = client.wait_for(client.predict(SEQ, name="old fold").json()["job_id"])["job_id"]
    client.wait_for(client.predict(SEQ, name="newest fold").json()["job_id"])
    watched = Watched()
    page = signed_in(browser, service, ida, watched)  # type: ignore[arg-type]
    page.route("**/v1/jobs?*", _listed_without(old))
    page.goto(f"{service.base_url}/submit?model=diffdock&receptor={old}")
    select = page.locator("#f-protein_pdb-job")
    expect(select).to_have_value(old)
    expect(select.locator(f"option[value='{old}']")).to_have_text(f"{old[:8]} · ESMFold · old fold")
    expect(page.locator("#receptor-from-job")).to_be_checked()
    expect(page.locator("#f-protein_pdb-missing")).to_have_count(0)
    assert f"receptor={old}" in page.url
    shot(page, "dd-form-dock-this-old-fold")

    # A link to a job that is not this account's structure: said, with why, and nothing chosen in its place.
    docked = client.post("/v1/predict", json={"model": "diffdock", "sequence": "CCO",
                                               "params": {"protein_pdb": PDB}}).json()["job_id"]
    for wanted, why in (("0badc0de-0000-4000-8000-000000000000", "no job of this account has that id"),
                        (docked, "not a structure prediction")):
        page.goto(f"{service.base_url}/submit?model=diffdock&receptor={wanted}")
        note = page.locator("#f-protein_pdb-missing")
        expect(note).to_contain_text(f"The job in the link ({wanted[:8]}) is not available: ")
        expect(note).to_contain_text(why)
        expect(select).to_have_value("")
        expect(page.locator("#receptor-from-job")).not_to_be_checked()
        expect(page.locator("#receptor-from-file")).not_to_be_checked()
    page.unroute("**/v1/jobs?*")
    assert watched.problems() == []
    page.close()


def test_no_receptor_is_chosen_for_the_person(browser: Browser, service: InProcessService) -> None:
    """The receptor defaulted to the newest fold whenever there was one: a SMILES typed and submitted was docked into
    a protein nobody chose. Now the form asks, and choosing from the list chooses it."""
    jo = make_user(service, "jo")  # type: ignore[arg-type]
    client = service.client(jo.api_key)
    fold = client.wait_for(client.predict(SEQ, name="a fold").json()["job_id"])["job_id"]
    sent: list[str] = []
    page = signed_in(browser, service, jo)  # type: ignore[arg-type]
    page.on("request", lambda r: sent.append(r.url) if r.method == "POST" else None)
    page.goto(f"{service.base_url}/submit?model=diffdock")
    expect(page.locator("#f-protein_pdb-job")).to_have_value("")
    expect(page.locator("#receptor-from-job")).not_to_be_checked()
    expect(page.locator("#receptor-from-file")).not_to_be_checked()
    page.fill("#f-ligand_smiles", "CCO")
    page.click("#submit-job")
    expect(page.locator("#error-protein_pdb")).to_contain_text("Choose the receptor")
    assert not [url for url in sent if "/v1/" in url]  # nothing was sent
    page.select_option("#f-protein_pdb-job", fold)
    expect(page.locator("#receptor-from-job")).to_be_checked()
    expect(page.locator("#error-protein_pdb")).to_be_visible()  # until the next submission
    posted: list[dict[str, object]] = []

    def capture(route: Route) -> None:  # the twin's fold has no atoms to dock into: what is sent is what counts
        posted.append(json.loads(route.request.post_data or "{}"))
        route.fulfill(status=400, content_type="application/json",
                      body=json.dumps({"error": "Bad Request", "message": "checked by the test"}))

    page.route("**/v1/predict", capture)
    page.click("#submit-job")
    expect(page.locator("#form-error")).to_contain_text("checked by the test")
    assert [p["params"]["protein_pdb"] for p in posted] == [fold]  # type: ignore[index]
    expect(page.locator("#error-protein_pdb")).to_be_hidden()
    page.unroute("**/v1/predict")
    page.close()


def test_a_new_account_with_nothing_uploaded_is_told_to_upload_or_fold_first(browser: Browser,
                                                                             service: InProcessService) -> None:
    """No fold yet, so the upload is the choice made for the person; with nothing uploaded the form sent the job and
    showed the API's refusal, about setting "Receptor" to PDB text or a job_id: neither is on this form."""
    neo = make_user(service, "neo")  # type: ignore[arg-type]
    sent: list[str] = []
    page = signed_in(browser, service, neo)  # type: ignore[arg-type]
    page.on("request", lambda r: sent.append(r.url) if r.method == "POST" else None)
    page.goto(f"{service.base_url}/submit?model=diffdock")
    expect(page.locator("#receptor-from-file")).to_be_checked()
    page.click("#use-example")
    page.click("#submit-job")
    expect(page.locator("#error-protein_pdb")).to_contain_text(
        "Upload the receptor’s PDB file, or fold the protein first (New job, ESMFold) and dock into its structure.")
    expect(page.locator("#f-protein_pdb-file")).to_be_focused()
    assert not [url for url in sent if "/v1/" in url]  # nothing was sent
    shot(page, "dd-form-nothing-uploaded")
    page.context.close()


def test_several_smiles_lines_are_one_job_each(browser: Browser, service: InProcessService) -> None:
    """The box took one SMILES: two lines pasted from a .smi file were folded into one and refused as a SMILES
    "followed by more text". Each line is a job now (POST /v1/batch, as FASTA records are), named by the name after
    its SMILES; a refused line is left in the box with the API's reason, its `code` as code."""
    kim = make_user(service, "kim")  # type: ignore[arg-type]
    client = service.client(kim.api_key)
    watched = Watched()
    page = signed_in(browser, service, kim, watched)  # type: ignore[arg-type]
    page.goto(f"{service.base_url}/submit?model=diffdock")
    page.check("#receptor-from-file")
    page.set_input_files("#f-protein_pdb-file", files=[{"name": "receptor.pdb", "mimeType": "chemical/x-pdb",
                                                        "buffer": PDB.encode()}])
    page.fill("#f-name", "screen")
    page.fill("#f-ligand_smiles", "CC(=O)Oc1ccccc1C(=O)O aspirin\nCCO\nNOT_A_SMILES broken one\n")
    expect(page.locator("#ligand-count")).to_have_text(
        "3 SMILES lines: 3 jobs, each named by the name after its SMILES (ligand1, ligand2… where none is given).")
    expect(page.locator("#submit-job")).to_have_text("Submit 3 jobs · 90 credits")
    shot(page, "dd-form-smiles-lines")
    page.click("#submit-job")
    expect(page.locator("#form-error")).to_contain_text("Submitted 2 of 3 jobs")
    refused = page.locator("#records-refused li")
    expect(refused).to_have_count(1)
    expect(refused).to_contain_text("screen: broken one")
    assert page.input_value("#f-ligand_smiles") == "NOT_A_SMILES broken one\n"
    shot(page, "dd-form-smiles-refused")
    jobs = client.get("/v1/jobs", params={"name": "screen", "model": "diffdock"}).json()["jobs"]
    assert sorted(job["name"] for job in jobs) == ["screen: aspirin", "screen: ligand2"]
    for job in jobs:
        request = client.get(f"/v1/jobs/{job['job_id']}/input").json()
        assert request["params"]["ligand_smiles"] in ("CC(=O)Oc1ccccc1C(=O)O", "CCO")
        assert request["params"]["protein_pdb"].startswith("REMARK")

    # One line with a name: one job, named by it (the API refused a name after the SMILES).
    page.fill("#f-name", "")
    page.fill("#f-ligand_smiles", "c1ccccc1N aniline")
    expect(page.locator("#ligand-count")).to_be_hidden()
    page.click("#submit-job")
    page.wait_for_url("**/jobs/*")
    one = client.get(f"/v1/jobs/{page.url.rsplit('/', 1)[1]}/input").json()
    assert (one["name"], one["params"]["ligand_smiles"]) == ("aniline", "c1ccccc1N")
    assert watched.problems() == []
    page.close()


def test_a_smiles_file_loads_and_an_sdf_is_said_to_be_one(browser: Browser, service: InProcessService) -> None:
    """No ligand file could be given, and a MOL/SDF pasted into the box was sent and refused with command-line advice,
    its backticks shown as they came. A .smi file loads into the box; an SDF pasted or chosen is said to be one, with
    the ways to SMILES, before anything is sent; a server message's `code` is code."""
    lee = make_user(service, "lee")  # type: ignore[arg-type]
    sent: list[str] = []
    page = signed_in(browser, service, lee)  # type: ignore[arg-type]
    page.on("request", lambda r: sent.append(r.url) if r.method == "POST" and "/v1/" in r.url else None)
    page.goto(f"{service.base_url}/submit?model=diffdock")
    page.set_input_files("#f-ligand_smiles-file", files=[{"name": "hits.smi", "mimeType": "text/plain",
                                                          "buffer": b"SMILES Name\nCCO ethanol\nCCN ethylamine\n"}])
    expect(page.locator("#f-ligand_smiles")).to_have_value("SMILES Name\nCCO ethanol\nCCN ethylamine")
    expect(page.locator("#ligand-count")).to_contain_text("2 SMILES lines: 2 jobs")  # the header line is no ligand

    page.set_input_files("#f-ligand_smiles-file", files=[{"name": "actives.sdf", "mimeType": "chemical/x-mdl-sdfile",
                                                          "buffer": SDF.encode()}])
    note = page.locator("#f-ligand_smiles-format")
    expect(note).to_be_visible()
    expect(note).to_contain_text("actives.sdf is a MOL/SDF file: the dashboard docks SMILES")
    expect(note.locator("code")).to_have_text(["obabel actives.sdf -osmi", "Chem.MolToSmiles(mol)",
                                               "phonos dock --ligands actives.sdf"])
    expect(page.locator("#f-ligand_smiles")).to_have_value("SMILES Name\nCCO ethanol\nCCN ethylamine")  # kept

    page.fill("#f-ligand_smiles", SDF)  # pasted: said at once, and Submit sends nothing
    expect(note).to_contain_text("This is a MOL/SDF file, not SMILES")
    # Its lines are no ligands: no "N SMILES lines: N jobs" beside the notice, no "Submit N jobs" button.
    expect(page.locator("#ligand-count")).to_be_hidden()
    expect(page.locator("#submit-job")).to_have_text("Submit · 30 credits")
    shot(page, "dd-form-sdf-pasted")
    page.click("#submit-job")
    error = page.locator("#error-ligand_smiles")
    expect(error).to_contain_text("The dashboard docks SMILES, one per line")
    expect(error.locator("code")).to_have_text(["obabel FILE -osmi", "phonos dock --ligands FILE.sdf"])
    assert "`" not in error.inner_text()
    assert sent == []
    page.fill("#f-ligand_smiles", "CCO")
    expect(note).to_be_hidden()

    # A server message with a command in backticks (as the API's mmCIF and MOL2 refusals have): the command as code,
    # built as text (a message's markup is never parsed as HTML).
    message = "invalid receptor: an mmCIF file (e.g. `gemmi convert receptor.cif receptor.pdb`) <b>not bold</b>"
    page.route("**/v1/predict", lambda route: route.fulfill(status=400, content_type="application/json", body=json.dumps(
        {"error": "Bad Request", "message": f"params.protein_pdb: {message}"})))
    page.check("#receptor-from-file")
    page.set_input_files("#f-protein_pdb-file", files=[{"name": "receptor.pdb", "mimeType": "chemical/x-pdb",
                                                        "buffer": PDB.encode()}])
    page.click("#submit-job")
    receptor_error = page.locator("#error-protein_pdb")
    expect(receptor_error.locator("code")).to_have_text("gemmi convert receptor.cif receptor.pdb")
    expect(receptor_error).to_contain_text("<b>not bold</b>")
    assert "`" not in receptor_error.inner_text()
    expect(receptor_error.locator("b")).to_have_count(0)
    shot(page, "dd-form-server-code")
    page.unroute("**/v1/predict")
    page.close()
