-- Failed dashboard sign-ins (jobservice/sign_in_throttle.py): one row per failure per throttled key, so the limits
-- (per username, per client address) hold across every job service of a shared store and across restarts; they
-- lived in each process's memory before. `key_hash` is a SHA-256 of the key's scope and value, never the username
-- or address typed (a password typed into the username field is not kept). The primary key is the index the
-- throttle reads ("the limit-th newest failure of this key in the last minute"); rows older than the window are
-- purged by a chore.
CREATE TABLE sign_in_failures (
    key_hash  TEXT NOT NULL,
    failed_at REAL NOT NULL,
    PRIMARY KEY (key_hash, failed_at)
);
