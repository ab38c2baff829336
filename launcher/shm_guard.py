"""Make a tritonserver's python-backend shared-memory regions readable by this user only, as they appear.

Each model instance's stub shares a region in /dev/shm with the server, and every request's tensors (sequences,
MSAs, ligands) and every response pass through it. The python backend creates it with Boost.Interprocess, which
fchmods it to 0644 whatever the umask, so any local user could read job data there, while the rest of phonos keeps
job data to the service's user (data dir 0700, umask 077: jobservice/private_files.py). No backend setting changes
the mode, so a thread here chmods each region of its server (named by the server's own prefix) to 0600.

The guard sleeps on inotify (a file created, moved in or with its mode changed under /dev/shm wakes it when its name
is ours) and looks at every region of ours once a second besides; where inotify cannot be had it looks every
POLL_S. Polling every 20 ms cost 1.4-1.7% of a core while idle (a newcomer counted the supervisor's CPU ticks).
`bench/shm_guard_window.py` on 2 shared cores (load average 3.9, 229 entries in /dev/shm): polling 1.72% of a core
idle, a new region readable by others 13.8 ms median, 19.1 ms max; inotify 0.04%, 0.01 ms median, 32 ms max (the
bench's own busy loop and the host's load). Earlier, with a 1-ms poller beside the guard over 2 starts and 16 reloads
of the echo model (tests/launcher/test_triton_locked.py checks the outcome): 0.001-0.020 s at POLL_S 0.02. Its model becomes
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

import ctypes
import errno
import logging
import os
import select
import stat
import struct
import threading
from pathlib import Path

log = logging.getLogger(__name__)

# How often the guard looks without inotify. The shortest time from a region's creation to its model being ready
# measured here is 0.13 s (the echo model).
POLL_S = 0.02
# With inotify, a look at every region besides the events (a safety net: an event queue that overflowed).
RESCAN_S = 1.0
PRIVATE = 0o600

# <sys/inotify.h>
IN_ATTRIB, IN_MOVED_TO, IN_CREATE, IN_Q_OVERFLOW = 0x4, 0x80, 0x100, 0x4000
IN_NONBLOCK, IN_CLOEXEC = os.O_NONBLOCK, os.O_CLOEXEC
EVENT_HEADER = struct.Struct("iIII")  # wd, mask, cookie, len; then len bytes of NUL-padded name


def watch(directory: Path) -> int | None:
    """An inotify descriptor told of files created, moved in or changed in mode in `directory`; None where the
    kernel or the C library has none (the guard polls then)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        fd = int(libc.inotify_init1(IN_NONBLOCK | IN_CLOEXEC))
    except (OSError, AttributeError):
        return None
    if fd < 0:
        return None
    if libc.inotify_add_watch(fd, os.fsencode(directory), IN_ATTRIB | IN_CREATE | IN_MOVED_TO) < 0:
        os.close(fd)
        return None
    return fd


def names_of(events: bytes) -> tuple[set[str], bool]:
    """The file names inotify's `events` are about, and whether the queue overflowed (some were lost)."""
    names: set[str] = set()
    overflowed = False
    offset = 0
    while offset + EVENT_HEADER.size <= len(events):
        _, mask, _, length = EVENT_HEADER.unpack_from(events, offset)
        offset += EVENT_HEADER.size
        overflowed = overflowed or bool(mask & IN_Q_OVERFLOW)
        if length:
            names.add(os.fsdecode(events[offset:offset + length].rstrip(b"\0")))
        offset += length
    return names, overflowed


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

    def __init__(self, directory: Path, prefix: str, poll_s: float = POLL_S, inotify: bool = True) -> None:
        self.directory = directory
        self.prefix = prefix
        self._poll_s = poll_s
        self._inotify = inotify  # False: a look every poll_s, as where inotify cannot be had
        self._stopped = threading.Event()
        self._wake_read, self._wake_write = os.pipe()  # stop() wakes the thread from its inotify wait at once
        self._thread = threading.Thread(target=self._run, name="triton-shm-guard", daemon=True)

    def start(self) -> RegionGuard:
        self._thread.start()
        return self

    def _run(self) -> None:
        events = watch(self.directory) if self._inotify else None
        try:
            while True:
                make_private(self.directory, self.prefix)
                if events is None:
                    if self._stopped.wait(self._poll_s):
                        return
                elif not self._sleep_until_ours(events):
                    return
        finally:
            if events is not None:
                os.close(events)

    def _sleep_until_ours(self, events: int) -> bool:
        """Wait for an event about a file named with our prefix, or RESCAN_S; False once stopped."""
        waiting = select.poll()  # not select(): a descriptor numbered past 1023 is beyond its reach
        waiting.register(events, select.POLLIN)
        waiting.register(self._wake_read, select.POLLIN)
        while True:
            ready = waiting.poll(RESCAN_S * 1000)
            if self._stopped.is_set():
                return False
            if not ready:
                return True  # the safety net's look
            try:
                names, overflowed = names_of(os.read(events, 64 * 1024))
            except BlockingIOError:
                continue
            if overflowed or any(name.startswith(self.prefix) for name in names):
                return True

    def stop(self) -> None:
        if self._stopped.is_set():
            return
        self._stopped.set()
        os.write(self._wake_write, b"x")
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)
        if not self._thread.is_alive():  # closed once nothing can select on them (a descriptor's number is reused)
            os.close(self._wake_read)
            os.close(self._wake_write)
