"""`phonos serve`'s children end when it is killed outright (SIGKILL runs none of its own cleanup)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support import process_alive

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]

# A stand-in launcher: starts a long sleeper in a session of its own (as serve starts Triton and the job
# service) tied to itself, prints the sleeper's pid, then waits to be killed.
LAUNCHER = """
import subprocess, sys, time
from launcher.lifeline import end_with_this_process
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"], start_new_session=True,
                         preexec_fn=end_with_this_process())
print(child.pid, flush=True)
time.sleep(120)
"""


def test_a_child_ends_when_its_launcher_is_killed_with_sigkill() -> None:
    launcher = subprocess.Popen([sys.executable, "-c", LAUNCHER], stdout=subprocess.PIPE, text=True, cwd=REPO,
                                env={**os.environ, "PYTHONPATH": str(REPO)})
    assert launcher.stdout is not None
    child = int(launcher.stdout.readline())
    try:
        assert process_alive(child)
        launcher.kill()
        launcher.wait(10)
        deadline = time.monotonic() + 15
        while process_alive(child) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not process_alive(child), "the child outlived its SIGKILLed launcher"
    finally:
        if process_alive(child):
            os.kill(child, signal.SIGKILL)
        if launcher.poll() is None:
            launcher.kill()
            launcher.wait(10)
