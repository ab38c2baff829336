-- The delivery log at scale. Deleting a job (delete_job_deliveries) found its deliveries by reading every row's
-- JSON payload, and the log's purge (purge_webhook_deliveries) filtered on created_at with no index: both scanned
-- the whole table, which at a few hundred thousand rows nears PostgreSQL's PHONOS_DATABASE_COMMAND_TIMEOUT_S.
--
-- job_id: the job a delivery reports, written by the jobs_webhook_events trigger (re-created below) and copied by
-- redeliver_webhook_delivery; NULL for an event about no job. No REFERENCES jobs(id): a deleted job keeps its row
-- (jobs.deleted_at) and its deliveries go with it by this column, so a foreign key would check nothing new.
-- Existing rows are filled from their payload (every job event's body carries data.job_id).
ALTER TABLE webhook_deliveries ADD COLUMN job_id TEXT;
UPDATE webhook_deliveries SET job_id = json_extract(payload, '$.data.job_id')
WHERE event LIKE 'job.%' AND json_valid(payload);
CREATE INDEX deliveries_of_job ON webhook_deliveries (job_id);
-- The purge's range: finished rows older than the log's retention, oldest first, without reading the rest.
CREATE INDEX deliveries_created ON webhook_deliveries (created_at);

-- As 0002_triggers.sql's, plus the job's id in its own column.
DROP TRIGGER jobs_webhook_events;
CREATE TRIGGER jobs_webhook_events AFTER UPDATE OF status ON jobs
WHEN NEW.status <> OLD.status AND NEW.status IN ('running', 'completed', 'failed')
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
