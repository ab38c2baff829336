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
"""

from __future__ import annotations

import asyncio
import logging

from jobservice import metrics
from jobservice.db import now
from jobservice.periodic import Periodic
from jobservice.results import ResultStore
from jobservice.store import Store

log = logging.getLogger(__name__)

DAY_S = 86400.0
SWEEP_EVERY_S = 3600.0
SWEEP_BATCH = 200  # jobs per query; a long backlog (retention just switched on) takes several rounds


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
            async with self._db.transaction() as tx:  # one commit per batch, not per job
                await tx.execute_many("mark_results_deleted", [{"id": job_id, "now": now()} for job_id in job_ids])
            swept += len(due)
            metrics.RESULTS_SWEPT.inc(len(due))
            if len(due) < SWEEP_BATCH:
                break
        if swept:
            log.info("deleted the result files of jobs past their retention", extra={
                "action": "results.retention_swept", "jobs": swept})
        return swept

    def _remove_files(self, job_ids: list[str]) -> None:
        for job_id in job_ids:
            self._results.remove(job_id)

    def start(self) -> None:
        if self.enabled:
            self._chore.start()

    async def stop(self) -> None:
        await self._chore.stop()
