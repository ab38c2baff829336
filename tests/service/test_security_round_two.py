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
from tests.support import InProcessService, wait_until

# The edge's and the gateway's answers, and the usage counters of one process: no store-specific behaviour.
pytestmark = [pytest.mark.integration, pytest.mark.sqlite_only]

Scrape = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def calls(scrape: Scrape, rpc: str, transport: str) -> float:
    """`phonos_rpc_seconds_count` of `rpc` under `transport`, every code."""
    return sum(value for (name, labels), value in scrape.items()
               if name == "phonos_rpc_seconds_count" and ("rpc", rpc) in labels and ("transport", transport) in labels)


def usage_transports(service: InProcessService, api_key_account: int) -> set[str]:
    return {row[0] for row in service.sql("SELECT transport FROM usage_hourly WHERE account_id = ?", api_key_account)}


def account_id(service: InProcessService, username: str) -> int:
    return int(service.sql("SELECT id FROM accounts WHERE username = ?", username)[0][0])


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
