"""One job service per data directory, enforced with an advisory file lock.

Holding the lock is what lets start-up recovery treat every `running` job as
orphaned: no other live process can own it.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

LOCK_FILE = "jobservice.lock"


class DataDirLocked(RuntimeError):
    pass


class DataDirLock:
    def __init__(self, data_dir: Path) -> None:
        self._path = data_dir / LOCK_FILE
        self._fd: int | None = None

    def acquire(self) -> None:
        self._path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip()
            os.close(fd)
            who = f"another job service (pid {holder})" if holder.isdigit() else "another job service"
            raise DataDirLocked(f"{who} is using {self._path.parent}") from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None
