"""Who the client is when the connection comes from a proxy: the one rule both edges apply.

The failed-auth throttle and the share links' limit count per client address. A connection's peer is the
client only when nothing sits in between; behind an ingress, a load balancer or a separate gateway process
(`python -m gateway`) the peer is that proxy, the same address for every user. Proxies say whom they
forward for: an HTTP proxy appends the address it saw to `X-Forwarded-For`; the phonos gateway tells the job
service the client it determined in the `x-phonos-client-address` metadata. Anyone can write either, so
they are believed only from a peer in the operator's list of trusted proxies (PHONOS_TRUSTED_PROXIES), and
then only as far as the chain of trusted proxies goes:

    peer trusted?  no  -> the peer is the client (the header or metadata is ignored)
                   yes -> walk the forwarded addresses from the right (the nearest hop first); the
                          first one that is not itself a trusted proxy is the client (all trusted: the
                          left-most); no forwarded address: the peer

This is nginx's `real_ip_recursive on` and Envoy's `xff_trusted_cidrs`. A client cannot prepend its way in:
what it wrote is left of the address its first trusted proxy appended, and the walk stops there. An entry
that is not an IP address (optionally with a port) makes the whole header unusable: the peer is the client.
"""

from __future__ import annotations

import ipaddress

from phonos_config.edge import Network

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# The client address the gateway determined, for the job service (set by the gateway on every call).
CLIENT_ADDRESS_METADATA = "x-phonos-client-address"
FORWARDED_FOR_HEADER = "X-Forwarded-For"


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
    address = peer_ip(peer)
    if address is None:
        return peer or "unknown"
    if not trusted or not forwarded or not _within(address, trusted):
        return str(address)
    client = address
    for entry in reversed(forwarded.split(",")):
        hop = _hop(entry)
        if hop is None:
            return str(address)  # not an address chain we can read: believe none of it
        client = hop
        if not _within(hop, trusted):
            break
    return str(client)


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


def _within(address: IPAddress, networks: tuple[Network, ...]) -> bool:
    return any(address in network for network in networks)
