-- As SQLite's 0081_job_name_search.sql: job-name search without reading every job of the account. A GIN trigram
-- index (pg_trgm) on lower(name), what list_jobs_named, list_jobs_after_named and count_jobs_named match with
-- LIKE '%needle%' as a prefilter before their strpos() check (the old query's), so answers cannot drift.
--
-- pg_trgm ships with PostgreSQL (contrib; Debian's postgresql package has it) and is a trusted extension since
-- PostgreSQL 13: a role with CREATE on the database may install it, no superuser needed. Where it cannot be
-- installed (the role lacks that privilege, or contrib is absent), the migration goes on without the index and says
-- so in a warning: the search still works, scanning the account's jobs as before. A superuser can add it later, with
-- the service running (README "Job-name search"):
--   CREATE EXTENSION IF NOT EXISTS pg_trgm;
--   CREATE INDEX CONCURRENTLY jobs_name_trgm ON <schema>.jobs USING gin (lower(name) gin_trgm_ops);
-- An installed pg_trgm is used from whichever schema it is in (one per database: several stores of one database,
-- in their own schemas, share it), its operator class named with that schema.
--
-- Plain CREATE INDEX in the migration's transaction (see 0030): a SHARE lock on jobs until the commit, 0.3-0.5 s per
-- 100,000 jobs (bench/query_scale.py prints it); it indexes the existing names as it builds.
DO $$
DECLARE
    trgm_schema name;
BEGIN
    SELECT n.nspname INTO trgm_schema
    FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = 'pg_trgm';
    IF trgm_schema IS NULL THEN
        BEGIN
            CREATE EXTENSION pg_trgm;
        EXCEPTION WHEN insufficient_privilege OR undefined_file THEN
            RAISE WARNING 'phonos: pg_trgm could not be installed (%): job-name search works without its index (README "Job-name search")', SQLERRM;
            RETURN;
        END;
        SELECT n.nspname INTO trgm_schema
        FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = 'pg_trgm';
    END IF;
    EXECUTE format('CREATE INDEX jobs_name_trgm ON jobs USING gin (lower(name) %I.gin_trgm_ops)', trgm_schema);
END
$$;
