-- Indexes for a lab's scale (10^5-10^6 jobs; bench/query_scale.py measures each hot query with and without them).
--
-- jobs_account_status gains deleted_at: a job list's total (count_jobs, every page of GET /v1/jobs) and the
-- dashboard's counts (job_counts) are then read from the index alone, not from every row of the account (22 ms -> 2 ms
-- for an account of 22,000 jobs). It replaces the old index, whose every use (account_id, status, model) it serves,
-- so a status change still updates as many indexes as before.
DROP INDEX jobs_account_status;
CREATE INDEX jobs_account_status_live ON jobs (account_id, status, model, deleted_at);

-- An account's jobs by submission time, with what usage_by_model sums (the usage page): the period's jobs only,
-- from the index alone, not every job the account ever submitted. created_at never changes: only an insert pays.
CREATE INDEX jobs_account_submitted ON jobs (account_id, created_at, model, credits_used);

-- Each model's queue by status, then account: jobs_status (status, seq) replaced. A fair claim (PostgreSQL's
-- claim_next_job: the accounts waiting for a model) and the queue places' per-account turns (queue_places) read one
-- (status, model) range of it, in account order, instead of every entry of an index that starts with the account
-- (PostgreSQL walked all of jobs_account_status, 100,000 entries, for each claim). What read jobs_status by status
-- alone still does (the jobs pending or running at a start, the metrics' active jobs), then sorts the few it finds.
DROP INDEX jobs_status;
CREATE INDEX jobs_queue ON jobs (status, model, account_id, seq);
