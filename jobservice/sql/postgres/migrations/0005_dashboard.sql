-- The dashboard, as SQLite's 0010_dashboard.sql: key ids, names and per-account rate-limit ceilings, last use
-- per key, passwords and browser sessions.

-- Argon2id hash (PHC string) of the dashboard password; NULL: the account cannot sign in.
ALTER TABLE accounts ADD COLUMN password_hash TEXT;
-- The highest rate limit (requests per minute) a key of this account may be given.
ALTER TABLE accounts ADD COLUMN max_rate_limit INTEGER NOT NULL DEFAULT 60 CHECK (max_rate_limit > 0);
UPDATE accounts SET max_rate_limit = GREATEST(
    max_rate_limit, COALESCE((SELECT MAX(k.rate_limit) FROM api_keys k WHERE k.account_id = accounts.id), 0));

-- A public id (the hash is a secret's fingerprint and stays internal) and a human name.
ALTER TABLE api_keys ADD COLUMN id TEXT;
ALTER TABLE api_keys ADD COLUMN name TEXT;
UPDATE api_keys SET id = 'key_' || substr(md5(random()::text || key_hash), 1, 16) WHERE id IS NULL;
CREATE UNIQUE INDEX api_keys_id ON api_keys (id);
CREATE INDEX api_keys_account ON api_keys (account_id, created_at);

-- When the key last made a request: written with the usage counters (jobservice/usage.py).
ALTER TABLE api_keys ADD COLUMN last_used_at DOUBLE PRECISION;

CREATE TABLE sessions (
    token_hash  TEXT PRIMARY KEY,            -- sha256 of the cookie value; the token itself is never stored
    account_id  BIGINT NOT NULL REFERENCES accounts(id),
    user_agent  TEXT,
    created_at  DOUBLE PRECISION NOT NULL,
    expires_at  DOUBLE PRECISION NOT NULL,
    revoked_at  DOUBLE PRECISION
);
CREATE INDEX sessions_account ON sessions (account_id);
