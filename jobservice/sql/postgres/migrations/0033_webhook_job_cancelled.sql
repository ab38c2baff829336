-- job.cancelled, as SQLite's 0083_webhook_job_cancelled.sql: a job cancelled while pending or running sent no
-- event, so a pipeline waiting for a terminal event after job.started waited for ever. Opt-in
-- (jobservice/webhook_events.py OPT_IN_EVENTS): the function queues an event only for the webhooks whose stored
-- `events` name it, and one created without `events` stores the seed's three, so no existing webhook gets it.
--
-- Only the trigger's WHEN changes: jobs_webhook_events() (0023) already names a cancelled job's event
-- 'job.' || NEW.status and gives it the plain data {job_id, status, model}, and announces it on phonos_webhooks.
DROP TRIGGER jobs_webhook_events ON jobs;
CREATE TRIGGER jobs_webhook_events AFTER UPDATE OF status ON jobs
FOR EACH ROW WHEN (NEW.status <> OLD.status AND NEW.status IN ('running', 'completed', 'failed', 'cancelled'))
EXECUTE FUNCTION jobs_webhook_events();
