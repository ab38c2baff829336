"""The result store and the database know each other: a job service refuses a results directory of another database.

Result files live in `PHONOS_DATA_DIR/results`, on shared storage when many job services share one PostgreSQL. With
`PHONOS_DATABASE_URL` forgotten on one host, that host's job service started on a new SQLite database inside the
shared directory, and its orphan sweep (jobservice/result_retention.py) deleted every file none of *its* jobs kept:
the PostgreSQL services' results. Two PostgreSQL databases (staging and production) on one directory did the same to
each other. The other way round, a job service on the shared database whose data directory is not the shared one
(an NFS mount not there, a typo) started healthy and answered 410 for everyone else's downloads.

So the database has an id (`store_identity`, made by migration SQLite 0084 / PostgreSQL 0034) and its results
directory a marker, `results/.phonos-database-id`, holding that id on one line. At start (`claim_result_store`,
before any sweep or dispatch):

- marker naming this database: go on;
- marker naming another: refuse (`ResultStoreMismatch`, exit status 2), saying what to fix;
- no marker, and the database never marked a store (a fresh install, the first start after the upgrade): write it,
  then record `results_marked_at`;
- no marker, but the database marked one already: on PostgreSQL refuse, this is not the directory its services use;
  on SQLite the database sits in the data directory itself, so the directory cannot be the wrong one: the marker is
  written again, with a warning (a `phonos backup` taken before the marker existed, or results removed by hand;
  the backup copies the marker since).

Two services starting at once on one database and one shared directory agree: the marker is published with
link(2), which never replaces an existing name, so the first one's stays and every other one reads it (the same id)
back; the database records the mark only after the marker is in place, so a service that finds the database marked
finds the marker too. Two databases racing for one empty directory: one marker wins, the other service refuses.

The orphan sweep reads the marker again before it removes anything (`marker_names`): a directory swapped under a
running service (a remount) is left alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from jobservice.db import now
from jobservice.results import sync_directory
from jobservice.store import Store

log = logging.getLogger(__name__)

MARKER_NAME = ".phonos-database-id"
MARKER_MODE = 0o600  # as every result file (jobservice/results.py)
MARKER_MAX_BYTES = 256  # an id is 32 hex digits; more is not a marker we wrote
# A marker created without link(2) (a file system without hard links) is empty for the moment between its creation
# and its write: a reader waits this long for the id before taking it as it is.
EMPTY_MARKER_WAIT_S = 2.0


class ResultStoreMismatch(ValueError):
    """The results directory is not this database's result store (a configuration error: exit status 2)."""


@dataclass(frozen=True)
class StoreIdentity:
    database_id: str
    results_marked_at: float | None  # when a job service first wrote the marker (None: never)


async def database_identity(db: Store) -> StoreIdentity:
    row = await db.read.fetch_one("store_identity")
    marked = row["results_marked_at"]
    return StoreIdentity(str(row["database_id"]), None if marked is None else float(marked))


def marker_path(results_dir: Path) -> Path:
    return results_dir / MARKER_NAME


def read_marker(results_dir: Path) -> str | None:
    """The id the results directory's marker names; None when there is none (or no results directory)."""
    deadline = time.monotonic() + EMPTY_MARKER_WAIT_S
    while True:
        try:
            with open(marker_path(results_dir), "rb") as handle:
                text = handle.read(MARKER_MAX_BYTES).decode("utf-8", "replace").strip()
        except FileNotFoundError:
            return None
        if text or time.monotonic() > deadline:
            return text
        time.sleep(0.05)


def marker_names(results_dir: Path, database_id: str) -> bool:
    """The results directory's marker names `database_id` (what the orphan sweep asks before removing anything)."""
    return read_marker(results_dir) == database_id


def publish_marker(results_dir: Path, database_id: str) -> str:
    """Put the marker naming `database_id` in place unless one is there already; the id the marker names then (ours,
    or the one another job service put first). The id is written and synced under a temporary name, then linked to
    the marker's: link(2) fails on an existing name, where a rename would replace it."""
    results_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    marker = marker_path(results_dir)
    temporary = results_dir / f"{MARKER_NAME}.{uuid.uuid4().hex[:8]}.tmp"
    content = f"{database_id}\n".encode()
    try:
        _write_new(temporary, content)
        try:
            os.link(temporary, marker)
        except FileExistsError:
            pass  # another start's: read back below
        except OSError:  # no hard links here (some FUSE and SMB mounts): O_EXCL, readers wait for its content
            with contextlib.suppress(FileExistsError):
                _write_new(marker, content)
    finally:
        temporary.unlink(missing_ok=True)
    sync_directory(results_dir)
    return read_marker(results_dir) or ""


async def claim_result_store(db: Store, results_dir: Path) -> str:
    """Check that `results_dir` is this database's result store, marking it on the first start (see the module's
    docstring); the database's id. ResultStoreMismatch when it is not; OSError when the directory cannot be used."""
    started = time.monotonic()
    identity = await database_identity(db)
    marker = await asyncio.to_thread(read_marker, results_dir)
    if marker is None:
        if identity.results_marked_at is not None:
            if db.shared:
                raise ResultStoreMismatch(_unmarked(results_dir, identity))
            log.warning("the results directory %s had no %s, though this database marked it on %s (a restored "
                        "backup, or results removed by hand?): marking it again", results_dir, MARKER_NAME,
                        _day(identity.results_marked_at), extra={"action": "results.store_marked_again"})
        marker = await asyncio.to_thread(publish_marker, results_dir, identity.database_id)
    if marker != identity.database_id:
        raise ResultStoreMismatch(_foreign(results_dir, marker, identity.database_id, db.shared))
    if identity.results_marked_at is None:
        await db.write_one("mark_result_store", {"database_id": identity.database_id, "now": now()})
        log.info("marked %s as the result store of database %s", results_dir, identity.database_id,
                 extra={"action": "results.store_marked", "database_id": identity.database_id})
    log.debug("result store checked", extra={"action": "results.store_checked", "database_id": identity.database_id,
                                             "seconds": round(time.monotonic() - started, 4)})
    return identity.database_id


def _foreign(results_dir: Path, marker: str, database_id: str, shared: bool) -> str:
    ours = "PostgreSQL at PHONOS_DATABASE_URL" if shared else "SQLite in this data directory"
    return (f"the results directory {results_dir} belongs to another database: its {MARKER_NAME} names database "
            f"{marker or '(empty)'}, and this job service's ({ours}) is {database_id}. Two databases must not share "
            "one result store: each one's orphan sweep deletes the other's files. Set PHONOS_DATABASE_URL on this "
            "host to the database the store belongs to, or give this database its own PHONOS_DATA_DIR")


def _unmarked(results_dir: Path, identity: StoreIdentity) -> str:
    marked = _day(identity.results_marked_at or 0.0)
    return (f"the results directory {results_dir} is not the result store of this database's job services: it has "
            f"no {MARKER_NAME}, and database {identity.database_id} marked its store on {marked}. Is the shared "
            f"storage mounted at PHONOS_DATA_DIR ({results_dir.parent}) on this host, and is that the directory the "
            "other job services use? If this directory really is the store (restored without its marker), mark it "
            f"with `printf '%s\\n' {identity.database_id} > {marker_path(results_dir)}` and start again")


def _day(epoch_s: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(epoch_s))


def _write_new(path: Path, content: bytes) -> None:
    """Create `path` (FileExistsError if it is there) holding `content`, synced."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, MARKER_MODE)
    try:
        os.write(fd, content)
        os.fsync(fd)
    finally:
        os.close(fd)

