"""A third security review's findings that need no running service: the webhook egress' address table, and the
turns of sign-in attempts that share a throttled key."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress

import pytest

from jobservice.auth_throttle import AuthThrottle, LookupsInFlight
from jobservice.egress import is_public, literal_refused
from jobservice.errors import InvalidArgument
from jobservice.sign_in_throttle import KeyedTurns
from jobservice.webhooks import validate_url
from phonos_common.hosts import allowed
from phonos_config.edge import EdgeSettings

pytestmark = pytest.mark.unit

# Not globally reachable per IANA's special-purpose registries, yet global to `ipaddress` before Python 3.11.10 /
# 3.12.4 (CVE-2024-4032), which this project runs on: 192.0.0.192 is a cloud metadata service's address.
NOT_GLOBAL = ["192.0.0.192", "192.0.0.8", "192.0.0.255", "::ffff:192.0.0.192", "64:ff9b::c000:c0", "2002:c000:c0::1",
              "3fff::1", "3fff:fff:ffff::1"]


@pytest.mark.parametrize("address", NOT_GLOBAL)
def test_special_purpose_ranges_are_never_a_webhook_receiver(address: str) -> None:
    assert not is_public(ipaddress.ip_address(address))
    assert literal_refused(f"[{address}]" if ":" in address else address, allow_loopback=True)
    host = f"[{address}]" if ":" in address else address
    with pytest.raises(InvalidArgument, match="public host"):
        validate_url(f"https://{host}/hook", allow_http_loopback=False)


@pytest.mark.parametrize("address", ["192.0.1.1", "191.255.255.255", "2400:cb00::1", "2a00:1450::1"])
def test_their_neighbours_stay_public(address: str) -> None:
    assert is_public(ipaddress.ip_address(address))


def test_attempts_of_one_key_take_turns_and_leave_no_lock_behind() -> None:
    """Sign-in attempts sharing a throttled key (a username, an address) run one at a time in a job service, so
    each reads the failures of those before it; keys taken in any order never deadlock, and a finished or
    cancelled attempt leaves no lock in memory (a spray over a million usernames must not grow it)."""
    turns = KeyedTurns()
    inside: list[str] = []
    most = 0

    async def attempt(*keys: str) -> None:
        nonlocal most
        async with turns.hold(*keys):
            inside.append(keys[0])
            most = max(most, len(inside))
            await asyncio.sleep(0.001)
            inside.remove(keys[0])

    async def main() -> None:
        await asyncio.gather(*(attempt("user:a", "addr:1") if n % 2 else attempt("addr:1", f"user:{n}")
                               for n in range(40)))
        waiting = asyncio.create_task(attempt("addr:1"))
        async with turns.hold("addr:1"):
            await asyncio.sleep(0.001)
            waiting.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await waiting

    asyncio.run(main())
    assert most == 1  # every attempt shares addr:1
    assert turns._locks == {}


def test_an_allowed_hosts_entry_with_the_dns_roots_dot_matches_the_names_it_lists() -> None:
    """`.lab.org.` (a fully qualified name) passed the setting's check and then matched no Host: the header's name is
    compared without its trailing dot, the entry kept it."""
    hosts = EdgeSettings.from_env({"PHONOS_ALLOWED_HOSTS": ".lab.org.,phonos.example."}).allowed_hosts
    assert hosts == (".lab.org", "phonos.example")
    assert allowed("x.lab.org", hosts) and allowed("lab.org.", hosts) and allowed("phonos.example:8000", hosts)
    assert not allowed("evil.example", hosts)


def test_an_addresss_lookups_run_at_once_up_to_the_failures_it_has_left() -> None:
    """Serialising an address's key lookups (one at a time) stalled every client behind one address (a NAT, a
    separate gateway) behind one slow lookup. Now as many run at once as the address has failures left; one past
    that waits for one to end, and once the failures are spent the rest are refused unread."""
    async def scenario() -> None:
        throttle = AuthThrottle(3)
        lookups = LookupsInFlight(throttle)
        entered: list[int] = []
        release = {n: asyncio.Event() for n in range(5)}

        async def lookup(n: int, fails: bool) -> int | None:
            async with lookups.slot("10.0.0.1") as wait_s:
                if wait_s is not None:
                    return wait_s
                entered.append(n)
                await release[n].wait()
                if fails:
                    throttle.failed("10.0.0.1")
                return None

        good = [asyncio.create_task(lookup(n, fails=False)) for n in range(3)]
        bad = [asyncio.create_task(lookup(n, fails=True)) for n in (3, 4)]
        await asyncio.sleep(0.01)
        assert sorted(entered) == [0, 1, 2]  # three at once, not one: the address has three failures left
        release[0].set()
        await asyncio.sleep(0.01)
        assert sorted(entered) == [0, 1, 2, 3]  # one ended (it worked): the next one runs
        for n in (1, 2, 3):
            release[n].set()
        await asyncio.sleep(0.01)
        assert 4 in entered
        release[4].set()
        assert await asyncio.gather(*good, *bad) == [None] * 5
        async with lookups.slot("10.0.0.1") as wait_s:  # two failures counted, one left
            assert wait_s is None
            throttle.failed("10.0.0.1")
        async with lookups.slot("10.0.0.1") as wait_s:  # spent: refused without a lookup
            assert wait_s is not None and wait_s >= 1

    asyncio.run(scenario())


@pytest.mark.parametrize(("url", "named"), [
    ("https://example.com/a\r\nX-Evil: 1\r\n\r\nbody", "control character (U+000D)"),
    ("https://example.com/\x1b[2J", "control character (U+001B)"),
    ("https://example.com/\u202ekoob", "bidirectional formatting character (U+202E)"),
    ('https://example.com/"><svg/onload=alert(1)>', "'\"' (U+0022)"),
    ("https://example.com/a b", "a space (U+0020)"),
    ("https://example.com/a\u00a0b", "a space (U+00A0)"),
    ("https://example.com\\@evil.example/", "'\\\\' (U+005C)"),
    ("https://example.com/{x}", "'{' (U+007B)"),
    ("https://example.com/p|q", "'|' (U+007C)"),
    ("https://example.com/^x", "'^' (U+005E)"),
    ("https://example.com/%zz", "'%' that starts no percent-escape"),
    ("https://example.com/100%", "'%' that starts no percent-escape"),
])
def test_a_webhook_url_holds_only_what_is_delivered_to(url: str, named: str) -> None:
    """A URL is shown in the dashboard, the CLI and the logs like a name, and it is what a receiver must be: a
    CR/LF the HTTP client drops, or a space it percent-encodes, made the delivered URL differ from the one shown."""
    with pytest.raises(InvalidArgument) as refused:
        validate_url(url, allow_http_loopback=False)
    assert named in str(refused.value)


def test_a_webhook_url_keeps_characters_a_url_may_hold() -> None:
    for url in ("https://example.com/hook?x=1&y=a%20b&sig=a%2Fb", "https://example.com/café", "https://example.com/~a_b-c",
                "https://example.com/a%7Cb"):
        assert validate_url(url, allow_http_loopback=False) == url


def test_the_url_delivered_to_is_the_one_registered() -> None:
    from jobservice.webhooks import wire_url

    for url, sent in [("https://example.com/hook?sig=a%2Fb&t=x%3D%3D", "https://example.com/hook?sig=a%2Fb&t=x%3D%3D"),
                      ("https://münchen.de/café?x=é", "https://xn--mnchen-3ya.de/caf%C3%A9?x=%C3%A9"),
                      ("https://[2001:db8::1]:8443/x?y=1", "https://[2001:db8::1]:8443/x?y=1"),
                      ("https://example.com", "https://example.com/")]:
        assert str(wire_url(url)) == sent
