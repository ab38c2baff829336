-- Idempotency-Key: which request is running a key's work now (jobservice/idempotency.py). A retry with the same
-- key waits while the claim is held and then replays the stored response; as a row of the store, not a lock of one
-- process, the claim holds across job services that share one PostgreSQL (the same table there). The owner renews
-- it while its work runs; one past expires_at is a dead service's, and the next request with the key takes it over.
CREATE TABLE idempotency_claims (
    account_id   INTEGER NOT NULL REFERENCES accounts(id),
    key          TEXT NOT NULL,
    owner        TEXT NOT NULL,              -- the job service and request holding it (released by it alone)
    expires_at   REAL NOT NULL,              -- unrenewed past this, another request may take the claim over
    PRIMARY KEY (account_id, key)
);
