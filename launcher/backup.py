"""`phonos backup DEST`: a consistent copy of a SQLite data directory, taken while the service runs.

A data directory's state is its database (`phonos.sqlite3` and its write-ahead log) and its result files
(`results/<2 characters>/<job id>.<ext>`, jobservice/results.py). `cp -r` of a running service's directory
can give a database torn between transactions: the main file and the WAL are copied at different moments.
This takes the database with SQLite's online backup API in one step, so the copy is the state after one
commit, checks it, and then copies the result files that the copy's jobs name. Result files are written and
synced before their job's `completed` state commits and never change afterwards, so each of them exists when
it is copied; files of jobs that completed after the snapshot are left for the next backup.

The database goes in last: it is copied into a partial file, the files it names are copied and flushed, and only
then does it replace the destination's database. A backup cut short (a full disk, a killed process) leaves the
earlier backup's database, whose files are all there, plus some files it does not name yet.

Backing up into an earlier backup replaces its database and copies only the result files it lacks: a nightly
`phonos backup /mnt/backup/phonos` costs the database plus the day's results. Once the new database is in, the
files it no longer names (jobs deleted since, results that retention swept) are removed from the copy: a deleted
job's results stayed in every later backup, and came back as orphans on a restore (an SRE tester's find). Restoring is starting from the
copy: `phonos serve --data-dir DEST` (or moving it to where the data directory was, with the service stopped).
On PostgreSQL the database is pg_dump's to copy; this command says so, with the shell line that dumps it and then
copies the result files into DEST (`postgres_backup_command`), instead of copying half the state.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import shutil
import sqlite3
import stat
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from jobservice.datadir_lock import LOCK_FILE, DataDirLock, DataDirLocked
from jobservice.result_store_identity import marker_path
from jobservice.results import ResultStore
from launcher.serve_address import ADDRESS_FILE
from launcher.tables import rfc3339
from phonos_config.service import ServiceSettings

# The dump's name in a PostgreSQL backup's directory (beside `results/`), in the command the refusal prints.
PG_DUMP_NAME = "phonos.pgdump"


class BackupError(Exception):
    """The backup cannot be taken as asked; the message says why and what to do."""


@dataclass(frozen=True)
class BackupReport:
    destination: Path
    snapshot_at: float  # when the database copy was taken (epoch seconds)
    jobs: int
    database_bytes: int
    files_copied: int
    bytes_copied: int
    files_present: int  # already in DEST from an earlier backup
    files_removed: int  # in DEST from an earlier backup, named by no job of this one (deleted or swept since)
    missing: tuple[str, ...]  # result files the database names but the data directory lacks
    seconds: float
    opened_to_others: str | None = None  # DEST was open to other users: what was done about it (see `_private`)

    def as_json(self) -> dict[str, object]:
        # RFC 3339, as every time the command's --json prints (it was epoch seconds, the one exception)
        return {"destination": str(self.destination), "snapshot_at": rfc3339(self.snapshot_at), "jobs": self.jobs,
                "database_bytes": self.database_bytes, "files_copied": self.files_copied,
                "bytes_copied": self.bytes_copied, "files_already_there": self.files_present,
                "files_removed": self.files_removed,
                "missing_files": list(self.missing), "seconds": round(self.seconds, 3)}


def postgres_backup_command(settings: ServiceSettings, destination: Path) -> str:
    """The shell line that backs up a PostgreSQL install into `destination`, as `phonos backup` lays out SQLite's:
    pg_dump's custom format (`pg_restore` reads it, one table at a time if need be) first, then the result files,
    so that every file the dump names is in the copy. The URL stays `"$PHONOS_DATABASE_URL"`: said literally, its
    password would land on the terminal and in the shell's history."""
    destination = destination.resolve()  # the line is pasted wherever the operator's shell is
    results = destination / "results"
    # umask 077: the dump holds password and key hashes and webhook secrets; `phonos backup` keeps SQLite's copy
    # private (0700) too, where a plain mkdir and pg_dump would leave it readable by every user of the machine.
    return (f"(umask 077 && mkdir -p {shlex.quote(str(results))} && pg_dump --format=custom "
            f"--file={shlex.quote(str(destination / PG_DUMP_NAME))} \"$PHONOS_DATABASE_URL\" && "
            f"cp -a {shlex.quote(str(settings.results_dir.resolve()))}/. {shlex.quote(str(results))}/)")


def back_up(settings: ServiceSettings, destination: Path) -> BackupReport:
    """Copy the data directory's state into `destination` (created, or an earlier backup updated)."""
    started = time.monotonic()
    if settings.database_url:
        raise BackupError(
            "the state is in PostgreSQL (PHONOS_DATABASE_URL), which this command does not copy: dump the database, "
            f"then copy the result files, with `{postgres_backup_command(settings, destination)}` (result files "
            "never change once written, so a copy taken after the dump holds every file the dump names; README "
            "\"Backups\" says how to restore it)")
    source = settings.data_dir.resolve()
    database = settings.database_path.resolve()
    if not database.is_file():
        raise BackupError(f"no phonos database in {source}: check --data-dir or PHONOS_DATA_DIR")
    destination = destination.resolve()
    target = settings.with_overrides(data_dir=destination)  # the same layout, rooted at the destination
    _check_destination(source, destination, target.database_path)
    destination.mkdir(mode=0o700, parents=True, exist_ok=True)
    opened_to_others = _private(destination)

    with _destination_locked(destination):
        snapshot_at = time.time()
        snapshot = _copy_database(database, target.database_path)
        try:
            jobs, files = _index(snapshot)
            copied, present, copied_bytes, missing = _copy_results(settings, target, files)
            _copy_marker(settings, target)
            os.sync()  # one flush for every file copied, instead of an fsync each (thousands of small files)
            database_bytes = snapshot.stat().st_size
            _install(snapshot, target.database_path)
        finally:
            snapshot.unlink(missing_ok=True)  # still there only when something above failed
        # After the database: cut short before, the earlier backup's database still names what it names.
        removed = _remove_unnamed(target, files)
    lost = _not_deleted_since(database, missing)
    return BackupReport(destination, snapshot_at, jobs, database_bytes,
                        copied, copied_bytes, present, removed, tuple(lost), time.monotonic() - started,
                        opened_to_others)


def _private(destination: Path) -> str | None:
    """Make a destination that existed already private (0700), as a new one is made: its files are private (0600),
    but in a directory others may write to, another user of the machine could put their own database (their own key
    hash) in place of the backup's before a restore (a security tester's find; `mkdir(mode=...)` leaves an existing
    directory's mode alone). What was done, for the operator; None when it was private already."""
    mode = stat.S_IMODE(destination.stat().st_mode)
    if not mode & 0o077:
        return None
    try:
        destination.chmod(0o700)
    except OSError as exc:  # not ours to change (another owner): said, since others may still write into it
        return (f"{destination} is mode {mode:04o} and could not be made private ({exc.strerror}): other users of "
                "this machine may replace the backup's files; use a directory only you can write to")
    return (f"{destination} was mode {mode:04o}, open to other users: made it private (0700), as the backup holds "
            "password and key hashes and webhook secrets")


def _remove_unnamed(target: ServiceSettings, files: list[tuple[str, str]]) -> int:
    """Remove the destination's result files (and an interrupted copy's `.partial` ones) that no job of the backup
    names; the results directory's other files (its database marker) stay. How many went."""
    copies = ResultStore(target.results_dir)
    named = {copies.path(job_id, name) for job_id, name in files}
    removed = 0
    for folder in target.results_dir.iterdir() if target.results_dir.is_dir() else ():
        if not folder.is_dir() or folder.is_symlink() or len(folder.name) != 2:
            continue  # result files live in results/<2 characters of the job id>/ (jobservice/results.py)
        for path in folder.iterdir():
            if path not in named and path.is_file() and not path.is_symlink():
                path.unlink()
                removed += 1
    return removed


@contextlib.contextmanager
def _destination_locked(destination: Path) -> Iterator[None]:
    """The destination's data-directory lock, held for the whole backup (a job service started on it meanwhile
    would have its database replaced); its file removed after, where the backup made it (it was left, holding
    the backup's pid)."""
    lock_file = destination / LOCK_FILE
    made = not lock_file.exists()
    lock = DataDirLock(destination)
    try:
        lock.acquire()
    except DataDirLocked as exc:
        raise BackupError(f"{exc}: stop it, or back up to another directory") from None
    try:
        yield
    finally:
        if made:
            lock_file.unlink(missing_ok=True)  # while still held: no service can have taken it in between
        lock.release()


def _copy_results(settings: ServiceSettings, target: ServiceSettings,
                  files: list[tuple[str, str]]) -> tuple[int, int, int, list[tuple[str, str]]]:
    """Copy the result files the snapshot names that the destination lacks: (copied, already there, bytes copied,
    missing from the data directory)."""
    origins, copies = ResultStore(settings.results_dir.resolve()), ResultStore(target.results_dir)
    copied = present = copied_bytes = 0
    missing: list[tuple[str, str]] = []
    for job_id, name in files:
        origin, copy = origins.path(job_id, name), copies.path(job_id, name)
        if not origin.is_file():
            missing.append((job_id, name))
        elif copy.is_file() and copy.stat().st_size == origin.stat().st_size:
            present += 1  # result files never change: same name and size is the same file
        else:
            copy.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            partial = copy.with_name(f".{name}.partial")
            shutil.copyfile(origin, partial)
            partial.replace(copy)
            copied += 1
            copied_bytes += copy.stat().st_size
    return copied, present, copied_bytes, missing


def _copy_marker(settings: ServiceSettings, target: ServiceSettings) -> None:
    """The results directory's marker naming its database (jobservice/result_store_identity.py): a restore of
    the backup is then the store of the database beside it, as the original was (without it the restored job
    service marks the directory again, with a warning)."""
    origin = marker_path(settings.results_dir.resolve())
    if not origin.is_file():
        return  # a data directory no job service has started on since the marker came
    copy = marker_path(target.results_dir)
    copy.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    partial = copy.with_name(f"{copy.name}.partial")
    shutil.copyfile(origin, partial)
    partial.chmod(0o600)
    partial.replace(copy)


def _check_destination(source: Path, destination: Path, database: Path) -> None:
    if destination == source or source in destination.parents:
        raise BackupError(f"{destination} is inside the data directory {source}: back up to another directory "
                          "(ideally another disk)")
    if destination.exists() and not destination.is_dir():
        raise BackupError(f"{destination} exists and is not a directory")
    if destination.is_dir() and not database.is_file() and _foreign(destination, database):
        raise BackupError(f"{destination} is neither empty nor an earlier phonos backup (it has no {database.name}): "
                          "choose a new or empty directory")
    served = _served_from(destination, database) if destination.is_dir() and database.is_file() else None
    if served:
        # Restoring is serving from the copy: the next nightly backup into it replaced what was done there since,
        # and `phonos backup var --data-dir /backups/x` (arguments swapped) put an old state over the live one.
        raise BackupError(f"{destination} is not a backup as `phonos backup` leaves one: {served}. It is a data "
                          "directory a job service has run from, and backing up into it would replace its database "
                          "and lose what was done there; back up to a new directory (or move that one away first)")


# Files and folders a served data directory has and a backup never does: Triton's log, JAX's compilation cache,
# where a running `phonos serve` listens (launcher/serve_address.py).
SERVED_FILES = ("triton.log", "jax_cache", ADDRESS_FILE)


def _served_from(destination: Path, database: Path) -> str | None:
    """Why `destination`, which holds a database, is not an earlier backup: a job service has opened its database
    (one switches it to write-ahead logging, which stays in the file; a backup's copy is a self-contained
    rollback-journal file) or has left its own files there (Triton's log, caches). None: a backup."""
    with open(database, "rb") as handle:
        header = handle.read(20)
    # SQLite's header: bytes 18 and 19 are the file format's write and read versions, 2 in WAL mode, 1 otherwise.
    if len(header) == 20 and (header[18] == 2 or header[19] == 2):
        return f"its {database.name} is in write-ahead-log mode, as a job service leaves it"
    if database.with_name(database.name + "-wal").exists():
        return f"it has a {database.name}-wal beside the database"
    # What `phonos serve` leaves beside the database; only those: a .DS_Store or a note the operator left in a
    # backup directory must not make the nightly backup into it fail.
    served = sorted(name for name in SERVED_FILES if (destination / name).exists())
    if served:
        return f"it holds {', '.join(served)}, which a job service writes and a backup does not"
    return None


def _foreign(destination: Path, database: Path) -> bool:
    """The directory holds something besides what a first backup that was cut short leaves (result files, its
    database's partial copy): it is not ours to write into."""
    ours = {"results", f".{database.name}.partial", LOCK_FILE}  # the lock: a backup killed while it held it
    return any(entry.name not in ours for entry in destination.iterdir())


def _copy_database(database: Path, target: Path) -> Path:
    """SQLite's online backup in one step (one read transaction: the state after one commit, while writers go
    on in WAL mode), into a partial file beside `target`, checked and synced; `_install` puts it in place."""
    partial = target.with_name(f".{target.name}.partial")
    partial.unlink(missing_ok=True)
    try:
        with _read_only(database) as source, contextlib.closing(sqlite3.connect(partial)) as copy:
            source.backup(copy)
            verdict = copy.execute("PRAGMA quick_check").fetchone()[0]
            if verdict != "ok":
                raise BackupError(f"the copied database does not check out ({verdict}); the data directory's own "
                                  "database may be damaged: run `sqlite3 phonos.sqlite3 'PRAGMA integrity_check'` there")
            copy.execute("PRAGMA journal_mode=DELETE")  # one self-contained file, no WAL beside it
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    with open(partial, "rb+") as handle:
        os.fsync(handle.fileno())
    return partial


def _install(snapshot: Path, target: Path) -> None:
    """Replace the destination's database with the snapshot, durably: the last step of a backup."""
    snapshot.replace(target)
    for leftover in (target.with_name(target.name + "-wal"), target.with_name(target.name + "-shm")):
        leftover.unlink(missing_ok=True)  # an earlier backup's, which belong to the replaced file
    directory = os.open(target.parent, os.O_RDONLY)
    try:
        os.fsync(directory)  # the rename itself
    finally:
        os.close(directory)


@contextlib.contextmanager
def _read_only(database: Path) -> Iterator[sqlite3.Connection]:
    with contextlib.closing(sqlite3.connect(f"{database.as_uri()}?mode=ro", uri=True, timeout=30)) as connection:
        yield connection


def _index(database: Path) -> tuple[int, list[tuple[str, str]]]:
    """How many jobs the copy holds, and every (job id, result file) their `artifacts` index names, but the files
    that result retention deleted (jobservice/result_retention.py). A deleted job's row stays for its credit
    history; it is no job of the API's or `accounts list`'s counts, nor of this one (was: counted, one too many)."""
    with _read_only(database) as connection:
        live = " WHERE deleted_at IS NULL" if _has_column(connection, "deleted_at") else ""  # a database from before
        jobs = int(connection.execute(f"SELECT count(*) FROM jobs{live}").fetchone()[0])
        kept = " AND results_deleted_at IS NULL" if _has_retention(connection) else ""  # a database from before
        rows = connection.execute(f"SELECT id, result_json FROM jobs WHERE result_json IS NOT NULL{kept}").fetchall()
    return jobs, [(job_id, str(artifact["file"])) for job_id, result_json in rows
                  for artifact in json.loads(result_json).get("artifacts", [])]


def _not_deleted_since(database: Path, missing: list[tuple[str, str]]) -> list[str]:
    """The missing files but those of jobs that result retention swept after the snapshot (the live database
    says so now): those are gone on purpose, and the restored service sweeps them on start."""
    if not missing:
        return []
    with _read_only(database) as connection:
        swept = {row[0] for row in connection.execute("SELECT id FROM jobs WHERE results_deleted_at IS NOT NULL")} \
            if _has_retention(connection) else set()
    return [name for job_id, name in missing if job_id not in swept]


def _has_retention(connection: sqlite3.Connection) -> bool:
    """The database has had migration 0060 (the backup may run before a new service version first starts)."""
    return _has_column(connection, "results_deleted_at")


def _has_column(connection: sqlite3.Connection, column: str) -> bool:
    return any(row[1] == column for row in connection.execute("PRAGMA table_info(jobs)"))
