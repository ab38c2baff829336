-- Opaque ids, as SQLite's 0074_opaque_ids.sql (jobservice/opaque_ids.py): event_id and delivery_id were row numbers
-- of platform-wide sequences. legacy_max: the highest number each sequence has given out (pg_sequence_last_value is
-- NULL for a sequence never used); the secret: two gen_random_uuid() (pg_strong_random) hashed to 64 hex digits.
CREATE TABLE opaque_ids (
    kind        TEXT PRIMARY KEY,
    secret      TEXT NOT NULL,
    legacy_max  BIGINT NOT NULL
);
INSERT INTO opaque_ids (kind, secret, legacy_max) VALUES
    ('event', md5(gen_random_uuid()::text) || md5(gen_random_uuid()::text),
     GREATEST((SELECT COALESCE(MAX(id), 0) FROM job_events),
              COALESCE(pg_sequence_last_value(pg_get_serial_sequence('job_events', 'id')), 0))),
    ('delivery', md5(gen_random_uuid()::text) || md5(gen_random_uuid()::text),
     GREATEST((SELECT COALESCE(MAX(id), 0) FROM webhook_deliveries),
              COALESCE(pg_sequence_last_value(pg_get_serial_sequence('webhook_deliveries', 'id')), 0)));
