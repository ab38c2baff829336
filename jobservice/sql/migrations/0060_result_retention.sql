-- Result retention (PHONOS_RESULT_RETENTION_DAYS, jobservice/result_retention.py): when the service deleted a
-- completed job's result files. The job, its scores and metadata stay; its downloads answer 410 from then on.
ALTER TABLE jobs ADD COLUMN results_deleted_at REAL;

-- The sweep's query: completed jobs whose files are still there, oldest first.
CREATE INDEX jobs_results_kept ON jobs (finished_at) WHERE status = 'completed' AND results_deleted_at IS NULL;
