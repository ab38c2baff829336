-- rate_limit_take read the clock before it took the key's lock: a call that waited for the lock behind a
-- later one saw that one's hit stamped after its own "now", and told its caller to retry in 61 s (more
-- than the window). The clock is now read once the lock is held, so every counted hit is at or before it.
CREATE OR REPLACE FUNCTION rate_limit_take(p_key TEXT, p_limit INTEGER, p_window DOUBLE PRECISION, p_wanted INTEGER)
RETURNS TABLE (granted INTEGER, counted INTEGER, oldest DOUBLE PRECISION, now_s DOUBLE PRECISION)
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(hashtextextended(p_key, 0));
    now_s := extract(epoch FROM clock_timestamp());
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
