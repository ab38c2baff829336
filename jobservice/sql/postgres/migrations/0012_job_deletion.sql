-- A job its owner deleted, as SQLite's 0061_job_deletion.sql: gone from the API, its stored request and
-- result files removed, its name, error and result cleared; the row stays for what was charged.
ALTER TABLE jobs ADD COLUMN deleted_at DOUBLE PRECISION;
