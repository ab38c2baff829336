-- As SQLite's 0082_refund_note_after_a_run.sql: a job cancelled while pending after it was requeued (a run of it
-- had started) says so and why, instead of "cancelled before it ran".
CREATE OR REPLACE FUNCTION jobs_refund() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    balance BIGINT;
BEGIN
    UPDATE accounts SET credits = credits + (NEW.refunded - OLD.refunded) WHERE id = NEW.account_id
    RETURNING credits INTO balance;
    INSERT INTO usage_hourly (account_id, hour, endpoint, model, status_code, transport, requests, credits_used,
                              elapsed_ms)
    VALUES (NEW.account_id, CAST(floor(NEW.updated_at / 3600) AS BIGINT) * 3600, NEW.endpoint, NEW.model, 0,
            'refund', 0, -(NEW.refunded - OLD.refunded), 0)
    ON CONFLICT (account_id, hour, endpoint, model, status_code, transport) DO UPDATE SET
        credits_used = usage_hourly.credits_used + excluded.credits_used;
    INSERT INTO credit_entries (account_id, created_at, amount, balance_after, kind, job_id, note)
    VALUES (NEW.account_id, NEW.updated_at, NEW.refunded - OLD.refunded, balance, 'refund', NEW.id,
            NEW.model || CASE WHEN NEW.status = 'cancelled' AND NEW.requeue_reason IS NOT NULL
                                  THEN ' job cancelled while pending, after it was requeued (' || NEW.requeue_reason || ')'
                              WHEN NEW.status = 'cancelled' THEN ' job cancelled before it ran'
                              ELSE ' job failed (' || COALESCE(NEW.error_code, 'error') || ')' END);
    RETURN NULL;
END $$;
