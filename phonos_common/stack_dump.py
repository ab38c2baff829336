"""`kill -USR1 PID` prints every thread's Python stack to the process's stderr (its log): where a process that
seems hung waits, without stopping it. faulthandler's handler is C: it answers even while the main thread is stuck
(a deadlock, a blocking call on the event loop), where a Python-level handler would never run. `phonos serve` sends
it to a job service that has not stopped within its stop bound, before killing it (launcher/serve.py)."""

from __future__ import annotations

import faulthandler
import signal
import sys

DUMP_SIGNAL = getattr(signal, "SIGUSR1", None)  # None: not POSIX


def enable_stack_dumps() -> None:
    if DUMP_SIGNAL is None:
        return
    try:
        fd = sys.stderr.fileno()
    except (AttributeError, ValueError, OSError):  # replaced by an object without a descriptor (a test's capture)
        fd = 2
    faulthandler.register(DUMP_SIGNAL, file=fd, all_threads=True, chain=False)
