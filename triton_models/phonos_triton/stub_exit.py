"""End the python-backend stub as soon as its model's `finalize()` is done, without the interpreter's teardown.

How a model is unloaded (Triton's python backend, r24.10: stub_launcher.cc `TerminateStub`, pb_stub.cc `main`):
the server sends the stub a finalize request; the stub answers it at once, then calls the model's `finalize()`,
joins its own threads and destroys the embedded interpreter (Py_Finalize), while the server waits for the
process to exit (waitpid). With torch loaded that teardown took 3-7 s per stub on a busy 2-core host, nothing
of it useful: the process is ending, and the kernel frees its memory and shared-memory mappings anyway. It was
most of `phonos serve`'s Triton stop (bench/triton_stop.py): the three models unload side by side, but a
model's instances one after another (ESMFold's two, each paying its own teardown).

So each model's `finalize()` ends with `exit_stub()`: once the model's own cleanup is done (every handed-over
request answered, worker processes stopped), the exit handlers still run (multiprocessing's: its semaphores
unlinked, not left to the resource tracker's "leaked" warning; logging's flush), the standard streams are
flushed, and the process exits with status 0, which is all the server waits for. Outside a stub (a test
calling `finalize()` in its own process) it does nothing.
"""

from __future__ import annotations

import atexit
import os
import sys
from pathlib import Path

STUB_PROGRAM = "triton_python_backend_stub"


def in_stub() -> bool:
    """Whether this process is Triton's python-backend stub (its interpreter is embedded in the stub binary)."""
    try:
        return Path(os.readlink("/proc/self/exe")).name == STUB_PROGRAM
    except OSError:  # no /proc: never end a process we cannot tell is a stub
        return False


def exit_stub() -> None:
    """In the stub, after the model's finalize work: run the exit handlers, flush, and exit (status 0) now."""
    if not in_stub():
        return
    atexit._run_exitfuncs()  # what Py_Finalize would run first: multiprocessing's finalizers, logging.shutdown
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (AttributeError, OSError, ValueError):  # closed or replaced: nothing left to say
            pass
    os._exit(0)
