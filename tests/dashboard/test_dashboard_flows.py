"""Dashboard flows found wanting by a walk-through: phone-width pages.

Real Chromium on the real service (the package's Triton and job service), as its own account.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from PIL import Image
from playwright.sync_api import Browser, Page, expect

from tests.dashboard.pages_helpers import User, Watched, make_user, shot, sign_in
from tests.support import ServiceProcess

pytestmark = pytest.mark.e2e

SHORT = "MKTAYIAKQRQISFVKSHFSRQLEERLGLIEVQ"
PHONE = {"width": 390, "height": 844}


@pytest.fixture(scope="module")
def cleo(service: ServiceProcess) -> User:
    return make_user(service, "cleo")


@pytest.fixture(scope="module")
def cleo_job(service: ServiceProcess, cleo: User) -> dict[str, Any]:
    api = service.client(cleo.api_key)
    job = api.predict(SHORT, name="A fold with a rather long name for a phone screen").json()
    return api.wait_for(job["job_id"], timeout_s=180)


@pytest.fixture
def cleo_page(browser: Browser, service: ServiceProcess, cleo: User) -> Iterator[Page]:
    watched = Watched()
    page = sign_in(browser, service, cleo, watched)
    yield page
    page.context.close()
    assert watched.problems() == [], watched.problems()


def light_background(png: bytes) -> bool:
    """Dark text on a light page: most pixels of a heading's box are light."""
    pixels = np.asarray(Image.open(io.BytesIO(png)).convert("L"))
    return float(np.median(pixels)) > 160


def test_every_page_fits_a_phone_and_its_title_is_readable(cleo_page: Page, service: ServiceProcess, cleo: User,
                                                            cleo_job: dict[str, Any]) -> None:
    api = service.client(cleo.api_key)
    if not api.get("/v1/webhooks").json()["webhooks"]:
        assert api.post("/v1/webhooks", json={"url": "http://127.0.0.1:9/cleo"}).status_code == 200
    page = cleo_page
    page.set_viewport_size(PHONE)
    pages = {  # path -> what shows once the page has its data
        "/jobs": "#jobs-table", "/submit?model=diffdock": "#submit-job", "/keys": "#keys-table",
        "/webhooks": "#webhooks-table", "/usage": "#chart-requests", "/account": "#account-username",
        f"/jobs/{cleo_job['job_id']}": "#downloads",
    }
    for path, ready in pages.items():
        page.goto(service.base_url + path)
        expect(page.locator(ready)).to_be_visible(timeout=30_000)
        width = page.evaluate("document.documentElement.scrollWidth")
        name = re.sub(r"\W+", "-", path.strip("/"))[:20]
        shot(page, f"20-phone-{name}")
        assert width <= PHONE["width"], f"{path} is {width} px wide on a {PHONE['width']} px screen"
        title = page.locator("h1")
        assert light_background(title.screenshot()), f"{path}: the title sits on a dark background"
