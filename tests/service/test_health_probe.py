"""`python -m jobservice.health_probe`, the Compose health check: 0 when serving, 1 when not."""

from __future__ import annotations

import pytest

from jobservice.health_probe import main
from jobservice.readiness import API_SERVICE
from launcher.ports import free_port
from tests.support import InProcessService

pytestmark = pytest.mark.integration


def test_probe_says_serving_only_for_a_serving_job_service(twin_service: InProcessService) -> None:
    assert main([twin_service.grpc_target]) == 0
    assert main([f"127.0.0.1:{free_port()}", "--timeout", "0.5"]) == 1


def test_probe_asks_the_service_named(twin_service: InProcessService) -> None:
    """`--service phonos.api`: the pods' readiness (jobservice/readiness.py); `""`: alive; a name nobody serves: 1."""
    assert main([twin_service.grpc_target, "--service", API_SERVICE]) == 0
    assert main([twin_service.grpc_target, "--service", ""]) == 0
    assert main([twin_service.grpc_target, "--service", "phonos.nothing"]) == 1
