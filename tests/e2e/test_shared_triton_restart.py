"""The session's shared tritonserver, and a module's own, come back on their own address when they die
(tests/support.py `restarted_on_crash`): a real echo-only server killed as a segfault would end it, its stubs left
behind, started again from the model repository it was serving (DiffDock's module serves its own)."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import pytest
import requests

from jobservice.triton_inference import TritonInference
from launcher.triton import DEFAULT_MODEL_REPOSITORY
from tests.contract.test_inference_contract import echo_request
from tests.support import TritonFixture, reaped, restarted_on_crash, wait_until

pytestmark = pytest.mark.e2e


def echo(url: str, text: str) -> str:
    async def run() -> str:
        inference = TritonInference(url)
        try:
            result = await inference.infer(echo_request(text, timeout_s=30))
        finally:
            await inference.close()
        return result.files[0].content.decode()

    return asyncio.run(run())


def served_repository(server: TritonFixture) -> set[str]:
    """Every model of the repository the server was started on, loaded or not."""
    index = requests.post(f"{server.process.http_url}/v2/repository/index", json={}, timeout=10).json()
    return {entry["name"] for entry in index}


def test_a_crashed_server_is_started_again_on_the_same_address(tmp_path: Path) -> None:
    repository = tmp_path / "models"  # a module's own repository: echo alone
    repository.mkdir()
    (repository / "echo").symlink_to(DEFAULT_MODEL_REPOSITORY / "echo", target_is_directory=True)
    with reaped(TritonFixture.start(["echo"], tmp_path, model_repository=repository)) as server, \
            restarted_on_crash(server, poll_s=0.1, model_repository=repository):
        url, first = server.grpc_url, server.process
        assert "hello" in echo(url, "hello")
        os.kill(first.process.pid, signal.SIGKILL)  # the server alone, as a segfault: its python stubs live on
        wait_until(lambda: server.process is not first, 30, 0.1)  # raises when no new server was started
        server.process.wait_ready(timeout_s=120)
        assert server.grpc_url == url and server.process.ports == first.ports
        assert "again" in echo(url, "again")
        assert served_repository(server) == {"echo"}  # its own repository again, not the project's
    assert server.process.process.poll() is not None  # reaped at the end, the new one included
