-- Why a job went back from running to pending, so its owner is told (the job's `attempt`, `max_attempts` and
-- `requeue_reason` in the API; jobservice/dispatch.py's RequeueReason). Before, a job whose job service died or
-- stopped mid-run showed running -> pending -> running with nothing saying why or which run this was.
--
-- requeue_reason: a RequeueReason code of the latest hand-back; NULL while the job never went back.
-- requeued_at: when (a watch replaying an older pending event must not show the newer reason on it).
-- max_attempts: the runs the job may have, as the service that handed it back counted them (PHONOS_MAX_ATTEMPTS),
--   so "attempt 2 of 3" reads the limit it is held to, not whatever a reader's own settings say.
-- All NULL on the rows of jobs from before: nothing was recorded then.
ALTER TABLE jobs ADD COLUMN requeue_reason TEXT;
ALTER TABLE jobs ADD COLUMN requeued_at REAL;
ALTER TABLE jobs ADD COLUMN max_attempts INTEGER;
