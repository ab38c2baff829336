"""The data directory holds secrets (webhook secrets, key hashes, every job's inputs and results):
only the service's user may read it. The directory is 0700, the database and its WAL/SHM files 0600,
and the entry points set umask 077 so that every file created later is private too.
"""

from __future__ import annotations

import contextlib
import logging
import os
import stat
from pathlib import Path

log = logging.getLogger(__name__)

DIR_MODE = 0o700
FILE_MODE = 0o600
PRIVATE_UMASK = 0o077


def private_umask() -> None:
    """New files and directories of this process (and its children): owner only."""
    os.umask(PRIVATE_UMASK)


def secure_data_dir(data_dir: Path, database_path: Path | None) -> None:
    """Create `data_dir` 0700 (or tighten it), and make the database files that exist 0600.

    The database file is created empty here, 0600, when missing: SQLite gives its -wal and -shm
    files the database file's mode, so they are born private as well. `database_path` None: the state
    is in PostgreSQL and the directory holds only result files.
    """
    data_dir.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    _tighten(data_dir, DIR_MODE)
    if database_path is None:
        return
    if not database_path.exists():
        database_path.parent.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
        os.close(os.open(database_path, os.O_WRONLY | os.O_CREAT, FILE_MODE))
    for path in (database_path, Path(f"{database_path}-wal"), Path(f"{database_path}-shm")):
        if path.exists():
            _tighten(path, FILE_MODE)


def _tighten(path: Path, mode: int) -> None:
    current = stat.S_IMODE(path.stat().st_mode)
    if current & ~mode:
        with contextlib.suppress(PermissionError):  # not ours to change (e.g. a mounted volume): leave it
            os.chmod(path, mode)
            log.info("made %s private (%o -> %o)", path, current, mode,
                     extra={"action": "datadir.permissions", "path": str(path)})
