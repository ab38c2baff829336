-- Usage is net of refunds, as SQLite's 0050_usage_net_of_refunds.sql: a refunded job's credits come off the
-- usage report in the same statement that returns them to the balance, so usage, the balance and the jobs'
-- net credits_used always agree.
--
-- A job remembers the route that submitted it (/v1/predict or /v1/batch; older jobs: /v1/predict).
ALTER TABLE jobs ADD COLUMN endpoint TEXT NOT NULL DEFAULT '/v1/predict';

-- Refunds made before this migration come off usage too, in the hour the job ended (a refund is set on the
-- way to a terminal state, with finished_at), so existing reports agree with the balance from now on
-- (by_endpoint puts an old batch job's refund under /v1/predict: the route was not recorded then).
INSERT INTO usage_hourly (account_id, hour, endpoint, model, status_code, transport, requests, credits_used,
                          elapsed_ms)
SELECT account_id, CAST(floor(COALESCE(finished_at, updated_at) / 3600) AS BIGINT) * 3600, endpoint, model, 0,
       'refund', 0, -SUM(refunded), 0
FROM jobs WHERE refunded > 0
GROUP BY 1, 2, 3, 4;

-- The refund adds to one usage counter per account, UTC hour of the refund, route and model, under the
-- transport 'refund' that no request uses (jobservice/usage.py): requests 0 and elapsed_ms 0, so request
-- counts and the average response time do not move. The account's row is locked first (the balance), so
-- the counter's row lock adds no new lock order.
CREATE OR REPLACE FUNCTION jobs_refund() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE accounts SET credits = credits + (NEW.refunded - OLD.refunded) WHERE id = NEW.account_id;
    INSERT INTO usage_hourly (account_id, hour, endpoint, model, status_code, transport, requests, credits_used,
                              elapsed_ms)
    VALUES (NEW.account_id, CAST(floor(NEW.updated_at / 3600) AS BIGINT) * 3600, NEW.endpoint, NEW.model, 0,
            'refund', 0, -(NEW.refunded - OLD.refunded), 0)
    ON CONFLICT (account_id, hour, endpoint, model, status_code, transport) DO UPDATE SET
        credits_used = usage_hourly.credits_used + excluded.credits_used;
    RETURN NULL;
END $$;
