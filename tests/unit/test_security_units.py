"""A third security review's findings that need no running service: the webhook egress' address table."""

from __future__ import annotations

import ipaddress

import pytest

from jobservice.egress import is_public, literal_refused
from jobservice.errors import InvalidArgument
from jobservice.webhooks import validate_url

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
