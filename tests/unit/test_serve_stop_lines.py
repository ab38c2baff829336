"""`phonos serve` says when it starts stopping Triton, the bound it gives it, and when Triton is gone: Triton takes
seconds to unload its models after SIGTERM (~3-4 s, 8-13 s before its stubs skipped their interpreter's teardown;
measured: launcher/triton.py STOP_TIMEOUT_S), and the operator saw nothing after the job service's last lines for
that long, which read as a hang."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from launcher import triton
from launcher.serve import TritonChild
from launcher.triton import STOP_TIMEOUT_S, TritonPorts, TritonProcess
from phonos_config.service import ServiceSettings

pytestmark = pytest.mark.unit

# Stands in for tritonserver: a process group leader that takes a moment to stop after SIGTERM, as its unloading does.
SLOW_TO_STOP = ("import signal, sys, time\n"
                "signal.signal(signal.SIGTERM, lambda *_: (time.sleep(0.3), sys.exit(0)))\n"
                "print('up', flush=True)\n"
                "time.sleep(60)\n")


def _child(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> TritonChild:
    # Never another server's shm regions (other Tritons may run on this machine): this one made none.
    monkeypatch.setattr(triton, "_shm_regions", frozenset)
    child = TritonChild(["echo"], TritonPorts(http=1, grpc=2, metrics=3), ServiceSettings(data_dir=tmp_path), {})
    popen = subprocess.Popen([sys.executable, "-c", SLOW_TO_STOP], stdout=subprocess.PIPE, start_new_session=True)
    assert popen.stdout is not None and popen.stdout.readline() == b"up\n"  # its handler is set
    child.process = TritonProcess(popen, child.ports, ["echo"], None, frozenset())
    return child


def test_stopping_triton_is_said_with_its_bound_and_its_end(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    child = _child(tmp_path, monkeypatch)
    child.stop()
    assert child.process is not None and child.process.process.returncode == 0  # it stopped, not killed
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"stopping Triton (unloading its models; killed if not done within {STOP_TIMEOUT_S:.0f} s) ..."
    took = re.fullmatch(r"Triton stopped \((\d+\.\d) s\)", lines[1])
    assert took and 0.2 <= float(took.group(1)) < 10 and len(lines) == 2, lines


def test_a_triton_that_is_gone_already_is_not_said_to_stop(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    """After a crash the supervisor only cleans up (its shm): there is nothing to wait for, nothing to say."""
    child = _child(tmp_path, monkeypatch)
    assert child.process is not None
    child.process.process.kill()
    child.process.process.wait()
    child.stop()
    assert capsys.readouterr().out == ""


def test_an_open_connection_to_tritons_http_port_is_said_at_stop(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    """Triton's stop waits for every open connection to its HTTP port (up to its whole exit timeout, then it is
    killed): a client keeping one alive is said, so the long stop is not a mystery."""
    child = _child(tmp_path, monkeypatch)
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]
        child.ports = TritonPorts(http=port, grpc=2, metrics=3)
        with socket.create_connection(("127.0.0.1", port)) as client, listener.accept()[0]:
            assert client and triton.open_connections(port) == 1
            child.stop()
    lines = capsys.readouterr().out.splitlines()
    assert lines[1] == (f"  Triton's HTTP port {port} has 1 open connection(s) (a client keeping it alive): Triton "
                        "waits for them to close, or is killed at the bound"), lines
    assert lines[2].startswith("Triton stopped") and len(lines) == 3
