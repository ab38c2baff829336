"""The keys page's expiry and read-only choices: the create form sends them, the table shows each key's access
("read-only" / "full access") and expiry ("expires <date>" / "expired" / "never expires"), on a desktop and
at phone width. A job service on the inference twin (no model runs), in this module alone."""

from __future__ import annotations

import time
from datetime import datetime

import pytest
from playwright.sync_api import Browser, expect

from tests.dashboard.pages_helpers import Watched, in_process_service, make_user, shot, sign_in
from tests.support import InProcessService

pytestmark = pytest.mark.e2e

PHONE = {"width": 390, "height": 844}
DAY_S = 86400


service = in_process_service("key-access")


def test_create_a_read_only_key_that_expires_and_see_its_access_in_the_table(browser: Browser,
                                                                              service: InProcessService) -> None:
    dana = make_user(service, "dana")  # type: ignore[arg-type]
    owner = service.client(dana.api_key)
    watched = Watched()
    page = sign_in(browser, service, dana, watched)  # type: ignore[arg-type]
    page.goto(f"{service.base_url}/keys")
    expect(page.locator("#key-expiry option")).to_have_text(["Never", "In 30 days", "In 90 days", "In 1 year"])
    expect(page.locator("#key-read-only-help")).to_contain_text("cannot submit")

    page.fill("#key-name", "results viewer")
    page.select_option("#key-expiry", "90")
    page.check("#key-read-only")
    page.focus("#key-create")  # by keyboard: the new key's Copy button takes the focus
    page.keyboard.press("Enter")
    expect(page.locator("#secret-callout button")).to_be_focused()
    secret = page.locator("#secret-value").inner_text()
    assert secret.startswith("pk_")
    expect(page.locator("#key-read-only")).not_to_be_checked()  # the form is ready for the next key
    expect(page.locator("#key-expiry")).to_have_value("")

    created = next(k for k in owner.get("/v1/keys").json()["keys"] if k["name"] == "results viewer")
    assert created["scope"] == "read_only"
    expires = datetime.fromisoformat(created["expires_at"].replace("Z", "+00:00")).timestamp()
    assert abs(expires - (time.time() + 90 * DAY_S)) < 600
    viewer = service.client(secret)
    assert viewer.get("/v1/jobs").status_code == 200
    assert viewer.post("/v1/predict", json={"model": "esmfold", "sequence": "MKTAYIAK"}).status_code == 403

    row = page.locator(f"tr[data-key-id='{created['key_id']}']")
    expect(row.locator("[data-field=scope]")).to_have_text("read-only")
    expect(row.locator("[data-field=expiry]")).to_contain_text(f"expires {datetime.fromtimestamp(expires):%-d %b %Y}")
    first = page.locator("#keys-table tbody tr", has_text="first key")
    expect(first.locator("[data-field=scope]")).to_have_text("full access")
    expect(first.locator("[data-field=expiry]")).to_have_text("never expires")
    shot(page, "30-keys-read-only-expiring")

    # A key past its expiry shows "expired", and is not counted as active.
    expired_at = time.time() - 60
    service.sql("UPDATE api_keys SET expires_at = ? WHERE id = ?", expired_at, created["key_id"])
    page.reload()
    expect(row.locator("[data-field=expiry]")).to_have_text("expired")
    # ...and when, in words (a tooltip is never seen on a phone).
    expect(row.locator("[data-field=expired-at]")).to_contain_text(f"on {datetime.fromtimestamp(expired_at):%-d %b %Y}")
    expect(page.locator(".card-head .hint")).to_contain_text("1 active")
    assert viewer.get("/v1/jobs").status_code == 401

    # Renewed from the table: it works again, until a year from now; then it is set never to expire.
    row.locator("[data-action=expiry]").click()
    expect(row.locator("[data-field=new-expiry]")).to_have_value("30")  # a renewal that lasts, not "Never"
    row.locator("[data-field=new-expiry]").select_option("365")
    row.locator("[data-action=save-expiry]").click()
    expect(row.locator("[data-field=expiry]")).to_contain_text("expires ")
    expect(page.locator(".card-head .hint")).to_contain_text("2 active")
    renewed = next(k for k in owner.get("/v1/keys").json()["keys"] if k["key_id"] == created["key_id"])
    renewed_at = datetime.fromisoformat(renewed["expires_at"].replace("Z", "+00:00")).timestamp()
    assert not renewed["expired"] and abs(renewed_at - (time.time() + 365 * DAY_S)) < 600
    assert viewer.get("/v1/jobs").status_code == 200
    row.locator("[data-action=expiry]").click()
    row.locator("[data-field=new-expiry]").select_option("")
    row.locator("[data-action=save-expiry]").click()
    expect(row.locator("[data-field=expiry]")).to_have_text("never expires")
    assert "expires_at" not in next(k for k in owner.get("/v1/keys").json()["keys"] if k["key_id"] == created["key_id"])
    service.sql("UPDATE api_keys SET expires_at = ? WHERE id = ?", time.time() - 60, created["key_id"])
    page.reload()

    page.set_viewport_size(PHONE)
    page.reload()
    expect(row.locator("[data-field=expiry]")).to_be_visible()
    shot(page, "30-keys-phone")
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"the keys page is {width} px wide on a phone"
    assert page.evaluate("""() => Array.from(document.querySelectorAll('.table-scroll'))
        .filter((e) => e.scrollWidth > e.clientWidth + 1).length""") == 0
    page.context.close()
    assert watched.problems() == [], watched.problems()


def test_a_revoked_key_shows_no_expiry(browser: Browser, service: InProcessService) -> None:
    """A revoked key's row said "revoked" and, beside it, "expires 2 Jan 2027": an expiry that no longer means anything."""
    remy = make_user(service, "remy")  # type: ignore[arg-type]
    owner = service.client(remy.api_key)
    made = owner.post("/v1/keys", json={"name": "short lived", "expires_in_days": 30}).json()["key"]
    assert owner.post(f"/v1/keys/{made['key_id']}/revoke", json={}).status_code == 200
    page = sign_in(browser, service, remy)  # type: ignore[arg-type]
    page.goto(f"{service.base_url}/keys")
    row = page.locator(f"tr[data-key-id='{made['key_id']}']")
    expect(row).to_contain_text("revoked")
    expect(row.locator("[data-field=expiry]")).to_have_count(0)
    expect(row).not_to_contain_text("expires")
    page.context.close()
