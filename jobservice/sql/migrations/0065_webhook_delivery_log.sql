-- The delivery log (GET /v1/webhooks/{id}/deliveries): when each attempt was made, and an index to page
-- one webhook's deliveries newest first. Finished deliveries older than PHONOS_WEBHOOK_DELIVERY_LOG_DAYS
-- are purged (jobservice/webhook_deliveries.py); before, the table only grew.
ALTER TABLE webhook_deliveries ADD COLUMN last_attempt_at REAL;
CREATE INDEX deliveries_of_webhook ON webhook_deliveries (webhook_id, id);
