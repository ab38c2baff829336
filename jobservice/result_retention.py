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
"""

from __future__ import annotations

import asyncio
import logging

from jobservice import metrics
from jobservice.db import now
from jobservice.errors import ServiceUnavailable
from jobservice.periodic import Periodic
from jobservice.results import ResultStore
from jobservice.store import Store

log = logging.getLogger(__name__)

DAY_S = 86400.0
SWEEP_EVERY_S = 3600.0
SWEEP_BATCH = 200  # jobs per query; a long backlog (retention just switched on) takes several rounds
MARK_RETRY_FIRST_S = 0.2
MARK_RETRY_MAX_S = 10.0


class ResultRetention:
    def __init__(self, db: Store, results: ResultStore, retention_days: float) -> None:
        self._db = db
        self._results = results
        self._retention_s = retention_days * DAY_S
        self._chore = Periodic("result-retention", SWEEP_EVERY_S, self.sweep, "results.retention_failed")

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

    def start(self) -> None:
        if self.enabled:
            self._chore.start()

    async def stop(self) -> None:
        await self._chore.stop()
