-- A webhook's listing says how its deliveries go (webhook_delivery_health): each webhook's newest delivery of each
-- status and the oldest failing one after its newest delivered one. Each is a seek into one (webhook_id, status)
-- range here; on deliveries_of_webhook (webhook_id, id) alone "the newest delivered" walked back over every row
-- since the last success, the whole log of a receiver that has been failing for days (or never answered).
CREATE INDEX deliveries_of_webhook_by_status ON webhook_deliveries (webhook_id, status, id);
