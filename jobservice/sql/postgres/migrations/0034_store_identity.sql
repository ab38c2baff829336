-- The database's identity, which its result store names, as SQLite's 0084_store_identity.sql
-- (jobservice/result_store_identity.py): a job service whose results directory names another database refuses to
-- start, since each database's orphan sweep deletes the files of the other's jobs. database_id: gen_random_uuid()
-- (pg_strong_random) hashed to 32 hex digits, made here, so an existing database gets its own when it is migrated.
-- A database restored from a dump keeps the id of the one dumped (its store is that one's, restored beside it).
CREATE TABLE store_identity (
    singleton          INTEGER PRIMARY KEY CHECK (singleton = 1),
    database_id        TEXT NOT NULL,
    results_marked_at  DOUBLE PRECISION
);
INSERT INTO store_identity (singleton, database_id) VALUES (1, md5(gen_random_uuid()::text));
