"""The job page's Provenance card names a docking job's receptor job as a link, as its Input card does: it showed
"Protein source job:3db1a163-...-..." raw (gateway/static/js/provenance.js). A share link's page, whose visitor
has no account there, names the job without a link. A job service on the inference twin, in this module alone."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, expect

from tests.dashboard.pages_helpers import User, in_process_service, make_user, open_page, signed_in
from tests.support import REPO, ApiClient, InProcessService

pytestmark = pytest.mark.e2e

service = in_process_service("provenance-links", {"PHONOS_MODELS": "esmfold,diffdock"})


@pytest.fixture(scope="module")
def owner(service: InProcessService) -> User:
    return make_user(service, "provenance")  # type: ignore[arg-type]


def test_a_receptor_jobs_reference_in_provenance_is_a_link_to_it(
        browser: Browser, service: InProcessService, owner: User) -> None:
    client: ApiClient = service.client(owner.api_key)
    folded = client.wait_for(client.predict(name="receptor").json()["job_id"])["job_id"]
    # The twin's structure is a placeholder text: the job's PDB becomes a real protein, a receptor DiffDock takes.
    receptor = (REPO / "tests" / "diffdock" / "data" / "receptor_small.pdb").read_text()
    (service.data_dir / "results" / folded[:2] / f"{folded}.pdb").write_text(receptor)
    answer = client.post("/v1/predict", json={"model": "diffdock", "sequence": "CC(=O)Oc1ccccc1C(=O)O",
                                               "params": {"protein_pdb": folded}})
    assert answer.status_code == 200, answer.text
    docked = client.wait_for(answer.json()["job_id"])
    assert docked["metadata"]["protein_source"] == f"job:{folded}"

    page = signed_in(browser, service, owner)  # type: ignore[arg-type]
    page.goto(f"{service.base_url}/jobs/{docked['job_id']}")
    link = page.locator("#provenance dd a[data-job-ref]")
    expect(link).to_have_text(folded[:8])  # the short id, as the Input card says it
    expect(link).to_have_attribute("href", f"/jobs/{folded}")
    expect(link.locator("xpath=..")).to_have_text(f"job {folded[:8]}")
    expect(page.locator("#provenance")).not_to_contain_text(f"job:{folded}")
    link.click()
    page.wait_for_url(f"**/jobs/{folded}")
    page.close()

    shared = client.post(f"/v1/jobs/{docked['job_id']}/shares", json={}).json()["url"]
    guest = open_page(browser)
    guest.goto(f"{service.base_url}{shared}" if shared.startswith("/") else shared)
    expect(guest.locator("#provenance")).to_contain_text(f"job {folded[:8]}")
    expect(guest.locator("#provenance a[data-job-ref]")).to_have_count(0)  # not the guest's to open
    guest.context.close()
