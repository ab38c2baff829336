-- Opaque ids for credit history and account activity entries, as SQLite's 0076_opaque_entry_ids.sql
-- (jobservice/opaque_ids.py, NumberCipher): their ids were row numbers of platform-wide identity sequences.
-- legacy_max and the secret are made as 0024 made them for events and deliveries.
INSERT INTO opaque_ids (kind, secret, legacy_max) VALUES
    ('credit_entry', md5(gen_random_uuid()::text) || md5(gen_random_uuid()::text),
     GREATEST((SELECT COALESCE(MAX(id), 0) FROM credit_entries),
              COALESCE(pg_sequence_last_value(pg_get_serial_sequence('credit_entries', 'id')), 0))),
    ('activity', md5(gen_random_uuid()::text) || md5(gen_random_uuid()::text),
     GREATEST((SELECT COALESCE(MAX(id), 0) FROM account_activity),
              COALESCE(pg_sequence_last_value(pg_get_serial_sequence('account_activity', 'id')), 0)));
