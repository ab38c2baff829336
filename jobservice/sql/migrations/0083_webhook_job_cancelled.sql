-- job.cancelled: a job cancelled while pending or running sent no event, so a pipeline waiting for a terminal event
-- after job.started waited for ever. The event is opt-in (jobservice/webhook_events.py OPT_IN_EVENTS): a webhook
-- created without `events` stores the seed's three, and this trigger queues an event only for the webhooks whose
-- stored `events` name it, so no existing webhook gets job.cancelled unless it is created (again) listing it.
-- Its body is {"event":"job.cancelled","timestamp":…,"data":{"job_id","status":"cancelled","model"}}: the CASE's
-- last branch, as job.started's.
--
-- As 0073_webhook_delivery_job_id.sql's, with 'cancelled' among the statuses that queue an event (SQLite cannot
-- change a trigger's WHEN in place).
DROP TRIGGER jobs_webhook_events;
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
