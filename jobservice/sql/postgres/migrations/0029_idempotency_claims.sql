-- As SQLite's 0079_idempotency_claims.sql: which request is running an Idempotency-Key's work now
-- (jobservice/idempotency.py). Was a lock of one process: a retry that a load balancer sent to another job service
-- while the first still worked ran the work again (two jobs charged, a webhook test event sent twice). The owner
-- renews its claim while it works; one past expires_at is a dead service's and is taken over by the next retry.
CREATE TABLE idempotency_claims (
    account_id   BIGINT NOT NULL REFERENCES accounts(id),
    key          TEXT NOT NULL,
    owner        TEXT NOT NULL,              -- the job service and request holding it (released by it alone)
    expires_at   DOUBLE PRECISION NOT NULL,  -- unrenewed past this, another request may take the claim over
    PRIMARY KEY (account_id, key)
);
