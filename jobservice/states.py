"""The job state machine: pending → running → completed | failed | cancelled.

Every transition is a compare-and-set in SQL (see sql/queries.sql: claim_job,
complete_job, fail_job, cancel_job, requeue_job, release_job); a transition that finds no
row in an allowed source state is refused.
"""

from __future__ import annotations

from enum import StrEnum


class JobStatus(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


ACTIVE = frozenset({JobStatus.PENDING, JobStatus.RUNNING})
TERMINAL = frozenset({JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED})

# Allowed transitions; documentation and the state-machine test read this table.
TRANSITIONS: dict[JobStatus, frozenset[JobStatus]] = {
    JobStatus.PENDING: frozenset({JobStatus.RUNNING, JobStatus.FAILED, JobStatus.CANCELLED}),
    # running → pending: the process died mid-run and the job is retried after restart (the run counts), or
    # it was stopped gracefully or found the model server unavailable (released: the run does not count).
    JobStatus.RUNNING: frozenset({JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED, JobStatus.PENDING}),
    JobStatus.COMPLETED: frozenset(),
    JobStatus.FAILED: frozenset(),
    JobStatus.CANCELLED: frozenset(),
}
