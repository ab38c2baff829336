-- Opaque ids for credit history and account activity entries (jobservice/opaque_ids.py, NumberCipher), as 0074 made
-- them for events and deliveries: an entry's id was its row number in a table every account writes, so the gap
-- between two of one's own entries told how many balance changes or access changes the whole platform made
-- meanwhile. Ids made from now on are the row number under a keyed permutation (still an int32: the API's id is
-- one); those already shown (up to legacy_max, the highest number each table's counter has given out) stay as they
-- were, so a saved starting_after still pages.
INSERT INTO opaque_ids (kind, secret, legacy_max) VALUES
    ('credit_entry', lower(hex(randomblob(32))),
     max((SELECT COALESCE(MAX(id), 0) FROM credit_entries),
         (SELECT COALESCE(MAX(seq), 0) FROM sqlite_sequence WHERE name = 'credit_entries'))),
    ('activity', lower(hex(randomblob(32))),
     max((SELECT COALESCE(MAX(id), 0) FROM account_activity),
         (SELECT COALESCE(MAX(seq), 0) FROM sqlite_sequence WHERE name = 'account_activity')));
