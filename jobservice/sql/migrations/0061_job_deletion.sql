-- A job its owner deleted (DELETE /v1/jobs/{id}): gone from the API (404, out of lists, counts and watch
-- replays), its stored request and result files removed, its name, error and result cleared. The row stays
-- for what was charged (usage and the balance already hold it) and for the events that reference it.
ALTER TABLE jobs ADD COLUMN deleted_at REAL;
