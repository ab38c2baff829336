-- Share links of completed jobs (jobservice/shares.py): whoever holds a link reads the job and downloads its
-- files without an account. The token is 32 random bytes that only the link holds; the table keeps its SHA-256
-- (like API keys and sessions), so a leaked database opens no link. Revoking a link deletes its row; an
-- expired row stays until the job's next link is made. Deleting the job (DELETE /v1/jobs/{id}) deletes its
-- links in the same transaction (jobservice/jobs.py).
CREATE TABLE job_shares (
    id          TEXT PRIMARY KEY,                 -- the public id: shr_ + 16 hex digits
    job_id      TEXT NOT NULL REFERENCES jobs(id),
    token_hash  TEXT NOT NULL UNIQUE,             -- SHA-256 of the link's token, hex
    created_at  REAL NOT NULL,
    expires_at  REAL NOT NULL
);
CREATE INDEX job_shares_job ON job_shares (job_id);
