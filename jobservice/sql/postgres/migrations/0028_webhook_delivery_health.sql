-- As SQLite's 0078_webhook_delivery_health.sql: a webhook's listing says how its deliveries go
-- (webhook_delivery_health), each part a seek into one (webhook_id, status) range. On deliveries_of_webhook
-- (webhook_id, id) alone "the newest delivered" walked back over every row since the last success, and with few
-- webhooks in the table the planner walked the primary key over the other webhooks' rows instead.
CREATE INDEX deliveries_of_webhook_by_status ON webhook_deliveries (webhook_id, status, id);
