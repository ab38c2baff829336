"""Make a tritonserver's python-backend shared-memory regions readable by this user only, as they appear.

Each model instance's stub shares a region in /dev/shm with the server, and every request's tensors (sequences,
MSAs, ligands) and every response pass through it. The python backend creates it with Boost.Interprocess, which
fchmods it to 0644 whatever the umask, so any local user could read job data there, while the rest of phonos keeps
job data to the service's user (data dir 0700, umask 077: jobservice/private_files.py). No backend setting changes
the mode, so a thread here chmods each region of its server (named by the server's own prefix) to 0600.

The window, measured on 2 shared cores (load average 4-5; a 1-ms poller beside the guard, 2 starts and 16 reloads of the
echo model, the quickest to load; tests/launcher/test_triton_locked.py checks the outcome): a region is 0644 from
its creation until the guard's next look, 0.001-0.020 s at POLL_S 0.02 (0.003-0.050 s at 0.05). Its model becomes
ready 0.13-0.49 s after the region was created (the stub starts Python and runs the model's `initialize`; the torch
models take seconds), and a request's data goes into a region only when that instance executes it, which no request
can before the model is ready (the job service sends none to a model Triton does not report ready). So no job data
is in a region before it is 0600. The same holds for a region made later (a model loaded or reloaded, a stub the
backend restarts): its instance initializes first too.
What chmod cannot undo: a local user who opened the region while it was 0644 (a process watching /dev/shm with
inotify can, in those milliseconds) keeps that descriptor and would read later requests through it. Only a /dev/shm
of Triton's own (a container or mount namespace) closes that; the guard closes every later open.
"""

from __future__ import annotations

import errno
import logging
import os
import stat
import threading
from pathlib import Path

log = logging.getLogger(__name__)

# How often the guard looks. A look at /dev/shm (73 entries) costs ~0.03 ms: 50 a second are ~0.2% of a core. The
# shortest time from a region's creation to its model being ready measured here is 0.13 s (the echo model).
POLL_S = 0.02
PRIVATE = 0o600


def make_private(directory: Path, prefix: str) -> list[str]:
    """chmod 0600 every regular file of ours in `directory` whose name starts with `prefix` and that others may
    read or write; the names changed. A symbolic link is never followed (/dev/shm is writable by everyone)."""
    changed: list[str] = []
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return changed
    for entry in entries:
        if not entry.name.startswith(prefix):
            continue
        try:
            fd = os.open(entry.path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError as exc:  # gone already, a link planted under our prefix, or not ours to open
            if exc.errno not in (errno.ENOENT, errno.ELOOP, errno.EACCES, errno.EPERM):
                log.warning("cannot check a shm region", extra={"action": "triton.shm_check_failed",
                                                                "region": entry.name, "error": repr(exc)})
            continue
        try:
            info = os.fstat(fd)
            if stat.S_ISREG(info.st_mode) and info.st_uid == os.geteuid() and stat.S_IMODE(info.st_mode) & 0o077:
                os.fchmod(fd, PRIVATE)
                changed.append(entry.name)
        finally:
            os.close(fd)
    return changed


class RegionGuard:
    """A daemon thread keeping `directory`'s files named `prefix`* private (0600) until `stop()`."""

    def __init__(self, directory: Path, prefix: str, poll_s: float = POLL_S) -> None:
        self.directory = directory
        self.prefix = prefix
        self._poll_s = poll_s
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="triton-shm-guard", daemon=True)

    def start(self) -> RegionGuard:
        self._thread.start()
        return self

    def _run(self) -> None:
        while True:
            make_private(self.directory, self.prefix)
            if self._stopped.wait(self._poll_s):
                return

    def stop(self) -> None:
        self._stopped.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)
