"""Second-round security review of the running service (a real job service and gateway on loopback, on the
inference twin): each test is the attack that found a hole, run against real servers."""

from __future__ import annotations

import re
import time
from pathlib import Path

import grpc
import pytest
import requests
from playwright.sync_api import sync_playwright

from phonos.v1 import phonos_pb2 as pb
from tests.dashboard.pages_helpers import CHROMIUM, CHROMIUM_ARGS, make_user, open_page
from tests.support import ALL_STORES, InProcessService, WebhookReceiver, wait_until, waits_while

pytestmark = pytest.mark.integration
STORES = ALL_STORES  # the opaque ids' secrets are state: on SQLite and on PostgreSQL
# The edge's and the gateway's answers, and the usage counters of one process: no store-specific behaviour.
EDGE_ONLY = pytest.mark.sqlite_only

Scrape = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def calls(scrape: Scrape, rpc: str, transport: str) -> float:
    """`phonos_rpc_seconds_count` of `rpc` under `transport`, every code."""
    return sum(value for (name, labels), value in scrape.items()
               if name == "phonos_rpc_seconds_count" and ("rpc", rpc) in labels and ("transport", transport) in labels)


def usage_transports(service: InProcessService, api_key_account: int) -> set[str]:
    return {row[0] for row in service.sql("SELECT transport FROM usage_hourly WHERE account_id = ?", api_key_account)}


def account_id(service: InProcessService, username: str) -> int:
    return int(service.sql("SELECT id FROM accounts WHERE username = ?", username)[0][0])


@EDGE_ONLY
@pytest.mark.parametrize("trusted", [False, True], ids=["direct-caller", "trusted-proxy"])
def test_a_direct_grpc_caller_cannot_book_its_calls_as_rest(twin_factory: type, trusted: bool) -> None:
    """`x-phonos-transport: rest` is the gateway's mark; any gRPC client could send it and have its calls (and its
    429s) counted as REST ones in usage and `phonos_rpc_seconds`. It is believed from a trusted proxy (a separate
    gateway, PHONOS_TRUSTED_PROXIES) and the in-process gateway only."""
    service = twin_factory.start(**({"PHONOS_TRUSTED_PROXIES": "127.0.0.1"} if trusted else {}))
    key = service.new_key(username="transport")
    account = account_id(service, "transport")
    before = service.scrape()
    channel, stub = service.grpc_stub()
    with channel:
        stub.GetAccount(pb.GetAccountRequest(), metadata=[("authorization", f"Bearer {key}"),
                                                          ("x-phonos-transport", "rest")])
        with pytest.raises(grpc.RpcError):  # a refused call is labelled too
            stub.GetJob(pb.GetJobRequest(job_id="0" * 32), metadata=[("authorization", f"Bearer {key}"),
                                                                     ("x-phonos-transport", "rest")])
    after = service.scrape()
    expected, other = ("rest", "grpc") if trusted else ("grpc", "rest")
    for rpc in ("GetAccount", "GetJob"):
        assert calls(after, rpc, expected) - calls(before, rpc, expected) == 1, rpc
        assert calls(after, rpc, other) - calls(before, rpc, other) == 0, rpc
    wait_until(lambda: usage_transports(service, account) == {expected}, 10)
    # The in-process gateway's calls stay REST.
    before = service.scrape()
    assert service.client(key).get("/v1/account").status_code == 200
    assert calls(service.scrape(), "GetAccount", "rest") - calls(before, "GetAccount", "rest") == 1


# `next` values a browser resolves, dot segments removed, to the path "//evil.example": another site.
DOT_SEGMENT_REDIRECTS = ("/.//evil.example", "/a/..//evil.example", "/%2e//evil.example", "/%2E%2E//evil.example/x",
                         "/jobs/..//evil.example?x=1")


@EDGE_ONLY
def test_the_sign_in_page_refuses_a_next_with_dot_segments(twin_service: InProcessService) -> None:
    """The page's `next` check passed "/.//evil.example" (it starts with one slash, it is no URL of another origin),
    and the browser, removing the dot segment, went to //evil.example after a real sign-in. Such an address is sent
    to plain /sign-in; pages with a dot in a name (not a segment) still work."""
    html = {"Accept": "text/html"}
    for target in DOT_SEGMENT_REDIRECTS:
        answer = requests.get(f"{twin_service.base_url}/sign-in", params={"next": target}, headers=html,
                              allow_redirects=False, timeout=30)
        assert answer.status_code == 302 and answer.headers["Location"] == "/sign-in", (target, answer.status_code)
    for target in ("/jobs/a.b", "/jobs?name=..%2F", "/usage?days=30"):
        answer = requests.get(f"{twin_service.base_url}/sign-in", params={"next": target}, headers=html,
                              allow_redirects=False, timeout=30)
        assert answer.status_code == 200, target


@EDGE_ONLY
def test_after_signing_in_the_page_never_leaves_the_site_through_a_dot_segment(twin_service: InProcessService) -> None:
    """The page itself (reached without the server's check: history, a cache) goes to a whole same-origin URL, never
    to the resolved path "//evil.example", which location.assign read as another site."""
    user = make_user(twin_service, f"dots{time.monotonic_ns()}")
    assert Path(CHROMIUM).exists(), "Debian's chromium is missing: run scripts/install.sh"
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = open_page(chromium)
            # Anything but this site is refused: a page that left would show an error, not another site's page.
            page.route(re.compile(r"^https?://(?!127\.0\.0\.1).*"), lambda route: route.abort())
            page.goto(f"{twin_service.base_url}/sign-in")
            page.evaluate("history.replaceState(null, '', '/sign-in?next=' + encodeURIComponent('/.//evil.example'))")
            page.fill("#username", user.username)
            page.fill("#password", user.password)
            page.click("form button[type=submit]")
            page.wait_for_url(f"{twin_service.base_url}//evil.example")  # this site's (unknown) page, not evil's
        finally:
            chromium.close()


OPAQUE_EVENT = re.compile(r"evt_[0-9a-f]{16}")
OPAQUE_DELIVERY = re.compile(r"dlv_[0-9a-f]{16}")


def sse_ids(service: InProcessService, key: str, job_id: str, after: str | None = None) -> tuple[int, list[str]]:
    """The status of a job's event stream and the `id:` of each state event, read to its end (the job is done)."""
    headers = {"Authorization": f"Bearer {key}", **({"Last-Event-ID": after} if after is not None else {})}
    with requests.get(f"{service.base_url}/v1/jobs/{job_id}/events", headers=headers, stream=True,
                      timeout=30) as response:
        if not response.headers.get("Content-Type", "").startswith("text/event-stream"):
            return response.status_code, []
        return response.status_code, [line[4:] for line in response.iter_lines(decode_unicode=True)
                                      if line.startswith("id: ")]


def event_rows(service: InProcessService, job_id: str) -> list[int]:
    return [int(row[0]) for row in service.sql("SELECT id FROM job_events WHERE job_id = ? ORDER BY id", job_id)]


def test_event_and_delivery_ids_tell_nothing_of_other_accounts_and_old_ids_still_work(
        twin_factory: type, tmp_path: Path) -> None:
    """Event ids (the watch streams' resume cursors) and delivery ids (X-Phonos-Delivery) were the rows' numbers
    from platform-wide counters: the gap between two of one's own told how many events the whole platform had
    made meanwhile. They are opaque now, and a row number is no cursor (a user could binary-search "events after
    N" for the number of their own event); ids shown before the upgrade stay numbers and keep working."""
    settings = {"PHONOS_WEBHOOK_BACKOFF_BASE_S": "0.2", "PHONOS_WEBHOOK_TIMEOUT_S": "2"}
    service = twin_factory.start(tmp_path / "var", **settings)
    alice, bob = service.client(service.new_key()), service.client(service.new_key())
    alice_key = alice.session.headers["Authorization"].removeprefix("Bearer ")
    with WebhookReceiver() as receiver:
        hook_id = alice.post("/v1/webhooks", json={"url": receiver.url, "events": ["job.completed"]}).json()[
            "webhook"]["webhook_id"]
        first = alice.predict().json()["job_id"]
        alice.wait_for(first)
        for _ in range(3):  # another account's activity between alice's two jobs
            bob.wait_for(bob.predict().json()["job_id"])
        second = alice.predict().json()["job_id"]
        alice.wait_for(second)
        wait_until(lambda: len(receiver.requests) == 2, 20)
    sent = [r["headers"]["X-Phonos-Delivery"] for r in receiver.requests]
    assert all(OPAQUE_DELIVERY.fullmatch(d) for d in sent), sent
    listed = [d["delivery_id"] for d in alice.get(f"/v1/webhooks/{hook_id}/deliveries").json()["deliveries"]]
    assert listed == sent[::-1]  # newest first: the ids the receiver saw
    status, (first_id,) = sse_ids(service, alice_key, first)  # a done job's stream: its last state
    assert status == 200 and OPAQUE_EVENT.fullmatch(first_id), first_id
    # Resuming after an opaque id: every later state of the second job, each with its own opaque id.
    status, resumed = sse_ids(service, alice_key, second, after=first_id)
    assert status == 200 and len(resumed) == 3 and all(OPAQUE_EVENT.fullmatch(i) for i in resumed), resumed
    rows = event_rows(service, second)
    # A row number is no cursor and no delivery id: 400 and 404, whichever number.
    for guess in (rows[0], rows[-1], 1):
        assert sse_ids(service, alice_key, second, after=str(guess))[0] == 400, guess
    delivery_rows = sorted(int(r[0]) for r in service.sql("SELECT id FROM webhook_deliveries"))
    assert alice.post(f"/v1/webhooks/{hook_id}/deliveries/{delivery_rows[0]}/redeliver").status_code == 404
    again = alice.post(f"/v1/webhooks/{hook_id}/deliveries/{sent[0]}/redeliver")
    assert again.status_code == 200 and OPAQUE_DELIVERY.fullmatch(again.json()["delivery"]["delivery_id"])
    assert again.json()["message"].startswith(f"Delivery {again.json()['delivery']['delivery_id']} queued")

    # As if these ids had been shown before the upgrade (migration 0074 records the highest number given out):
    # after a restart they are the numbers they were, and those numbers still resume and redeliver.
    service.sql("UPDATE opaque_ids SET legacy_max = ? WHERE kind = 'event'", rows[-1])
    service.sql("UPDATE opaque_ids SET legacy_max = ? WHERE kind = 'delivery'", delivery_rows[-1])
    service.stop()
    service = twin_factory.start(tmp_path / "var", **settings)
    alice = service.client(alice_key)
    assert sse_ids(service, alice_key, second) == (200, [str(rows[-1])])
    assert sse_ids(service, alice_key, second, after=str(rows[0])) == (200, [str(row) for row in rows[1:]])
    listed = [d["delivery_id"] for d in alice.get(f"/v1/webhooks/{hook_id}/deliveries").json()["deliveries"]]
    assert listed[-2:] == [str(delivery_rows[1]), str(delivery_rows[0])] and OPAQUE_DELIVERY.fullmatch(listed[0])


QUERY = "MKTVRQERLKSIVRILERSKEPVSGAQLAEELSVSRQVIVQDIAYLRSLGYNIVATPRGYVLAGG"


@EDGE_ONLY
def test_a_big_a3m_is_checked_without_stopping_everyone_elses_calls(twin_factory: type) -> None:
    """AlphaFold2's submission parses params.a3m (up to 50 MB) to refuse a bad one at once. That parse ran on the job
    service's event loop: 7 MB held every other call of every user for seconds (50 MB: 18 s), and one whose last
    record is bad is a 400 that costs nothing, so it could be sent again and again. Now it runs in a thread: another
    account's calls are answered meanwhile."""
    service = twin_factory.start(PHONOS_MODELS="alphafold2")
    attacker, bystander = service.client(service.new_key()), service.client(service.new_key())
    a3m = f">query\n{QUERY}\n" + f">hit\n{QUERY}\n" * 200_000 + ">bad\nAC\n"  # 14 MB; its last record is 2 columns
    body = {"model": "alphafold2", "sequence": QUERY, "params": {"msa_mode": "a3m", "a3m": a3m}}
    answer: list[requests.Response] = []
    started = time.monotonic()
    latencies = waits_while(lambda: answer.append(attacker.post("/v1/predict", json=body)), bystander, pause_s=0.02)
    took = time.monotonic() - started
    assert answer[0].status_code == 400 and 'record 200002 ("bad")' in answer[0].json()["message"], answer[0].text
    # The check took seconds; no call of the bystander waited for more than a fraction of it.
    assert took > 1.0, took
    assert max(latencies) < max(0.5, took / 4), (latencies, took)
