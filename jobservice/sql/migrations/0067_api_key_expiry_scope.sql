-- API keys that expire and read-only keys (jobservice/api_keys.py). expires_at: when the key stops working
-- (NULL: never); authentication compares it with the clock on every request, so a key stops at its expiry
-- whatever was cached. scope: 'full' (every route) or 'read_only' (the rpcs marked (phonos.v1.doc).read_only).
-- Keys from before never expire and keep full scope.
ALTER TABLE api_keys ADD COLUMN expires_at REAL;
ALTER TABLE api_keys ADD COLUMN scope TEXT NOT NULL DEFAULT 'full' CHECK (scope IN ('full', 'read_only'));
