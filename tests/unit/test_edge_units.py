"""Unit tests of the edge's pure parts: failed-auth throttle, client addresses, rate-limited log, limits."""

from __future__ import annotations

import logging

import pytest

from gateway.ratelog import RateLimitedLog
from jobservice.auth_throttle import AuthThrottle, client_address
from jobservice.message_limits import JOB_REQUEST_BYTES, SMALL_REQUEST_BYTES, by_full_method, request_limit
from jobservice.modelspecs.alphafold2 import MAX_A3M_CHARS
from phonos_config.diffdock import MAX_PDB_BYTES
from phonos_config.edge import EdgeSettings

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
    assert client_address(peer) == address


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
])
def test_edge_settings_refuse_nonsense(env: dict[str, str]) -> None:
    with pytest.raises(ValueError):
        EdgeSettings.from_env(env)
