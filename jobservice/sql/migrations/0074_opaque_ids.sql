-- Opaque ids for rows numbered by a platform-wide counter (jobservice/opaque_ids.py): a watch event's event_id
-- and a webhook delivery's delivery_id were the row numbers, so the gap between two ids a user saw told how busy the
-- whole platform had been. Ids made from now on are the row number under a keyed permutation; those already shown
-- (up to legacy_max, the highest number the table's counter has given out) stay numbers, so a saved Last-Event-ID
-- still resumes and a retried delivery keeps its X-Phonos-Delivery.
-- secret: 32 random bytes as hex (SQLite's randomblob is its CSPRNG), one per kind so the two never coincide.
CREATE TABLE opaque_ids (
    kind        TEXT PRIMARY KEY,
    secret      TEXT NOT NULL,
    legacy_max  INTEGER NOT NULL
);
INSERT INTO opaque_ids (kind, secret, legacy_max) VALUES
    ('event', lower(hex(randomblob(32))),
     max((SELECT COALESCE(MAX(id), 0) FROM job_events),
         (SELECT COALESCE(MAX(seq), 0) FROM sqlite_sequence WHERE name = 'job_events'))),
    ('delivery', lower(hex(randomblob(32))),
     max((SELECT COALESCE(MAX(id), 0) FROM webhook_deliveries),
         (SELECT COALESCE(MAX(seq), 0) FROM sqlite_sequence WHERE name = 'webhook_deliveries')));
