"""The unit the gateway's per-client budgets count (gateway/downloads.py, gateway/uploads.py): the client's IPv4
address, or its IPv6 /64, as the job service's failed-auth throttle counts (jobservice/auth_throttle.py).

One host usually gets a whole /64: counted per IPv6 address, a client took a fresh budget with each of its 2^64
addresses."""

from __future__ import annotations

import ipaddress

from phonos_common.forwarded import peer_ip


def client_unit(client: str) -> str:
    """`client` (an address as `gateway.app.client_of` decides it) as the unit its budgets are counted in."""
    address = peer_ip(client)
    if isinstance(address, ipaddress.IPv6Address):
        return str(ipaddress.IPv6Network((int(address) >> 64 << 64, 64)))
    return client
