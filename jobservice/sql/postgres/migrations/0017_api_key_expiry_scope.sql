-- API keys that expire and read-only keys, as SQLite's 0067_api_key_expiry_scope.sql. Keys from before never
-- expire and keep full scope.
ALTER TABLE api_keys ADD COLUMN expires_at DOUBLE PRECISION;
ALTER TABLE api_keys ADD COLUMN scope TEXT NOT NULL DEFAULT 'full' CHECK (scope IN ('full', 'read_only'));
