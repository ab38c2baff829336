-- Indexes for a lab's scale (10^5-10^6 jobs; bench/query_scale.py measures each hot query with and without them).
--
-- jobs_account_status gains deleted_at (jobs_account_status_live): a job list's total (count_jobs, every page of
-- GET /v1/jobs) and the dashboard's counts (job_counts) are read from the index alone, not from every row of the
-- account (54 ms -> 2 ms for an account of 22,000 jobs). It serves every use of the old index, which goes.
CREATE INDEX jobs_account_status_live ON jobs (account_id, status, model, deleted_at);

-- An account's jobs by submission time, with what usage_by_model sums (the usage page): the period's jobs only,
-- from the index alone, not every job the account ever submitted. created_at never changes: only an insert pays.
CREATE INDEX jobs_account_submitted ON jobs (account_id, created_at, model, credits_used);

-- Each model's queue by status, then account, replacing jobs_status (status, seq): the queue places' per-account
-- turns (queue_places) read one (status, model) range of it in account order, and a model's waiting jobs
-- (fail_waiting_jobs) are found without reading the other models'. What read jobs_status by status alone still does
-- (the jobs pending or running at a start, the metrics' active jobs), then sorts the few it finds.
CREATE INDEX jobs_queue ON jobs (status, model, account_id, seq);

-- The replaced ones, last. One transaction with the builds (jobservice/db.py _migrate), at the start, before the
-- service takes requests: about 1 s per 100,000 jobs for the three.
DROP INDEX jobs_account_status;
DROP INDEX jobs_status;
