-- Webhook secret rotation (POST /v1/webhooks/{id}/rotate-secret, jobservice/webhooks.py): the secret that was
-- current before the last rotation and until when deliveries are still signed with it as well (a second v1= in
-- X-Phonos-Signature), so a receiver can switch secrets without missing an event. NULL: no overlap.
ALTER TABLE webhooks ADD COLUMN previous_secret TEXT;
ALTER TABLE webhooks ADD COLUMN previous_secret_expires_at DOUBLE PRECISION;
