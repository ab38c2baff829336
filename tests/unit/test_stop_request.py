"""`phonos serve` takes SIGTERM at any moment of its main loop's wait, and a job service that will not stop says
where it waits before it is killed.

The launcher's handler was `threading.Event.set()`, run by Python in the main thread between two bytecodes: a
SIGTERM arriving while the main loop was inside `Event.wait(TICK_S)` with the Event's lock held blocked the handler
on that lock for ever, and `phonos serve` hung idle without signalling its children (a CI run: a serve that did
not stop within 60 s). Each test delivers the signal at every line the wait executes, in a child process with a
deadline; the first shows that the harness catches the old handler's deadlock."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from launcher import serve as serve_module
from launcher.serve import JobServiceChild
from phonos_config.service import ServiceSettings
from tests.support import REPO

pytestmark = pytest.mark.unit

# Raises the signal at the `target`-th line executed in files ending with `traced` while `wait` runs; prints how
# many lines there were, so the test can go through each.
HARNESS = textwrap.dedent("""
    import signal, sys
    target, traced = int(sys.argv[1]), sys.argv[2]
    {setup}
    seen = 0
    def tracer(frame, event, arg):
        global seen
        if event == "line" and frame.f_code.co_filename.endswith(traced):
            seen += 1
            if seen == target:
                signal.raise_signal(signal.SIGTERM)
        return tracer
    sys.settrace(tracer)
    {wait}
    sys.settrace(None)
    print(seen, {requested}, flush=True)
""")

EVENT = {"setup": "import threading\nstop = threading.Event()\n"
                  "signal.signal(signal.SIGTERM, lambda *_: stop.set())",
         "wait": "stop.wait(0.05)", "requested": "stop.is_set()"}
STOP_REQUEST = {"setup": "from launcher.stop_request import StopRequest\nstop = StopRequest()\nstop.install()",
                "wait": "stop.wait(0.05)", "requested": "stop.requested"}


def _run(code: dict[str, str], target: int, traced: str,
         timeout_s: float = 10.0) -> subprocess.CompletedProcess[str] | None:
    """The harness's result, or None when it hung (killed after `timeout_s`: it ignored its SIGTERM)."""
    script = HARNESS.format(**code)
    try:
        return subprocess.run([sys.executable, "-c", script, str(target), traced], cwd=REPO, capture_output=True,
                              text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        return None


def test_the_harness_catches_a_handler_that_takes_the_waits_lock() -> None:
    # The third line traced in threading.py is inside Event.wait with its condition's lock held (CPython 3.11-3.13).
    assert any(_run(EVENT, target, "threading.py", timeout_s=3) is None for target in (3, 4, 5)), \
        "threading.Event.set() in a signal handler no longer deadlocks Event.wait: the harness is blind"


def test_sigterm_at_every_line_of_the_wait_is_taken() -> None:
    first = _run(STOP_REQUEST, 0, "stop_request.py")  # no signal: how many lines one wait executes
    assert first is not None and first.returncode == 0, first
    lines = int(first.stdout.split()[0])
    assert lines >= 3, first.stdout
    for target in range(1, lines + 1):
        result = _run(STOP_REQUEST, target, "stop_request.py")
        assert result is not None, f"hung with SIGTERM at line {target} of {lines} of StopRequest.wait"
        assert result.returncode == 0 and result.stdout.split()[1] == "True", (target, result.stdout, result.stderr)


def test_close_puts_the_handlers_back() -> None:
    import signal

    from launcher.stop_request import StopRequest

    before = signal.getsignal(signal.SIGTERM)
    stop = StopRequest()
    stop.install((signal.SIGTERM,))
    assert signal.getsignal(signal.SIGTERM) == stop._handle
    stop.close()
    assert signal.getsignal(signal.SIGTERM) == before


def test_a_requested_stop_ends_the_wait_at_once() -> None:
    from launcher.stop_request import StopRequest

    stop = StopRequest()
    try:
        assert stop.wait(0.01) is False  # nothing asked: the wait runs out
        stop._handle(15, None)  # as the signal would
        began = time.monotonic()
        assert stop.wait(30) is True and time.monotonic() - began < 5
        for _ in range(100_000):  # more signals than the pipe holds: the handler never blocks
            stop._handle(15, None)
        assert stop.wait(30) is True
    finally:
        stop.close()


# Stands in for a job service whose stop hangs: it ignores SIGTERM and dumps its stacks on SIGUSR1, as
# `python -m jobservice` does (phonos_common/stack_dump.py).
STUCK_JOB_SERVICE = ("import signal, time\n"
                     "from phonos_common.stack_dump import enable_stack_dumps\n"
                     "enable_stack_dumps()\n"
                     "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
                     "def waiting_here_for_ever():\n"
                     "    time.sleep(600)\n"
                     "print('up', flush=True)\n"
                     "waiting_here_for_ever()\n")


def test_a_job_service_that_does_not_stop_has_its_stacks_said_then_is_killed(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(serve_module, "JOBSERVICE_STOP_TIMEOUT_S", 1.0)
    child = JobServiceChild(ServiceSettings(data_dir=tmp_path), {})
    stderr = tmp_path / "stderr"
    with stderr.open("w") as err:
        child.popen = subprocess.Popen([sys.executable, "-c", STUCK_JOB_SERVICE], cwd=REPO, stdout=subprocess.PIPE,
                                       stderr=err, text=True, start_new_session=True)
        assert child.popen.stdout is not None and child.popen.stdout.readline() == "up\n"
        monkeypatch.setattr(sys, "stderr", err)  # the launcher's own line goes where the child's stacks go
        child.stop()
    assert child.popen.returncode == -9  # killed after its bound
    said = stderr.read_text()
    assert f"the job service (pid {child.popen.pid}) did not stop within 1 s of SIGTERM" in said, said
    assert "waiting_here_for_ever" in said and "Current thread" in said, said  # faulthandler's dump: where it waits
