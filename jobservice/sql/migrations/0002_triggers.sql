-- Credits and webhook events move with the job row they belong to, inside the same statement.
-- One statement per state change keeps every transition atomic without an explicit transaction,
-- which is what lets one writer connection sustain thousands of submissions per second.

-- A submission debits its cost; the accounts CHECK (credits >= 0) rejects an overdraft,
-- and with it the INSERT of the job.
CREATE TRIGGER jobs_debit_on_submit AFTER INSERT ON jobs
WHEN NEW.credits_used > 0
BEGIN
    UPDATE accounts SET credits = credits - NEW.credits_used WHERE id = NEW.account_id;
END;

-- A refund is recorded in jobs.refunded once (the transitions set it only on the way to a terminal
-- state); the balance follows.
CREATE TRIGGER jobs_refund AFTER UPDATE OF refunded ON jobs
WHEN NEW.refunded > OLD.refunded
BEGIN
    UPDATE accounts SET credits = credits + (NEW.refunded - OLD.refunded) WHERE id = NEW.account_id;
END;

-- job.started / job.completed / job.failed: one delivery per subscribed webhook, payload as the seed shows.
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
