-- Opaque account ids, as SQLite's 0077_opaque_account_ids.sql (jobservice/opaque_ids.py, NumberCipher): an account's
-- id was its row number in the platform-wide identity sequence, telling a user how many accounts came before theirs.
-- legacy_max and the secret are made as 0026 made them for credit and activity entries.
INSERT INTO opaque_ids (kind, secret, legacy_max) VALUES
    ('account', md5(gen_random_uuid()::text) || md5(gen_random_uuid()::text),
     GREATEST((SELECT COALESCE(MAX(id), 0) FROM accounts),
              COALESCE(pg_sequence_last_value(pg_get_serial_sequence('accounts', 'id')), 0)));
