"""Dashboard details a keyboard user, a stranger with a share link or a laptop screen ran into: buttons that
disable themselves while they work keep the keyboard's focus (it used to fall to <body>), a share link's
JSON or files route opened in a browser never sends a stranger to sign in, and job ids keep one line beside
the sidebar. A job service on the inference twin, in this module alone."""

from __future__ import annotations

import math
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.dashboard.pages_helpers import (
    A11Y_PROBLEMS,
    ARTIFACTS,
    User,
    Watched,
    in_process_service,
    keyboard_walk,
    make_user,
    open_page,
    shot,
    signed_in,
)
from tests.support import InProcessService, WebhookReceiver

pytestmark = pytest.mark.e2e

SEQ = "MKTVRQERLKSIVRILERSKEPV"

# Every model's form (the keyboard walk goes through each); the twin answers for all three.
service = in_process_service("polish", {"PHONOS_MODELS": "esmfold,alphafold2,diffdock"})


@pytest.fixture(scope="module")
def hana(service: InProcessService) -> User:
    return make_user(service, "hana")  # type: ignore[arg-type]


@pytest.fixture
def hana_page(browser: Browser, service: InProcessService, hana: User) -> Iterator[Page]:
    watched = Watched()
    page = signed_in(browser, service, hana, watched)  # type: ignore[arg-type]
    yield page
    assert watched.problems() == []
    page.close()  # its context (signed_in's session) serves the next test


def focused(page: Page) -> str:
    """What has the keyboard's focus: its tag, id, data-action and text, e.g. 'BUTTON#submit-job'."""
    return page.evaluate("""() => {
        const e = document.activeElement;
        return `${e.tagName}${e.id ? '#' + e.id : ''}${e.dataset.action ? '[' + e.dataset.action + ']' : ''}`
            + (e.tagName === 'BUTTON' ? ` ${e.textContent.trim()}` : '');
    }""")


def press(page: Page, selector: str) -> None:
    """A keyboard user's press: the button has the focus, Enter."""
    page.focus(selector)
    page.keyboard.press("Enter")


def test_the_sign_in_button_leaves_the_focus_on_the_password_to_type_again(browser: Browser,
                                                                          service: InProcessService,
                                                                          hana: User) -> None:
    page = open_page(browser)
    page.goto(f"{service.base_url}/sign-in")
    page.fill("#username", hana.username)
    page.fill("#password", "not the passphrase")
    press(page, "form button[type=submit]")
    expect(page.get_by_role("alert")).to_contain_text("Could not sign in")
    expect(page.locator("form button[type=submit]")).to_be_enabled()
    assert focused(page) == "INPUT#password"
    assert page.evaluate("document.activeElement.selectionEnd") == len("not the passphrase")  # selected, to retype
    page.context.close()


def test_submit_keeps_the_focus_when_records_are_left_to_fix(hana_page: Page, service: InProcessService) -> None:
    page = hana_page
    page.goto(f"{service.base_url}/submit?model=esmfold")
    page.fill("#f-sequence", f">good one\n{SEQ}\n>bad one\nMKTJAYIAK\n")
    press(page, "#submit-job")
    expect(page.locator("#form-error")).to_contain_text("Submitted 1 of 2 jobs")
    assert focused(page) == "BUTTON#submit-job Submit · 10 credits"


def test_webhook_add_and_send_test_keep_the_keyboards_place(hana_page: Page, service: InProcessService,
                                                            hana: User) -> None:
    page = hana_page
    with WebhookReceiver() as receiver:
        page.goto(f"{service.base_url}/webhooks")
        page.fill("#webhook-url", receiver.url)
        press(page, "#webhook-add")
        expect(page.locator("#secret-callout")).to_be_visible()
        # The new secret's Copy, as on the keys page: the one thing to do next (Add is back, one tab away).
        expect(page.locator("#webhook-add")).to_be_enabled()
        assert focused(page) == "BUTTON Copy"

        test = page.locator("#webhooks-table [data-action=test]")
        # Disabled while it sends (a second press would send a second test event), the focus kept after.
        assert test.evaluate("(b) => { b.focus(); b.click(); return b.disabled; }") is True
        expect(page.locator("#webhooks-table .test-result [data-status-code]")).to_have_text("HTTP 200")
        expect(test).to_be_enabled()
        assert focused(page) == "BUTTON[test] Send test"
        assert len(receiver.requests) == 1
        # Gone with its receiver: the jobs of the next tests send it nothing.
        hook_id = page.locator("#webhooks-table tbody tr").get_attribute("data-webhook-id")
        assert service.client(hana.api_key).delete(f"/v1/webhooks/{hook_id}").status_code == 200


def test_show_older_keeps_the_focus_then_hands_it_to_the_first_older_entry(hana_page: Page,
                                                                           service: InProcessService,
                                                                           hana: User) -> None:
    client = service.client(hana.api_key)
    for _ in range(4):  # 40 charges: with what the other tests spent, three pages of 20
        assert client.post("/v1/batch", json={"jobs": [{"model": "esmfold", "sequence": SEQ}] * 10}).status_code == 200
    total = client.get("/v1/account/credits", params={"limit": 1}).json()["pagination"]["total"]
    assert 40 < total <= 60
    page = hana_page
    page.goto(f"{service.base_url}/account")
    rows = page.locator("#credit-history-body tr")
    expect(rows).to_have_count(20)
    press(page, "#credit-history-more")
    expect(rows).to_have_count(40)
    assert focused(page) == "BUTTON#credit-history-more Show older"  # more left: the button keeps it
    page.keyboard.press("Enter")
    expect(rows).to_have_count(total)
    expect(page.locator("#credit-history-more")).to_be_hidden()
    # Nothing older: the button went away, and the focus is on the first entry it brought (not on <body>).
    assert focused(page) == "TR"
    assert page.evaluate("[...document.querySelectorAll('#credit-history-body tr')].indexOf(document.activeElement)") == 40
    page.keyboard.press("Shift+Tab")  # the row is no tab stop of its own: the keyboard goes on from there
    assert focused(page) != "TR"


@pytest.mark.parametrize("path", ["/shared/no-such-link", "/shared/no-such-link/job", "/shared/no-such-link/",
                                  "/shared/no-such-link/download?format=pdb", "/shared/", "/shared/%zz"])
def test_a_share_link_that_does_not_work_says_so_and_never_asks_to_sign_in(browser: Browser,
                                                                         service: InProcessService,
                                                                         path: str) -> None:
    """A stranger (no cookie) opening a dead link, or its JSON or files route in a browser (a link pasted with
    the /job the API docs show), gets the share page's "Link not found", not the account sign-in."""
    watched = Watched()
    page = open_page(browser, watched)
    visited: list[str] = []
    page.on("framenavigated", lambda frame: visited.append(frame.url))
    page.goto(service.base_url + path)
    expect(page.locator("#shared-missing")).to_contain_text("Link not found")
    expect(page.locator("#shared-banner")).to_be_visible()
    assert not any("sign-in" in url for url in visited), visited
    assert page.locator("nav").count() == 0  # no account navigation on a share page
    assert "/sign-in" not in page.url
    if path.endswith("/job"):
        shot(page, "70-shared-link-unknown-job-route")
    assert watched.problems() == [], watched.errors
    page.context.close()


def test_job_ids_keep_one_line_in_the_jobs_list_beside_the_sidebar(hana_page: Page, service: InProcessService,
                                                                   hana: User) -> None:
    client = service.client(hana.api_key)
    client.wait_for(client.predict(SEQ, name="Hemoglobin subunit alpha, apo form, pH 7.4 replicate").json()["job_id"])
    page = hana_page
    for width in (1024, 1152, 1440):
        page.set_viewport_size({"width": width, "height": 900})
        page.goto(f"{service.base_url}/jobs")
        ids = page.locator("#jobs-table tbody td.name .id")
        expect(ids.first).to_be_visible()
        shot(page, f"71-jobs-ids-{width}", full_page=False)
        lines = ids.evaluate_all("""(els) => els.map((e) => {
            const line = parseFloat(getComputedStyle(e).lineHeight);
            return Math.round(e.getBoundingClientRect().height / line);
        })""")
        assert set(lines) == {1}, f"{width} px: a job id on {max(lines)} lines"
        # The name kept a readable width beside the sidebar (it was 150 px, a five-word name on four lines).
        name = page.locator("#jobs-table tbody td.name").first.bounding_box()
        assert name and name["width"] >= 240, f"{width} px: the name column is {name and name['width']} px"
        scroller = page.locator("#jobs-table").evaluate("(t) => t.closest('.table-scroll')")
        if scroller is not None:
            assert page.locator("#jobs-table").evaluate(
                "(t) => { const s = t.closest('.table-scroll'); return s.scrollWidth <= s.clientWidth + 1; }"), width
        # The whole id is still there to read and copy, whatever is shown.
        first = ids.first
        job_id = page.locator("#jobs-table tbody tr").first.get_attribute("data-job-id")
        assert job_id and (first.text_content() == job_id or first.get_attribute("title") == job_id)


def test_a_job_pages_title_keeps_its_width_beside_the_sidebar(hana_page: Page, service: InProcessService,
                                                             hana: User) -> None:
    """At 1024 px the job page's four actions (Dock, Run again, Share, Delete) took the header's line and left the
    title 150 px: a four-word name on four lines, the job id broken in two. The actions now go under the title."""
    client = service.client(hana.api_key)
    job_id = client.wait_for(client.predict(SEQ, name="Hemoglobin subunit alpha, apo form").json()["job_id"])["job_id"]
    page = hana_page
    # A structure with atoms (the twin's file has none, and a structure without atoms offers no "Dock a ligand"):
    # one residue's, for the four actions.
    atom = "ATOM      1  CA  MET A   1      11.104   6.134  -6.504  1.00 90.00           C\n"
    page.route(f"**/v1/jobs/{job_id}/download?format=pdb*",
               lambda route: route.fulfill(status=200, content_type="chemical/x-pdb", body=atom))
    # The header is what is looked at: the 3D viewer's module refused (its box says "3D viewer unavailable"), so
    # that software WebGL does not draw a wide viewer twice for nothing (~2 s each on two cores). Whether Dock is
    # offered is read from the structure file, not from the viewer.
    page.route("**/3Dmol.es6-min.js", lambda route: route.abort())
    for width in (1024, 1440):
        page.set_viewport_size({"width": width, "height": 900})
        page.goto(f"{service.base_url}/jobs/{job_id}")
        expect(page.locator("#dock-this")).to_be_visible()
        title = page.locator(".topbar h1")
        expect(title).to_have_text("Hemoglobin subunit alpha, apo form")
        shot(page, f"72-job-header-{width}", full_page=False)
        box = title.bounding_box()
        line = float(title.evaluate("(e) => parseFloat(getComputedStyle(e).lineHeight)"))
        assert box and box["height"] < 1.5 * line, f"{width} px: the title on {round(box['height'] / line)} lines"
        job_id_box = page.locator(".topbar .sub .mono").first.bounding_box()
        assert job_id_box and job_id_box["height"] < 20, f"{width} px: the job id broken over two lines"
        column = page.locator(".content").first.bounding_box()
        assert column
        for button in page.locator(".topbar .row .btn").all():
            edge = button.bounding_box()
            assert edge and edge["x"] + edge["width"] <= column["x"] + column["width"] + 1, f"{width} px: {edge}"
    page.unroute("**/3Dmol.es6-min.js")


def test_webhook_headings_and_account_details_keep_one_line_at_1024_px(hana_page: Page, service: InProcessService,
                                                                      hana: User) -> None:
    """Beside the sidebar the receivers table's "Last test" heading wrapped onto two lines, and the account's
    profile gave its short labels 190 px and the values the rest: the email broken mid-word, dates on two lines."""
    client = service.client(hana.api_key)
    with WebhookReceiver() as receiver:
        hook = client.post("/v1/webhooks", json={"url": receiver.url, "events": ["job.completed"]}).json()["webhook"]
        page = hana_page
        page.set_viewport_size({"width": 1024, "height": 900})
        page.goto(f"{service.base_url}/webhooks")
        expect(page.locator("#webhooks-table")).to_be_visible()
        heights = page.locator("#webhooks-table th").evaluate_all("(ths) => ths.map((t) => t.getBoundingClientRect().height)")
        assert max(heights) < 45, f"a column heading wraps ({heights})"
        shot(page, "73-webhooks-1024", full_page=False)
        assert client.delete(f"/v1/webhooks/{hook['webhook_id']}").status_code == 200

    page.goto(f"{service.base_url}/account")
    values = page.locator("#account-profile dd, #account-session dd")
    expect(values.first).to_have_text(hana.username)
    shot(page, "74-account-1024", full_page=False)
    lines = values.evaluate_all("""(els) => els.map((e) => [e.textContent,
        Math.round(e.getBoundingClientRect().height / parseFloat(getComputedStyle(e).lineHeight))])""")
    assert [text for text, n in lines if n > 1] == [], lines
    assert any("@" in text for text, _ in lines)  # the email is among them


def test_the_jobs_lists_relative_times_keep_one_line_beside_the_sidebar_and_on_a_tablet(
        hana_page: Page, service: InProcessService, hana: User) -> None:
    """At 800 px (the sidebar become a bar, the table still a table) "1 minute ago" broke onto two lines."""
    client = service.client(hana.api_key)
    # A long name: the name column takes what it can, and the time's column was left too narrow for it.
    for name in ("Relative time", "Hemoglobin subunit alpha, apo form, pH 7.4, replicate two of three at 25 C"):
        client.wait_for(client.predict(SEQ, name=name).json()["job_id"])
    page = hana_page
    for width in (800, 1024):
        page.set_viewport_size({"width": width, "height": 900})
        page.goto(f"{service.base_url}/jobs")
        # The longest the list writes within the hour ("59 minutes ago"), in every row: the width that counts.
        cells = page.locator("#jobs-table tbody td.submitted")
        expect(cells.first).to_be_visible()
        cells.evaluate_all("(tds) => tds.forEach((td) => { td.textContent = '59 minutes ago'; })")
        shot(page, f"75-jobs-times-{width}", full_page=False)
        lines = cells.evaluate_all("""(els) => els.map((e) => {
            const range = document.createRange();
            range.selectNodeContents(e);
            return range.getClientRects().length;
        })""")
        assert set(lines) == {1}, f"{width} px: a relative time on {max(lines)} lines"
        # ...without pushing the table out of its card.
        assert page.locator("#jobs-table").evaluate(
            "(t) => { const s = t.closest('.table-scroll') || t.parentElement; return s.scrollWidth <= s.clientWidth + 1; }"), width


def test_the_usage_pages_model_and_endpoint_cards_are_balanced(hana_page: Page, service: InProcessService,
                                                               hana: User) -> None:
    """"Jobs by model" (a model or two) sat beside "Requests by endpoint" (a dozen endpoints) in a row as tall as
    the longer list: a card mostly empty. Neither card now holds more than a little space below its content."""
    client = service.client(hana.api_key)
    for path in ("/v1/models", "/v1/account", "/v1/jobs", "/v1/account/credits", "/v1/webhooks", "/v1/usage"):
        assert client.get(path).status_code == 200
    page = hana_page
    for width in (1024, 1440):
        page.set_viewport_size({"width": width, "height": 900})
        page.goto(f"{service.base_url}/usage?days=7")
        expect(page.locator("#by-endpoint .item").nth(5)).to_be_visible()
        shot(page, f"76-usage-cards-{width}")
        for body in ("#by-model", "#by-endpoint"):
            gap = page.locator(body).evaluate("""(b) => {
                const card = b.closest('.card').getBoundingClientRect();
                const last = b.lastElementChild.getBoundingClientRect();
                return card.bottom - last.bottom;
            }""")
            assert gap < 60, f"{width} px: {gap:.0f} px empty below the content of {body}'s card"
        model = page.locator("#by-model").evaluate("(b) => b.closest('.card').getBoundingClientRect().toJSON()")
        endpoint = page.locator("#by-endpoint").evaluate("(b) => b.closest('.card').getBoundingClientRect().toJSON()")
        assert abs(model["left"] - endpoint["left"]) < 1 and abs(model["right"] - endpoint["right"]) < 1, (model, endpoint)
        # Each line's bar has room to be seen (side by side at 1024 px the label and count left it 0 px).
        tracks = page.locator("#by-model .track, #by-endpoint .track").evaluate_all(
            "(ts) => ts.map((t) => t.getBoundingClientRect().width)")
        assert tracks and min(tracks) >= 150, f"{width} px: bars {tracks}"


def test_the_add_a_webhook_card_lines_up_with_the_cards_above(hana_page: Page, service: InProcessService,
                                                              hana: User) -> None:
    """At 1024 px the "Add a webhook" card (720 px at most) ended 8 px short of the receivers card above it."""
    client = service.client(hana.api_key)
    with WebhookReceiver() as receiver:
        hook = client.post("/v1/webhooks", json={"url": receiver.url, "events": ["job.completed"]}).json()["webhook"]
        page = hana_page
        for width in (1024, 1440):
            page.set_viewport_size({"width": width, "height": 900})
            page.goto(f"{service.base_url}/webhooks")
            expect(page.locator("#webhooks-table")).to_be_visible()
            shot(page, f"77-webhooks-cards-{width}")
            above = page.locator("#webhooks-table").evaluate("(t) => t.closest('.card').getBoundingClientRect().toJSON()")
            add = page.locator("#webhook-form").evaluate("(f) => f.closest('.card').getBoundingClientRect().toJSON()")
            assert abs(above["left"] - add["left"]) < 1 and abs(above["right"] - add["right"]) < 1, (width, above, add)
            # The form itself keeps a readable width on a wide screen (a URL field 1000 px long is hard to read).
            url = page.locator("#webhook-url").bounding_box()
            assert url and url["width"] <= 760, url
        assert client.delete(f"/v1/webhooks/{hook['webhook_id']}").status_code == 200


def _lopsided_pdb() -> str:
    """A made-up chain: 40 Cα atoms in a ball 6 Å across, then a tail of 6 running 60 Å off it (a loose fragment,
    as tiny random weights fold): the atoms' mean, where 3Dmol's zoomTo centres, sits far from their extent's middle."""
    atoms = [(3 * math.cos(i), 3 * math.sin(i), 3 * math.cos(2.3 * i)) for i in range(40)]
    atoms += [(0.0, -10.0 * k, 0.0) for k in range(1, 7)]
    return "".join(f"ATOM  {n:5d}  CA  ALA A{n:4d}    {x:8.3f}{y:8.3f}{z:8.3f}  1.00 50.00           C\n"
                   for n, (x, y, z) in enumerate(atoms, start=1)) + "END\n"


def test_the_viewer_keeps_a_lopsided_structure_inside_its_frame_and_centred(hana_page: Page,
                                                                            service: InProcessService) -> None:
    """A fold with a loose tail opened with the tail's end cut off by the viewer's lower edge (zoomTo fits a sphere
    round the atoms' mean; the extra zoom for wide margins pushed the far end out), and once inside, it sat
    off-centre: zoomTo centres on the atoms' mean, near the ball, so the tail's side had a thin margin and the other
    a wide one. Every atom is drawn inside, the margins either side alike; after a turn, Reset centres it again."""
    page = hana_page
    for width, height in ((1100, 520), (360, 380)):  # the job page's viewer on a laptop, and on a phone
        views = {}
        views["opened"] = page.evaluate("""async ([pdb, width, height]) => {
            const {structureViewer} = await import('/static/js/viewer.js');
            document.getElementById('fit-test')?.remove();
            const box = document.createElement('div');
            box.id = 'fit-test';
            Object.assign(box.style, {position: 'fixed', left: '0', top: '0', width: `${width}px`,
                                      height: `${height}px`, zIndex: 10, background: '#fff'});
            document.body.append(box);
            const drawn = await structureViewer(box, pdb, null);
            const rect = box.getBoundingClientRect();
            const [left, top] = [rect.left + window.scrollX, rect.top + window.scrollY];
            const atoms = drawn.viewer.selectedAtoms({});
            const seen = () => {
                const points = drawn.viewer.modelToScreen(atoms).map((p, i) => ({resi: atoms[i].resi, x: p.x - left, y: p.y - top}));
                const xs = points.map((p) => p.x);
                const ys = points.map((p) => p.y);
                return {outside: points.filter((p) => p.x < 0 || p.y < 0 || p.x > width || p.y > height),
                        margins: {left: Math.min(...xs), right: width - Math.max(...xs),
                                  top: Math.min(...ys), bottom: height - Math.max(...ys)}};
            };
            const opened = seen();
            // Cα atoms alone have no bonds for sticks to draw: spheres, for the screenshots to show where they are.
            drawn.viewer.setStyle({}, {sphere: {radius: 1.2, color: '#1d4ed8'}});
            drawn.viewer.render();
            box.style.outline = '2px solid #e11d48';
            window.fitTest = {drawn, seen};
            return opened;
        }""", [_lopsided_pdb(), width, height])
        shot(page, f"78-viewer-fit-{width}", full_page=False)
        views["reset"] = page.evaluate("""() => {
            const {drawn, seen} = window.fitTest;
            drawn.viewer.rotate(70, 'x');
            drawn.viewer.rotate(40, 'y');
            drawn.reset();
            return seen();
        }""")
        shot(page, f"78-viewer-fit-reset-{width}", full_page=False)
        if width > 360:
            # The window narrowed to a phone's with the page open: the structure ran off the right edge until Reset
            # (3Dmol resized its canvas and kept the zoom). It is framed again for the new width.
            page.evaluate("""() => {
                const {drawn} = window.fitTest;
                drawn.viewer.rotate(90, 'z');  // the tail across: a structure as wide as the laptop's viewer
                drawn.overlay(null);  // fitted so, from that turn
                document.getElementById('fit-test').style.width = '360px';
            }""")
            page.wait_for_timeout(500)  # the resize observer's frame, then the refit
            shot(page, f"78-viewer-fit-narrowed-from-{width}", full_page=False)
            narrowed = page.evaluate("""() => {
                const {drawn} = window.fitTest;
                const rect = document.getElementById('fit-test').getBoundingClientRect();
                const atoms = drawn.viewer.selectedAtoms({});
                return drawn.viewer.modelToScreen(atoms).map((p) => ({x: p.x - rect.left - window.scrollX,
                                                                       y: p.y - rect.top - window.scrollY}))
                    .filter((p) => p.x < 0 || p.y < 0 || p.x > rect.width || p.y > rect.height);
            }""")
            assert narrowed == [], f"narrowed from {width} to 360 px: atoms drawn outside the viewer: {narrowed}"
        for when, seen in views.items():
            assert seen["outside"] == [], f"{width}x{height} {when}: atoms drawn outside the viewer: {seen['outside']}"
            m = seen["margins"]
            for a, b in (("left", "right"), ("top", "bottom")):
                assert abs(m[a] - m[b]) <= 0.15 * max(m[a], m[b]) + 2, f"{width}x{height} {when}: off-centre: {m}"
            # ... and drawn large: the atoms span most of the viewer one way or the other (on a near-square phone
            # viewer it filled about half of it: fitted for a wide one, its zoom cut by a fixed aspect rule). Turned
            # end-on (its tail towards the camera), the camera keeps a distance, so that the near end is not huge.
            fill = max((width - m["left"] - m["right"]) / width, (height - m["top"] - m["bottom"]) / height)
            assert fill >= (0.8 if when == "opened" else 0.6), f"{width}x{height} {when}: spans {fill:.0%}: {m}"


def _pose_sdf(x: float, y: float, z: float) -> str:
    """A two-atom "ligand" at (x, y, z): a pose as DiffDock's SDF lists them."""
    atoms = "".join(f"{ax:10.4f}{y:10.4f}{z:10.4f} {el}   0  0  0  0  0  0  0  0  0  0  0  0\n"
                    for ax, el in ((x, "C"), (x + 1.5, "O")))
    return f"lig\n  phonos\n\n  2  1  0  0  0  0  0  0  0  0999 V2000\n{atoms}  1  2  1  0\nM  END\n$$$$\n"


def test_the_docking_viewer_keeps_every_pose_in_view_as_one_is_picked(hana_page: Page) -> None:
    """Tiny random weights leave poses far from the receptor and from each other. The view was fitted to the
    receptor and the first pose, and a pose picked next could be off the canvas (nothing orange on screen); then it
    was framed with every pose, hidden ones too, and the complex opened small and off-centre (a newcomer's finding).
    It opens filled by the receptor and the pose shown, and is framed again when a pose picked would be off the
    canvas, on a laptop's viewer and a phone's."""
    page = hana_page
    expect(page.locator("h1")).to_have_text("Jobs")
    receptor = _lopsided_pdb()
    # The first pose by the receptor, the others far from it: hidden, they are no reason to draw the complex small.
    poses = [_pose_sdf(2, 0, 0), _pose_sdf(60, 30, 0), _pose_sdf(-60, 40, 5), _pose_sdf(0, -45, -10)]
    for width, height in ((770, 520), (356, 380)):
        drawn = page.evaluate("""async ([pdb, poses, width, height]) => {
            const {dockingViewer} = await import('/static/js/viewer.js');
            document.getElementById('dock-test')?.remove();
            const box = document.createElement('div');
            box.id = 'dock-test';
            Object.assign(box.style, {position: 'fixed', left: '0', top: '0', width: `${width}px`,
                                      height: `${height}px`, zIndex: 10, background: '#fff'});
            document.body.append(box);
            const view = await dockingViewer(box, pdb, poses);
            const rect = box.getBoundingClientRect();
            const shown = view.viewer.selectedAtoms({model: [view.viewer.getModel(0), view.viewer.getModel(1)]});
            const opened = view.viewer.modelToScreen(shown).map((p) => [p.x - rect.left - window.scrollX,
                                                                      p.y - rect.top - window.scrollY]);
            const seen = [];
            for (let i = 0; i < poses.length; i += 1) {
                view.show(i);
                const atoms = view.viewer.selectedAtoms({model: view.viewer.getModel(i + 1)});
                seen.push(view.viewer.modelToScreen(atoms).map((p) => [p.x - rect.left - window.scrollX,
                                                                      p.y - rect.top - window.scrollY]));
            }
            view.show(0);
            return [opened, seen];
        }""", [receptor, poses, width, height])
        opened, drawn = drawn
        # What is shown at first (the receptor and pose 1) fills the viewer: its farthest atom near an edge.
        reach = max(max(abs(x - width / 2) / (width / 2), abs(y - height / 2) / (height / 2)) for x, y in opened)
        assert 0.8 <= reach <= 1.0, f"{width}x{height}: the complex opened at {reach:.2f} of the viewer"
        shot(page, f"82-docking-poses-in-view-{width}", full_page=False)
        for i, points in enumerate(drawn, start=1):
            outside = [(round(x), round(y)) for x, y in points if not (0 <= x <= width and 0 <= y <= height)]
            assert outside == [], f"{width}x{height}: pose {i} drawn outside the viewer at {outside}"
    page.evaluate("() => document.getElementById('dock-test').remove()")


def test_a_structure_to_choose_names_its_job_once(hana_page: Page, service: InProcessService, hana: User) -> None:
    """The Compare list (and DiffDock's receptor list) showed an unnamed job as "Job 3db1a163 · ESMFold · 3db1a163":
    its short id twice. A named one keeps its id, to tell two runs of one name apart."""
    client = service.client(hana.api_key)
    unnamed = client.predict(SEQ).json()["job_id"]
    named = client.predict(SEQ, name="Lysozyme run 3").json()["job_id"]
    client.wait_for(unnamed)
    client.wait_for(named)
    page = hana_page
    # The jobs page has drawn its <main> first (as the provenance test waits): a card put in the <main> of the
    # page still loading was replaced with the jobs page's own content, and its options never came.
    expect(page.locator("h1")).to_have_text("Jobs")
    # The Compare card as the job page builds it (the twin's files are not structures a page can draw).
    page.evaluate("""async (id) => {
        const {compareCard} = await import('/static/js/compare.js');
        document.querySelector('main').append(compareCard({job_id: id, formats: []}, '', Promise.resolve(null), null));
    }""", named)
    expect(page.locator(f"#compare-with option[value='{unnamed}']")).to_have_text(f"Job {unnamed[:8]} · ESMFold")
    expect(page.locator(f"#compare-with option[value='{named}']")).to_have_count(0)  # not itself
    page.evaluate("""async (id) => {
        const {compareCard} = await import('/static/js/compare.js');
        document.getElementById('compare-card').remove();
        document.querySelector('main').append(compareCard({job_id: id, formats: []}, '', Promise.resolve(null), null));
    }""", unnamed)
    # The short id first: a phone's select cuts a long name, which kept the id out of sight (test_dashboard_last_ends).
    expect(page.locator(f"#compare-with option[value='{named}']")).to_have_text(f"{named[:8]} · ESMFold · Lysozyme run 3")
    labels = page.evaluate("""async () => {
        const {jobChoiceLabel} = await import('/static/js/format.js');
        const id = '3db1a163-0fb9-4405-b76c-1ffcb51d6b1a';
        return [jobChoiceLabel({job_id: id, model: 'alphafold2', name: ''}),
                jobChoiceLabel({job_id: id, model: 'alphafold2', name: 'af2 test'})];
    }""")
    assert labels == ["Job 3db1a163 · AlphaFold2", "3db1a163 · AlphaFold2 · af2 test"]


def test_usage_labels_are_shown_whole_on_a_phone_and_a_laptop(hana_page: Page, service: InProcessService,
                                                              hana: User) -> None:
    """Endpoint labels were cut with an ellipsis: on a phone six of them read "/v1/jobs/{job_id…" and two on a
    laptop "/v1/webhooks/{webhook_id}/deli…". Every label is shown whole (wrapped where it must be)."""
    client = service.client(hana.api_key)
    for path in ("/v1/jobs", "/v1/jobs/no-such-job/input", "/v1/jobs/no-such-job/download",
                 "/v1/webhooks/wh_none/deliveries", "/v1/webhooks/wh_none/deliveries/1/redeliver"):
        (client.post if path.endswith("redeliver") else client.get)(path)
    page = hana_page
    for width in (390, 1440):
        page.set_viewport_size({"width": width, "height": 900})
        page.goto(f"{service.base_url}/usage?days=7")
        expect(page.locator("#by-endpoint .item").nth(4)).to_be_visible()
        shot(page, f"79-usage-labels-{width}")
        cut = page.locator("#by-model .item > :first-child, #by-endpoint .item > :first-child").evaluate_all(
            "(ls) => ls.filter((l) => l.scrollWidth > l.clientWidth + 1).map((l) => l.textContent)")
        assert cut == [], f"{width} px: labels cut: {cut}"
        labels = page.locator("#by-endpoint .item > :first-child").all_text_contents()
        assert "/v1/webhooks/{webhook_id}/deliveries/{delivery_id}/redeliver" in labels, labels
        tracks = page.locator("#by-endpoint .track").evaluate_all("(ts) => ts.map((t) => t.getBoundingClientRect().width)")
        assert min(tracks) >= 150, f"{width} px: bars {tracks}"  # each bar still has room to be seen
    page.set_viewport_size({"width": 1440, "height": 960})


def test_a_mistyped_address_titles_the_tab_page_not_found(hana_page: Page, service: InProcessService) -> None:
    """The dashboard's own 404 page said "Page not found" but left the tab (and the history list) titled "phonos"."""
    page = hana_page
    response = page.goto(f"{service.base_url}/no-such-page")
    assert response is not None and response.status == 404
    expect(page.locator("h1")).to_have_text("Page not found")
    expect(page).to_have_title("Page not found · phonos")


def test_a_receiver_url_keeps_its_line_in_the_webhooks_table_on_a_laptop(hana_page: Page, service: InProcessService,
                                                                        hana: User) -> None:
    """The URL cell may break anywhere (a long URL must fit), so the table gave it a dozen characters a line:
    "https://exampl / e.org/phonos-ho / ok" beside a half-empty "Last test" column. A usual URL keeps one line."""
    client = service.client(hana.api_key)
    with WebhookReceiver() as receiver:
        # ~30 characters, as the seed's https://example.org/phonos-hook; a path the receiver does not serve, so that
        # the test event's answer (a 404) is said at length under Last test, as an unreachable one is
        url = f"{receiver.url}/p1"
        events = ["job.started", "job.completed", "job.failed"]
        hook = client.post("/v1/webhooks", json={"url": url, "events": events}).json()["webhook"]
        page = hana_page
        for width in (1280, 1440):
            page.set_viewport_size({"width": width, "height": 900})
            page.goto(f"{service.base_url}/webhooks")
            row = page.locator(f"#webhooks-table tr[data-webhook-id='{hook['webhook_id']}']")
            row.get_by_role("button", name="Send test").click()
            expect(row.locator("td.test-result [data-status-code]")).to_be_visible()
            cell = row.locator("td.url .hook-url")  # the URL's own line; its delivery health goes under it
            expect(cell).to_have_text(url)
            shot(page, f"80-webhook-url-{width}", full_page=False)
            lines = cell.evaluate("(c) => Math.round(c.getBoundingClientRect().height / parseFloat(getComputedStyle(c).lineHeight))")
            # the cell's padding counts in its height: one line of text is at most 2 "lines" of it
            text_lines = cell.evaluate("""(c) => { const r = document.createRange(); r.selectNodeContents(c);
                return Math.round(r.getBoundingClientRect().height / parseFloat(getComputedStyle(c).lineHeight)); }""")
            assert text_lines == 1, f"{width} px: {url} on {text_lines} lines (cell {lines})"
            # ... and the table still fits its card: the last action (Delete) is not cut off at the right.
            card = page.locator("#webhooks-table").evaluate("(t) => t.closest('.card').getBoundingClientRect().right")
            delete = page.locator(f"#webhooks-table tr[data-webhook-id='{hook['webhook_id']}'] td.actions button").last
            box = delete.bounding_box()
            assert box and box["x"] + box["width"] <= card, f"{width} px: Delete ends at {box}, the card at {card}"
        assert client.delete(f"/v1/webhooks/{hook['webhook_id']}").status_code == 200
    page.set_viewport_size({"width": 1440, "height": 960})


# A three-chain ESMFold complex's metadata as the model writes it (phonos_models/esmfold/files.py), with an
# AlphaFold2-style list of per-model weights: lists of objects.
COMPLEX_METADATA = {
    "weights": {"name": "esmfold-tiny-random", "sha256": "ab" * 32},
    "real_weights": False,
    "num_recycles": 4,
    "chains": [{"id": "A", "length": 33}, {"id": "B", "length": 120}, {"id": "C", "length": 7}],
    "models": [{"model": "model_1_ptm", "sha256": "cd" * 32, "real": False},
               {"model": "model_2_ptm", "sha256": "ef" * 32, "real": False, "source": "tiny"}],
    # As a job stores them: the model's stages and the service's, in the order each happened to write them.
    "model_instance": {"load_s": 0.5},
    "timings": {"service_total_s": 1.9, "queued_s": 0.01, "fold_s": 1.25, "triton_call_s": 1.8,
                "store_s": 0.02, "files_s": 0.3},
}


def test_provenance_shows_a_list_of_objects_as_a_table(hana_page: Page, service: InProcessService) -> None:
    """An ESMFold job's chains read as a "chains" heading over loose "length 33 / id A" terms, one heading per
    chain and unreadable with several: a list of objects is a table, a row per item and a column per key (one an
    item lacks shows a dash); scalars stay key/value rows. On a laptop and on a phone, inside the page's width."""
    page = hana_page
    expect(page.locator("h1")).to_have_text("Jobs")  # the jobs page has drawn its <main>: the card stays in it
    for width in (1440, 390):
        page.set_viewport_size({"width": width, "height": 900})
        page.evaluate("""async (metadata) => {
            const {provenance} = await import('/static/js/provenance.js');
            const job = {job_id: '3db1a163-0fb9-4405-b76c-1ffcb51d6b1a', created_at: '2026-05-01T10:00:00Z',
                         updated_at: '2026-05-01T10:00:42Z', metadata};
            document.getElementById('provenance')?.remove();
            document.querySelector('main').prepend(provenance(job));
        }""", COMPLEX_METADATA)
        card = page.locator("#provenance")
        chains = card.locator("table[data-items=chains]")
        expect(chains.locator("thead th")).to_have_text(["id", "length"])
        expect(chains.locator("tbody tr")).to_have_count(3)
        rows = chains.locator("tbody tr").evaluate_all("rs => rs.map(r => [...r.cells].map(c => c.textContent))")
        assert rows == [["A", "33"], ["B", "120"], ["C", "7"]]
        expect(card.locator(".kv-group[data-group=chains] h3")).to_have_text("chains")  # one heading, not one per chain
        expect(card.locator("[data-group^='chains ']")).to_have_count(0)
        models = card.locator("table[data-items=models]")
        expect(models.locator("thead th")).to_have_text(["model", "SHA-256", "real", "source"])
        expect(models.locator("tbody tr").first.locator("td[data-label=source]")).to_have_text("—")
        expect(models.locator("tbody tr").first.locator("td[data-label=SHA-256] span")).to_have_class("mono small")
        expect(card.locator("dl.kv").nth(1)).to_contain_text("num recycles4")  # scalars as before
        # In the order a job lives them: waiting, the model server's call with the model's own stages, saving, total.
        expect(card.locator("#timings dt")).to_have_text(["waiting to start", "on the model server", "fold",
                                                          "writing the result files", "saving the results",
                                                          "total, start to results saved"])
        # The model's one-time load is no stage of the job: its own group, in seconds, saying when it was paid.
        instance = card.locator(".kv-group[data-group=model_instance]")
        expect(instance.locator("h3")).to_have_text("model loading")  # not the server's "model instance"
        expect(instance.locator("dt")).to_have_text(["load (s)"])
        expect(instance.locator("[data-note=load_s]")).to_contain_text("once, when the model server loaded the model")
        card.scroll_into_view_if_needed()
        assert page.evaluate("document.documentElement.scrollWidth") <= width
        box = card.bounding_box()
        assert box is not None and box["x"] + box["width"] <= width
        card.screenshot(path=str(ARTIFACTS / f"79-provenance-card-{width}.png"))


def test_every_page_walks_by_keyboard_with_labels_names_and_readable_text(browser: Browser,
                                                                          service: InProcessService,
                                                                          hana: User) -> None:
    """A keyboard and screen-reader walk of every page, on a laptop and a phone: Tab from the top reaches every
    control in the order it is shown, each with a focus ring that can be seen (3:1; the light blue ring was 1.8:1 on
    white and links had only the browser's), the first stop skips the navigation; every field has a label, every
    button and link a name, every description points at something; text and placeholders reach 4.5:1."""
    client = service.client(hana.api_key)
    job = client.predict(SEQ, name="walked").json()["job_id"]
    client.wait_for(job)
    hook = client.post("/v1/webhooks", json={"url": "http://127.0.0.1:9/walk", "events": ["job.completed"]}).json()
    pages = {"/jobs": "#jobs-table", "/submit?model=esmfold": "#submit-job", "/submit?model=alphafold2": "#submit-job",
             "/submit?model=diffdock": "#submit-job", f"/jobs/{job}": "#downloads", "/usage": "#usage-csv:enabled",
             "/keys": "#keys-table", "/webhooks": "#webhooks-table", "/account": "#activity-table",
             "/no-such-page": "text=There is nothing here"}
    found: dict[str, list[str]] = {}
    for width in (1440, 390):
        guest = open_page(browser, width=width)
        guest.goto(f"{service.base_url}/sign-in")
        expect(guest.locator("#username")).to_be_focused()
        visited, problems = keyboard_walk(guest)
        assert visited[:3] == ["Username", "Password", "Sign in"] or visited[:2] == ["Password", "Sign in"], visited
        found[f"sign-in {width}"] = problems + guest.evaluate(A11Y_PROBLEMS)
        guest.context.close()
        watched = Watched()
        page = signed_in(browser, service, hana, watched, width=width)  # type: ignore[arg-type]
        for path, ready in pages.items():
            page.goto(service.base_url + path)
            expect(page.locator(ready).first).to_be_visible()
            if path == "/account":
                expect(page.locator("#sessions-list li").first).to_be_visible()
            visited, problems = keyboard_walk(page)
            assert visited and visited[0] == "Skip to content", f"{path} {width}: {visited[:3]}"
            if width == 390:  # the navigation is behind the menu button, the second stop
                assert visited[1] == "Menu" or visited[2] == "Menu", f"{path}: {visited[:4]}"
            found[f"{path} {width}"] = problems + page.evaluate(A11Y_PROBLEMS)
        shot(page, f"81-keyboard-walk-not-found-{width}", full_page=False)
        # What opens on a page: a webhook's delivery log, and the jobs list's bar for the jobs ticked.
        page.goto(f"{service.base_url}/webhooks")
        page.get_by_role("button", name="Deliveries").click()
        expect(page.locator("#deliveries-card")).to_be_visible()
        visited, problems = keyboard_walk(page)
        found[f"/webhooks deliveries {width}"] = problems + page.evaluate(A11Y_PROBLEMS)
        page.goto(f"{service.base_url}/jobs")
        page.locator("#jobs-table input.pick").first.check()
        expect(page.locator(".bulk-bar")).to_be_visible()
        visited, problems = keyboard_walk(page)
        found[f"/jobs ticked {width}"] = problems + page.evaluate(A11Y_PROBLEMS)
        shot(page, f"81-keyboard-walk-jobs-ticked-{width}", full_page=False)
        assert watched.problems() == []
        page.close()
    assert client.delete(f"/v1/webhooks/{hook['webhook']['webhook_id']}").status_code == 200
    bad = [f"{where}: {problem}" for where, problems in found.items() for problem in problems]
    assert bad == [], "\n".join(bad)


def test_the_skip_link_and_the_period_buttons_keep_the_keyboard_in_the_page(hana_page: Page,
                                                                            service: InProcessService) -> None:
    """The skip link (first Tab: shown, over the sidebar) takes the next Tab to the page's first control, past the
    navigation's eight stops. Usage's period buttons were rebuilt on each press: the one pressed was gone and the
    focus fell to the page's top; now it stays on the button pressed, marked pressed."""
    page = hana_page
    page.goto(f"{service.base_url}/usage")
    expect(page.locator("#usage-csv")).to_be_enabled()
    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Skip to content")
    expect(skip).to_be_focused()
    expect(skip).to_be_in_viewport()
    shot(page, "81-skip-link-1440", full_page=False)
    page.keyboard.press("Enter")
    page.keyboard.press("Tab")
    expect(page.get_by_role("button", name="7 days")).to_be_focused()  # the page's first control, not "Jobs"
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    thirty = page.get_by_role("button", name="30 days")
    expect(thirty).to_have_attribute("aria-pressed", "true")
    expect(page).to_have_url(f"{service.base_url}/usage?days=30")
    expect(thirty).to_be_focused()
    page.keyboard.press("Tab")
    expect(page.get_by_role("button", name="90 days")).to_be_focused()


def test_a_dialog_keeps_the_keyboard_inside_and_gives_the_focus_back(hana_page: Page, service: InProcessService,
                                                                     hana: User) -> None:
    """"Revoke" asks first in a modal dialog named by its title: Tab stays inside it, Escape closes it without
    revoking, and the focus goes back to the Revoke button that opened it (not to the page's top)."""
    client = service.client(hana.api_key)
    spare = client.post("/v1/keys", json={"name": "dialog walk"}).json()
    page = hana_page
    page.goto(f"{service.base_url}/keys")
    revoke = page.locator("#keys-table tr", has_text="dialog walk").locator("[data-action=revoke]")
    revoke.focus()
    page.keyboard.press("Enter")
    dialog = page.get_by_role("dialog", name="Revoke")
    expect(dialog).to_be_visible()
    assert dialog.evaluate("(d) => d.contains(document.activeElement)")
    for _ in range(5):
        page.keyboard.press("Tab")
        assert dialog.evaluate("(d) => d.contains(document.activeElement)"), "the focus left the open dialog"
    shot(page, "81-dialog-1440", full_page=False)
    page.keyboard.press("Escape")
    expect(dialog).to_have_count(0)
    expect(revoke).to_be_focused()
    key_id = spare.get("key_id") or spare.get("key", {}).get("key_id")
    assert [k["revoked"] for k in client.get("/v1/keys").json()["keys"] if k["key_id"] == key_id] == [False]
    # Confirmed by the keyboard: Enter on the dialog's Revoke revokes it.
    page.keyboard.press("Enter")
    page.locator("dialog [data-confirm]").focus()
    page.keyboard.press("Enter")
    expect(page.locator("#keys-table tr", has_text="dialog walk")).to_have_attribute("data-revoked", "true")
    # Its Revoke button is gone with the revoke: the focus goes to the list's heading, not to the page's top.
    expect(page.get_by_role("heading", name="Keys", exact=True)).to_be_focused()
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.closest('#keys-table') !== null"), "Tab went on elsewhere"


def test_a_refused_sign_in_marks_both_fields_and_ties_them_to_the_message(browser: Browser,
                                                                          service: InProcessService) -> None:
    """A wrong password showed an alert but left the fields unmarked: a screen reader moving back to them heard
    nothing wrong. Both are marked invalid and described by the message, and unmarked on the next try."""
    page = open_page(browser)
    page.goto(f"{service.base_url}/sign-in")
    page.fill("#username", "nobody")
    page.fill("#password", "not a password at all")
    page.keyboard.press("Enter")
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("Could not sign in")
    for box in ("#username", "#password"):
        expect(page.locator(box)).to_have_attribute("aria-invalid", "true")
        expect(page.locator(box)).to_have_attribute("aria-describedby", "sign-in-error")
    expect(page.locator("#password")).to_have_accessible_description(alert.inner_text().replace("\n", " "))
    page.context.close()
