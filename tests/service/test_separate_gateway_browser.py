"""A person in a real browser (Debian's Chromium, Playwright) using the dashboard through a separate gateway process
(`python -m gateway`, the deployment of deploy/compose.yaml and deploy/kubernetes) in front of a real job service
(in process, on the inference twin) over gRPC: sign in, submit an ESMFold job from the New job page, watch it run
and complete on its page, download the PDB.

The model's progress is never stored: the job page can only show it from the job's event stream
(`/v1/jobs/{id}/events`), so seeing it proves the stream works end to end through the gateway.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest
from phonos_models.common.progress import Progress
from playwright.sync_api import Browser, expect, sync_playwright

from jobservice.memory_inference import Progressing
from tests.dashboard.pages_helpers import CHROMIUM, CHROMIUM_ARGS, User, Watched, make_user, sign_in
from tests.serve_process import separate_gateway
from tests.support import REPO, InProcessService

pytestmark = pytest.mark.e2e
SEQUENCE = "MKTAYIAKQRQISFVKSHFSRQLEERLGLIEVQ"
PASSES = 6


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InProcessService]:
    running = InProcessService(tmp_path_factory.mktemp("browser_gateway") / "var", {})
    yield running
    running.stop()


@pytest.fixture(scope="module")
def gateway(service: InProcessService) -> Iterator[str]:
    with separate_gateway(service.grpc_target) as url:
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    assert Path(CHROMIUM).exists(), "Debian's chromium is missing: run scripts/install.sh"
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def ada(service: InProcessService) -> User:
    return make_user(service, "ada")  # type: ignore[arg-type]  # the same surface as ServiceProcess


def test_a_person_folds_a_protein_through_a_separate_gateway(service: InProcessService, gateway: str,
                                                             browser: Browser, ada: User) -> None:
    assert (REPO / "node_modules" / "3dmol").exists(), "ln -s /work/main/node_modules node_modules (the viewer)"
    # The model reports its trunk passes, a second apart, then succeeds.
    steps = tuple(Progress("recycle", n, PASSES, f"trunk pass {n} of {PASSES}") for n in range(1, PASSES + 1))
    service.inference.script("esmfold", Progressing(steps, interval_s=1.0))
    watched = Watched()
    page = sign_in(browser, SimpleNamespace(base_url=gateway), ada, watched)  # type: ignore[arg-type]
    try:
        page.goto(f"{gateway}/submit?model=esmfold")
        page.fill("#f-name", "Through the gateway")
        page.fill("#f-sequence", SEQUENCE)
        page.click("#submit-job")
        page.wait_for_url(re.compile(r".*/jobs/[0-9a-f-]{36}$"))
        job_id = page.url.rsplit("/", 1)[1]

        # Live: the progress comes only from the event stream, through the gateway.
        expect(page.locator("#progress-message")).to_contain_text(re.compile(rf"trunk pass \d of {PASSES}"),
                                                                  timeout=20_000)
        expect(page.locator("#status-card strong")).to_have_text("Running")
        expect(page.locator("#status-card")).to_have_count(0, timeout=30_000)  # completed, without a reload
        expect(page.locator(".topbar .pill").first).to_have_attribute(
            "data-status", "completed")

        pdb = page.locator("#downloads a[data-format=pdb]")
        expect(pdb).to_be_visible()
        with page.expect_download() as download:
            pdb.click()
        assert download.value.suggested_filename == f"{job_id}.pdb"
        text = Path(download.value.path()).read_text()
        assert text.startswith("in-memory twin output of esmfold (pdb)"), text[:200]
        assert watched.problems() == [], watched.errors
    finally:
        page.context.close()
