"""Outbound HTTP to webhook receivers that cannot be turned against the server's own network.

A receiver URL is user input. Checking it once at creation is not enough (DNS can answer anything,
and later something else), and neither is checking the text: `0x7f000001`, `0x7f.1`, `2130706433`,
`[::ffff:127.0.0.1]`, `[64:ff9b::7f00:1]` (NAT64), `[2002:7f00:1::]` (6to4) and `localhost.` all
reach loopback. So:

- `is_public` decides on an address after unwrapping every IPv6 form that carries an IPv4 address
  (mapped, compatible, 6to4, Teredo, NAT64) and refuses private, loopback, link-local, shared,
  reserved, documentation, multicast and unspecified ranges on either side;
- `PublicOnlyResolver` resolves the host at every delivery and refuses the connection when *any*
  resolved address is not public; aiohttp then connects to exactly the addresses it returned (no
  second lookup a rebinding DNS server could answer differently), with TLS still verified against
  the host name;
- IP literals skip aiohttp's resolver, so `literal_refused` checks them before the request;
- every check reads the host as aiohttp will (`request_host`: yarl's IDNA/UTS 46 form), not as the URL's text
  spells it: `https://１２７.０.０.１/` (fullwidth or circled digits) is no IP literal to `urlsplit`, yet
  yarl maps it to `127.0.0.1`, which aiohttp then connects to directly, past the resolver's check;
- `receiver_session` never follows redirects, never decompresses, ignores proxy variables, and
  opens a fresh connection per delivery (each one re-resolved and re-checked).

`PHONOS_WEBHOOK_ALLOW_HTTP_LOOPBACK` (development) lets loopback addresses through, nothing else.
`PHONOS_WEBHOOK_ALLOWED_NETWORKS` lets the operator name private networks of their own whose receivers are
trusted (a self-hosted lab's LIMS on 10.20.0.0/16): an address inside one of them counts as allowed (also
inside an IPv6 form that carries it), checked the same way at every delivery; everything else stays refused.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from functools import cache

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import ThreadedResolver
from yarl import URL

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

_NAT64 = (ipaddress.IPv6Network("64:ff9b::/96"), ipaddress.IPv6Network("64:ff9b:1::/48"))
_IPV4_COMPATIBLE = ipaddress.IPv6Network("::/96")
_SHARED = ipaddress.IPv4Network("100.64.0.0/10")  # carrier-grade NAT (RFC 6598)
# IANA's special-purpose ranges that are not globally reachable, refused here whatever the Python at hand says:
# `ipaddress` before 3.11.10 / 3.12.4 (CVE-2024-4032; Debian bookworm's 3.11.2, this project's 3.11.7) calls
# 192.0.0.0/24 global except two small blocks, and so let through 192.0.0.192, a cloud metadata service's
# address (Oracle Cloud Classic), and knows nothing of 3fff::/20 (documentation, RFC 9637) or 5f00::/16 (SRv6).
_NOT_GLOBAL: tuple[Network, ...] = (
    ipaddress.IPv4Network("192.0.0.0/24"),  # IETF protocol assignments (RFC 6890)
    ipaddress.IPv6Network("3fff::/20"),
    ipaddress.IPv6Network("5f00::/16"),
)
_NUMERIC_HOST = re.compile(r"^[0-9a-fx.]+$", re.IGNORECASE)
# Names that never mean a public host (RFC 6761, RFC 8375, mDNS, common internal suffixes).
_INTERNAL_SUFFIXES = (".localhost", ".local", ".localdomain", ".internal", ".intranet", ".lan", ".home.arpa",
                      ".corp", ".private", ".test", ".invalid", ".example")


class RefusedAddress(OSError):
    """The receiver's host is, or resolves to, an address that is not public."""


def embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries (mapped, 6to4, Teredo client, NAT64, compatible)."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    if any(address in net for net in _NAT64) or (address in _IPV4_COMPATIBLE and int(address) > 1):
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def is_public(address: IPAddress) -> bool:
    """Globally routable unicast, also for every IPv4 address hidden inside an IPv6 one."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.scope_id is not None or address.is_site_local:
            return False
        inner = embedded_ipv4(address)
        if inner is not None and address.teredo is None:
            # Mapped, compatible, 6to4 and NAT64 addresses reach exactly their IPv4 address (NAT64
            # and 6to4 prefixes sit in ranges Python calls reserved, so the inner address decides).
            return is_public(inner)
        if inner is not None and not is_public(inner):
            return False
    elif address in _SHARED:
        return False
    if any(address in net for net in _NOT_GLOBAL if net.version == address.version):
        return False
    return bool(address.is_global and not address.is_multicast and not address.is_unspecified
                and not address.is_reserved and not address.is_loopback and not address.is_link_local)


def is_loopback(address: IPAddress) -> bool:
    if isinstance(address, ipaddress.IPv6Address):
        inner = embedded_ipv4(address)
        if inner is not None:
            return inner.is_loopback
    return address.is_loopback


def allowed(address: IPAddress, *, allow_loopback: bool, networks: tuple[Network, ...] = ()) -> bool:
    return is_public(address) or (allow_loopback and is_loopback(address)) or in_networks(address, networks)


def in_networks(address: IPAddress, networks: tuple[Network, ...]) -> bool:
    """Inside one of the operator's trusted networks, as written or as the IPv4 address an IPv6 form carries."""
    if not networks:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.scope_id is not None:
        address = ipaddress.IPv6Address(str(address).split("%", 1)[0])
    forms: list[IPAddress] = [address]
    if isinstance(address, ipaddress.IPv6Address) and (inner := embedded_ipv4(address)) is not None:
        forms.append(inner)
    return any(form in net for form in forms for net in networks if form.version == net.version)



def request_host(url: str) -> str:
    """The host an HTTP request to `url` is sent to: yarl's reading of the URL (aiohttp's own parser), with an
    internationalised name mapped and IDNA-encoded as it will be on the wire ("" when there is none).

    The checks must read this, not `urlsplit(url).hostname`: Unicode hosts are normalised (UTS 46 mapping, NFKC)
    before aiohttp looks at them, so `１２７.０.０.１` or `①②⑦.0.0.1`, no address to `urlsplit`, arrive as the
    literal `127.0.0.1`, which aiohttp connects to without asking the resolver (`PublicOnlyResolver`) at all.
    Raises ValueError for a URL yarl cannot read (a backslash, a bad IDNA label): nothing can be sent to it.
    """
    return URL(url).raw_host or ""


def parse_ip_literal(host: str) -> IPAddress | None:
    """The address a URL host denotes by itself, in any form the C resolver accepts, else None.

    `inet_aton` semantics (what getaddrinfo applies to numeric hosts): `127.1`, `0x7f.1`,
    `0177.0.0.1`, `2130706433` are all 127.0.0.1.
    """
    text = host.strip("[]").rstrip(".")
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        pass
    if _NUMERIC_HOST.match(text):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(text))
        except OSError:
            return None
    return None


def literal_refused(host: str, *, allow_loopback: bool, networks: tuple[Network, ...] = ()) -> bool:
    """True when `host` is an IP literal (in any spelling) that may not be contacted."""
    address = parse_ip_literal(host)
    return address is not None and not allowed(address, allow_loopback=allow_loopback, networks=networks)


def internal_name(host: str) -> bool:
    """Names that denote this machine or a private network whatever DNS says (checked at creation)."""
    name = host.lower().rstrip(".")
    if this_machine(name) or name.endswith(_INTERNAL_SUFFIXES):
        return True
    return "." not in name  # a single label resolves through the local search domains


def this_machine(host: str) -> bool:
    """Names of this machine itself (refused at creation even where private networks are allowed)."""
    name = host.lower().rstrip(".")
    return not name or name == "localhost" or name.endswith(".localhost") or name in own_host_names()


@cache
def own_host_names() -> frozenset[str]:
    names = {socket.gethostname().lower()}
    try:
        names.add(socket.getfqdn().lower())
    except OSError:
        pass
    return frozenset(n.rstrip(".") for n in names if n)


class PublicOnlyResolver(AbstractResolver):
    """Resolves with `inner` (the system resolver by default) and refuses any non-public answer."""

    def __init__(self, inner: AbstractResolver | None = None, *, allow_loopback: bool = False,
                 networks: tuple[Network, ...] = ()) -> None:
        self._inner = inner or ThreadedResolver()
        self._allow_loopback = allow_loopback
        self._networks = networks

    async def resolve(self, host: str, port: int = 0,
                      family: socket.AddressFamily = socket.AF_INET) -> list[ResolveResult]:
        results = await self._inner.resolve(host, port, family)
        if not results:
            raise OSError(f"{host} has no address")
        for result in results:
            try:
                address = ipaddress.ip_address(result["host"])
            except ValueError:
                raise RefusedAddress(f"{host} resolved to something that is not an address") from None
            if not allowed(address, allow_loopback=self._allow_loopback, networks=self._networks):
                raise RefusedAddress(f"{host} resolves to a non-public address")
        return results

    async def close(self) -> None:
        await self._inner.close()


def receiver_session(*, allow_loopback: bool, resolver: AbstractResolver | None = None, limit: int = 64,
                     networks: tuple[Network, ...] = ()) -> aiohttp.ClientSession:
    """The client session for webhook deliveries (see the module docstring for what it refuses)."""
    connector = aiohttp.TCPConnector(
        resolver=PublicOnlyResolver(resolver, allow_loopback=allow_loopback, networks=networks),
        use_dns_cache=False,  # every delivery resolves and checks again
        force_close=True,  # no pooled connection outlives the check that opened it
        limit=limit,
    )
    return aiohttp.ClientSession(connector=connector, auto_decompress=False, trust_env=False,
                                 max_line_size=8190, max_field_size=8190)
