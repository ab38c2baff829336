-- What many job services on one database need and one SQLite owner does not (tests/store/test_schema_parity.py
-- lists each of these as PostgreSQL-only, with its reason).

-- New work is announced: a job that becomes pending wakes that model's workers on every job service (the
-- payload is the model; PostgreSQL folds identical payloads of one transaction into one notification).
-- A running job that is cancelled is announced too, so the service running it stops its model call.
CREATE FUNCTION jobs_announce() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.status = 'pending' THEN
        PERFORM pg_notify('phonos_jobs', NEW.model);
    ELSIF NEW.status = 'cancelled' AND TG_OP = 'UPDATE' AND OLD.status = 'running' THEN
        PERFORM pg_notify('phonos_cancel', NEW.id);
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER jobs_announce AFTER INSERT OR UPDATE OF status ON jobs
FOR EACH ROW EXECUTE FUNCTION jobs_announce();

-- The janitor's question: which running jobs' leases have expired.
CREATE INDEX jobs_running_lease ON jobs (lease_expires) WHERE status = 'running';

-- A delivery being sent is claimed, so one job service sends it; an unfinished claim (its sender died)
-- expires and the delivery is due again.
ALTER TABLE webhook_deliveries ADD COLUMN claimed_by TEXT;
ALTER TABLE webhook_deliveries ADD COLUMN claimed_until DOUBLE PRECISION;

-- Per-key rate limits shared by every job service: the same sliding 60 s log as jobservice/ratelimit.py,
-- one row per counted request, checked and appended under a per-key lock on the database's own clock.
CREATE TABLE rate_limit_hits (
    key_hash TEXT NOT NULL,
    at       DOUBLE PRECISION NOT NULL
);
CREATE INDEX rate_limit_hits_key_time ON rate_limit_hits (key_hash, at);

-- Takes up to p_wanted requests at once (a job service groups the concurrent requests of a key into one
-- call): as many as the window has room for are counted, at the same instant; the caller refuses the rest.
CREATE FUNCTION rate_limit_take(p_key TEXT, p_limit INTEGER, p_window DOUBLE PRECISION, p_wanted INTEGER)
RETURNS TABLE (granted INTEGER, counted INTEGER, oldest DOUBLE PRECISION, now_s DOUBLE PRECISION)
LANGUAGE plpgsql AS $$
BEGIN
    now_s := extract(epoch FROM clock_timestamp());
    PERFORM pg_advisory_xact_lock(hashtextextended(p_key, 0));
    DELETE FROM rate_limit_hits WHERE key_hash = p_key AND at <= now_s - p_window;
    SELECT COUNT(*), MIN(at) INTO counted, oldest FROM rate_limit_hits WHERE key_hash = p_key;
    granted := GREATEST(0, LEAST(p_wanted, p_limit - counted));
    IF granted > 0 THEN
        INSERT INTO rate_limit_hits (key_hash, at) SELECT p_key, now_s FROM generate_series(1, granted);
        counted := counted + granted;
        oldest := COALESCE(oldest, now_s);
    END IF;
    RETURN NEXT;
END $$;
