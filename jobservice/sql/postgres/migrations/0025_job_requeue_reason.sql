-- As SQLite's 0075_job_requeue_reason.sql: why a job went back from running to pending (a RequeueReason code of
-- the latest hand-back), when, and the runs it may have as the service that handed it back counted them; NULL
-- while the job never went back (and on every job from before).
ALTER TABLE jobs ADD COLUMN requeue_reason TEXT;
ALTER TABLE jobs ADD COLUMN requeued_at DOUBLE PRECISION;
ALTER TABLE jobs ADD COLUMN max_attempts INTEGER;
