-- Opaque account ids (jobservice/opaque_ids.py, NumberCipher, kind 'account'), as 0076 made them for credit and
-- activity entries: GET /v1/account's account.id and GetSession's account_id were the account's row number, so a
-- user read off how many accounts the platform had made before theirs (and, with a second account, how many signed
-- up in between). Accounts made from now on show their row number under a keyed permutation (still an int32: the
-- seed contract's id is an integer); those made before (up to legacy_max, the highest number the counter has given
-- out) keep the id they have already shown.
INSERT INTO opaque_ids (kind, secret, legacy_max) VALUES
    ('account', lower(hex(randomblob(32))),
     max((SELECT COALESCE(MAX(id), 0) FROM accounts),
         (SELECT COALESCE(MAX(seq), 0) FROM sqlite_sequence WHERE name = 'accounts')));
