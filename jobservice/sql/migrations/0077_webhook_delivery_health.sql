-- A webhook's delivery health in its listing (webhook_delivery_health): the newest delivered job event of each
-- webhook. On deliveries_of_webhook (webhook_id, id) alone that walked back over every row since the last success,
-- the whole log of a receiver that has been failing for days (or never answered); here it is one seek.
CREATE INDEX deliveries_of_webhook_by_status ON webhook_deliveries (webhook_id, status, id);
