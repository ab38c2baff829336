-- As SQLite's 0080_jobs_at_scale.sql (bench/query_scale.py measures each hot query with and without them):
-- jobs_account_status gains deleted_at, so a job list's total (count_jobs) and the dashboard's counts (job_counts)
-- can be read from the index (an index-only scan once autovacuum has set the visibility map), and an account's jobs
-- by submission time serve the usage page's per-model section (usage_by_model) for the period asked, not every job
-- the account ever submitted.
--
-- Plain CREATE INDEX, not CONCURRENTLY: the migrations run in one transaction under an advisory lock
-- (jobservice/pg.py migrate), which CONCURRENTLY cannot run in. The build holds a SHARE lock on jobs: submissions and
-- status changes wait for it (reads do not), about 0.1 s per 100,000 jobs (bench/query_scale.py prints it), once,
-- during the upgrade's start (README "Upgrading").
DROP INDEX jobs_account_status;
CREATE INDEX jobs_account_status_live ON jobs (account_id, status, model, deleted_at);
CREATE INDEX jobs_account_submitted ON jobs (account_id, created_at, model, credits_used);

-- Each model's queue by status, then account: jobs_status (status, seq) replaced. A fair claim (PostgreSQL's
-- claim_next_job: the accounts waiting for a model) and the queue places' per-account turns (queue_places) read one
-- (status, model) range of it, in account order, instead of every entry of an index that starts with the account
-- (PostgreSQL walked all of jobs_account_status, 100,000 entries, for each claim). What read jobs_status by status
-- alone still does (the jobs pending or running at a start, the metrics' active jobs), then sorts the few it finds.
DROP INDEX jobs_status;
CREATE INDEX jobs_queue ON jobs (status, model, account_id, seq);
