"""Result retention: the result files of completed jobs are deleted a set time after completion.

A self-hosted service that folds every day fills its disk with result files (an ESMFold job's six files are
~0.3 MB at 60 residues, an AlphaFold2 job's several MB). With `PHONOS_RESULT_RETENTION_DAYS` set, every job
service sweeps once an hour (and at start): a completed job older than that loses its files, and its row
records when (`results_deleted_at`). The job, its scores and metadata stay, so listings, usage and the
dashboard keep their history; a download answers 410 Gone, naming the date and the retention period.

Files are deleted before the row is marked: a sweep stopped in between finds the job again and deletes (no
files left, nothing to do) and marks it, so no file outlives its job's retention. A download in that window
finds no file and gets the same 410 (`ResultsGone`). Several job services on one PostgreSQL sweep the same
jobs harmlessly: unlinking a missing file and marking a marked job are no-ops.

A mark the database refuses once the files are gone (its disk full, PostgreSQL away) is tried again with backoff
until it is stored (`MARK_RETRY_FIRST_S` doubling to `MARK_RETRY_MAX_S`): the sweep's failure waited for the next
one, an hour later, and meanwhile those jobs' downloads said their files were missing from storage, which pages
(PhonosResultFilesMissing). On a disk results share with SQLite the files' space is what lets the mark through.

Orphans: files no job keeps stay for ever otherwise, unreachable through the API. A service that dies between a
job's deletion (database first) and removing its files, a result written for a job whose row was never committed,
a writer killed between writing a temporary and renaming it (its job then done elsewhere): every job service
sweeps for them at start and then every `ORPHAN_SWEEP_EVERY_S`, retention on or off (`sweep_orphans`). It takes
only files last modified `ORPHAN_AGE_S` (a day; PHONOS_RESULT_ORPHAN_AGE_S, 0 = never) ago or more: a write in progress renames its files within a
minute, and on shared storage another job service's job was committed before its files were written, so a day
is far beyond any race. For each shard's old files it asks the database, right before removing them, which of
their jobs still keep their results (`jobs_keeping_results`: the row is there and neither its deletion nor
retention removed them); the files of the others go, and each file's age is looked at again just before its
unlink. A temporary that old goes whoever's it is. Files older than the database's first job predate the
database (a restored backup, PHONOS_DATABASE_URL naming another database, an empty one) and are left alone,
with a warning: a wrong database must not empty the results directory. Before removing anything (and before each
batch) the sweep reads the results directory's marker (jobservice/result_store_identity.py): a directory that names
another database, or none, is not this database's store (swapped or remounted under a running service) and loses
nothing, with one warning. One summary line says what went.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from pathlib import Path

from jobservice import metrics
from jobservice.db import now
from jobservice.errors import ServiceUnavailable
from jobservice.periodic import Periodic
from jobservice.result_store_identity import read_marker
from jobservice.results import ResultStore, is_temporary
from jobservice.store import Store

log = logging.getLogger(__name__)

DAY_S = 86400.0
SWEEP_EVERY_S = 3600.0
SWEEP_BATCH = 200  # jobs per query; a long backlog (retention just switched on) takes several rounds
MARK_RETRY_FIRST_S = 0.2
MARK_RETRY_MAX_S = 10.0
ORPHAN_AGE_S = DAY_S  # only files this old are orphans: see the module's docstring
# Each sweep lists and stats every result file, in a thread: 0.55 s for 48,000 files here (~11 s a million).
ORPHAN_SWEEP_EVERY_S = 6 * 3600.0
ORPHAN_BATCH = 500  # job ids per database question


class ResultRetention:
    def __init__(self, db: Store, results: ResultStore, retention_days: float,
                 orphan_age_s: float | None = None) -> None:
        self._db = db
        self._results = results
        self._retention_s = retention_days * DAY_S
        # PHONOS_RESULT_ORPHAN_AGE_S (0: orphans are never swept); ORPHAN_AGE_S, a day, unless given.
        self._orphan_age_s = ORPHAN_AGE_S if orphan_age_s is None else orphan_age_s
        self._foreign_store = False  # the last orphan sweep found another database's marker (or none): said once
        self._chore = Periodic("result-retention", SWEEP_EVERY_S, self.sweep, "results.retention_failed")
        self._orphan_chore = Periodic("result-orphans", ORPHAN_SWEEP_EVERY_S, self.sweep_orphans,
                                      "results.orphan_sweep_failed")

    @property
    def orphan_age_s(self) -> float:
        """How old a file no job keeps must be to be swept (0: never)."""
        return self._orphan_age_s

    @property
    def enabled(self) -> bool:
        return self._retention_s > 0

    async def sweep(self, at: float | None = None) -> int:
        """Delete the files of every completed job that ended more than the retention period before `at`
        (default: now); how many jobs lost their files."""
        if not self.enabled:
            return 0
        stamp = now() if at is None else at
        swept = 0
        while True:
            due = await self._db.read.fetch_all("results_past_retention",
                                                {"before": stamp - self._retention_s, "limit": SWEEP_BATCH})
            job_ids = [row["id"] for row in due]
            await asyncio.to_thread(self._remove_files, job_ids)
            await self._mark(job_ids)
            swept += len(due)
            metrics.RESULTS_SWEPT.inc(len(due))
            if len(due) < SWEEP_BATCH:
                break
        if swept:
            log.info("deleted the result files of jobs past their retention", extra={
                "action": "results.retention_swept", "jobs": swept})
        return swept

    async def _mark(self, job_ids: list[str]) -> None:
        """Record that these jobs' files are gone, again with backoff while the database cannot take it."""
        delay, failing = MARK_RETRY_FIRST_S, False
        while True:
            try:
                async with self._db.transaction() as tx:  # one commit per batch, not per job
                    await tx.execute_many("mark_results_deleted", [{"id": job_id, "now": now()} for job_id in job_ids])
                return
            except ServiceUnavailable as exc:
                if not failing:
                    failing = True
                    log.warning("result retention removed %d jobs' files but cannot record it (%s); retrying until "
                                "it can", len(job_ids), exc, extra={"action": "results.retention_mark_retry"})
                await asyncio.sleep(delay)
                delay = min(delay * 2, MARK_RETRY_MAX_S)

    def _remove_files(self, job_ids: list[str]) -> None:
        for job_id in job_ids:
            self._results.remove(job_id)

    async def sweep_orphans(self, at: float | None = None) -> int:
        """Remove the result files and temporaries last modified the orphan age (`ORPHAN_AGE_S` unless set) before
        `at` (default: now) that no job keeps (see the module's docstring); how many files went (none when the
        age is 0: the operator turned the sweep off)."""
        if self._orphan_age_s <= 0:
            return 0
        if not await self._store_is_ours():
            return 0
        cutoff = (time.time() if at is None else at) - self._orphan_age_s
        oldest_job = await self._db.read.scalar("oldest_job_created_at")
        # Files older than the first job predate this database: not its orphans (none at all: an empty database).
        floor = cutoff if oldest_job is None else float(oldest_job)
        files = temporaries = predating = 0
        for shard in await asyncio.to_thread(self._results.shards):
            old = await asyncio.to_thread(self._results.files_before, shard, cutoff)
            ids = sorted(old)
            for start in range(0, len(ids), ORPHAN_BATCH):
                batch = ids[start:start + ORPHAN_BATCH]
                # Asked right before the removal, so a row committed a moment ago counts.
                kept = {row["id"] for row in await self._db.read.fetch_all("jobs_keeping_results",
                                                                            {"ids": json.dumps(batch)})}
                if not await self._store_is_ours():  # swapped during the sweep (a remount): stop there
                    return files + temporaries
                doomed: list[Path] = []
                stale_temporaries: list[Path] = []
                for job_id in batch:
                    for path, modified in old[job_id]:
                        if is_temporary(path):
                            stale_temporaries.append(path)  # a day-old temporary is a killed writer's, whoever's
                        elif job_id in kept:
                            continue
                        elif modified < floor:
                            predating += 1
                        else:
                            doomed.append(path)
                files += await asyncio.to_thread(self._results.remove_before, doomed, cutoff)
                temporaries += await asyncio.to_thread(self._results.remove_before, stale_temporaries, cutoff)
        metrics.RESULT_ORPHANS_REMOVED.labels("file").inc(files)
        metrics.RESULT_ORPHANS_REMOVED.labels("temporary").inc(temporaries)
        if files or temporaries:
            log.info("removed %d result files no job keeps and %d temporaries, all over %g days old", files,
                     temporaries, self._orphan_age_s / DAY_S, extra={
                         "action": "results.orphans_removed", "files": files, "temporaries": temporaries})
        if predating:
            log.warning("left %d result files no job keeps alone: they are older than this database's first job "
                        "(a restored backup, or PHONOS_DATABASE_URL names another database?)", predating,
                        extra={"action": "results.orphans_predate_database", "files": predating})
        return files + temporaries

    async def _store_is_ours(self) -> bool:
        """The results directory's marker names this database (jobservice/result_store_identity.py): checked before
        the orphan sweep removes anything, since another database's files are all orphans to this one. A warning
        the first time it does not, and again only after it did once more."""
        database_id = (await self._db.read.fetch_one("store_identity"))["database_id"]
        marker = await asyncio.to_thread(read_marker, self._results.root)
        if marker == database_id:
            self._foreign_store = False
            return True
        if not self._foreign_store:
            self._foreign_store = True
            named = "has no marker" if marker is None else f"names database {marker or '(empty)'}"
            log.warning("the orphan sweep removes nothing: the results directory %s %s, not this database (%s): it "
                        "is not this database's result store now (storage remounted or swapped? PHONOS_DATABASE_URL "
                        "or PHONOS_DATA_DIR changed?)", self._results.root, named, database_id,
                        extra={"action": "results.orphan_sweep_foreign_store", "database_id": database_id,
                               "marker": marker})
        return False

    def start(self) -> None:
        if self.enabled:
            self._chore.start()
        if self._orphan_age_s > 0:  # retention on or off: orphans are files nothing will ever remove
            self._orphan_chore.start()

    async def stop(self) -> None:
        await self._chore.stop()
        await self._orphan_chore.stop()
