"""Ending a server process once its own stop is done, without the interpreter's teardown.

After `python -m jobservice` or `phonos serve` has stopped everything it started (jobs handed back, the database
closed, children reaped, logs written), CPython's finalization still frees every module and object it imported
(grpc, aiohttp, SQLAlchemy, protobuf ...): 0.14-0.28 s of CPU on an idle machine, 0.3-1.6 s on a busy one,
measured with strace between the last event-loop call and exit_group. `phonos serve` waits for that in its job
service before it signals Triton, and a supervisor waits for it again in the launcher. Nothing is left for it to
do: the output streams and the logging handlers are flushed here, and the exit status is kept."""

from __future__ import annotations

import logging
import os
import sys


def end_without_teardown(status: int) -> None:
    """Exit with `status` now: flushed, but no atexit handlers, no finalizers, no waiting on leftover threads.
    Only for a program's own entry point, after its stop (never in-process, where it would end the caller)."""
    logging.shutdown()  # flushes and closes every handler
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe (`| head`), or a stream already closed
            pass
    os._exit(status)
