-- As SQLite's 0041_fair_claims.sql: what the fair claim (claim_next_job) and the queued-jobs limit look up.
CREATE INDEX jobs_account_status ON jobs (account_id, status, model);
CREATE INDEX jobs_account_model_started ON jobs (account_id, model, started_at);
