"""The account page's credit history: every change of the balance, newest first (when, +/−, balance after,
why), a job's entries linked to it while it exists, a deleted job's kept unlinked, and "Show older" for the
next page. A job service on the inference twin (the page only reads the history), in this module alone."""

from __future__ import annotations

import asyncio
import csv
import io
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect

from jobservice import admin
from tests.dashboard.pages_helpers import Watched, in_process_service, make_user, shot, sign_in
from tests.support import InProcessService

pytestmark = pytest.mark.e2e

PHONE = {"width": 390, "height": 844}
SEQ = "MKTVRQERLKSIVRILERSKEPV"


service = in_process_service("credits")


def test_the_account_page_shows_the_credit_history_and_pages_to_older_entries(browser: Browser,
                                                                            service: InProcessService) -> None:
    cora = make_user(service, "cora")  # type: ignore[arg-type]
    client = service.client(cora.api_key)
    jobs = [r["job_id"] for _ in range(3) for r in client.post(
        "/v1/batch", json={"jobs": [{"model": "esmfold", "sequence": SEQ}] * 7}).json()["results"]]  # 21 charges
    client.wait_for(jobs[-1])
    assert client.delete(f"/v1/jobs/{jobs[-1]}").status_code == 200  # the newest charge: kept, unlinked
    with ThreadPoolExecutor(1) as pool:  # Playwright's sync API owns this thread's event loop
        balance = pool.submit(asyncio.run, admin.add_credits(service.settings, username="cora", amount=1000,
                                                             note="lab grant")).result()

    watched = Watched()
    page = sign_in(browser, service, cora, watched)  # type: ignore[arg-type]
    page.goto(f"{service.base_url}/account")
    rows = page.locator("#credit-history-body tr")
    expect(rows).to_have_count(20)
    top = rows.nth(0)
    expect(top.locator("td.change")).to_have_text("+1,000")
    expect(top.locator("td").nth(2)).to_have_text(f"{balance:,}")
    expect(top.locator("td.why")).to_have_text("Addedlab grant")
    deleted = rows.nth(1)
    expect(deleted.locator("td.change")).to_have_text("−10")
    expect(deleted.locator("td.why")).to_contain_text(f"job {jobs[-1][:8]} (deleted)")
    assert deleted.locator("a").count() == 0
    expect(rows.nth(2).locator("td.why")).to_contain_text("ESMFold job submitted")  # the model's name, not its id
    linked = rows.nth(2).locator("td.why a")
    expect(linked).to_have_attribute("href", f"/jobs/{jobs[-2]}")
    expect(page.locator("#credit-history-info")).to_have_text("20 of 23")
    shot(page, "30-account-credit-history")

    page.click("#credit-history-more")
    expect(rows).to_have_count(23)
    expect(rows.nth(22).locator("td.why")).to_have_text("Addedopening balance")
    expect(rows.nth(22).locator("td").nth(2)).to_have_text("5,000")
    expect(page.locator("#credit-history-more")).to_be_hidden()
    expect(page.locator("#credit-history-info")).to_have_text("23 of 23")

    page.set_viewport_size({"width": 1024, "height": 900})  # a laptop beside the sidebar
    shot(page, "30-account-credit-history-1024")
    page.set_viewport_size(PHONE)
    top.scroll_into_view_if_needed()
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]  # no sideways scrolling
    shot(page, "31-account-credit-history-phone")
    linked.click()
    page.wait_for_url(f"**/jobs/{jobs[-2]}")
    assert watched.problems() == []
    page.context.close()


def test_the_credit_history_and_the_daily_usage_download_as_csv(browser: Browser, service: InProcessService) -> None:
    """Every entry (all pages) as CSV, a note a spreadsheet would run as a formula made inert; the usage page's
    days as CSV, adding up to the API's totals."""
    dirk = make_user(service, "dirk")  # type: ignore[arg-type]
    client = service.client(dirk.api_key)
    for _ in range(12):  # 12 batches of 10: 120 charges, more than one page of 100
        client.post("/v1/batch", json={"jobs": [{"model": "esmfold", "sequence": SEQ}] * 10})
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, admin.add_credits(service.settings, username="dirk", amount=50,
                                                   note='=HYPERLINK("http://x","grant, Q4")')).result()
    account = client.get("/v1/account").json()

    watched = Watched()
    page = sign_in(browser, service, dirk, watched)  # type: ignore[arg-type]
    page.goto(f"{service.base_url}/account")
    expect(page.locator("#credit-history-body tr")).to_have_count(20)
    with page.expect_download() as download:
        page.click("#credit-history-csv")
    assert download.value.suggested_filename.startswith("phonos-credits-dirk-")
    rows = list(csv.DictReader(io.StringIO(Path(download.value.path()).read_text(encoding="utf-8"))))
    assert len(rows) == 122  # the opening balance, 120 charges, the grant
    assert list(rows[0]) == ["entry_id", "created_at", "kind", "amount", "balance_after", "job_id", "job_deleted", "note"]
    assert rows[0]["note"] == "'=HYPERLINK(\"http://x\",\"grant, Q4\")" and rows[0]["amount"] == "50"
    assert rows[-1]["note"] == "opening balance"
    assert sum(int(r["amount"]) for r in rows) == int(rows[0]["balance_after"]) == account["credits"]["balance"]
    assert len({r["entry_id"] for r in rows}) == 122
    # A double click makes one file: the button waits while the pages are read.
    downloads: list[object] = []
    page.on("download", lambda download: downloads.append(download))
    page.dblclick("#credit-history-csv")
    expect(page.locator("#credit-history-csv")).to_have_text("Download CSV")
    expect(page.locator("#credit-history-csv")).to_be_enabled()
    page.wait_for_timeout(500)
    assert len(downloads) == 1

    page.goto(f"{service.base_url}/usage?days=7")
    expect(page.locator("#usage-csv")).to_be_enabled()
    with page.expect_download() as download:
        page.click("#usage-csv")
    days = list(csv.DictReader(io.StringIO(Path(download.value.path()).read_text(encoding="utf-8"))))
    usage = client.get("/v1/usage", params={"days": 7}).json()
    assert [d["date"] for d in days][-1] == usage["period"]["end_date"] and len(days) == 7
    assert sum(int(d["credits_used"]) for d in days) == usage["totals"]["credits_used"] > 0
    page.set_viewport_size(PHONE)  # the period picker and the button share the header on a phone
    shot(page, "43-usage-csv-phone", full_page=False)
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    assert watched.problems() == []
    page.context.close()
