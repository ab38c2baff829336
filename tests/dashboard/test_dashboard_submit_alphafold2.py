"""The AlphaFold2 form's A3M upload: shown with the MSA modes that read one (upload, the server default), hidden
with those that refuse one (single sequence, search), and a file picked before switching to those is not sent.
A job service on the inference twin serving AlphaFold2 (no Triton needed for the form), in this module alone."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect

from tests.dashboard.pages_helpers import Watched, in_process_service, make_user, shot, sign_in
from tests.support import InProcessService

pytestmark = pytest.mark.e2e

SEQ = "MKTVRQERLKSIVRILERSKEPV"


service = in_process_service("af2form", {"PHONOS_MODELS": "esmfold,alphafold2"})


def test_the_a3m_upload_shows_only_with_the_msa_modes_that_read_one(browser: Browser, service: InProcessService,
                                                                   tmp_path: Path) -> None:
    eve = make_user(service, "eve")  # type: ignore[arg-type]
    a3m = tmp_path / "query.a3m"
    a3m.write_text(f">query\n{SEQ}\n>hit\n{SEQ[:-3]}---\n")
    watched = Watched()
    page = sign_in(browser, service, eve, watched)  # type: ignore[arg-type]
    page.goto(f"{service.base_url}/submit?model=alphafold2")
    upload = page.locator("#f-a3m")
    expect(upload).to_be_visible()  # the server default reads a file given as an upload
    page.set_input_files("#f-a3m", str(a3m))
    page.select_option("#f-msa_mode", "single_sequence")
    expect(upload).to_be_hidden()
    shot(page, "34-submit-alphafold2-single-sequence")
    page.select_option("#f-msa_mode", "a3m")
    expect(upload).to_be_visible()
    page.select_option("#f-msa_mode", "single_sequence")

    # Submitted as single sequence, the file picked earlier stays behind (the API would refuse the pair)
    page.fill("#f-sequence", SEQ)
    page.click("#submit-job")
    page.wait_for_url("**/jobs/*")
    job_id = page.url.rsplit("/", 1)[1]
    job = service.client(eve.api_key).get(f"/v1/jobs/{job_id}").json()
    assert job["model"] == "alphafold2" and job["status"] in ("pending", "running", "completed"), job
    assert watched.problems() == []
    page.context.close()
