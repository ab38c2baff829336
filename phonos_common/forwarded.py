"""Who the client is when the connection comes from a proxy: the one rule both edges apply.

The failed-auth throttle and the share links' limit count per client address. A connection's peer is the
client only when nothing sits in between; behind an ingress, a load balancer or a separate gateway process
(`python -m gateway`) the peer is that proxy, the same address for every user. Proxies say whom they
forward for: an HTTP proxy appends the address it saw to `X-Forwarded-For`, or an element `for=...` to the
standard `Forwarded` header (RFC 7239); the phonos gateway tells the job service the client it determined in
the `x-phonos-client-address` metadata. Anyone can write any of these, so they are believed only from a peer
in the operator's list of trusted proxies (PHONOS_TRUSTED_PROXIES), and then only as far as the chain of
trusted proxies goes:

    peer trusted?  no  -> the peer is the client (the header or metadata is ignored)
                   yes -> walk the forwarded addresses from the right (the nearest hop first); the
                          first one that is not itself a trusted proxy is the client (all trusted: the
                          left-most); no forwarded address: the peer

This is nginx's `real_ip_recursive on` and Envoy's `xff_trusted_cidrs`. A client cannot prepend its way in:
what it wrote is left of the address its first trusted proxy appended, and the walk stops there. An entry
that is not an IP address (optionally with a port) where the walk reads makes the whole header unusable:
the peer is the client.

The REST edge reads one of the two headers, the one PHONOS_FORWARDED_HEADER names (X-Forwarded-For by
default), never both and never the other as a fallback: a proxy passes on the headers it does not write
itself, so the one it does not write is whatever the client put there. Reading `Forwarded` "when present"
(as some frameworks do) would let any client behind an X-Forwarded-For proxy name its own address.
"""

from __future__ import annotations

import ipaddress
import re

from phonos_config.edge import Network

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# The client address the gateway determined, for the job service (set by the gateway on every call).
CLIENT_ADDRESS_METADATA = "x-phonos-client-address"
FORWARDED_FOR_HEADER = "X-Forwarded-For"
FORWARDED_HEADER = "Forwarded"  # RFC 7239

# One forwarded hop: the address a proxy says it forwarded for, None where that is no IP address we can read.
Hop = IPAddress | None


def peer_ip(peer: str | None) -> IPAddress | None:
    """The IP address of a peer as the edges see it: aiohttp's `request.remote` ("127.0.0.1", "::1") or
    gRPC's `context.peer()` ("ipv4:127.0.0.1:5000", "ipv6:[::1]:5000", "ipv6:%5B::1%5D:5000"); an
    IPv4-mapped IPv6 address ("::ffff:10.0.0.1", a dual-stack listener's IPv4 client) as IPv4; None for
    anything else ("unix:...", "in-process")."""
    if not peer:
        return None
    text = peer.replace("%5B", "[").replace("%5D", "]")
    for prefix in ("ipv4:", "ipv6:"):
        if text.startswith(prefix):
            text = text[len(prefix):]
            if text.startswith("["):
                text = text[1:text.find("]")]
            elif prefix == "ipv4:":
                text = text.rsplit(":", 1)[0]
            break
    return _ip(text.split("%", 1)[0])


def real_client(peer: str | None, forwarded: str | None, trusted: tuple[Network, ...]) -> str:
    """The client's address: `peer` (normalised as `peer_ip`; as given when it is not an IP address), or,
    when the peer is a trusted proxy, the right-most address of `forwarded` (a comma-separated chain, as
    in X-Forwarded-For, nearest hop last) that is not a trusted proxy."""
    return client_behind(peer, x_forwarded_for(forwarded), trusted)


def client_behind(peer: str | None, hops: list[Hop], trusted: tuple[Network, ...]) -> str:
    """`real_client` with the forwarded chain already read (`x_forwarded_for`, `rfc7239_forwarded_for`):
    the walk of the module docstring; an unreadable hop (None) where it reads: the peer."""
    address = peer_ip(peer)
    if address is None:
        return peer or "unknown"
    if not trusted or not hops or not _within(address, trusted):
        return str(address)
    client = address
    for hop in reversed(hops):
        if hop is None:
            return str(address)  # not an address chain we can read: believe none of it
        client = hop
        if not _within(hop, trusted):
            break
    return str(client)


def x_forwarded_for(forwarded: str | None) -> list[Hop]:
    """The hops of an X-Forwarded-For chain ("203.0.113.7, 10.0.0.1"; several header lines joined by commas),
    nearest last; none for an absent or empty header."""
    if not forwarded:
        return []
    return [_hop(entry) for entry in forwarded.split(",")]


def rfc7239_forwarded_for(lines: list[str]) -> list[Hop]:
    """The `for=` nodes of RFC 7239 `Forwarded` header lines, nearest hop last: one hop per element
    (`for=192.0.2.60;proto=https;by=203.0.113.43, for="[2001:db8::1]:4711"`), parameter names in any case,
    values as tokens or quoted strings. Never raises. A hop is None (unreadable) for an element without `for=`,
    a node that is no IP address (`for=unknown`, an obfuscated `for=_hidden`) and for a line that does not
    parse (an unterminated quote, a parameter twice in one element, ...): such a line is one unreadable hop,
    so the walk stops there, while a line left of the client is never looked at. Empty elements are skipped
    (RFC 9110 5.6.1)."""
    hops: list[Hop] = []
    for line in lines:
        elements = _elements(line)
        if elements is None:
            hops.append(None)
            continue
        hops += [_node(element.get("for")) for element in elements]
    return hops


# What a parameter name or an unquoted value may hold (RFC 9110 tchar); an unquoted value is read leniently up
# to the next delimiter (proxies write `for=192.0.2.43:4711` unquoted, which `_node` then reads).
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_UNQUOTED = re.compile(r'[^\s,;"]+')


def _elements(line: str) -> list[dict[str, str]] | None:
    """The elements of one Forwarded line as {lower-case parameter: value}; None when the line is malformed."""
    elements: list[dict[str, str]] = []
    pairs: dict[str, str] = {}
    at, end = 0, len(line)
    while True:
        while at < end and line[at] in " \t":
            at += 1
        if at == end or line[at] == ",":
            if pairs:
                elements.append(pairs)
            pairs = {}
            if at == end:
                return elements
            at += 1
            continue
        if line[at] == ";":
            at += 1
            continue
        name = _TOKEN.match(line, at)
        if name is None or name.end() == end or line[name.end()] != "=":
            return None
        key = name.group().lower()
        at = name.end() + 1
        if at < end and line[at] == '"':
            value, at = _quoted(line, at)
            if value is None:
                return None
        else:
            unquoted = _UNQUOTED.match(line, at)
            if unquoted is None:
                return None
            value, at = unquoted.group(), unquoted.end()
        if key in pairs:  # RFC 7239 4: a parameter must not occur twice in one element
            return None
        pairs[key] = value
        while at < end and line[at] in " \t":
            at += 1
        if at < end and line[at] not in ",;":
            return None


def _quoted(line: str, at: int) -> tuple[str | None, int]:
    """The quoted string starting at line[at] (a '"'), unescaped, and where it ends; None if unterminated."""
    value: list[str] = []
    at += 1
    while at < len(line):
        char = line[at]
        if char == '"':
            return "".join(value), at + 1
        if char == "\\":
            at += 1
            if at == len(line):
                break
            char = line[at]
        value.append(char)
        at += 1
    return None, at


def _node(node: str | None) -> Hop:
    """An RFC 7239 node: "192.0.2.43", "192.0.2.43:4711", "[2001:db8::1]", "[2001:db8::1]:4711", with an
    obfuscated port ("_8080") too; None for "unknown", an obfuscated identifier ("_hidden") or no node."""
    if not node:
        return None
    port_at = node.rfind(":")
    if port_at > 0 and (node.startswith("[") or node.count(":") == 1) and node[port_at - 1] != ":":
        host, port = node[:port_at], node[port_at + 1:]
        if _OBFUSCATED_PORT.fullmatch(port):
            node = host
    return _hop(node)


_OBFUSCATED_PORT = re.compile(r"_[0-9A-Za-z._-]+")


def _hop(entry: str) -> IPAddress | None:
    """One X-Forwarded-For entry: "203.0.113.7", "2001:db8::1", and the forms with a port some proxies
    write ("203.0.113.7:4711", "[2001:db8::1]:4711")."""
    text = entry.strip()
    if text.startswith("["):
        end = text.find("]")
        if end < 0 or not (text[end + 1:] == "" or text[end + 1:end + 2] == ":" and text[end + 2:].isdigit()):
            return None
        return _ip(text[1:end])
    if text.count(":") == 1:  # IPv4 with a port (an IPv6 address has at least two colons)
        host, _, port = text.partition(":")
        return _ip(host) if port.isdigit() and isinstance(_ip(host), ipaddress.IPv4Address) else None
    return _ip(text)


def _ip(text: str) -> IPAddress | None:
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def trusted_peer(peer: str | None, trusted: tuple[Network, ...]) -> bool:
    """Whether the connection's peer (as `peer_ip` reads it) is one of the operator's trusted proxies: only such a
    peer's word about the call (the client it forwards for, that it is the REST gateway) is believed."""
    address = peer_ip(peer)
    return address is not None and _within(address, trusted)


def _within(address: IPAddress, networks: tuple[Network, ...]) -> bool:
    return any(address in network for network in networks)


def client_unit(peer: str | None) -> str:
    """The unit a client's budgets and throttles are counted in: its IPv4 address, or its IPv6 /64 (one host's usual
    share: counted per address, a host took a fresh budget with each of its 2^64 addresses).

    Accepts a client address as the edges decide it (`real_client`: "127.0.0.1", "2001:db8::7") and a raw peer:
    aiohttp's `request.remote` and gRPC's `context.peer()` ("ipv4:127.0.0.1:5000", "ipv6:[::1]:5000",
    "ipv6:%5B::1%5D:5000"). Used by the job service's failed-auth throttle and the gateway's connection cap,
    download slots and upload budget alike.
    """
    if not peer:
        return "unknown"
    address = peer_ip(peer)
    if address is None:
        return peer[:64]
    if isinstance(address, ipaddress.IPv6Address):
        return str(ipaddress.IPv6Network((int(address) >> 64 << 64, 64)))
    return str(address)
