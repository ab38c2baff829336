"""Shared fixtures: a real tritonserver and real job-service processes on free loopback ports."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import ServiceProcess, TritonFixture

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
