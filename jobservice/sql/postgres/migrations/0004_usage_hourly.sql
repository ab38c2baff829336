-- Usage as hourly counters instead of one row per request, as SQLite's 0020_usage_hourly.sql: a flood of
-- requests (429s included) adds at most one row per account, hour, route, status and transport, and rows
-- older than the retention period are deleted (jobservice/usage.py). Existing events are folded in.
CREATE TABLE usage_hourly (
    account_id   BIGINT NOT NULL,
    hour         BIGINT NOT NULL,            -- start of the UTC hour, unix seconds
    endpoint     TEXT NOT NULL,              -- the /v1 route template, e.g. /v1/jobs/{job_id}
    model        TEXT NOT NULL DEFAULT '',   -- the model of a job submission, '' otherwise
    status_code  INTEGER NOT NULL,           -- gRPC status code of the answer (0 = OK)
    transport    TEXT NOT NULL,              -- rest or grpc
    requests     BIGINT NOT NULL,
    credits_used BIGINT NOT NULL,
    elapsed_ms   DOUBLE PRECISION NOT NULL,  -- summed over the requests
    PRIMARY KEY (account_id, hour, endpoint, model, status_code, transport)
);
CREATE INDEX usage_hourly_hour ON usage_hourly (hour);

INSERT INTO usage_hourly (account_id, hour, endpoint, model, status_code, transport, requests, credits_used,
                          elapsed_ms)
SELECT account_id, CAST(floor(created_at / 3600) AS BIGINT) * 3600, endpoint, COALESCE(model, ''), status_code,
       transport, COUNT(*), SUM(credits_used), SUM(elapsed_ms)
FROM usage_events
GROUP BY 1, 2, 3, 4, 5, 6;

DROP TABLE usage_events;
