-- The delivery log, as SQLite's 0065_webhook_delivery_log.sql: when each attempt was made, and an index to
-- page one webhook's deliveries newest first.
ALTER TABLE webhook_deliveries ADD COLUMN last_attempt_at DOUBLE PRECISION;
CREATE INDEX deliveries_of_webhook ON webhook_deliveries (webhook_id, id);
