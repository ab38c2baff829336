-- The database's identity, which its result store names (jobservice/result_store_identity.py): with PHONOS_DATA_DIR
-- on shared storage and PHONOS_DATABASE_URL forgotten on one host, that host's job service started on a new SQLite
-- database inside the shared directory, and its orphan sweep deleted the PostgreSQL services' result files (none
-- of its jobs kept them); two PostgreSQL databases (staging, production) on one directory did the same to each
-- other. The results directory now carries a marker (`results/.phonos-database-id`) naming database_id, and a job
-- service whose database is not the one named refuses to start.
-- database_id: 16 random bytes as hex (SQLite's randomblob is its CSPRNG), made here, so an existing database gets
-- its own when it is migrated. results_marked_at: when a job service first wrote the marker into a results
-- directory (NULL: never, a fresh database or the first start after this upgrade, which writes it). Once set, a
-- results directory without the marker is not this database's store (shared storage not mounted, a typo).
CREATE TABLE store_identity (
    singleton          INTEGER PRIMARY KEY CHECK (singleton = 1),
    database_id        TEXT NOT NULL,
    results_marked_at  REAL
);
INSERT INTO store_identity (singleton, database_id) VALUES (1, lower(hex(randomblob(16))));
