-- The dashboard's "Signed in" list (Account page, GET /auth/sessions): when each session was last used and from
-- which address. Both are written at sign-in and then at most once a minute per session (jobservice/sessions.py
-- TOUCH_EVERY_S), not on every request. Sessions from before this migration have neither until their next use.
ALTER TABLE sessions ADD COLUMN last_seen_at REAL;
ALTER TABLE sessions ADD COLUMN client_address TEXT;
