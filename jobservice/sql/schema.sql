-- Generated snapshot of the schema the migrations produce; tests/unit/test_service_units.py keeps it honest.
-- Regenerate: python -m jobservice.schema_snapshot > jobservice/sql/schema.sql

CREATE TABLE account_activity (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,  -- the order the changes were made in (cursor paging)
    account_id     INTEGER NOT NULL REFERENCES accounts(id),
    created_at     REAL NOT NULL,
    action         TEXT NOT NULL,                      -- api_key.created, session.signed_in, ...
    actor_kind     TEXT NOT NULL CHECK (actor_kind IN ('api_key', 'session', 'operator')),
    actor_key_id   TEXT,                               -- the key the caller used (actor_kind api_key)
    actor_key_name TEXT,                               -- that key's name then
    client_address TEXT,                               -- the caller's address (none for an operator)
    user_agent     TEXT,                               -- the browser's, on a dashboard sign-in
    key_id         TEXT,                               -- the target: a key, a webhook, a job's share link
    webhook_id     TEXT,
    job_id         TEXT,
    share_id       TEXT,
    details        TEXT                                -- a small JSON object (the fields a key update changed)
);

CREATE INDEX account_activity_account ON account_activity (account_id, id);

CREATE INDEX account_activity_created ON account_activity (created_at);

CREATE TABLE accounts (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    username    TEXT NOT NULL UNIQUE,
    email       TEXT,
    credits     INTEGER NOT NULL CHECK (credits >= 0),
    created_at  REAL NOT NULL
, password_hash TEXT, max_rate_limit INTEGER NOT NULL DEFAULT 60 CHECK (max_rate_limit > 0));

CREATE TRIGGER accounts_opening_grant AFTER INSERT ON accounts
BEGIN
    INSERT INTO credit_entries (account_id, created_at, amount, balance_after, kind, note)
    VALUES (NEW.id, NEW.created_at, NEW.credits, NEW.credits, 'grant', 'opening balance');
END;

CREATE TABLE api_keys (
    key_hash    TEXT PRIMARY KEY,            -- sha256 of the plain key; the key itself is never stored
    account_id  INTEGER NOT NULL REFERENCES accounts(id),
    prefix      TEXT NOT NULL,               -- first characters, to recognise a key in listings
    rate_limit  INTEGER NOT NULL CHECK (rate_limit > 0),  -- requests per minute
    created_at  REAL NOT NULL,
    revoked_at  REAL
, id TEXT, name TEXT, last_used_at REAL, expires_at REAL, scope TEXT NOT NULL DEFAULT 'full' CHECK (scope IN ('full', 'read_only')));

CREATE INDEX api_keys_account ON api_keys (account_id, created_at);

CREATE UNIQUE INDEX api_keys_id ON api_keys (id);

CREATE TABLE credit_entries (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,  -- the order the balance changed in
    account_id    INTEGER NOT NULL REFERENCES accounts(id),
    created_at    REAL NOT NULL,
    amount        INTEGER NOT NULL,                  -- signed: + credits in, - credits out
    balance_after INTEGER NOT NULL CHECK (balance_after >= 0),
    kind          TEXT NOT NULL CHECK (kind IN ('grant', 'charge', 'refund')),
    job_id        TEXT REFERENCES jobs(id),
    note          TEXT                               -- a short reason (never the job's name: deletion clears it)
);

CREATE INDEX credit_entries_account ON credit_entries (account_id, id);

CREATE INDEX deliveries_created ON webhook_deliveries (created_at);

CREATE INDEX deliveries_due ON webhook_deliveries (status, next_attempt_at);

CREATE INDEX deliveries_of_job ON webhook_deliveries (job_id);

CREATE INDEX deliveries_of_webhook ON webhook_deliveries (webhook_id, id);

CREATE INDEX deliveries_of_webhook_by_status ON webhook_deliveries (webhook_id, status, id);

CREATE TABLE idempotency_claims (
    account_id   INTEGER NOT NULL REFERENCES accounts(id),
    key          TEXT NOT NULL,
    owner        TEXT NOT NULL,              -- the job service and request holding it (released by it alone)
    expires_at   REAL NOT NULL,              -- unrenewed past this, another request may take the claim over
    PRIMARY KEY (account_id, key)
);

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

CREATE TABLE job_events (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id      TEXT NOT NULL REFERENCES jobs(id),
    account_id  INTEGER NOT NULL,
    status      TEXT NOT NULL,               -- the status the job entered
    created_at  REAL NOT NULL
);

CREATE INDEX job_events_account ON job_events (account_id, id);

CREATE INDEX job_events_job ON job_events (job_id, id);

CREATE TABLE job_inputs (
    job_id        TEXT PRIMARY KEY REFERENCES jobs(id),
    request_json  TEXT NOT NULL              -- the ValidatedJob the spec accepted
);

CREATE TABLE job_shares (
    id          TEXT PRIMARY KEY,                 -- the public id: shr_ + 16 hex digits
    job_id      TEXT NOT NULL REFERENCES jobs(id),
    token_hash  TEXT NOT NULL UNIQUE,             -- SHA-256 of the link's token, hex
    created_at  REAL NOT NULL,
    expires_at  REAL NOT NULL
);

CREATE INDEX job_shares_job ON job_shares (job_id);

CREATE TABLE jobs (
    id            TEXT PRIMARY KEY,
    seq           INTEGER NOT NULL UNIQUE,   -- submission order (ties in created_at)
    account_id    INTEGER NOT NULL REFERENCES accounts(id),
    model         TEXT NOT NULL,
    name          TEXT,
    status        TEXT NOT NULL CHECK (status IN ('pending', 'running', 'completed', 'failed', 'cancelled')),
    credits_used  INTEGER NOT NULL,
    refunded      INTEGER NOT NULL DEFAULT 0, -- credits returned; guards against double refunds
    attempts      INTEGER NOT NULL DEFAULT 0,
    error         TEXT,
    result_json   TEXT,                      -- {"metrics", "metadata", "artifacts": [{format, file, media_type}]}
    created_at    REAL NOT NULL,
    updated_at    REAL NOT NULL,
    started_at    REAL,
    finished_at   REAL,
    error_code TEXT, endpoint TEXT NOT NULL DEFAULT '/v1/predict', results_deleted_at REAL, deleted_at REAL, requeue_reason TEXT, requeued_at REAL, max_attempts INTEGER);

CREATE INDEX jobs_account_created ON jobs (account_id, seq DESC);

CREATE INDEX jobs_account_model_started ON jobs (account_id, model, started_at);

CREATE INDEX jobs_account_status_live ON jobs (account_id, status, model, deleted_at);

CREATE INDEX jobs_account_submitted ON jobs (account_id, created_at, model, credits_used);

CREATE TRIGGER jobs_debit_on_submit AFTER INSERT ON jobs
WHEN NEW.credits_used > 0
BEGIN
    UPDATE accounts SET credits = credits - NEW.credits_used WHERE id = NEW.account_id;
    INSERT INTO credit_entries (account_id, created_at, amount, balance_after, kind, job_id, note)
    VALUES (NEW.account_id, NEW.created_at, -NEW.credits_used,
            (SELECT credits FROM accounts WHERE id = NEW.account_id), 'charge', NEW.id, NEW.model || ' job submitted');
END;

CREATE TRIGGER jobs_event_on_submit AFTER INSERT ON jobs
BEGIN
    INSERT INTO job_events (job_id, account_id, status, created_at)
    VALUES (NEW.id, NEW.account_id, NEW.status, NEW.created_at);
END;

CREATE TRIGGER jobs_event_on_transition AFTER UPDATE OF status ON jobs
WHEN NEW.status <> OLD.status
BEGIN
    INSERT INTO job_events (job_id, account_id, status, created_at)
    VALUES (NEW.id, NEW.account_id, NEW.status, NEW.updated_at);
END;

CREATE VIRTUAL TABLE jobs_name_search USING fts5(account, name, tokenize = 'trigram case_sensitive 1', columnsize = 0);

CREATE TABLE 'jobs_name_search_config'(k PRIMARY KEY, v) WITHOUT ROWID;

CREATE TABLE 'jobs_name_search_content'(id INTEGER PRIMARY KEY, c0, c1);

CREATE TABLE 'jobs_name_search_data'(id INTEGER PRIMARY KEY, block BLOB);

CREATE TRIGGER jobs_name_search_delete AFTER DELETE ON jobs
BEGIN
    DELETE FROM jobs_name_search WHERE rowid = OLD.seq;
END;

CREATE TABLE 'jobs_name_search_idx'(segid, term, pgno, PRIMARY KEY(segid, term)) WITHOUT ROWID;

CREATE TRIGGER jobs_name_search_insert AFTER INSERT ON jobs
WHEN NEW.name IS NOT NULL
BEGIN
    INSERT INTO jobs_name_search (rowid, account, name)
    VALUES (NEW.seq, name_search_account(NEW.account_id), name_search_text(NEW.name));
END;

CREATE TABLE jobs_name_search_unicode (version TEXT NOT NULL);

CREATE TRIGGER jobs_name_search_update AFTER UPDATE OF name, seq, account_id ON jobs
BEGIN
    DELETE FROM jobs_name_search WHERE rowid = OLD.seq;
    INSERT INTO jobs_name_search (rowid, account, name)
    SELECT NEW.seq, name_search_account(NEW.account_id), name_search_text(NEW.name) WHERE NEW.name IS NOT NULL;
END;

CREATE INDEX jobs_queue ON jobs (status, model, account_id, seq);

CREATE TRIGGER jobs_refund AFTER UPDATE OF refunded ON jobs
WHEN NEW.refunded > OLD.refunded
BEGIN
    UPDATE accounts SET credits = credits + (NEW.refunded - OLD.refunded) WHERE id = NEW.account_id;
    INSERT INTO usage_hourly (account_id, hour, endpoint, model, status_code, transport, requests, credits_used,
                              elapsed_ms)
    VALUES (NEW.account_id, CAST(NEW.updated_at / 3600 AS INTEGER) * 3600, NEW.endpoint, NEW.model, 0, 'refund', 0,
            -(NEW.refunded - OLD.refunded), 0)
    ON CONFLICT (account_id, hour, endpoint, model, status_code, transport) DO UPDATE SET
        credits_used = credits_used + excluded.credits_used;
    INSERT INTO credit_entries (account_id, created_at, amount, balance_after, kind, job_id, note)
    VALUES (NEW.account_id, NEW.updated_at, NEW.refunded - OLD.refunded,
            (SELECT credits FROM accounts WHERE id = NEW.account_id), 'refund', NEW.id,
            NEW.model || CASE WHEN NEW.status = 'cancelled' AND NEW.requeue_reason IS NOT NULL
                                  THEN ' job cancelled while pending, after it was requeued (' || NEW.requeue_reason || ')'
                              WHEN NEW.status = 'cancelled' THEN ' job cancelled before it ran'
                              ELSE ' job failed (' || COALESCE(NEW.error_code, 'error') || ')' END);
END;

CREATE INDEX jobs_results_kept ON jobs (finished_at) WHERE status = 'completed' AND results_deleted_at IS NULL;

CREATE TRIGGER jobs_webhook_events AFTER UPDATE OF status ON jobs
WHEN NEW.status <> OLD.status AND NEW.status IN ('running', 'completed', 'failed', 'cancelled')
BEGIN
    INSERT INTO webhook_deliveries (webhook_id, event, payload, status, next_attempt_at, created_at, job_id)
    SELECT w.id,
           'job.' || CASE NEW.status WHEN 'running' THEN 'started' ELSE NEW.status END,
           json_object(
               'event', 'job.' || CASE NEW.status WHEN 'running' THEN 'started' ELSE NEW.status END,
               'timestamp', strftime('%Y-%m-%dT%H:%M:%SZ', CAST(NEW.updated_at AS INTEGER), 'unixepoch'),
               'data', json(
                   CASE
                       WHEN NEW.status = 'completed' THEN json_set(
                           json_object('job_id', NEW.id, 'status', NEW.status, 'model', NEW.model),
                           '$.download_url', '/v1/jobs/' || NEW.id || '/download')
                       WHEN NEW.status = 'failed' AND NEW.error IS NOT NULL THEN json_set(
                           json_object('job_id', NEW.id, 'status', NEW.status, 'model', NEW.model),
                           '$.error', NEW.error)
                       ELSE json_object('job_id', NEW.id, 'status', NEW.status, 'model', NEW.model)
                   END)),
           'pending', NEW.updated_at, NEW.updated_at, NEW.id
    FROM webhooks w
    WHERE w.account_id = NEW.account_id
      AND w.deleted_at IS NULL
      AND EXISTS (
          SELECT 1 FROM json_each(w.events)
          WHERE json_each.value = 'job.' || CASE NEW.status WHEN 'running' THEN 'started' ELSE NEW.status END
      );
END;

CREATE TABLE opaque_ids (
    kind        TEXT PRIMARY KEY,
    secret      TEXT NOT NULL,
    legacy_max  INTEGER NOT NULL
);

CREATE TABLE sessions (
    token_hash  TEXT PRIMARY KEY,            -- sha256 of the cookie value; the token itself is never stored
    account_id  INTEGER NOT NULL REFERENCES accounts(id),
    user_agent  TEXT,
    created_at  REAL NOT NULL,
    expires_at  REAL NOT NULL,
    revoked_at  REAL
, last_seen_at REAL, client_address TEXT);

CREATE INDEX sessions_account ON sessions (account_id);

CREATE TABLE sign_in_failures (
    key_hash  TEXT NOT NULL,
    failed_at REAL NOT NULL,
    PRIMARY KEY (key_hash, failed_at)
);

CREATE TABLE store_identity (
    singleton          INTEGER PRIMARY KEY CHECK (singleton = 1),
    database_id        TEXT NOT NULL,
    results_marked_at  REAL
);

CREATE TABLE usage_hourly (
    account_id   INTEGER NOT NULL,
    hour         INTEGER NOT NULL,           -- start of the UTC hour, unix seconds
    endpoint     TEXT NOT NULL,              -- the /v1 route template, e.g. /v1/jobs/{job_id}
    model        TEXT NOT NULL DEFAULT '',   -- the model of a job submission, '' otherwise
    status_code  INTEGER NOT NULL,           -- gRPC status code of the answer (0 = OK)
    transport    TEXT NOT NULL,              -- rest or grpc
    requests     INTEGER NOT NULL,
    credits_used INTEGER NOT NULL,
    elapsed_ms   REAL NOT NULL,              -- summed over the requests
    PRIMARY KEY (account_id, hour, endpoint, model, status_code, transport)
) WITHOUT ROWID;

CREATE INDEX usage_hourly_hour ON usage_hourly (hour);

CREATE TABLE webhook_deliveries (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    webhook_id      TEXT NOT NULL REFERENCES webhooks(id),
    event           TEXT NOT NULL,
    payload         TEXT NOT NULL,           -- the exact JSON body that is signed and sent
    status          TEXT NOT NULL CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL NOT NULL,
    last_status     INTEGER,
    last_error      TEXT,
    created_at      REAL NOT NULL
, last_attempt_at REAL, job_id TEXT);

CREATE TABLE webhooks (
    id          TEXT PRIMARY KEY,
    account_id  INTEGER NOT NULL REFERENCES accounts(id),
    url         TEXT NOT NULL,
    events      TEXT NOT NULL,               -- JSON array
    secret      TEXT NOT NULL,               -- HMAC key; needed in plain to sign
    created_at  REAL NOT NULL,
    deleted_at  REAL
, previous_secret TEXT, previous_secret_expires_at REAL);

CREATE INDEX webhooks_account ON webhooks (account_id);
