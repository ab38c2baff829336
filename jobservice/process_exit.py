"""Ending a server process once its own stop is done, without the interpreter's teardown.

After `python -m jobservice` or `phonos serve` has stopped everything it started (jobs handed back, the database
closed, children reaped, logs written), CPython's finalization still frees every module and object it imported
(grpc, aiohttp, protobuf ...), with no system call in between: under strace, 0.14 s in the job service (from its
last event-loop call to exit_group) and 0.28 s in the launcher (from restoring its signal handlers to exit_group);
in bench/serve_stop.py's runs on a shared 2-core host, 0.2-0.4 s and 0.4-0.6 s. `phonos serve` waited for the job
service's before it signalled Triton, and then for its own. Nothing is left for it to do: the output streams and
the logging handlers are flushed here, and the exit status is kept."""

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
