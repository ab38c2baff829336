"""Which webhook receivers may be contacted: address classes in every spelling, and creation-time URL rules."""

from __future__ import annotations

import ipaddress
import socket

import pytest

from jobservice.egress import is_public, literal_refused, parse_ip_literal, request_host
from jobservice.errors import InvalidArgument
from jobservice.webhooks import validate_url
from phonos_config.service import ServiceSettings

pytestmark = pytest.mark.unit

NOT_PUBLIC = [
    "127.0.0.1", "10.0.0.1", "172.16.5.4", "192.168.1.1", "169.254.169.254", "100.64.0.1", "0.0.0.0",
    "224.0.0.1", "255.255.255.255", "192.0.2.1", "198.18.0.1", "240.0.0.1",
    "::1", "::", "fe80::1", "fc00::1", "fd12:3456::1", "fec0::1", "ff02::1", "2001:db8::1",
    "::ffff:127.0.0.1", "::ffff:10.0.0.1", "::127.0.0.1", "::a00:1",  # mapped, compatible
    "64:ff9b::7f00:1", "64:ff9b::a9fe:a9fe", "64:ff9b:1::a00:1",  # NAT64 of loopback, metadata, private
    "2002:7f00:1::", "2002:a00:1::1", "2002:c0a8:101::",  # 6to4 of loopback and private
    "2001:0:4136:e378:8000:63bf:80ff:fffe",  # Teredo whose client is 127.0.0.1
]
PUBLIC = ["93.184.216.34", "8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "2a00:1450:4001:81c::200e",
          "64:ff9b::808:808", "2002:808:808::1"]


@pytest.mark.parametrize("address", NOT_PUBLIC)
def test_not_public(address: str) -> None:
    assert not is_public(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", PUBLIC)
def test_public(address: str) -> None:
    assert is_public(ipaddress.ip_address(address))


@pytest.mark.parametrize(("host", "address"), [
    ("0x7f000001", "127.0.0.1"), ("0x7f.1", "127.0.0.1"), ("2130706433", "127.0.0.1"), ("127.1", "127.0.0.1"),
    ("0177.0.0.1", "127.0.0.1"), ("127.0.0.1.", "127.0.0.1"), ("[::1]", "::1"), ("10.1", "10.0.0.1"),
    ("example.org", None), ("deadbeef", None), ("0x7f.example", None),
])
def test_literals_in_every_spelling(host: str, address: str | None) -> None:
    parsed = parse_ip_literal(host)
    assert (str(parsed) if parsed else None) == address


def test_loopback_literals_pass_only_in_development_mode() -> None:
    assert literal_refused("0x7f000001", allow_loopback=False)
    assert not literal_refused("0x7f000001", allow_loopback=True)
    assert literal_refused("10.0.0.1", allow_loopback=True)  # development mode allows loopback, nothing else
    assert not literal_refused("example.org", allow_loopback=False)  # names are checked when resolved


@pytest.mark.parametrize("url", [
    "https://0x7f000001/h", "https://0x7f.1/h", "https://2130706433/h", "https://127.1/h", "https://0177.0.0.1/h",
    "https://localhost./h", "https://LOCALHOST/h", "https://a.localhost/h", "https://[::ffff:127.0.0.1]/h",
    "https://[::ffff:7f00:1]/h", "https://[64:ff9b::7f00:1]/h", "https://[2002:7f00:1::]/h",
    "https://[::127.0.0.1]/h", "https://[fe80::1%25eth0]/h", "https://100.64.0.1/h", "https://224.0.0.1/h",
    "https://169.254.169.254/latest/meta-data", "https://intranet/h", "https://db.internal/h",
    "https://printer.local/h", "https://router.home.arpa/h", f"https://{socket.gethostname()}/h",
    f"https://{socket.getfqdn()}./h", "https://user:pw@example.org/h", "https://example.org:99999/h",
    "https://[::1/h",
])
def test_creation_refuses_internal_hosts_in_every_spelling(url: str) -> None:
    with pytest.raises(InvalidArgument):
        validate_url(url, allow_http_loopback=False)


# Hosts that `urlsplit` reads as names but aiohttp (yarl: UTS 46 mapping, NFKC) reads as an internal address or
# name: fullwidth, circled and mixed digits, fullwidth letters; and hosts that are no DNS name at all.
UNICODE_SPELLINGS = [
    "https://\uff11\uff12\uff17.\uff10.\uff10.\uff11/h",  # １２７.０.０.１
    "https://\u2460\u2461\u2466.0.0.1/h",  # ①②⑦.0.0.1
    "https://127.0.0.\uff11/h",
    "https://\uff11\uff16\uff19.254.169.254/latest/meta-data",  # the cloud metadata address
    "https://10.0.0.\uff17/h",
    "https://\uff4c\uff4f\uff43\uff41\uff4c\uff48\uff4f\uff53\uff54/h",  # ｌｏｃａｌｈｏｓｔ
    "https://db.\uff49\uff4e\uff54\uff45\uff52\uff4e\uff41\uff4c/h",  # db.ｉｎｔｅｒｎａｌ
    "https://127.0.0.1%2e/h", "https://127.0.0.1%00.example.org/h",
]


@pytest.mark.parametrize("url", UNICODE_SPELLINGS)
def test_creation_reads_the_host_as_the_http_client_will(url: str) -> None:
    with pytest.raises(InvalidArgument):
        validate_url(url, allow_http_loopback=False)


def test_an_internationalised_public_name_is_still_accepted() -> None:
    url = "https://b\u00fccher.example.com/h"
    assert validate_url(url, allow_http_loopback=False) == url
    assert request_host(url) == "xn--bcher-kva.example.com"
    assert request_host("https://\uff11\uff12\uff17.\uff10.\uff10.\uff11/h") == "127.0.0.1"


@pytest.mark.parametrize("url", ["https://example.org/h", "https://93.184.216.34/h",
                                 "https://[2606:4700:4700::1111]:8443/h", "https://hooks.example.com./x"])
def test_creation_accepts_public_hosts(url: str) -> None:
    assert validate_url(url, allow_http_loopback=False) == url


# Hosts no resolver can look up (qa: `a..b.org` and `-bad-.org` were accepted), with what the refusal says.
NOT_DNS_NAMES = [
    ("https://a..b.org/", "it has an empty label"),
    ("https://.example.org/h", "it has an empty label"),
    ("https://example.org../h", "it has an empty label"),
    ("https://-bad-.org/", "its label \"-bad-\" starts or ends with '-'"),
    ("https://hooks-.example.org/h", "its label \"hooks-\" starts or ends with '-'"),
    ("https://-x.example.org/h", "its label \"-x\" starts or ends with '-'"),
    (f"https://{'a' * 64}.example.org/h", "it has a label of 64 characters; a DNS label has at most 63"),
    (f"https://{'abcdefgh.' * 27}abcdefghijk/h", "it is 254 characters long; a DNS name has at most 253"),
]


@pytest.mark.parametrize(("url", "why"), NOT_DNS_NAMES)
def test_creation_refuses_a_host_that_is_no_dns_name_and_says_why(url: str, why: str) -> None:
    with pytest.raises(InvalidArgument) as refused:
        validate_url(url, allow_http_loopback=False)
    assert "has a host that is not a DNS name or an IP address: " + why in str(refused.value)


@pytest.mark.parametrize("url", [f"https://{'a' * 63}.example.org/h", f"https://{'abcdefgh.' * 27}abcdefghij/h",
                                 f"https://{'abcdefgh.' * 27}abcdefghij./h", "https://a-b.x_y.example.org/h",
                                 "https://xn--bcher-kva.example.org/h", "https://b\u00fccher-1.example.org/h"])
def test_creation_accepts_dns_names_at_their_limits(url: str) -> None:
    assert validate_url(url, allow_http_loopback=False) == url


def test_development_mode_allows_loopback_in_any_spelling_but_nothing_else() -> None:
    for url in ("http://127.0.0.1:9/h", "http://localhost:9/h", "http://0x7f000001:9/h", "http://[::1]:9/h"):
        assert validate_url(url, allow_http_loopback=True) == url
    for url in ("http://10.0.0.1/h", "http://example.org/h"):
        with pytest.raises(InvalidArgument):
            validate_url(url, allow_http_loopback=True)


LAB = (ipaddress.ip_network("10.20.0.0/16"), ipaddress.ip_network("fd00:1ab::/48"))


def test_an_operators_networks_open_https_receivers_there_and_nothing_more() -> None:
    for url in ("https://10.20.3.4/h", "https://[fd00:1ab::7]:8443/h", "https://[::ffff:10.20.0.9]/h",
                "https://lims.lab.internal/h", "https://intranet/h"):  # names: checked when resolved, each time
        assert validate_url(url, allow_http_loopback=False, networks=LAB) == url
    for url in ("https://10.21.0.1/h", "https://192.168.1.1/h", "https://127.0.0.1/h", "https://169.254.169.254/h",
                "http://10.20.3.4/h",  # outside the networks; plain http stays loopback's (development) only
                "https://localhost/h", "https://a.localhost./h", f"https://{socket.gethostname()}/h"):  # this machine
        with pytest.raises(InvalidArgument):
            validate_url(url, allow_http_loopback=False, networks=LAB)
    assert not literal_refused("10.20.0.1", allow_loopback=False, networks=LAB)
    assert literal_refused("10.21.0.1", allow_loopback=False, networks=LAB)
    with pytest.raises(InvalidArgument, match="PHONOS_WEBHOOK_ALLOWED_NETWORKS"):  # says how a lab opens it
        validate_url("https://10.20.3.4/h", allow_http_loopback=False)


def test_the_networks_setting_is_checked_when_read() -> None:
    settings = ServiceSettings.from_env({"PHONOS_WEBHOOK_ALLOWED_NETWORKS": "10.20.0.0/16, fd00:1ab::/48,192.168.1.7"})
    assert [str(n) for n in settings.webhook_networks] == ["10.20.0.0/16", "fd00:1ab::/48", "192.168.1.7/32"]
    with pytest.raises(ValueError, match="PHONOS_WEBHOOK_ALLOWED_NETWORKS.*'10.0.0.0/33'"):
        ServiceSettings.from_env({"PHONOS_WEBHOOK_ALLOWED_NETWORKS": "10.0.0.0/33"})
