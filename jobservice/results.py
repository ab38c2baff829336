"""Result files under <data dir>/results/<first 2 characters of the job id>/<job id>.<ext>.

The files come built by the model (phonos_models.common.result_files); this store only writes and
reads bytes. Each file is written atomically and durably before the job's completed state commits:
a temporary file, its data synced, rename, then one fsync of the directory, so a reader (and a restart after a
power cut) sees either no file or the whole file, never a torn one. Files are 0600: only the
service reads them. One shared directory per id prefix avoids a directory creation per job (on
ext4 here a mkdir costs as much as writing the file).

The files of one job are written and synced concurrently, with fdatasync: a new file's size is
metadata "needed to read the data back", which fdatasync flushes too, and concurrent syncs share
the filesystem's journal commits. Measured here for three small files: 15 ms one after another with
fsync, 1 ms concurrently with fdatasync (bench/esmfold_service.py counts this as service overhead).

A process killed (SIGKILL, the OOM killer, a power cut) between writing a temporary and renaming it leaves the
temporary behind; its job runs again and writes new ones. A service that owns the data directory (SQLite: the
lock keeps every other writer out) removes every leftover at start; on shared storage (PostgreSQL) the job's next
write, a rerun's, removes those STALE_TEMPORARY_S old (never a temporary another service may be writing this
moment); deleting the job's files (a deleted job, retention) removes them with the files; and the orphan sweep
(jobservice/result_retention.py) removes any a day old. A first run's write
does not look: only a run after an interrupted one can find a leftover, and listing a shard of thousands of files
costs milliseconds on every job's path (~3 ms at 4,000).
"""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import stat
import time
import uuid
from concurrent.futures import ThreadPoolExecutor, wait
from pathlib import Path
from typing import Any

from phonos_models.common.result_files import ModelResult

from jobservice import metrics

log = logging.getLogger(__name__)

FILE_MODE = 0o600
# OSError numbers that mean the storage has no room for the files (a full disk, out of inodes, the user's quota).
NO_SPACE = frozenset({errno.ENOSPC, errno.EDQUOT})
# Backoff between attempts to write a job's files while storage fails (seconds): first, cap.
RETRY_FIRST_S = 0.1
RETRY_MAX_S = 2.0
# A job's temporary this old is a killed writer's: a live write renames its files within seconds (the largest
# AlphaFold2 result takes well under a minute to write), and a rerun on another service is leased for minutes.
STALE_TEMPORARY_S = 3600.0
# Shared by every store of the process: syncs are short, and idle threads cost nothing. Enough threads for
# every file of a job or two at once (an ESMFold job has 6): the syncs then share one journal commit, where
# 4 threads took two rounds (6 files: p50 ~5-7 ms instead of ~9-12 ms here).
_SYNC_POOL = ThreadPoolExecutor(max_workers=16, thread_name_prefix="result-sync")


class ResultStore:
    def __init__(self, root: Path) -> None:
        self._root = root

    @property
    def root(self) -> Path:
        """The results directory (its marker names the database it belongs to: jobservice/result_store_identity.py)."""
        return self._root

    def shard(self, job_id: str) -> Path:
        return self._root / job_id[:2]

    def write(self, job_id: str, result: ModelResult, *, rerun: bool = False) -> dict[str, Any]:
        """Write every file; returns the JSON kept with the job (metrics, metadata, file index). `rerun`: the job
        ran before (an interrupted attempt), so a killed writer's stale temporaries may be there to remove."""
        directory = self.shard(job_id)
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        if rerun:
            self._remove_temporaries(job_id, older_than_s=STALE_TEMPORARY_S)
        index = []
        written: list[tuple[Path, Path]] = []
        try:
            for item in result.files:
                name = f"{job_id}.{item.extension}"
                # A unique temporary name: on shared storage another service may write the same job (a rerun
                # after its lease was taken over); each rename is atomic, so readers see one whole file.
                written.append((directory / f".{name}.{uuid.uuid4().hex[:8]}.tmp", directory / name))
                index.append({"format": item.format, "file": name, "media_type": item.media_type})
            syncs = [_SYNC_POOL.submit(_write_synced, temporary, item.content)
                     for (temporary, _), item in zip(written, result.files, strict=True)]
            wait(syncs)  # every write has ended before any error is raised and its files removed
            for sync in syncs:
                sync.result()
            for temporary, final in written:
                temporary.replace(final)
            sync_directory(directory)
        except BaseException:
            for temporary, _ in written:
                temporary.unlink(missing_ok=True)
            raise
        return {"metrics": result.metrics, "metadata": result.metadata, "artifacts": index}

    def remove(self, job_id: str) -> None:
        for path in self._named(job_id, f"{job_id}.", ""):
            path.unlink(missing_ok=True)
        self._remove_temporaries(job_id, older_than_s=0.0)

    def _named(self, job_id: str, prefix: str, suffix: str) -> list[Path]:
        """The entries of the job's shard whose names start with `prefix` and end with `suffix`. A listing and a
        prefix check, not a glob: `glob(f"{job_id}.*")` compiled a new pattern per job id into `re`'s cache (512
        entries, shared by the whole process), evicting every other module's patterns as jobs went by."""
        try:
            with os.scandir(self.shard(job_id)) as entries:
                return [Path(entry.path) for entry in entries
                        if entry.name.startswith(prefix) and entry.name.endswith(suffix)
                        and len(entry.name) >= len(prefix) + len(suffix)]
        except FileNotFoundError:  # no file of this shard yet (or its directory removed)
            return []

    def remove_every_temporary(self) -> int:
        """Remove every temporary under the results directory; how many. Only for the data directory's owner (the
        SQLite service, before it runs any job): no one else can be writing one. It reads every shard's listing,
        which for a million files takes a second or two, once a start."""
        removed = 0
        for shard in self._root.glob("??"):
            for path in shard.glob(".*.tmp"):
                path.unlink(missing_ok=True)
                removed += 1
        return removed

    def shards(self) -> list[Path]:
        """The id-prefix directories there are now (`??`: 256 at most for uuid job ids)."""
        return sorted(path for path in self._root.glob("??") if path.is_dir())

    def files_before(self, shard: Path, cutoff: float) -> dict[str, list[tuple[Path, float]]]:
        """The job files and temporaries in `shard` last modified before `cutoff` (a time.time()), with that time,
        by job id. A name that is not a job's file (`<job id>.<ext>`, `.<job id>.<ext>.<hex>.tmp`) is left out."""
        found: dict[str, list[tuple[Path, float]]] = {}
        try:
            entries = list(os.scandir(shard))
        except FileNotFoundError:
            return found
        for entry in entries:
            job_id = job_id_of(entry.name)
            if job_id is None or not job_id.startswith(shard.name):
                continue
            try:
                info = entry.stat(follow_symlinks=False)
            except FileNotFoundError:  # removed meanwhile (a delete, retention, another service's sweep)
                continue
            if stat.S_ISREG(info.st_mode) and info.st_mtime < cutoff:
                found.setdefault(job_id, []).append((Path(entry.path), info.st_mtime))
        return found

    @staticmethod
    def remove_before(paths: list[Path], cutoff: float) -> int:
        """Unlink each of `paths` still last modified before `cutoff` (looked at again right before: a file
        renamed into place since is a new write's, and stays); how many went."""
        removed = 0
        for path in paths:
            try:
                if path.stat(follow_symlinks=False).st_mtime < cutoff:
                    path.unlink()
                    removed += 1
            except FileNotFoundError:
                continue
        return removed

    def _remove_temporaries(self, job_id: str, *, older_than_s: float) -> None:
        """Remove the job's temporaries (`.<job id>.<ext>.<hex>.tmp`) last modified `older_than_s` ago or more:
        what a writer killed before its rename left (see the module's docstring)."""
        cutoff = time.time() - older_than_s
        for path in self._named(job_id, f".{job_id}.", ".tmp"):
            try:
                if path.stat().st_mtime <= cutoff:
                    path.unlink()
            except FileNotFoundError:  # renamed or removed meanwhile by its own writer
                continue

    def path(self, job_id: str, file_name: str) -> Path:
        """Where a file of the job's index lives; ValueError for a name that is not this job's file (file names
        come from our own index: refuse anything else)."""
        if "/" in file_name or not file_name.startswith(f"{job_id}."):
            raise ValueError(f"bad result file name {file_name!r}")
        return self.shard(job_id) / file_name

    def read(self, job_id: str, file_name: str) -> bytes:
        return self.path(job_id, file_name).read_bytes()


async def write_retrying(store: ResultStore, job_id: str, result: ModelResult, window_s: float, *,
                         rerun: bool = False) -> dict[str, Any]:
    """`store.write` in a thread, tried again with backoff while storage fails (OSError: a full or
    read-only disk, a shared volume remounting, the shard directory briefly unusable) for `window_s`; the
    last error is raised after that. Each attempt removes its own temporaries, so a retry starts clean."""
    deadline = time.monotonic() + window_s
    delay = RETRY_FIRST_S
    while True:
        try:
            return await asyncio.to_thread(store.write, job_id, result, rerun=rerun)
        except OSError as exc:
            if exc.errno in NO_SPACE:
                metrics.storage_full("results")
            if time.monotonic() + delay > deadline:
                raise
            log.warning("writing result files failed; retrying", extra={
                "action": "results.write_retry", "job_id": job_id, "error": repr(exc)})
            await asyncio.sleep(delay)
            delay = min(delay * 2, RETRY_MAX_S)


def job_id_of(name: str) -> str | None:
    """The job id a result file's name (`<id>.<ext>`) or a temporary's (`.<id>.<ext>.<hex>.tmp`) starts with;
    None for any other name (the id must be a uuid, as every job id is: jobservice/jobs.py)."""
    if name.startswith("."):
        if not name.endswith(".tmp"):
            return None
        name = name[1:]
    candidate = name.split(".", 1)[0]
    try:
        return candidate if str(uuid.UUID(candidate)) == candidate else None
    except ValueError:
        return None


def is_temporary(path: Path) -> bool:
    return path.name.startswith(".") and path.name.endswith(".tmp")


def _write_synced(path: Path, content: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    try:
        view = memoryview(content)
        while view:
            view = view[os.write(fd, view):]
        os.fdatasync(fd)
    finally:
        os.close(fd)


def sync_directory(directory: Path) -> None:
    """fsync a directory: the names created or renamed in it last a power cut."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
