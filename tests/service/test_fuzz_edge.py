"""The standing fuzz, short: a few hundred seeded HTTP and gRPC cases against a real job service.

The long run (10,000 cases, printed counts) is bench/fuzz_edge.py. Triton is left down here, so
`/v1/health` answers its documented 503; nothing else may be a 5xx (or UNKNOWN/INTERNAL in gRPC).
"""

from __future__ import annotations

import asyncio

import pytest
import requests

from launcher.ports import free_port
from tests.fuzzing import fuzz_grpc, fuzz_http
from tests.support import ServiceProcess

pytestmark = pytest.mark.e2e

SEEDS = [1, 2]


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> ServiceProcess:
    process = ServiceProcess.start(tmp_path_factory.mktemp("fuzz") / "var", f"127.0.0.1:{free_port()}", {
        # Fuzz the whole surface, not just the throttle's 429.
        "PHONOS_AUTH_FAILURES_PER_MINUTE": "100000", "PHONOS_BODY_TIMEOUT_S": "2", "PHONOS_HTTP_HEADER_TIMEOUT_S": "2",
    })
    yield process
    process.stop()


@pytest.mark.parametrize("seed", SEEDS)
def test_http_fuzz_gets_no_5xx_and_only_json_errors(service: ServiceProcess, seed: int) -> None:
    key = service.new_key(credits=1_000_000, rate_limit=1_000_000)
    report = asyncio.run(fuzz_http(service.http_port, key, 250, seed=seed))
    assert report.problems == [], report.problems[:5]
    assert report.server_errors == 0
    assert report.sent == 250 and sum(report.statuses.values()) >= 200, report
    assert len([s for s in report.statuses if s < 300]) >= 1 and len(report.statuses) >= 6  # it reached far
    assert requests.get(f"{service.base_url}/v1/health", timeout=10).status_code == 503  # still serving


@pytest.mark.parametrize("seed", SEEDS)
def test_grpc_fuzz_gets_no_unknown_or_internal(service: ServiceProcess, seed: int) -> None:
    key = service.new_key(credits=1_000_000, rate_limit=1_000_000)
    report = asyncio.run(fuzz_grpc(service.grpc_target, key, 150, seed=seed))
    assert report.problems == [], report.problems[:5]
    assert report.grpc_codes["OK"] > 0 and report.grpc_codes["INVALID_ARGUMENT"] > 0


def test_the_server_logged_no_tracebacks(service: ServiceProcess) -> None:
    assert not [line for line in service.log_lines if "Traceback" in line], service.log_lines[-20:]
    assert len(service.log_lines) < 400  # client errors are rate limited, not one line each
