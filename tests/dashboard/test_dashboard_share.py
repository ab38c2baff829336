"""Share links in the dashboard: the owner makes a link from a completed job's page, someone with no account and no
cookie opens it in a fresh browser and sees the job's real structure, plots and files (read-only, nothing of the
owner's account), and once the owner revokes the link it shows the "not found" page.

The session's real tritonserver (the viewer must draw a real structure; tests/conftest.py) and a real job service
process of this module's own."""

from __future__ import annotations

import io
from collections.abc import Iterator

import numpy as np
import pytest
from PIL import Image
from playwright.sync_api import Browser, Page, expect

from tests.dashboard.pages_helpers import (
    A11Y_PROBLEMS,
    CHROMIUM_ARGS,
    Watched,
    keyboard_walk,
    make_user,
    open_page,
    shot,
    sign_in,
)
from tests.support import ServiceProcess, TritonFixture

pytestmark = pytest.mark.e2e
SEQUENCE = "MKTAYIAKQRQISFVKSHFSRQLEERLGLIEVQ"
PHONE = {"width": 390, "height": 844}
assert CHROMIUM_ARGS  # the module's browser is conftest's (Debian's chromium)


@pytest.fixture(scope="module")
def service(shared_triton: TritonFixture, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceProcess]:
    process = ServiceProcess.start(tmp_path_factory.mktemp("share") / "var", shared_triton.grpc_url,
                                   {"PHONOS_MODELS": "esmfold"})
    yield process
    process.stop()


def drawn_fraction(png: bytes) -> float:
    """The share of pixels that are not the white background."""
    pixels = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))
    return float((pixels.min(axis=2) < 235).mean())


def stranger(browser: Browser, watched: Watched, viewport: dict[str, int] | None = None) -> Page:
    """A fresh browser context: no cookie, no session, as a colleague's browser."""
    page = open_page(browser, watched)
    if viewport:
        page.set_viewport_size(viewport)
    assert page.context.cookies() == []
    return page


def test_a_link_made_on_the_job_page_shows_the_result_to_a_stranger_until_revoked(
        browser: Browser, service: ServiceProcess) -> None:
    sam = make_user(service, "sam")
    api = service.client(sam.api_key)
    job = api.wait_for(api.predict(SEQUENCE, name="Kinase fragment").json()["job_id"], timeout_s=180)
    assert job["status"] == "completed"

    watched = Watched()
    owner = sign_in(browser, service, sam, watched)
    owner.goto(f"{service.base_url}/jobs/{job['job_id']}")
    owner.click("#share-job")
    expect(owner.locator("#share-panel")).to_be_visible()
    expect(owner.locator("#share-none")).to_have_text("No working links.")
    owner.select_option("#share-expiry", "7")
    owner.focus("#share-create")  # by keyboard: the new link takes the focus, selected, ready to copy
    owner.keyboard.press("Enter")
    url_field = owner.locator("#share-url")
    expect(url_field).to_be_focused()
    link = url_field.input_value()
    assert owner.evaluate("document.activeElement.selectionEnd - document.activeElement.selectionStart") == len(link)
    assert link.startswith(f"{service.base_url}/shared/")
    expect(owner.locator("#share-links tbody tr")).to_have_count(1)
    expect(owner.locator("#share-links th")).to_have_text(["Link id", "Created", "Expires", ""])  # not the link itself
    shot(owner, "60-share-panel")
    # The job page by keyboard and screen reader, its viewer, plots, Compare card and open Share panel with the
    # new link: every control reached in order with a ring to see, named, labelled, readable (pages_helpers).
    expect(owner.locator("#viewer[data-ready=true]")).to_have_count(1, timeout=30_000)
    expect(owner.locator("#compare-with")).to_be_visible()
    found: dict[str, list[str]] = {}
    for viewport in (PHONE, {"width": 1440, "height": 960}):
        owner.set_viewport_size(viewport)
        if viewport == PHONE:
            shot(owner, "60-share-panel-phone", full_page=False)
        visited, problems = keyboard_walk(owner)
        for control in ("Reset", "Cartoon", "Sticks", "Copy", "Create link", "Revoke"):
            assert any(control in v for v in visited), f"{viewport['width']} px: {control} never reached: {visited}"
        found[f"owner {viewport['width']}"] = problems + owner.evaluate(A11Y_PROBLEMS)
    # The canvas is an image with a name for a screen reader; Spin says whether it is on.
    expect(owner.get_by_role("application", name="The structure in 3D, coloured by pLDDT", exact=False)).to_be_visible()
    spin = owner.get_by_role("button", name="Spin")
    expect(spin).to_have_attribute("aria-pressed", "false")
    spin.press("Enter")
    expect(spin).to_have_attribute("aria-pressed", "true")
    spin.press("Enter")
    expect(spin).to_have_attribute("aria-pressed", "false")

    seen = Watched()
    guest = stranger(browser, seen)
    guest.goto(link)
    expect(guest.locator("#shared-banner")).to_have_text("Shared job · read-only")
    expect(guest.locator("h1")).to_have_text("Kinase fragment")
    viewer = guest.locator("#viewer[data-ready=true]")
    expect(viewer).to_have_count(1, timeout=30_000)
    guest.wait_for_timeout(500)  # one more frame
    assert drawn_fraction(viewer.screenshot()) > 0.02, "the 3D viewer drew nothing"
    expect(guest.locator("#weights-notice")).to_contain_text("Not a real prediction")  # tiny weights say so
    expect(guest.locator("#provenance")).to_contain_text("esmfold-tiny-random")
    segments = guest.locator("#plddt-plot path").get_attribute("d") or ""
    assert segments.count("L") == len(SEQUENCE) - 1
    # Read-only: no navigation, no actions, no Compare card (it lists the owner's structures), no credits.
    for absent in (".nav", "a.brand", "#share-job", "#delete-job", "#run-again", "#dock-this", "#compare-with", "#side-credits"):
        expect(guest.locator(absent)).to_have_count(0)
    body = guest.locator("#main").inner_text()
    assert "sam" not in body and "Credits" not in body
    with guest.expect_download() as download:
        guest.click("#downloads a[data-format=pdb]")
    assert download.value.suggested_filename == f"{job['job_id']}.pdb"
    assert "/shared/" in download.value.url
    shot(guest, "61-shared-job")
    visited, problems = keyboard_walk(guest)
    assert any("PDB" in v for v in visited), visited  # the downloads, by keyboard too
    found["stranger 1440"] = problems + guest.evaluate(A11Y_PROBLEMS)
    bad = [f"{where}: {problem}" for where, problems in found.items() for problem in problems]
    assert bad == [], "\n".join(bad)
    phone = stranger(browser, seen, PHONE)
    phone.goto(link)
    expect(phone.locator("#viewer[data-ready=true]")).to_have_count(1, timeout=30_000)
    shot(phone, "62-shared-job-phone")
    phone.context.close()

    share_id = owner.locator("#share-links tbody tr").get_attribute("data-share")
    expect(owner.locator("#share-links [data-revoke]")).to_have_attribute("aria-label", f"Revoke link {share_id}")
    owner.click("#share-links [data-revoke]")
    owner.click("dialog [data-confirm]")
    expect(owner.locator("#share-none")).to_be_visible()
    expect(owner.get_by_role("heading", name="Working links")).to_be_focused()  # not the page's top: its button is gone

    guest.reload()
    expect(guest.locator("#shared-missing")).to_contain_text("Link not found")
    expect(guest.locator("#viewer")).to_have_count(0)
    shot(guest, "63-shared-link-revoked")
    response = guest.request.get(link, headers={"Accept": "text/html"})
    assert response.status == 404
    assert watched.problems() == [] and seen.problems() == []
    guest.context.close()
    owner.context.close()
