"""The metrics port handed over (`phonos serve` to its job service: `python -m jobservice --metrics-fd`): a server
on the handed socket serves there without binding, and stopping it leaves the port held, so the next server (the
job service after its wait for the database, or after a restart) serves on the same socket and nobody else can
take the port in between. Without a handed socket the server binds its own port, as a standalone job service
does. The end-to-end case (the port never free through `phonos serve`'s database wait): tests/service/
test_database_start_wait.py."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from jobservice.metrics_server import MetricsEndpoint, listening_socket, start_metrics_server
from launcher.ports import can_listen, free_port
from tests.support import REPO

pytestmark = pytest.mark.integration


def _up(port: int) -> float:
    answer = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=10)
    assert answer.status_code == 200, answer.text
    return float(answer.text.split("\nphonos_database_up ", 1)[1].split()[0])


def test_servers_on_a_handed_socket_leave_the_port_held_between_them_and_without_one_bind_their_own() -> None:
    async def scenario() -> None:
        sock = listening_socket("127.0.0.1", 0)
        port = int(sock.getsockname()[1])
        try:
            for _ in range(2):  # the launcher's (waiting), then the job service's
                endpoint = MetricsEndpoint(None, ["esmfold"], ())
                runner, served = await start_metrics_server(endpoint, "127.0.0.1", port, sock)
                assert served == port
                assert await asyncio.to_thread(_up, port) == 0.0
                await runner.cleanup()
                await endpoint.close()
                assert not can_listen("127.0.0.1", port)  # still ours between the two
        finally:
            sock.close()
        assert can_listen("127.0.0.1", port)  # closed: free again

        own = free_port()  # nothing handed: bound here, and freed when it stops
        endpoint = MetricsEndpoint(None, ["esmfold"], ())
        runner, served = await start_metrics_server(endpoint, "127.0.0.1", own)
        assert served == own and not can_listen("127.0.0.1", own)
        await runner.cleanup()
        await endpoint.close()
        assert can_listen("127.0.0.1", own)

    asyncio.run(scenario())


def test_a_metrics_fd_that_is_no_socket_is_said_and_refused() -> None:
    with open(REPO / "README.md", "rb") as not_a_socket:
        fd = not_a_socket.fileno()
        done = subprocess.run([sys.executable, "-m", "jobservice", "--metrics-fd", str(fd)], capture_output=True,
                              text=True, cwd=REPO, timeout=60, pass_fds=(fd,))
    assert done.returncode == 2, done.stderr
    assert f"error: --metrics-fd {fd}: not a listening socket" in done.stderr, done.stderr


def test_a_socket_handed_to_the_job_service_is_listened_on_not_bound_again(tmp_path: Path) -> None:
    """`python -m jobservice --metrics-fd` (SQLite, no Triton needed to serve /metrics): its ready line names the
    handed socket's port, which answers while this process holds the socket too."""
    with listening_socket("127.0.0.1", 0) as sock:
        port = int(sock.getsockname()[1])
        popen = subprocess.Popen(
            [sys.executable, "-m", "jobservice", "--data-dir", str(tmp_path), "--grpc-port", "0", "--no-http",
             "--triton-url", f"127.0.0.1:{free_port()}", "--metrics-port", str(port), "--metrics-fd",
             str(sock.fileno())],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO, pass_fds=(sock.fileno(),),
            env={**{k: v for k, v in os.environ.items() if not k.startswith("PHONOS_")}, "PHONOS_MODELS": "esmfold"})
        try:
            assert popen.stdout is not None
            ready = popen.stdout.readline()
            assert f'"metrics_port": {port}' in ready, (ready, popen.stderr.read() if popen.poll() is not None else "")
            assert _up(port) == 1.0
        finally:
            popen.terminate()
            popen.wait(timeout=30)
        assert not can_listen("127.0.0.1", port)  # the job service is gone; this process still holds it
