"""`phonos serve` says when it starts stopping Triton, the bound it gives it, and when Triton is gone: Triton takes
seconds to unload its models after SIGTERM (~3-4 s, 8-13 s before its stubs skipped their interpreter's teardown;
measured: launcher/triton.py STOP_TIMEOUT_S), and the operator saw nothing after the job service's last lines for
that long, which read as a hang.

The job service's part of a Ctrl-C is one line (`job service stopped: N s (phase N s, ...)`), not one per phase
(was: eight `stop: X done in 0.00 s` lines); a phase that hangs is still named while it hangs. And the two programs
end without the interpreter's teardown once their stop is done (0.3-1.6 s of it on a busy host, before Triton
was even signalled)."""

from __future__ import annotations

import asyncio
import logging
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from jobservice.server import ShutdownPhases
from launcher import triton
from launcher.ports import free_port
from launcher.serve import TritonChild, stopping_line
from launcher.supervisor import State, Supervised
from launcher.triton import STOP_TIMEOUT_S, TritonPorts, TritonProcess
from phonos_config.service import ServiceSettings
from phonos_config.supervisor import SupervisorSettings
from tests.support import REPO

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
    child.loaded = True  # it had loaded its models (is_ready said so once)
    child.stop()
    assert child.process is not None and child.process.process.returncode == 0  # it stopped, not killed
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"stopping Triton (unloading its models; killed if not done within {STOP_TIMEOUT_S:.0f} s) ..."
    took = re.fullmatch(r"Triton stopped \((\d+\.\d) s\)", lines[1])
    assert took and 0.2 <= float(took.group(1)) < 10 and len(lines) == 2, lines


def test_a_triton_stopped_while_it_still_loads_is_said_to_be_loading(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """A Ctrl-C before the banner: Triton had not loaded its models (was: "unloading its models")."""
    child = _child(tmp_path, monkeypatch)
    child.stop()
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == (f"stopping Triton (it was still loading its models; killed if not done within "
                        f"{STOP_TIMEOUT_S:.0f} s) ..."), lines


class _Named:
    def __init__(self, name: str) -> None:
        self.name = name


def _supervised(name: str, state: State) -> Supervised:
    supervised = Supervised(_Named(name), SupervisorSettings(), ready_timeout_s=60)  # type: ignore[arg-type]
    supervised.state = state
    return supervised


@pytest.mark.parametrize(("triton_state", "jobs_state", "waiting", "announced", "said"), [
    # After the banner, as it always said.
    (State.READY, State.READY, False, True,
     "stopping: the job service first (its running jobs go back to pending), then Triton ..."),
    # Before it (was: the same words, with nothing served yet and Triton still loading).
    (State.STARTING, State.STARTING, False, False,
     "start-up interrupted: stopping the job service (still starting), then Triton (still loading its models) ..."),
    (State.STARTING, State.STARTING, True, False,
     "start-up interrupted: stopping the job service (waiting for its database), then Triton (still loading its "
     "models) ..."),
    (State.STARTING, State.READY, False, False,
     "start-up interrupted: stopping the job service first (its running jobs go back to pending), then Triton "
     "(still loading its models) ..."),
    # A child between a crash and its restart is not running: not said to be stopped.
    (State.WAITING, State.READY, False, True, "stopping: the job service first (its running jobs go back to "
     "pending) ..."),
    (State.READY, State.WAITING, False, True, "stopping: Triton ..."),
])
def test_a_stop_says_what_is_running_now(triton_state: State, jobs_state: State, waiting: bool, announced: bool,
                                        said: str) -> None:
    assert stopping_line(_supervised("tritonserver", triton_state), _supervised("job service", jobs_state), waiting,
                         announced) == said


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


def test_a_quick_stop_is_one_line_and_a_phase_that_hangs_is_named_while_it_hangs(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setattr(ShutdownPhases, "SLOW_PHASE_S", 0.05)  # "taking long" in test time

    def said() -> list[str]:
        return [r.getMessage() for r in caplog.records if r.levelno >= logging.INFO]

    async def stop() -> str:
        phases = ShutdownPhases()
        for quick in ("gateway", "grpc", "service"):
            async with phases.timed(quick):
                await asyncio.sleep(0)
        assert said() == []  # what a Ctrl-C shows: nothing per phase
        async with phases.timed("database"):  # hangs until its hang has been said
            waited = time.monotonic()
            while "stop: database still running after 0 s" not in said():
                assert time.monotonic() - waited < 30, said()
                await asyncio.sleep(0.01)
        return str(phases)

    caplog.set_level(logging.INFO, logger="jobservice.server")
    summary = asyncio.run(stop())
    lines = said()
    assert lines[0] == "stop: database still running after 0 s"
    assert re.fullmatch(r"stop: database done in \d+\.\d\d s", lines[1]) and len(lines) == 2, lines
    assert re.fullmatch(r"\d+\.\d\d s \(gateway 0\.00 s, grpc 0\.00 s, service 0\.00 s, database \d+\.\d\d s\)",
                        summary), summary


ENDS_AT_EXIT = "import atexit, sys\natexit.register(print, 'interpreter teardown ran', flush=True)\n"


def _programs(*codes: str) -> list[subprocess.CompletedProcess[str]]:
    """Each `code` run as a program of its own, side by side (each imports the service: seconds of CPU)."""
    popens = [subprocess.Popen([sys.executable, "-c", ENDS_AT_EXIT + code], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, cwd=REPO,
                               env={"PATH": "/usr/bin:/bin", "PYTHONPATH": ":".join(sys.path)}) for code in codes]
    outputs = [p.communicate(timeout=120) for p in popens]
    return [subprocess.CompletedProcess(p.args, p.returncode, *out) for p, out in zip(popens, outputs, strict=True)]


def test_phonos_serve_and_the_job_service_end_without_the_interpreters_teardown(tmp_path: Path) -> None:
    """Their exit once stopped: os._exit, output flushed and status kept (atexit handlers are not run); an
    in-process call (tests) returns as before. Each run here ends early on a port in use, the same exit path."""
    with socket.create_server(("127.0.0.1", 0)) as busy:
        port = str(busy.getsockname()[1])
        serve, jobs = _programs(
            "from launcher.cli import main\n"
            f"sys.argv = ['phonos', 'serve', '--data-dir', {str(tmp_path / 'serve')!r}, '--http-port', {port!r}]\n"
            "sys.exit(main())\n",
            "import runpy\n"
            f"sys.argv = ['jobservice', '--data-dir', {str(tmp_path / 'jobs')!r}, '--http-port', {port!r}, "
            f"'--grpc-port', '0', '--metrics-port', '{free_port()}']\n"
            "runpy.run_module('jobservice', run_name='__main__')\n")
    assert serve.returncode == 2 and "interpreter teardown ran" not in serve.stdout, serve
    assert f"cannot listen for HTTP on 127.0.0.1:{port}" in serve.stderr, serve.stderr
    assert jobs.returncode == 2 and "interpreter teardown ran" not in jobs.stdout, jobs
    assert f"cannot listen for HTTP on 127.0.0.1:{port}" in jobs.stderr, jobs.stderr
