-- As SQLite's 0081_job_name_search.sql: job-name search without reading every job of the account. A GIN trigram
-- index (pg_trgm) on lower(name), what list_jobs_named, list_jobs_after_named and count_jobs_named match with
-- LIKE '%needle%' as a prefilter before their strpos() check (the old query's), so answers cannot drift.
--
-- pg_trgm ships with PostgreSQL (contrib; Debian's postgresql package has it) and is a trusted extension since
-- PostgreSQL 13: a role with CREATE on the database may install it, no superuser needed. Where it cannot be
-- installed (the role lacks that privilege, or contrib is absent), the migration goes on without the index and says
-- so in a warning: the search still works, scanning the account's jobs as before. A superuser can add it later, with
-- the service running (README "Job-name search"). Any failure to install it goes that way (PostgreSQL 15+ says a
-- missing contrib package with 0A000, older ones with 58P01; a lacking privilege is 42501), and so does an index
-- this role cannot build on an installed pg_trgm (its schema not readable to this role): never a failed start.
-- pg_trgm is installed in `public` where this role may use it (one per database: several stores of one database, each in
-- its own schema, share it, and dropping one store's schema leaves the others' indexes), else in the store's own
-- schema; an installed one is used from whichever schema it is in, its operator class named with that schema.
--
-- Plain CREATE INDEX in the migration's transaction (see 0030): a SHARE lock on jobs until the commit, 0.4-1.5 s per
-- 100,000 jobs (short to 200-character names; bench/query_scale.py prints it); it indexes the existing names as it
-- builds. Each failure is caught in a block of its own, so the migration's transaction stays usable.
DO $$
DECLARE
    trgm_schema name;
BEGIN
    SELECT n.nspname INTO trgm_schema
    FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = 'pg_trgm';
    IF trgm_schema IS NULL THEN
        -- `public` only where this role may use it: a trusted extension is installed with a superuser's rights, so
        -- CREATE EXTENSION ... SCHEMA public succeeds even where public is closed to the role (a hardened server),
        -- whose index then could not name its operator class.
        BEGIN
            IF has_schema_privilege('public', 'USAGE') THEN
                CREATE EXTENSION pg_trgm SCHEMA public;
            ELSE
                CREATE EXTENSION pg_trgm;
            END IF;
        EXCEPTION WHEN OTHERS THEN
            BEGIN
                CREATE EXTENSION pg_trgm;
            EXCEPTION WHEN OTHERS THEN
                RAISE WARNING 'phonos: pg_trgm could not be installed (%: %): job-name search works without its index (README "Job-name search")', SQLSTATE, SQLERRM;
                RETURN;
            END;
        END;
        SELECT n.nspname INTO trgm_schema
        FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = 'pg_trgm';
    END IF;
    BEGIN
        EXECUTE format('CREATE INDEX jobs_name_trgm ON jobs USING gin (lower(name) %I.gin_trgm_ops)', trgm_schema);
    EXCEPTION WHEN insufficient_privilege OR undefined_object THEN
        RAISE WARNING 'phonos: the job-name index could not be built on pg_trgm in schema % (%: %): job-name search works without it (README "Job-name search")', trgm_schema, SQLSTATE, SQLERRM;
    END;
END
$$;
