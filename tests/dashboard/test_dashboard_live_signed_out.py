"""A job page's live stream when its session ends (signed out in another tab of the same browser): the page goes to
the sign-in page, keeping its place in `next`, with no error in the browser's console. The stream is an
EventSource, which cannot send the `X-Phonos-If-Signed-Out` header the page's other calls send: a reconnect after
the session ended was a 401, logged in the console ("EventSource's response has a MIME type ("application/json")
that is not "text/event-stream""), and the page ignored the job service's own "session ended" event
(gateway/dashboard/signed_out.py). The page's polls are held unanswered here (a job service slow to answer them),
so that the stream alone has to bring the page to sign-in. Two job services on the inference twin: one whose stream
guard notices the sign-out mid-stream within 0.3 s, one whose guard is slow (60 s) but whose streams end every
second, so the page's EventSource reconnects after the sign-out."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests
from playwright.sync_api import Browser, Page, Route, expect

from jobservice.memory_inference import Slow
from tests.dashboard.pages_helpers import Watched, make_user, sign_in
from tests.support import ApiClient, InProcessService, wait_until

pytestmark = pytest.mark.e2e

SHOTS = Path("/tmp/dash_shots")


def _service(name: str, env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[InProcessService]:
    process = InProcessService(Path(tmp_path_factory.mktemp(name)) / "var", {"PHONOS_MODELS": "esmfold", **env})
    yield process
    process.stop()


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InProcessService]:
    """The stream guard checks the open streams' sessions every 0.3 s: the sign-out ends the stream mid-way."""
    yield from _service("live_guarded", {"PHONOS_WATCH_POLL_S": "0.3"}, tmp_path_factory)


@pytest.fixture(scope="module")
def reconnecting(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InProcessService]:
    """Streams end after a second (the page's EventSource reconnects 3 s later) and the guard is too slow to see the
    sign-out first: the page meets the ended session when it reconnects."""
    yield from _service("live_reconnecting", {"PHONOS_WATCH_POLL_S": "60", "PHONOS_WATCH_MAX_STREAM_S": "1"},
                        tmp_path_factory)


def _streaming_job_page(browser: Browser, service: InProcessService, name: str,
                        watched: Watched) -> tuple[Page, ApiClient, str]:
    """A signed-in page on a running job's page, its stream open and its polls held unanswered from then on."""
    person = make_user(service, name)  # type: ignore[arg-type]
    api = service.client(person.api_key)
    service.settle()
    service.inference.script("esmfold", Slow(600))
    job_id = api.predict(name="long fold").json()["job_id"]
    wait_until(lambda: api.get(f"/v1/jobs/{job_id}").json()["status"] == "running", 20)
    page = sign_in(browser, service, person, watched, width=1440)
    with page.expect_response(lambda r: urlsplit(r.url).path == f"/v1/jobs/{job_id}/events") as opened:
        page.goto(f"{service.base_url}/jobs/{job_id}")
    assert opened.value.status == 200
    expect(page.locator("#status-card")).to_contain_text("Running")
    held: list[Route] = []  # never answered: the poll waits as for a job service that does not answer

    page.route(lambda url: urlsplit(url).path == f"/v1/jobs/{job_id}", lambda route: held.append(route))
    return page, api, job_id


def _sign_out_in_another_tab(browser: Browser, page: Page, service: InProcessService) -> None:
    """The same browser's cookies in a second context (another tab), signed out with its Sign out button."""
    other = browser.new_context(storage_state=page.context.storage_state(), viewport={"width": 1440, "height": 960})
    tab = other.new_page()
    tab.goto(f"{service.base_url}/jobs")
    tab.click("#sign-out")
    tab.wait_for_url("**/sign-in**")
    other.close()


@pytest.mark.parametrize("which", ["guarded", "reconnecting"])
def test_a_job_page_streaming_when_its_session_ends_goes_to_sign_in_without_a_console_error(
        browser: Browser, request: pytest.FixtureRequest, which: str) -> None:
    service: InProcessService = request.getfixturevalue(which)
    watched = Watched()
    page, api, job_id = _streaming_job_page(browser, service, f"live{which}", watched)
    _sign_out_in_another_tab(browser, page, service)
    page.wait_for_url(f"**/sign-in?next=%2Fjobs%2F{job_id}", timeout=20_000)
    expect(page.locator("#username")).to_be_visible()
    # Why it is here (was a plain form: a tab open through another's sign-out landed there with no word why).
    expect(page.locator("#session-ended")).to_contain_text("Your session has ended")
    SHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SHOTS / f"live-signed-out-{which}.png"))
    page.reload()  # said once
    expect(page.locator("#username")).to_be_visible()
    expect(page.locator("#session-ended")).to_have_count(0)
    assert watched.errors == [], watched.errors
    page.close()
    assert api.post(f"/v1/jobs/{job_id}/cancel").ok  # the model free for the next test


def test_the_stream_parameter_answers_a_signed_out_stream_as_an_event_and_leaves_api_clients_alone(
        guarded: InProcessService) -> None:
    """The gateway's side, without a browser: the parameter turns a signed-out stream's 401 into a 200 event stream
    with the one `error` event (status 401); without it, or with an API key, the API's answers stay as they were."""
    person = make_user(guarded, "livehttp")  # type: ignore[arg-type]
    api = guarded.client(person.api_key)
    job_id = api.predict(name="short").json()["job_id"]
    url = f"{guarded.base_url}/v1/jobs/{job_id}/events"
    stale = {"Cookie": "phonos_session=ended-long-ago"}
    answer = requests.get(url, params={"x-phonos-if-signed-out": "event"}, headers=stale, timeout=30)
    assert answer.status_code == 200, answer.text
    assert answer.headers["Content-Type"].startswith("text/event-stream")
    assert answer.text.startswith("retry: 60000\n\nevent: error\ndata: {")
    assert '"status":401' in answer.text and '"error":"Unauthorized"' in answer.text
    plain = requests.get(url, headers=stale, timeout=30)
    assert plain.status_code == 401 and plain.headers["Content-Type"].startswith("application/json")
    # Only a GET (what an EventSource sends): a POST with the parameter keeps its 401, not a 200 event stream.
    posted = requests.post(f"{guarded.base_url}/v1/jobs/{job_id}/cancel", params={"x-phonos-if-signed-out": "event"},
                           headers=stale, timeout=30)
    assert posted.status_code != 200 and not posted.headers["Content-Type"].startswith("text/event-stream")
    # An API key's request keeps the parameter, which the transcoder refuses as for any unknown parameter.
    keyed = api.get(f"/v1/jobs/{job_id}/events", params={"x-phonos-if-signed-out": "event"})
    assert keyed.status_code == 400 and "x-phonos-if-signed-out" in keyed.json()["message"]
    # A signed-in page's stream with the parameter is the stream, as without it.
    signed_in = requests.Session()
    assert signed_in.post(f"{guarded.base_url}/auth/sign-in", timeout=30,
                          json={"username": person.username, "password": person.password}).ok
    api.wait_for(job_id)
    streamed = signed_in.get(url, params={"x-phonos-if-signed-out": "event"}, timeout=30)
    assert streamed.status_code == 200 and streamed.headers["Content-Type"].startswith("text/event-stream")
    assert '"completed"' in streamed.text
