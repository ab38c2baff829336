-- As SQLite's 0080_jobs_at_scale.sql (bench/query_scale.py measures each hot query with and without them).
--
-- jobs_account_status gains deleted_at (jobs_account_status_live), so a job list's total (count_jobs) and the
-- dashboard's counts (job_counts) can be read from the index (an index-only scan once autovacuum has set the
-- visibility map); it serves every use of the old one.
CREATE INDEX jobs_account_status_live ON jobs (account_id, status, model, deleted_at);

-- An account's jobs by submission time serve the usage page's per-model section (usage_by_model) for the period
-- asked, not every job the account ever submitted.
CREATE INDEX jobs_account_submitted ON jobs (account_id, created_at, model, credits_used);

-- Each model's queue by status, then account, replacing jobs_status (status, seq). A fair claim (claim_next_job: the
-- accounts waiting for a model) and the queue places' per-account turns (queue_places) read one (status, model)
-- range of it, in account order, where PostgreSQL walked all of jobs_account_status (100,000 entries) for each
-- claim. What read jobs_status by status alone still does (the jobs pending or running at a start, the metrics'
-- active jobs), then sorts the few it finds.
CREATE INDEX jobs_queue ON jobs (status, model, account_id, seq);

-- Plain CREATE INDEX, not CONCURRENTLY: the migrations run in one transaction under an advisory lock
-- (jobservice/pg.py migrate), which CONCURRENTLY cannot run in. Each build holds a SHARE lock on jobs until the
-- migration commits: submissions and status changes wait (reads do not), 1-2 s per 100,000 jobs for the three
-- (bench/query_scale.py prints it), once, at the upgrade's start, when the old services are stopped anyway (README
-- "Upgrades"). The drops come last: DROP INDEX locks the table against reads too, so only for the moment before
-- the commit.
DROP INDEX jobs_account_status;
DROP INDEX jobs_status;
