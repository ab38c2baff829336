-- Credits and webhook events move with the job row they belong to, inside the same statement, exactly as
-- the SQLite triggers (jobservice/sql/migrations/0002_triggers.sql) do: a crash can never separate a job
-- from its charge, refund or event, and no Python read-then-write is involved.

-- A submission debits its cost; the accounts CHECK (credits >= 0) rejects an overdraft,
-- and with it the INSERT of the job.
CREATE FUNCTION jobs_debit_on_submit() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE accounts SET credits = credits - NEW.credits_used WHERE id = NEW.account_id;
    RETURN NULL;
END $$;
CREATE TRIGGER jobs_debit_on_submit AFTER INSERT ON jobs
FOR EACH ROW WHEN (NEW.credits_used > 0) EXECUTE FUNCTION jobs_debit_on_submit();

-- A refund is recorded in jobs.refunded once (the transitions set it only on the way to a terminal
-- state); the balance follows.
CREATE FUNCTION jobs_refund() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE accounts SET credits = credits + (NEW.refunded - OLD.refunded) WHERE id = NEW.account_id;
    RETURN NULL;
END $$;
CREATE TRIGGER jobs_refund AFTER UPDATE OF refunded ON jobs
FOR EACH ROW WHEN (NEW.refunded > OLD.refunded) EXECUTE FUNCTION jobs_refund();

-- job.started / job.completed / job.failed: one delivery per subscribed webhook, payload as the seed shows
-- (the same JSON document as SQLite's, keys in the same order; json_build_object spaces it differently).
-- Every job service hears the NOTIFY when the transaction commits, and the one that claims it sends it.
CREATE FUNCTION jobs_webhook_events() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    event TEXT := 'job.' || CASE NEW.status WHEN 'running' THEN 'started' ELSE NEW.status END;
    data JSON := CASE
        WHEN NEW.status = 'completed' THEN json_build_object(
            'job_id', NEW.id, 'status', NEW.status, 'model', NEW.model, 'download_url', '/v1/jobs/' || NEW.id || '/download')
        WHEN NEW.status = 'failed' AND NEW.error IS NOT NULL THEN json_build_object(
            'job_id', NEW.id, 'status', NEW.status, 'model', NEW.model, 'error', NEW.error)
        ELSE json_build_object('job_id', NEW.id, 'status', NEW.status, 'model', NEW.model)
    END;
BEGIN
    INSERT INTO webhook_deliveries (webhook_id, event, payload, status, next_attempt_at, created_at)
    SELECT w.id, event,
           json_build_object(
               'event', event,
               'timestamp', to_char(to_timestamp(floor(NEW.updated_at)) AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
               'data', data)::text,
           'pending', NEW.updated_at, NEW.updated_at
    FROM webhooks w
    WHERE w.account_id = NEW.account_id
      AND w.deleted_at IS NULL
      AND w.events::jsonb ? event;
    IF FOUND THEN
        PERFORM pg_notify('phonos_webhooks', '');
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER jobs_webhook_events AFTER UPDATE OF status ON jobs
FOR EACH ROW WHEN (NEW.status <> OLD.status AND NEW.status IN ('running', 'completed', 'failed'))
EXECUTE FUNCTION jobs_webhook_events();
