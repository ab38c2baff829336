-- Share links of completed jobs, as SQLite's 0068_job_shares.sql: only the token's SHA-256 is kept; revoking
-- a link deletes its row; deleting the job deletes its links.
CREATE TABLE job_shares (
    id          TEXT PRIMARY KEY,
    job_id      TEXT NOT NULL REFERENCES jobs(id),
    token_hash  TEXT NOT NULL UNIQUE,
    created_at  DOUBLE PRECISION NOT NULL,
    expires_at  DOUBLE PRECISION NOT NULL
);
CREATE INDEX job_shares_job ON job_shares (job_id);
