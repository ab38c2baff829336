"""Dashboard defects a lab user met: a signed-out visitor's way to the sign-in page logged a 401 in the browser's
console (GET /auth/session); a damaged scores file (a result JSON that is not JSON) showed the raw parse error as the
job page's only words; toasts raised together were drawn one over the other. A job service on the inference twin
serving all three models, in this module alone."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from playwright.sync_api import Browser, ConsoleMessage, Page, expect

from tests.dashboard.pages_helpers import (
    User,
    Watched,
    in_process_service,
    make_user,
    open_page,
    shot,
    signed_in,
)
from tests.support import InProcessService

pytestmark = pytest.mark.e2e

SEQ = "MKTVRQERLKSIVRILERSKEPV"
PDB = (Path(__file__).parents[1] / "diffdock" / "data" / "receptor_small.pdb").read_text()
ASPIRIN = "CC(=O)Oc1ccccc1C(=O)O"
# What a script's JSON.parse says of a damaged file (Chromium's words): never a person's message.
PARSE_ERROR_WORDS = ("Unexpected", "JSON.parse", "SyntaxError", "is not valid JSON", "Unterminated")

service = in_process_service("fixes", {"PHONOS_MODELS": "esmfold,alphafold2,diffdock"})


@pytest.fixture(scope="module")
def ines(service: InProcessService) -> User:
    return make_user(service, "ines")  # type: ignore[arg-type]


@pytest.fixture
def ines_page(browser: Browser, service: InProcessService, ines: User) -> Iterator[Page]:
    watched = Watched()
    page = signed_in(browser, service, ines, watched)  # type: ignore[arg-type]
    yield page
    assert watched.problems() == []
    page.close()  # its context (signed_in's session) serves the next test


def console_errors(page: Page) -> list[str]:
    """Every console error the page logs from now on, with the address it was logged on (a failed fetch is logged
    as "Failed to load resource: ... 401", on the page that asked, even as it leaves for the next)."""
    seen: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            seen.append(f"{page.url}: {message.text}")

    page.on("console", on_console)
    page.on("pageerror", lambda error: seen.append(f"{page.url}: pageerror {error}"))
    return seen


def test_a_signed_out_visitor_reaches_the_sign_in_page_without_a_console_error(
        browser: Browser, service: InProcessService, ines: User) -> None:
    page = open_page(browser)
    errors = console_errors(page)
    for path, goes_to in (("/", "/sign-in?next=%2Fjobs"), ("/jobs", "/sign-in?next=%2Fjobs"),
                          ("/keys", "/sign-in?next=%2Fkeys"), ("/sign-in", "/sign-in")):
        page.goto(service.base_url + path)
        page.wait_for_url(f"**{goes_to}")
        expect(page.locator("#username")).to_be_focused()
    assert errors == []
    shot(page, "60-sign-in-signed-out")

    # A cookie the job service does not know (ended elsewhere, a password changed): signed out too, without an
    # error, and the cookie is cleared (the next page need not ask about it).
    page.context.add_cookies([{"name": "phonos_session", "value": "x" * 43, "url": service.base_url}])
    page.goto(f"{service.base_url}/usage")
    page.wait_for_url("**/sign-in?next=%2Fusage")
    expect(page.locator("#username")).to_be_focused()
    assert [c for c in page.context.cookies() if c["name"] == "phonos_session"] == []

    page.fill("#username", ines.username)
    page.fill("#password", ines.password)
    page.click("form button[type=submit]")
    page.wait_for_url("**/usage")
    expect(page.locator("#side-user")).to_have_text(ines.username)
    assert errors == []
    # Signed in, the page learnt its CSRF token from the same answer: a state-changing call works.
    page.goto(f"{service.base_url}/keys")
    page.click("#sign-out")
    page.wait_for_url("**/sign-in")
    assert errors == []
    page.context.close()


def test_the_session_status_route_answers_signed_out_without_an_error(service: InProcessService,
                                                                     ines: User) -> None:
    """GET /auth/status: 200 either way, the CSRF token only to a signed-in browser, never to another site (no
    CORS); GET /auth/session keeps its 401 (scripts and tests read it as "signed out")."""
    answer = requests.get(f"{service.base_url}/auth/status", timeout=10)
    assert answer.status_code == 200 and answer.json() == {"signed_in": False}
    assert answer.headers["Cache-Control"] == "no-store" and "Access-Control-Allow-Origin" not in answer.headers
    assert requests.get(f"{service.base_url}/auth/session", timeout=10).status_code == 401

    browser = requests.Session()
    signed = browser.post(f"{service.base_url}/auth/sign-in", timeout=30,
                          json={"username": ines.username, "password": ines.password})
    assert signed.status_code == 200, signed.text
    status = browser.get(f"{service.base_url}/auth/status", timeout=10).json()
    assert status["signed_in"] is True and status["username"] == ines.username
    assert status["csrf_token"] == signed.json()["csrf_token"] and status["expires_at"].endswith("Z")
    # An API key is no session: refused as on every /auth route.
    keyed = browser.get(f"{service.base_url}/auth/status", headers={"Authorization": f"Bearer {ines.api_key}"},
                        timeout=10)
    assert keyed.status_code == 400 and keyed.json()["error"] == "Invalid request"
    browser.post(f"{service.base_url}/auth/sign-out", json={}, timeout=10,
                 headers={"X-CSRF-Token": status["csrf_token"]})
