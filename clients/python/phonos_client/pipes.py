"""`phonos jobs ls | head -1`: a reader that stops early ends the command like any Unix tool's (`seq 1000000 |
head -1`): no traceback, no message, exit status 141 (128 + SIGPIPE).

The process does not really die by the signal: Python ignores SIGPIPE so that a write to a closed socket is an
error to handle, and the commands talk to the server over sockets. So a BrokenPipeError ends the command
quietly only when stdout's own reader is gone; one from a connection is left to the command's error handling.
"""

from __future__ import annotations

import os
import select
import signal
import sys
from collections.abc import Callable

EXIT_CLOSED_PIPE = 128 + signal.SIGPIPE


def stdout_reader_gone() -> bool:
    """stdout is a pipe (or socket) whose reading end is closed."""
    try:
        poller = select.poll()
        poller.register(sys.stdout.fileno(), select.POLLOUT)
        return any(events & select.POLLERR for _, events in poller.poll(0))
    except (OSError, ValueError, AttributeError):  # no descriptor, or no poll() (Windows): not known to be gone
        return False


def ending_quietly_on_a_closed_pipe(command: Callable[[], int]) -> int:
    """`command`'s exit status, or EXIT_CLOSED_PIPE once stdout's reader has gone away."""
    try:
        status = command()
        sys.stdout.flush()  # here, where a closed pipe is caught below, not at the interpreter's exit
        return status
    except BrokenPipeError:
        if not stdout_reader_gone():
            raise
        # What is left in stdout's buffer can never be written: no second error at the interpreter's exit flush.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_CLOSED_PIPE
