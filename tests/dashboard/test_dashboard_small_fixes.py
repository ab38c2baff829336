"""Three things a new user met on the dashboard, on a job service serving ESMFold alone (the inference twin, in this
module alone): the empty Jobs page named only the models served (it promised AlphaFold2 and DiffDock); the
Webhooks page's "Last test" shows a test sent through the API (it was "-": only the page's own click was shown,
now it is the newest test event of the server's delivery log); and the sign-in page's footer gives the
set-password command as it runs on a fresh install (`.venv/bin/phonos`, not on PATH), without a server path."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, expect

from tests.dashboard.pages_helpers import User, in_process_service, make_user, open_page, shot, signed_in
from tests.support import InProcessService, WebhookReceiver

pytestmark = pytest.mark.e2e

service = in_process_service("small-fixes", {"PHONOS_MODELS": "esmfold"})


@pytest.fixture(scope="module")
def tess(service: InProcessService) -> User:
    return make_user(service, "tess")  # type: ignore[arg-type]


def fits(page: object, selector: str) -> bool:
    """The element ends inside the viewport (nothing cut off at 375 px)."""
    return bool(page.locator(selector).evaluate(  # type: ignore[attr-defined]
        "(e) => e.getBoundingClientRect().right <= document.documentElement.clientWidth"))


def test_the_empty_jobs_page_names_only_the_models_served(browser: Browser, service: InProcessService,
                                                          tess: User) -> None:
    for width in (1440, 375):
        page = signed_in(browser, service, tess, width=width)  # type: ignore[arg-type]
        empty = page.locator(".empty")
        expect(empty).to_contain_text("No jobs yet")
        expect(empty).to_contain_text("Fold a sequence with ESMFold.")
        assert "AlphaFold2" not in empty.inner_text() and "DiffDock" not in empty.inner_text()
        shot(page, f"90-jobs-empty-esmfold-only-{width}")
        page.close()


def test_the_empty_state_words_every_mix_of_models(browser: Browser, service: InProcessService, tess: User) -> None:
    page = signed_in(browser, service, tess)  # type: ignore[arg-type]
    said = page.evaluate("""async () => {
        const {whatToRun} = await import('/static/js/pages/jobs.js');
        const m = (id, name, type) => ({id, name, type});
        return [
            whatToRun([m('esmfold', 'ESMFold', 'structure_prediction'), m('alphafold2', 'AlphaFold2', 'structure_prediction'),
                       m('diffdock', 'DiffDock', 'docking')]),
            whatToRun([m('diffdock', 'DiffDock', 'docking')]),
            whatToRun([]),
        ];
    }""")
    page.close()
    assert said == ["Fold a sequence with ESMFold or AlphaFold2, or dock a ligand with DiffDock.",
                    "Dock a ligand with DiffDock.",
                    "No models are served here yet: ask the server\u2019s operator."]


def test_last_test_shows_a_test_sent_through_the_api(browser: Browser, service: InProcessService, tess: User) -> None:
    client = service.client(tess.api_key)
    with WebhookReceiver([503]) as receiver:
        hook = client.post("/v1/webhooks", json={"url": receiver.url}).json()["webhook"]
        hook_id = hook["webhook_id"]
        other = client.post("/v1/webhooks", json={"url": receiver.url + "?never-tested"}).json()["webhook"]
        assert client.post(f"/v1/webhooks/{hook_id}/test").json()["status_code"] == 503
        assert client.post(f"/v1/webhooks/{hook_id}/test").json()["status_code"] == 200  # the newest one shows
    # The log keeps the test events (delivered or failed, one attempt each), and filters by event.
    tests = client.get(f"/v1/webhooks/{hook_id}/deliveries", params={"event": "webhook.test"}).json()["deliveries"]
    assert [(d["event"], d["status"], d["attempts"], d["last_status_code"]) for d in tests] == [
        ("webhook.test", "delivered", 1, 200), ("webhook.test", "failed", 1, 503)]
    assert tests[0].get("job_id") is None
    refused = client.get(f"/v1/webhooks/{hook_id}/deliveries", params={"event": "job.done"})
    assert refused.status_code == 400 and "event must be one of" in refused.json()["message"]
    # The webhook object is the documented one: no field was added to it.
    assert set(client.get("/v1/webhooks").json()["webhooks"][0]) == set(hook)

    for width in (1440, 375):
        page = signed_in(browser, service, tess, width=width)  # type: ignore[arg-type]
        page.goto(f"{service.base_url}/webhooks")
        cell = page.locator(f"#webhooks-table tr[data-webhook-id='{hook_id}'] td.test-result")
        expect(cell.locator("[data-status-code]")).to_have_text("HTTP 200")
        expect(cell.locator("time")).to_have_text("just now")
        expect(page.locator(f"#webhooks-table tr[data-webhook-id='{other['webhook_id']}'] td.test-result")).to_have_text("Never tested")
        # The Deliveries card lists the test events too, with no job.
        page.locator(f"#webhooks-table tr[data-webhook-id='{hook_id}'] [data-action=deliveries]").click()
        expect(page.locator("#deliveries-body tr")).to_have_count(2)
        expect(page.locator("#deliveries-body tr").first).to_contain_text("webhook.test")
        shot(page, f"91-webhooks-last-test-from-api-{width}")
        page.close()


def test_the_sign_in_footer_gives_the_command_that_runs_on_a_fresh_install(browser: Browser,
                                                                          service: InProcessService) -> None:
    for width in (1440, 375):
        page = open_page(browser, width=width)
        page.goto(f"{service.base_url}/sign-in")
        foot = page.locator(".signin .foot")
        expect(foot.locator("code")).to_have_text(".venv/bin/phonos users set-password --username NAME")
        expect(foot).to_contain_text("on the server")
        assert str(service.settings.data_dir) not in page.content()  # no server path on a public page
        assert fits(page, ".signin .foot code"), f"{width} px: the command runs past the screen"
        shot(page, f"92-sign-in-footer-{width}")
        page.context.close()
