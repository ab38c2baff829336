-- The delivery log at scale, as SQLite's 0073_webhook_delivery_job_id.sql: deleting a job read every delivery's
-- JSON payload to find its own, and the log's purge filtered on created_at with no index; both scanned the whole
-- table, which on a big one nears PHONOS_DATABASE_COMMAND_TIMEOUT_S (a statement cut there deletes nothing).
--
-- job_id: the job a delivery reports (NULL for an event about no job), written by jobs_webhook_events (replaced
-- below) and copied by redeliver_webhook_delivery; existing rows are filled from their payload's data.job_id.
-- No foreign key, as on SQLite: a deleted job keeps its row, and its deliveries go with it by this column.
ALTER TABLE webhook_deliveries ADD COLUMN job_id TEXT;
UPDATE webhook_deliveries SET job_id = CAST(payload AS JSON) -> 'data' ->> 'job_id' WHERE event LIKE 'job.%';
CREATE INDEX deliveries_of_job ON webhook_deliveries (job_id);
-- The purge's range: finished rows older than the log's retention, without reading the rest.
CREATE INDEX deliveries_created ON webhook_deliveries (created_at);

-- As 0002_triggers.sql's, plus the job's id in its own column (the trigger itself is unchanged).
CREATE OR REPLACE FUNCTION jobs_webhook_events() RETURNS trigger LANGUAGE plpgsql AS $$
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
    INSERT INTO webhook_deliveries (webhook_id, event, payload, status, next_attempt_at, created_at, job_id)
    SELECT w.id, event,
           json_build_object(
               'event', event,
               'timestamp', to_char(to_timestamp(floor(NEW.updated_at)) AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
               'data', data)::text,
           'pending', NEW.updated_at, NEW.updated_at, NEW.id
    FROM webhooks w
    WHERE w.account_id = NEW.account_id
      AND w.deleted_at IS NULL
      AND w.events::jsonb ? event;
    IF FOUND THEN
        PERFORM pg_notify('phonos_webhooks', '');
    END IF;
    RETURN NULL;
END $$;
