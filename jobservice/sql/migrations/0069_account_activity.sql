-- The account activity log (jobservice/activity.py, GET /v1/account/activity): who changed an account's access
-- (keys, sign-ins, the password, webhooks, share links, an operator's credits) and from where. Append-only:
-- rows are written in the transaction of the change they record and deleted only by the retention purge
-- (PHONOS_ACTIVITY_LOG_DAYS). The targets are plain ids, not foreign keys: an entry outlives the key, webhook,
-- share link or job it names (a deleted job's entries are about access, not results). Never a secret: no key,
-- token, password or share link is written here.
CREATE TABLE account_activity (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,  -- the order the changes were made in (cursor paging)
    account_id     INTEGER NOT NULL REFERENCES accounts(id),
    created_at     REAL NOT NULL,
    action         TEXT NOT NULL,                      -- api_key.created, session.signed_in, ...
    actor_kind     TEXT NOT NULL CHECK (actor_kind IN ('api_key', 'session', 'operator')),
    actor_key_id   TEXT,                               -- the key the caller used (actor_kind api_key)
    actor_key_name TEXT,                               -- that key's name then
    client_address TEXT,                               -- the caller's address (none for an operator)
    user_agent     TEXT,                               -- the browser's, on a dashboard sign-in
    key_id         TEXT,                               -- the target: a key, a webhook, a job's share link
    webhook_id     TEXT,
    job_id         TEXT,
    share_id       TEXT,
    details        TEXT                                -- a small JSON object (the fields a key update changed)
);
CREATE INDEX account_activity_account ON account_activity (account_id, id);
CREATE INDEX account_activity_created ON account_activity (created_at);
