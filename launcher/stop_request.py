"""SIGTERM / Ctrl-C asking `phonos serve` to stop, taken without a lock.

The handler only sets a flag and writes a byte to a pipe the main loop waits on (the self-pipe trick). It was
`threading.Event.set()`: the Event's condition holds a plain `threading.Lock`, and Python runs a signal handler in
the main thread between two of its bytecodes, so a SIGTERM arriving while the main loop was inside
`Event.wait(TICK_S)` with that lock held (a few lines of threading.py around the wait proper) ran `set()`, which
blocked on the lock its own thread held: `phonos serve` hung idle for ever, and never signalled the job service or
Triton (seen once in CI: a serve that did not stop within 60 s, its job service alive and idle). The signal
module's documentation says it: synchronization primitives must not be used in signal handlers.
tests/unit/test_stop_request.py delivers the signal at every line of the wait.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
from collections.abc import Iterable
from typing import Any


class StopRequest:
    """Set by SIGTERM or SIGINT once `install`ed; `wait(timeout_s)` returns early when it is."""

    def __init__(self) -> None:
        self.requested = False
        self._previous: dict[signal.Signals, Any] = {}  # what `install` replaced, put back by `close`
        self._read_fd, self._write_fd = os.pipe()
        os.set_blocking(self._write_fd, False)  # a full pipe (many signals) drops the byte, never blocks the handler
        os.set_blocking(self._read_fd, False)

    def install(self, signals: Iterable[signal.Signals] = (signal.SIGTERM, signal.SIGINT)) -> None:
        for sig in signals:
            self._previous[sig] = signal.signal(sig, self._handle)

    def _handle(self, signum: int, frame: object) -> None:
        # No lock, no allocation-heavy work: a flag and a write that cannot block (a full pipe drops the byte).
        self.requested = True
        with contextlib.suppress(OSError):
            os.write(self._write_fd, b"\0")

    def wait(self, timeout_s: float) -> bool:
        """Sleep up to `timeout_s`, less once a stop is requested; whether one is."""
        if not self.requested:
            readable, _, _ = select.select([self._read_fd], [], [], timeout_s)
            if readable:
                with contextlib.suppress(BlockingIOError):
                    os.read(self._read_fd, 4096)
        return self.requested

    def close(self) -> None:
        """The handlers as they were before `install`, then the pipe closed: a signal after this never writes to
        a descriptor number the process has since given to another file."""
        for sig, previous in self._previous.items():
            signal.signal(sig, previous)
        self._previous.clear()
        for fd in (self._read_fd, self._write_fd):
            with contextlib.suppress(OSError):
                os.close(fd)
