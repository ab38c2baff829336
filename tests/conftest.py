"""Shared fixtures: a real tritonserver, real job-service processes, and in-process job services on the
in-memory inference twin, all on free loopback ports."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

# The light client package (clients/python, its own pyproject) is imported from this checkout.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "clients" / "python"))

from jobservice.memory_inference import InMemoryInference  # noqa: E402
from tests.support import InProcessService, ServiceProcess, TritonFixture  # noqa: E402

TIERS = ("unit", "integration", "e2e")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Every test belongs to exactly one tier (pyproject.toml says what each means)."""
    wrong = []
    for item in items:
        tiers = {mark.name for mark in item.iter_markers() if mark.name in TIERS}
        if len(tiers) != 1:
            wrong.append(f"{item.nodeid}: {sorted(tiers) or 'no tier'}")
    if wrong:
        raise pytest.UsageError("every test needs exactly one tier marker (unit, integration or e2e):\n"
                                + "\n".join(wrong))


# Settings come only from what each test passes explicitly.
for _name in [n for n in os.environ if n.startswith("PHONOS_")]:
    del os.environ[_name]
os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="session")
def triton_esmfold(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TritonFixture]:
    """A real tritonserver serving the tiny ESMFold model (and the echo model)."""
    with TritonFixture.start(["esmfold", "echo"], tmp_path_factory.mktemp("triton")) as triton:
        yield triton


@pytest.fixture
def service_factory(tmp_path: Path) -> Iterator[type]:
    """Start job-service processes; every one started is stopped at teardown."""
    started: list[ServiceProcess] = []

    class Factory:
        @staticmethod
        def start(triton_url: str, data_dir: Path | None = None, **env: str) -> ServiceProcess:
            process = ServiceProcess.start(data_dir or tmp_path / "var", triton_url, env)
            started.append(process)
            return process

    yield Factory
    for process in started:
        process.stop()


@pytest.fixture
def twin_factory(tmp_path: Path) -> Iterator[type]:
    """Start in-process job services on the in-memory inference twin; every one started is stopped."""
    started: list[InProcessService] = []

    class Factory:
        @staticmethod
        def start(data_dir: Path | None = None, inference: InMemoryInference | None = None, *,
                  grpc_port: int = 0, http_port: int = 0, **env: str) -> InProcessService:
            service = InProcessService(data_dir or tmp_path / "var", env, inference, grpc_port=grpc_port,
                                       http_port=http_port)
            started.append(service)
            return service

    yield Factory
    for service in started:
        service.stop()


@pytest.fixture(scope="module")
def twin_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InProcessService]:
    """One in-process job service on the twin, shared by a module's tests (each test uses its own keys)."""
    service = InProcessService(tmp_path_factory.mktemp("service"), {})
    yield service
    service.stop()
