-- Fair sharing (jobservice/fairness.py): an account's jobs waiting, an account's jobs of a model running,
-- and when it last had one of them started, each an index lookup.
CREATE INDEX jobs_account_status ON jobs (account_id, status, model);
CREATE INDEX jobs_account_model_started ON jobs (account_id, model, started_at);
