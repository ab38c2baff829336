PRAGMA foreign_keys=OFF;
BEGIN TRANSACTION;
CREATE TABLE accounts (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    username    TEXT NOT NULL UNIQUE,
    email       TEXT,
    credits     INTEGER NOT NULL CHECK (credits >= 0),
    created_at  REAL NOT NULL
, password_hash TEXT, max_rate_limit INTEGER NOT NULL DEFAULT 60 CHECK (max_rate_limit > 0));
INSERT INTO accounts VALUES(1,'ada','ada@example.org',980,1796131512.5443665981,NULL,600);
CREATE TABLE api_keys (
    key_hash    TEXT PRIMARY KEY,            -- sha256 of the plain key; the key itself is never stored
    account_id  INTEGER NOT NULL REFERENCES accounts(id),
    prefix      TEXT NOT NULL,               -- first characters, to recognise a key in listings
    rate_limit  INTEGER NOT NULL CHECK (rate_limit > 0),  -- requests per minute
    created_at  REAL NOT NULL,
    revoked_at  REAL
, id TEXT, name TEXT, last_used_at REAL);
INSERT INTO api_keys VALUES('799ea35668b5a71a2b1301a5a96877a96f0ab4adccb8bceae827328a9ac5a3f5',1,'pk_I8xxX_n',600,1796131512.5449309348,NULL,'key_d051580a3f9aadfc','first key',1796131513.3211779594);
INSERT INTO api_keys VALUES('7fd6f7410e98adcc3385fd12154bfe7fa012eb033ef49312c500128cdcbdc5ee',1,'pk_6dqwU3f',30,1796131512.5526304244,NULL,'key_d152b6108080aec1','pipeline',NULL);
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
    error_code TEXT, endpoint TEXT NOT NULL DEFAULT '/v1/predict', results_deleted_at REAL);
INSERT INTO jobs VALUES('c72ae9c8-22bf-466f-9f51-ac31a1dc9207',1,1,'esmfold','done','completed',10,0,1,NULL,'{"metrics": {"twin": 1}, "metadata": {"weights": "none: in-memory inference twin (no model ran)", "timings": {"queued_s": 0.0018, "triton_call_s": 0.0005, "store_s": 0.0188, "service_total_s": 0.0193}}, "artifacts": [{"format": "pdb", "file": "c72ae9c8-22bf-466f-9f51-ac31a1dc9207.pdb", "media_type": "text/plain"}, {"format": "cif", "file": "c72ae9c8-22bf-466f-9f51-ac31a1dc9207.cif", "media_type": "text/plain"}, {"format": "json", "file": "c72ae9c8-22bf-466f-9f51-ac31a1dc9207.json", "media_type": "text/plain"}, {"format": "plddt_plot", "file": "c72ae9c8-22bf-466f-9f51-ac31a1dc9207.plddt_plot", "media_type": "text/plain"}, {"format": "pae_plot", "file": "c72ae9c8-22bf-466f-9f51-ac31a1dc9207.pae_plot", "media_type": "text/plain"}, {"format": "zip", "file": "c72ae9c8-22bf-466f-9f51-ac31a1dc9207.zip", "media_type": "text/plain"}]}',1796131512.5629148483,1796131512.5868318081,1796131512.5647115707,1796131512.5868318081,NULL,'/v1/predict',NULL);
INSERT INTO jobs VALUES('bef51cba-cbb4-40b9-8845-5197d099b38d',2,1,'esmfold','broken','failed',10,10,1,'esmfold failed: RuntimeError: scripted model failure; credits were refunded.',NULL,1796131512.6888701915,1796131512.6928999423,1796131512.6898732184,1796131512.6928999423,'model_error','/v1/predict',NULL);
INSERT INTO jobs VALUES('4deabb0e-cb8b-48bd-883c-bb8c262596e7',3,1,'esmfold','waiting','pending',10,0,0,NULL,NULL,1796131512.8037235736,1796131512.8066551684,1796131512.8047516346,NULL,NULL,'/v1/predict',NULL);
CREATE TABLE webhooks (
    id          TEXT PRIMARY KEY,
    account_id  INTEGER NOT NULL REFERENCES accounts(id),
    url         TEXT NOT NULL,
    events      TEXT NOT NULL,               -- JSON array
    secret      TEXT NOT NULL,               -- HMAC key; needed in plain to sign
    created_at  REAL NOT NULL,
    deleted_at  REAL
);
INSERT INTO webhooks VALUES('wh_124fae2d5a2b4a0a8fb11a258003cc59',1,'http://127.0.0.1:9/hook','["job.completed", "job.failed"]','whsec_qUWFHBEo4QSle1MhzIuL0jbKcIC54IQHaDH7Qb8Tcc0',1796131512.5582163333,NULL);
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
);
INSERT INTO webhook_deliveries VALUES(1,'wh_124fae2d5a2b4a0a8fb11a258003cc59','job.completed','{"event":"job.completed","timestamp":"2026-12-01T13:25:12Z","data":{"job_id":"c72ae9c8-22bf-466f-9f51-ac31a1dc9207","status":"completed","model":"esmfold","download_url":"/v1/jobs/c72ae9c8-22bf-466f-9f51-ac31a1dc9207/download"}}','pending',1,1796132112.5901222228,NULL,'unreachable (ClientConnectorError)',1796131512.5868318081);
INSERT INTO webhook_deliveries VALUES(2,'wh_124fae2d5a2b4a0a8fb11a258003cc59','job.failed','{"event":"job.failed","timestamp":"2026-12-01T13:25:12Z","data":{"job_id":"bef51cba-cbb4-40b9-8845-5197d099b38d","status":"failed","model":"esmfold","error":"esmfold failed: RuntimeError: scripted model failure; credits were refunded."}}','pending',1,1796132112.6981959343,NULL,'unreachable (ClientConnectorError)',1796131512.6928999423);
CREATE TABLE sessions (
    token_hash  TEXT PRIMARY KEY,            -- sha256 of the cookie value; the token itself is never stored
    account_id  INTEGER NOT NULL REFERENCES accounts(id),
    user_agent  TEXT,
    created_at  REAL NOT NULL,
    expires_at  REAL NOT NULL,
    revoked_at  REAL
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
INSERT INTO usage_hourly VALUES(1,1796130000,'/v1/account','',0,'rest',1,0,0.91732500004582107067);
INSERT INTO usage_hourly VALUES(1,1796130000,'/v1/jobs/{job_id}','',0,'rest',5,0,4.3645690093399025499);
INSERT INTO usage_hourly VALUES(1,1796130000,'/v1/jobs/{job_id}/download','',0,'rest',1,0,2.3448560023098252713);
INSERT INTO usage_hourly VALUES(1,1796130000,'/v1/keys','',0,'rest',1,0,1.7160319985123351216);
INSERT INTO usage_hourly VALUES(1,1796130000,'/v1/predict','esmfold',0,'refund',0,-10,0.0);
INSERT INTO usage_hourly VALUES(1,1796130000,'/v1/predict','esmfold',0,'rest',3,30,5.2910829908796586096);
INSERT INTO usage_hourly VALUES(1,1796130000,'/v1/webhooks','',0,'rest',1,0,1.5349949972005560994);
CREATE TABLE job_events (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id      TEXT NOT NULL REFERENCES jobs(id),
    account_id  INTEGER NOT NULL,
    status      TEXT NOT NULL,               -- the status the job entered
    created_at  REAL NOT NULL
);
INSERT INTO job_events VALUES(1,'c72ae9c8-22bf-466f-9f51-ac31a1dc9207',1,'pending',1796131512.5629148483);
INSERT INTO job_events VALUES(2,'c72ae9c8-22bf-466f-9f51-ac31a1dc9207',1,'running',1796131512.5647115707);
INSERT INTO job_events VALUES(3,'c72ae9c8-22bf-466f-9f51-ac31a1dc9207',1,'completed',1796131512.5868318081);
INSERT INTO job_events VALUES(4,'bef51cba-cbb4-40b9-8845-5197d099b38d',1,'pending',1796131512.6888701915);
INSERT INTO job_events VALUES(5,'bef51cba-cbb4-40b9-8845-5197d099b38d',1,'running',1796131512.6898732184);
INSERT INTO job_events VALUES(6,'bef51cba-cbb4-40b9-8845-5197d099b38d',1,'failed',1796131512.6928999423);
INSERT INTO job_events VALUES(7,'4deabb0e-cb8b-48bd-883c-bb8c262596e7',1,'pending',1796131512.8037235736);
INSERT INTO job_events VALUES(8,'4deabb0e-cb8b-48bd-883c-bb8c262596e7',1,'running',1796131512.8047516346);
INSERT INTO job_events VALUES(9,'4deabb0e-cb8b-48bd-883c-bb8c262596e7',1,'pending',1796131512.8066551684);
CREATE TABLE idempotency_keys (
    account_id   INTEGER NOT NULL REFERENCES accounts(id),
    key          TEXT NOT NULL,
    method       TEXT NOT NULL,              -- the rpc the key was first used on, e.g. Predict
    fingerprint  TEXT NOT NULL,              -- sha256 of the request message: a different request is refused
    response     BLOB NOT NULL,              -- the serialized response message, replayed to retries
    created_at   REAL NOT NULL,
    PRIMARY KEY (account_id, key)
);
CREATE TABLE job_inputs (
    job_id        TEXT PRIMARY KEY REFERENCES jobs(id),
    request_json  TEXT NOT NULL              -- the ValidatedJob the spec accepted
);
INSERT INTO job_inputs VALUES('c72ae9c8-22bf-466f-9f51-ac31a1dc9207','{"sequence": "MKTVRQERLK", "params": {"num_recycles": 4, "chunk_size": 128, "relax": "none"}}');
INSERT INTO job_inputs VALUES('bef51cba-cbb4-40b9-8845-5197d099b38d','{"sequence": "MKTVRQERLKS", "params": {"num_recycles": 4, "chunk_size": 128, "relax": "none"}}');
INSERT INTO job_inputs VALUES('4deabb0e-cb8b-48bd-883c-bb8c262596e7','{"sequence": "MKTVRQERLKSI", "params": {"num_recycles": 4, "chunk_size": 128, "relax": "none"}}');
DELETE FROM sqlite_sequence;
INSERT INTO sqlite_sequence VALUES('job_events',9);
INSERT INTO sqlite_sequence VALUES('accounts',1);
INSERT INTO sqlite_sequence VALUES('webhook_deliveries',2);
CREATE INDEX jobs_account_created ON jobs (account_id, seq DESC);
CREATE INDEX jobs_status ON jobs (status, seq);
CREATE INDEX webhooks_account ON webhooks (account_id);
CREATE INDEX deliveries_due ON webhook_deliveries (status, next_attempt_at);
CREATE TRIGGER jobs_debit_on_submit AFTER INSERT ON jobs
WHEN NEW.credits_used > 0
BEGIN
    UPDATE accounts SET credits = credits - NEW.credits_used WHERE id = NEW.account_id;
END;
CREATE TRIGGER jobs_webhook_events AFTER UPDATE OF status ON jobs
WHEN NEW.status <> OLD.status AND NEW.status IN ('running', 'completed', 'failed')
BEGIN
    INSERT INTO webhook_deliveries (webhook_id, event, payload, status, next_attempt_at, created_at)
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
           'pending', NEW.updated_at, NEW.updated_at
    FROM webhooks w
    WHERE w.account_id = NEW.account_id
      AND w.deleted_at IS NULL
      AND EXISTS (
          SELECT 1 FROM json_each(w.events)
          WHERE json_each.value = 'job.' || CASE NEW.status WHEN 'running' THEN 'started' ELSE NEW.status END
      );
END;
CREATE UNIQUE INDEX api_keys_id ON api_keys (id);
CREATE INDEX api_keys_account ON api_keys (account_id, created_at);
CREATE INDEX sessions_account ON sessions (account_id);
CREATE INDEX usage_hourly_hour ON usage_hourly (hour);
CREATE INDEX job_events_job ON job_events (job_id, id);
CREATE INDEX job_events_account ON job_events (account_id, id);
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
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);
CREATE INDEX jobs_account_status ON jobs (account_id, status, model);
CREATE INDEX jobs_account_model_started ON jobs (account_id, model, started_at);
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
END;
CREATE INDEX jobs_results_kept ON jobs (finished_at) WHERE status = 'completed' AND results_deleted_at IS NULL;
COMMIT;
PRAGMA user_version=60;
