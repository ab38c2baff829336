-- Every state a job enters, in one ordered log: the source of the watch streams (jobservice/watch.py).
-- A trigger writes the event in the same statement as the transition, so the log can never miss or
-- invent a state change; `id` orders all events and is the resume cursor (SSE Last-Event-ID).
CREATE TABLE job_events (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id      TEXT NOT NULL REFERENCES jobs(id),
    account_id  INTEGER NOT NULL,
    status      TEXT NOT NULL,               -- the status the job entered
    created_at  REAL NOT NULL
);
CREATE INDEX job_events_job ON job_events (job_id, id);
CREATE INDEX job_events_account ON job_events (account_id, id);

CREATE TRIGGER jobs_event_on_submit AFTER INSERT ON jobs
BEGIN
    INSERT INTO job_events (job_id, account_id, status, created_at)
    VALUES (NEW.id, NEW.account_id, NEW.status, NEW.created_at);
END;

-- running → pending (a restart requeues a job) is a state change too.
CREATE TRIGGER jobs_event_on_transition AFTER UPDATE OF status ON jobs
WHEN NEW.status <> OLD.status
BEGIN
    INSERT INTO job_events (job_id, account_id, status, created_at)
    VALUES (NEW.id, NEW.account_id, NEW.status, NEW.updated_at);
END;

-- Jobs from before this migration start their log at their current state.
INSERT INTO job_events (job_id, account_id, status, created_at)
SELECT id, account_id, status, updated_at FROM jobs ORDER BY seq;
