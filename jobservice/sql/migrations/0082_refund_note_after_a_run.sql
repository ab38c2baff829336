-- A refund's note says what happened: a job cancelled while pending after a run of it was interrupted (a stop,
-- a lost model server: `requeue_reason`, `started_at` set) had started, so "cancelled before it ran"
-- (0066_credit_history.sql) told a manager reconciling the accounts that it used no compute. Such a job says
-- "cancelled while pending, after it was requeued (service_stopped)"; the entries already written keep theirs.
DROP TRIGGER jobs_refund;
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
