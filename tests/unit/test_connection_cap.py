"""ConnectionCap (gateway/protocol.py): open REST connections counted per client unit (IPv6: its /64) and in all;
a trusted proxy's only in the total. And the open-files limit raised at start (phonos_common/rlimit.py)."""

from __future__ import annotations

import ipaddress
import json
import subprocess
import sys

import pytest

from gateway.protocol import ConnectionCap
from phonos_common.rlimit import CEILING
from phonos_config.edge import EdgeSettings
from phonos_config.service import ServiceSettings

pytestmark = pytest.mark.unit


def test_an_ipv6_client_is_counted_per_64_and_a_closed_connection_frees_its_place() -> None:
    cap = ConnectionCap(per_client=2, total=100)
    first = cap.take("2001:db8:1:2::1")
    assert first is not None and cap.take("2001:db8:1:2:ffff::9") is not None
    assert cap.take("2001:db8:1:2::77") is None  # the same /64: a fresh address is no fresh budget
    assert cap.take("2001:db8:1:3::1") is not None  # the next /64 is another client
    cap.release(first)
    assert cap.take("2001:db8:1:2::77") is not None
    assert cap.count == 3


def test_a_trusted_proxy_counts_only_in_the_total() -> None:
    cap = ConnectionCap(per_client=1, total=3, trusted_proxies=(ipaddress.ip_network("10.0.0.0/8"),))
    units = [cap.take("10.1.2.3") for _ in range(3)]
    assert None not in units and cap.open == {}
    assert cap.take("192.0.2.1") is None  # the total is reached
    for unit in units:
        assert unit is not None
        cap.release(unit)
    assert cap.count == 0 and cap.take("192.0.2.1") is not None


def test_the_open_files_limit_is_raised_to_the_hard_limit() -> None:
    """A process started under a low soft limit (systemd's 1,024) ends with its hard limit, at most CEILING."""
    code = ("import json, resource; resource.setrlimit(resource.RLIMIT_NOFILE, (256, resource.getrlimit("
            "resource.RLIMIT_NOFILE)[1])); from phonos_common.rlimit import raise_open_files_limit; "
            "print(json.dumps([raise_open_files_limit(), resource.getrlimit(resource.RLIMIT_NOFILE)]))")
    said, now = json.loads(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                          check=True).stdout)
    hard = now[1]
    assert now[0] == (CEILING if hard == -1 else min(hard, CEILING))  # -1: unlimited, kept at a finite value
    assert said == now and now[0] > 256


def test_a_huge_hard_limit_raises_the_soft_one_only_to_the_ceiling() -> None:
    """Some container runtimes set a hard limit near 2^30: the soft one stops at CEILING (was: the hard limit, which
    Triton and its stubs inherited)."""
    code = ("import json, resource; from phonos_common import rlimit; rlimit.CEILING = 300; "
            "resource.setrlimit(resource.RLIMIT_NOFILE, (256, resource.getrlimit(resource.RLIMIT_NOFILE)[1])); "
            "print(json.dumps([rlimit.raise_open_files_limit(), resource.getrlimit(resource.RLIMIT_NOFILE)]))")
    said, now = json.loads(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                          check=True).stdout)
    assert now[0] == 300 and said == now


def test_one_address_may_hold_every_watch_stream_a_key_may_open() -> None:
    """Over HTTP/1.1 each watch stream is a connection, and `phonos fold` follows each job on its own stream: the
    per-address connection cap stays above the streams one key may hold, with room for downloads and browsers. (A
    first cap of 256 reset 500 watchers' connections from one client past the 256th.)"""
    edge, service = EdgeSettings(), ServiceSettings()
    assert edge.connections_per_client >= service.watch_max_streams_per_account + 64
    assert edge.max_connections >= 2 * edge.connections_per_client
