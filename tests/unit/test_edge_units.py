"""Unit tests of the edge's pure parts: failed-auth throttle, client addresses (behind trusted proxies too),
rate-limited log, limits."""

from __future__ import annotations

import logging

import pytest

from jobservice.auth_throttle import AuthThrottle
from jobservice.message_limits import JOB_REQUEST_BYTES, SMALL_REQUEST_BYTES, by_full_method, request_limit
from jobservice.modelspecs.alphafold2 import MAX_A3M_CHARS
from phonos_common.forwarded import client_behind, client_unit, real_client, rfc7239_forwarded_for
from phonos_common.ratelog import RateLimitedLog
from phonos_config.diffdock import MAX_PDB_BYTES
from phonos_config.edge import EdgeSettings, parse_networks

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(("peer", "address"), [
    ("127.0.0.1", "127.0.0.1"),
    ("ipv4:10.1.2.3:5000", "10.1.2.3"),
    ("ipv6:[::1]:5000", "::/64"),
    ("ipv6:%5B2001:db8::7%5D:443", "2001:db8::/64"),
    ("2001:db8:0:1:2:3:4:5", "2001:db8:0:1::/64"),
    ("::ffff:192.0.2.1", "192.0.2.1"),
    ("fe80::1%eth0", "fe80::/64"),
    (None, "unknown"),
    ("unix:/tmp/socket", "unix:/tmp/socket"),
])
def test_client_address_normalises_peers(peer: str | None, address: str) -> None:
    assert client_unit(peer) == address


def test_throttle_refuses_after_the_limit_until_the_window_passes() -> None:
    now = [0.0]
    throttle = AuthThrottle(3, clock=lambda: now[0])
    for _ in range(3):
        assert throttle.retry_after("a") is None
        throttle.failed("a")
        now[0] += 1
    assert throttle.retry_after("a") == 57  # the first failure (t=0) leaves the window at t=60
    assert throttle.retry_after("b") is None
    now[0] = 60.5
    assert throttle.retry_after("a") is None


def test_throttle_trusts_credentials_that_worked_and_bounds_its_memory() -> None:
    throttle = AuthThrottle(1, max_addresses=2, max_trusted=2)
    throttle.succeeded("Bearer good")
    assert throttle.trusted("Bearer good") and not throttle.trusted("Bearer bad") and not throttle.trusted(None)
    for address in ("a", "b", "c"):
        throttle.failed(address)
    assert throttle.retry_after("a") is None  # the oldest address was dropped
    assert throttle.retry_after("c") is not None
    for key in ("k1", "k2", "k3"):
        throttle.succeeded(key)
    assert not throttle.trusted("Bearer good") and throttle.trusted("k3")


def test_rate_limited_log_counts_what_it_drops(caplog: pytest.LogCaptureFixture) -> None:
    now = [0.0]
    log = RateLimitedLog(logging.getLogger("t.ratelog"), 2, clock=lambda: now[0])
    with caplog.at_level(logging.INFO, logger="t.ratelog"):
        written = [log.log(logging.INFO, "bad", "bad thing %d", i) for i in range(5)]
        assert log.log(logging.INFO, "other", "another kind")
        now[0] = 61
        assert log.log(logging.INFO, "bad", "bad thing %d", 5)
    assert written == [True, True, False, False, False]
    messages = [r.getMessage() for r in caplog.records]
    assert messages == ["bad thing 0", "bad thing 1", "another kind", "bad thing 5 (3 similar lines suppressed)"]
    assert caplog.records[-1].suppressed == 3  # type: ignore[attr-defined]


def test_message_limits_fit_the_largest_inputs() -> None:
    assert JOB_REQUEST_BYTES > max(MAX_A3M_CHARS, MAX_PDB_BYTES) * 1.2
    limits = by_full_method()
    assert limits["/phonos.v1.PhonosService/Predict"] == JOB_REQUEST_BYTES
    assert limits["/phonos.v1.PhonosService/SubmitBatch"] == JOB_REQUEST_BYTES
    assert limits["/phonos.v1.PhonosService/GetJob"] == SMALL_REQUEST_BYTES
    assert request_limit("/grpc.health.v1.Health/Check") == SMALL_REQUEST_BYTES
    assert SMALL_REQUEST_BYTES > 2048 * 4  # a webhook URL of the longest accepted length, JSON-escaped


@pytest.mark.parametrize("env", [
    {"PHONOS_HTTP_HEADER_TIMEOUT_S": "0"}, {"PHONOS_AUTH_FAILURES_PER_MINUTE": "0"},
    {"PHONOS_BODY_TIMEOUT_S": "-1"}, {"PHONOS_CLIENT_ERROR_LOGS_PER_MINUTE": "-1"},
    {"PHONOS_TRUSTED_PROXIES": "10.0.0.0/8,gateway"}, {"PHONOS_TRUSTED_PROXIES": "10.1.2.3/8"},
    {"PHONOS_TRUSTED_PROXIES": "10.0.0.0/33"}, {"PHONOS_FORWARDED_HEADER": "X-Real-IP"},
])
def test_edge_settings_refuse_nonsense(env: dict[str, str]) -> None:
    with pytest.raises(ValueError, match="|".join(env)):
        EdgeSettings.from_env(env)


def test_trusted_proxies_are_read_as_networks() -> None:
    assert EdgeSettings.from_env({}).trusted_proxies == ()
    read = EdgeSettings.from_env({"PHONOS_TRUSTED_PROXIES": " 10.244.0.0/16, 127.0.0.1 ,fd00::/8,"}).trusted_proxies
    assert [str(n) for n in read] == ["10.244.0.0/16", "127.0.0.1/32", "fd00::/8"]


def test_the_forwarded_header_setting_names_one_of_two_headers() -> None:
    assert EdgeSettings.from_env({}).forwarded_header == "X-Forwarded-For"
    assert EdgeSettings.from_env({"PHONOS_FORWARDED_HEADER": " forwarded "}).forwarded_header == "Forwarded"
    assert EdgeSettings.from_env({"PHONOS_FORWARDED_HEADER": "x-forwarded-for"}).forwarded_header == "X-Forwarded-For"


TRUSTED = parse_networks(["10.0.0.0/8", "127.0.0.1", "2001:db8:ffff::/48"])


@pytest.mark.parametrize(("peer", "forwarded", "client"), [
    # An untrusted peer is the client whatever it forwards; without a trusted list nobody is believed.
    ("203.0.113.5", "198.51.100.1", "203.0.113.5"),
    ("ipv4:203.0.113.5:4711", "198.51.100.1", "203.0.113.5"),
    ("ipv6:[2001:db8::5]:443", "198.51.100.1", "2001:db8::5"),
    # A trusted peer: the right-most address that is not itself trusted.
    ("10.0.0.2", "198.51.100.1", "198.51.100.1"),
    ("ipv4:127.0.0.1:5000", "198.51.100.1", "198.51.100.1"),
    ("::ffff:10.0.0.2", "198.51.100.1", "198.51.100.1"),  # a dual-stack listener's IPv4 peer
    ("10.0.0.2", "203.0.113.66, 198.51.100.1", "198.51.100.1"),  # what the client wrote is left of it
    ("10.0.0.2", "198.51.100.1, 10.9.9.9 ,127.0.0.1", "198.51.100.1"),  # trusted hops walked past
    ("10.0.0.2", "10.1.1.1, 10.2.2.2", "10.1.1.1"),  # all trusted: the left-most
    ("10.0.0.2", "2001:db8::7", "2001:db8::7"),
    ("ipv6:%5B2001:db8:ffff::1%5D:5000", "2001:db8:1:2::9", "2001:db8:1:2::9"),
    ("10.0.0.2", "[2001:db8::7]:4711", "2001:db8::7"),
    ("10.0.0.2", "198.51.100.1:4711", "198.51.100.1"),
    ("10.0.0.2", "::ffff:198.51.100.1", "198.51.100.1"),
    ("10.0.0.2", "", "10.0.0.2"),
    ("10.0.0.2", None, "10.0.0.2"),
    # Malformed: the header is ignored, the peer is the client.
    ("10.0.0.2", "unknown", "10.0.0.2"),
    ("10.0.0.2", "198.51.100.1,,10.1.1.1", "10.0.0.2"),
    ("10.0.0.2", "198.51.100.1; 10.1.1.1", "10.0.0.2"),
    ("10.0.0.2", "[2001:db8::7", "10.0.0.2"),
    ("10.0.0.2", "[2001:db8::7]x", "10.0.0.2"),
    ("10.0.0.2", "198.51.100.1:http", "10.0.0.2"),
    ("10.0.0.2", "999.1.1.1", "10.0.0.2"),
    # ... but only the part walked is read: a malformed entry left of the client does not matter.
    ("10.0.0.2", "junk, 198.51.100.1", "198.51.100.1"),
    # Peers that are not IP addresses are never trusted.
    ("in-process", "198.51.100.1", "in-process"),
    ("unix:/run/phonos.sock", "198.51.100.1", "unix:/run/phonos.sock"),
    (None, "198.51.100.1", "unknown"),
])
def test_real_client_believes_only_trusted_proxies(peer: str | None, forwarded: str | None, client: str) -> None:
    assert real_client(peer, forwarded, TRUSTED) == client
    assert real_client(peer, forwarded, ()) == real_client(peer, None, TRUSTED)  # nobody trusted: the peer


@pytest.mark.parametrize(("forwarded", "unit"), [
    ("2001:db8:1:2:aaaa::1", "2001:db8:1:2::/64"),  # IPv6 clients still share a /64's budget
    ("2001:db8:1:2:bbbb::2", "2001:db8:1:2::/64"),
    ("198.51.100.1", "198.51.100.1"),
])
def test_the_forwarded_client_is_throttled_as_a_peer_would_be(forwarded: str, unit: str) -> None:
    assert client_unit(real_client("10.0.0.2", forwarded, TRUSTED)) == unit


@pytest.mark.parametrize(("lines", "client"), [
    # RFC 7239's own examples, behind the trusted peer 10.0.0.2.
    (['for="_gazonk"'], "10.0.0.2"),  # an obfuscated identifier names nobody: the peer
    (['For="[2001:db8:cafe::17]:4711"'], "2001:db8:cafe::17"),
    (["for=192.0.2.60;proto=http;by=203.0.113.43"], "192.0.2.60"),
    (["for=192.0.2.43, for=198.51.100.17"], "198.51.100.17"),
    # Ports, obfuscated ports, the unquoted forms proxies write although the RFC wants quotes.
    (['for="192.0.2.43:4711"'], "192.0.2.43"),
    (['for="[2001:db8::1]:_port-1"'], "2001:db8::1"),
    (['for="192.0.2.43:_p"'], "192.0.2.43"),
    (["for=192.0.2.43:4711"], "192.0.2.43"),
    (["for=[2001:db8::1]"], "2001:db8::1"),
    (['for="::ffff:192.0.2.43"'], "192.0.2.43"),
    (['for="\\192.0.2.43"'], "192.0.2.43"),  # a quoted-pair is its character
    # Parameter names in any case; the parameters' order; other parameters; spaces around elements.
    (["FOR=192.0.2.43;BY=10.0.0.9"], "192.0.2.43"),
    (['proto=https;By="[2001:db8::9]";fOr=192.0.2.43'], "192.0.2.43"),
    (["  for=192.0.2.43 ;proto=https , for=10.9.9.9  "], "192.0.2.43"),
    # Several lines are one list; trusted hops walked past; all trusted: the left-most; empty elements skipped.
    (["for=203.0.113.66", "for=198.51.100.1, for=10.1.1.1"], "198.51.100.1"),
    (["for=10.1.1.1", "for=127.0.0.1"], "10.1.1.1"),
    (["for=198.51.100.1, , for=10.1.1.1,"], "198.51.100.1"),
    ([], "10.0.0.2"),
    ([""], "10.0.0.2"),
    # What the client wrote left of the client is not read, malformed or not.
    (['for="unterminated', "for=198.51.100.1"], "198.51.100.1"),
    (["for=unknown, for=198.51.100.1"], "198.51.100.1"),
    # Where the walk reads: no address, or a line that does not parse: the peer.
    (["for=unknown"], "10.0.0.2"),
    (["for=_hidden, for=10.1.1.1"], "10.0.0.2"),
    (["proto=https;by=10.0.0.9"], "10.0.0.2"),  # an element without for=
    (["for="], "10.0.0.2"),
    (['for=""'], "10.0.0.2"),
    (["for=192.0.2.43;for=198.51.100.1"], "10.0.0.2"),  # a parameter twice in one element
    (["for=192.0.2.43 junk"], "10.0.0.2"),
    (["for=192.0.2.43=x"], "10.0.0.2"),
    (['for="192.0.2.43'], "10.0.0.2"),
    (['for="192.0.2.43\\'], "10.0.0.2"),
    (["=192.0.2.43"], "10.0.0.2"),
    (["for"], "10.0.0.2"),
    (['f"or=192.0.2.43'], "10.0.0.2"),
    (["for=198.51.100.1", 'for="[2001:db8::1'], "10.0.0.2"),
    (['for="[2001:db8::1]x"'], "10.0.0.2"),
    (['for="192.0.2.43:http"'], "10.0.0.2"),
    (["for=999.1.1.1"], "10.0.0.2"),
    (["for=192.0.2.43\x00"], "10.0.0.2"),
    (["\u00e9=1;for=192.0.2.43"], "10.0.0.2"),
])
def test_the_rfc7239_forwarded_header_is_walked_as_x_forwarded_for(lines: list[str], client: str) -> None:
    assert client_behind("10.0.0.2", rfc7239_forwarded_for(lines), TRUSTED) == client
    assert client_behind("203.0.113.5", rfc7239_forwarded_for(lines), TRUSTED) == "203.0.113.5"  # untrusted peer


def test_the_forwarded_parser_never_raises() -> None:
    """Every short string over the header's special characters: a list of hops, never an exception."""
    import itertools
    alphabet = 'f=";,\\ [:]_1.'
    for size in range(1, 5):
        for letters in itertools.product(alphabet, repeat=size):
            rfc7239_forwarded_for(["".join(letters)])
            rfc7239_forwarded_for(["for=" + "".join(letters)])
