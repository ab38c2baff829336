-- Idempotency-Key: the first response to a POST, kept per account so a retry with the same key and
-- the same request gets it back instead of running again (jobservice/idempotency.py). A submission
-- stores its row in the same transaction as its jobs, so a stored job always has its key's response.
CREATE TABLE idempotency_keys (
    account_id   INTEGER NOT NULL REFERENCES accounts(id),
    key          TEXT NOT NULL,
    method       TEXT NOT NULL,              -- the rpc the key was first used on, e.g. Predict
    fingerprint  TEXT NOT NULL,              -- sha256 of the request message: a different request is refused
    response     BLOB NOT NULL,              -- the serialized response message, replayed to retries
    created_at   REAL NOT NULL,
    PRIMARY KEY (account_id, key)
);
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);
