-- Named queries, loaded once by jobservice.db. Each starts with "-- name: <name>".

-- name: insert_account
INSERT INTO accounts (username, email, credits, created_at) VALUES (:username, :email, :credits, :now)
RETURNING id;

-- name: set_max_rate_limit
UPDATE accounts SET max_rate_limit = :max_rate_limit WHERE id = :account_id;

-- name: insert_api_key
INSERT INTO api_keys (key_hash, id, account_id, prefix, name, rate_limit, created_at, expires_at, scope)
VALUES (:key_hash, :id, :account_id, :prefix, :name, :rate_limit, :now, :expires_at, :scope);

-- name: get_key
-- An expired key is still found: authentication tells its caller that it expired, and when.
SELECT id, account_id, name, rate_limit, expires_at, scope FROM api_keys WHERE key_hash = :key_hash AND revoked_at IS NULL;

-- name: live_keys
-- The keys among :key_hashes (a JSON array) not revoked, with their expiry: jobservice/stream_guard.py ends the open
-- watch streams of the others.
SELECT key_hash, expires_at FROM api_keys
WHERE revoked_at IS NULL AND key_hash IN (SELECT value FROM json_each(:key_hashes));

-- name: account_by_username_any_case
-- An account whose username differs from :username only in letter case (ASCII letters on SQLite).
SELECT username FROM accounts WHERE lower(username) = lower(:username) AND username <> :username LIMIT 1;

-- name: get_account
SELECT id, username, email, credits, created_at FROM accounts WHERE id = :account_id;

-- name: count_accounts
SELECT COUNT(*) FROM accounts;

-- name: account_overview
-- Every account for the operator (`phonos accounts list`): balance, keys and their ceiling, jobs, sign-in, last use.
-- Last use: a key's newest request or a dashboard session's (signed out or expired sessions count until pruned),
-- so a colleague who only uses the dashboard does not look idle.
SELECT a.username, a.email, a.credits, a.created_at, a.password_hash IS NOT NULL AS can_sign_in, a.max_rate_limit,
       (SELECT COUNT(*) FROM api_keys k WHERE k.account_id = a.id AND k.revoked_at IS NULL
        AND (k.expires_at IS NULL OR k.expires_at > :now)) AS active_keys,
       (SELECT MAX(used.at) FROM (
            SELECT MAX(k.last_used_at) AS at FROM api_keys k WHERE k.account_id = a.id
            UNION ALL
            SELECT MAX(s.last_seen_at) AS at FROM sessions s WHERE s.account_id = a.id) AS used) AS last_used_at,
       (SELECT COUNT(*) FROM jobs j WHERE j.account_id = a.id AND j.deleted_at IS NULL) AS jobs,
       (SELECT COUNT(*) FROM jobs j WHERE j.account_id = a.id AND j.status IN ('pending', 'running')) AS active_jobs
FROM accounts a
ORDER BY a.username;

-- name: lock_account_jobs
-- Submissions of one account one at a time (the queued-jobs limit counts, then inserts). One writer holds
-- SQLite (BEGIN IMMEDIATE), so the read alone is enough here; PostgreSQL locks the account's row.
SELECT id FROM accounts WHERE id = :account_id;

-- name: lock_account
-- An account's limited creates one at a time (at most 20 active keys, 20 links per job, the webhooks per
-- account): each counts, then inserts, in one transaction that first takes this; so does `phonos accounts lock`
-- (jobservice/account_lock.py: a create checks its caller's key or session after it).
-- One writer holds SQLite (BEGIN IMMEDIATE), so the read alone is enough here; PostgreSQL locks the account's row.
SELECT id FROM accounts WHERE id = :account_id;

-- name: count_queued_jobs
SELECT COUNT(*) FROM jobs WHERE account_id = :account_id AND status = 'pending';

-- name: insert_job
INSERT INTO jobs (id, seq, account_id, model, name, status, credits_used, endpoint, created_at, updated_at)
VALUES (:id, (SELECT COALESCE(MAX(seq), 0) + 1 FROM jobs), :account_id, :model, :name, 'pending',
        :credits_used, :endpoint, :now, :now);

-- name: insert_job_input
-- The stored request, apart from the job row (gets and lists never read it; claims do).
INSERT INTO job_inputs (job_id, request_json) VALUES (:id, :request_json);

-- name: get_job
SELECT * FROM jobs WHERE id = :id AND account_id = :account_id AND deleted_at IS NULL;

-- name: queue_places
-- Where pending jobs stand in their models' queues (jobservice/fairness.py), one row per job of :ids (a JSON array of
-- job ids) that is pending; one query for one job (GET /v1/jobs/{id}) or a page of the list. A model's next slot
-- goes to the waiting account served longest ago (round-robin), then its oldest job, so before job J (account A,
-- `older` of A's waiting jobs of the model queued before it) start those `older` jobs plus, from each other waiting
-- account B, min(B's waiting jobs, older + 1) when B's turn comes before A's (served longer ago, or as long ago with
-- an older job), else min(B's waiting jobs, older). Exact with one slot and no new arrivals; with more slots the
-- rule's "fewest running first" and the per-account cap can reorder turns: an estimate.
WITH me AS MATERIALIZED (
    SELECT id, account_id, model, seq FROM jobs
    WHERE id IN (SELECT value FROM json_each(:ids)) AND +status = 'pending'),  -- by id, not by scanning the queue
turns AS MATERIALIZED (
    SELECT p.model, p.account_id, COUNT(*) AS pending, MIN(p.seq) AS oldest,
           COALESCE((SELECT MAX(s.started_at) FROM jobs s
                     WHERE s.account_id = p.account_id AND s.model = p.model), -1) AS last_started
    FROM jobs p
    WHERE p.status = 'pending' AND p.model IN (SELECT model FROM me)
    GROUP BY p.model, p.account_id),
ranked AS MATERIALIZED (  -- each waiting job of the readers' accounts: how many of its account's are older
    SELECT q.id, q.account_id, q.model,
           ROW_NUMBER() OVER (PARTITION BY q.account_id, q.model ORDER BY q.seq) - 1 AS older
    FROM jobs q
    WHERE q.status = 'pending' AND q.account_id IN (SELECT account_id FROM me) AND q.model IN (SELECT model FROM me)),
mine AS MATERIALIZED (
    SELECT r.id, r.model, r.account_id, r.older, t.last_started, t.oldest
    FROM ranked r JOIN me ON me.id = r.id JOIN turns t ON t.model = r.model AND t.account_id = r.account_id)
SELECT mine.id,
       mine.older + COALESCE((
           SELECT SUM(CASE WHEN o.pending <= mine.older THEN o.pending
                           WHEN o.last_started < mine.last_started
                                OR (o.last_started = mine.last_started AND o.oldest < mine.oldest) THEN mine.older + 1
                           ELSE mine.older END)
           FROM turns o WHERE o.model = mine.model AND o.account_id <> mine.account_id), 0) AS jobs_ahead,
       (SELECT COUNT(*) FROM jobs r WHERE r.model = mine.model AND r.status = 'running') AS model_running
FROM mine;

-- name: list_jobs
-- With a name filter, only for names of 1-2 characters (jobservice/jobs.py JobStore.page): longer ones take
-- list_jobs_named, through the trigram index. A short needle walks the account's jobs newest first until the page is
-- full: soon for a common one, every job of the account for one that matches nothing (the worst case).
SELECT * FROM jobs
WHERE account_id = :account_id AND deleted_at IS NULL
  AND (:status IS NULL OR status = :status)
  AND (:model IS NULL OR model = :model)
  AND (:name IS NULL OR instr(unicode_lower(name), unicode_lower(:name)) > 0)
ORDER BY seq DESC
LIMIT :limit OFFSET :offset;

-- name: list_jobs_after
-- A page after a cursor (starting_after): the jobs older than it in list_jobs's order (seq DESC), same filters;
-- a keyset on jobs_account_created, however deep the reader is.
SELECT * FROM jobs
WHERE account_id = :account_id AND deleted_at IS NULL AND seq < :after_seq
  AND (:status IS NULL OR status = :status)
  AND (:model IS NULL OR model = :model)
  AND (:name IS NULL OR instr(unicode_lower(name), unicode_lower(:name)) > 0)
ORDER BY seq DESC
LIMIT :limit;

-- name: list_jobs_named
-- list_jobs for a name of 3 or more characters (after unicode_lower; jobservice/jobs.py picks): the candidates come
-- from the trigram index of lowered names (0081, jobs_name_search), the account's only, newest first, so a rare or
-- absent name reads its few matches, not every job of the account, and a common one stops at the page's end. The
-- instr() check is the old query's, on each candidate: the index narrows the rows, the answer is the same. CROSS
-- JOIN keeps the index the outer loop. name_search_match (jobservice/db.py) asks for the account's own trigram AND up
-- to 12 of the lowered needle's distinct trigrams (each quoted): all are in a name that holds the needle.
SELECT j.* FROM jobs_name_search f CROSS JOIN jobs j ON j.seq = f.rowid
WHERE f.jobs_name_search MATCH name_search_match(:account_id, :name)
  AND j.account_id = :account_id AND j.deleted_at IS NULL
  AND (:status IS NULL OR j.status = :status)
  AND (:model IS NULL OR j.model = :model)
  AND instr(unicode_lower(j.name), unicode_lower(:name)) > 0
ORDER BY f.rowid DESC
LIMIT :limit OFFSET :offset;

-- name: list_jobs_after_named
-- list_jobs_after for a name of 3 or more characters, as list_jobs_named.
SELECT j.* FROM jobs_name_search f CROSS JOIN jobs j ON j.seq = f.rowid
WHERE f.jobs_name_search MATCH name_search_match(:account_id, :name) AND f.rowid < :after_seq
  AND j.account_id = :account_id AND j.deleted_at IS NULL
  AND (:status IS NULL OR j.status = :status)
  AND (:model IS NULL OR j.model = :model)
  AND instr(unicode_lower(j.name), unicode_lower(:name)) > 0
ORDER BY f.rowid DESC
LIMIT :limit;

-- name: job_seq
-- A cursor's place in the list: any job of the account, a deleted one too (its row and seq stay).
SELECT seq FROM jobs WHERE id = :id AND account_id = :account_id;

-- name: count_jobs
-- (A name of 3 or more characters is counted by count_jobs_named.)
-- Read from jobs_account_status_live alone (0080): the name filter, which that index cannot answer, is a list of the
-- account's matching rowids, made only when a name is asked for. Naming `name` here would make SQLite read every
-- row of the account for each list page's total (bench/query_scale.py: 25-55 ms for 22,000 jobs, not 2).
SELECT COUNT(*) FROM jobs
WHERE account_id = :account_id AND deleted_at IS NULL
  AND (:status IS NULL OR status = :status)
  AND (:model IS NULL OR model = :model)
  AND (:name IS NULL OR rowid IN (SELECT n.rowid FROM jobs n WHERE n.account_id = :account_id
                                  AND instr(unicode_lower(n.name), unicode_lower(:name)) > 0));

-- name: count_jobs_named
-- count_jobs for a name of 3 or more characters, as list_jobs_named: the matching names' rows, not the account's.
SELECT COUNT(*) FROM jobs_name_search f CROSS JOIN jobs j ON j.seq = f.rowid
WHERE f.jobs_name_search MATCH name_search_match(:account_id, :name)
  AND j.account_id = :account_id AND j.deleted_at IS NULL
  AND (:status IS NULL OR j.status = :status)
  AND (:model IS NULL OR j.model = :model)
  AND instr(unicode_lower(j.name), unicode_lower(:name)) > 0;

-- name: job_counts
SELECT COUNT(*) AS total,
       COALESCE(SUM(status = 'completed'), 0) AS completed,
       COALESCE(SUM(status IN ('pending', 'running')), 0) AS active,
       COALESCE(SUM(status = 'failed'), 0) AS failed,
       COALESCE(SUM(status = 'cancelled'), 0) AS cancelled
FROM jobs WHERE account_id = :account_id AND deleted_at IS NULL;

-- name: claim_job
-- A claim is the one read of the job's stored request (request_json).
UPDATE jobs SET status = 'running', attempts = attempts + 1, started_at = :now, updated_at = :now
WHERE id = :id AND status = 'pending'
RETURNING *, (SELECT COUNT(*) FROM webhooks w WHERE w.account_id = jobs.account_id AND w.deleted_at IS NULL) AS webhook_count,
          (SELECT i.request_json FROM job_inputs i WHERE i.job_id = jobs.id) AS request_json;

-- name: complete_job
UPDATE jobs SET status = 'completed', result_json = :result_json, updated_at = :now, finished_at = :now
WHERE id = :id AND status = 'running'
RETURNING *, (SELECT COUNT(*) FROM webhooks w WHERE w.account_id = jobs.account_id AND w.deleted_at IS NULL) AS webhook_count;

-- name: fail_job
UPDATE jobs SET status = 'failed', error = :error, error_code = :error_code,
                refunded = CASE WHEN :refund THEN credits_used ELSE 0 END, updated_at = :now, finished_at = :now
WHERE id = :id AND status IN ('pending', 'running')
RETURNING *, (SELECT COUNT(*) FROM webhooks w WHERE w.account_id = jobs.account_id AND w.deleted_at IS NULL) AS webhook_count;

-- name: cancel_job
UPDATE jobs SET status = 'cancelled', refunded = CASE WHEN status = 'pending' THEN credits_used ELSE 0 END,
                updated_at = :now, finished_at = :now
WHERE id = :id AND account_id = :account_id AND status IN ('pending', 'running')
RETURNING *, (SELECT COUNT(*) FROM webhooks w WHERE w.account_id = jobs.account_id AND w.deleted_at IS NULL) AS webhook_count;

-- name: requeue_job
-- Its process died mid-run (the run counts): why, when, and the runs it may have go with it (0075).
UPDATE jobs SET status = 'pending', updated_at = :now, requeue_reason = :reason, requeued_at = :now,
                max_attempts = COALESCE(:max_attempts, max_attempts)
WHERE id = :id AND status = 'running'
RETURNING *;

-- name: release_job
-- running → pending without counting the run: it was stopped by a graceful shutdown or found the model
-- server unavailable before it could compute (jobservice/dispatch.py).
UPDATE jobs SET status = 'pending', attempts = MAX(attempts - 1, 0), updated_at = :now, requeue_reason = :reason,
                requeued_at = :now, max_attempts = COALESCE(:max_attempts, max_attempts)
WHERE id = :id AND status = 'running'
RETURNING *;

-- name: fail_waiting_jobs
-- The model server was unavailable for the whole window: every job of the model still waiting fails at
-- once, refunded by the trigger. (PostgreSQL also leaves them while another job service runs the model.)
UPDATE jobs SET status = 'failed', error = :error, error_code = :error_code, refunded = credits_used,
                updated_at = :now, finished_at = :now
WHERE status = 'pending' AND model = :model
RETURNING *, (SELECT COUNT(*) FROM webhooks w WHERE w.account_id = jobs.account_id AND w.deleted_at IS NULL) AS webhook_count;

-- name: orphaned_jobs
-- ORDER BY +seq: the running jobs from jobs_queue, then sorted. With statistics (PRAGMA optimize, jobservice/db.py)
-- SQLite reads a status as a fifth of the jobs (it cannot tell that 'running' is rare) and walked every job ever in
-- seq's index instead, to skip that sort.
SELECT id, attempts FROM jobs WHERE status = 'running' ORDER BY +seq;

-- name: pending_jobs
-- ORDER BY +seq: as orphaned_jobs.
SELECT id, model, account_id FROM jobs WHERE status = 'pending' ORDER BY +seq;

-- name: model_has_pending_job
-- Whether a job of the model waits. Only job services sharing a PostgreSQL store ask it (they claim from the
-- database, not from a queue of their own); kept here so both stores answer the same queries.
SELECT EXISTS (SELECT 1 FROM jobs WHERE status = 'pending' AND model = :model) AS waiting;

-- name: add_usage
INSERT INTO usage_hourly (account_id, hour, endpoint, model, status_code, transport, requests, credits_used,
                          elapsed_ms)
VALUES (:account_id, :hour, :endpoint, :model, :status_code, :transport, :requests, :credits_used, :elapsed_ms)
ON CONFLICT (account_id, hour, endpoint, model, status_code, transport) DO UPDATE SET
    requests = requests + excluded.requests,
    credits_used = credits_used + excluded.credits_used,
    elapsed_ms = elapsed_ms + excluded.elapsed_ms;

-- name: delete_usage_before
-- Hours past the retention, a batch at a time (jobservice/periodic.py purge_in_batches): SQLite's DELETE takes no
-- LIMIT, and the table has no rowid, so the batch is its primary keys (found through usage_hourly_hour).
DELETE FROM usage_hourly WHERE (account_id, hour, endpoint, model, status_code, transport) IN (
    SELECT account_id, hour, endpoint, model, status_code, transport FROM usage_hourly WHERE hour < :before
    LIMIT :limit);

-- name: mark_keys_used
UPDATE api_keys SET last_used_at = :last_used_at
WHERE id = :key_id AND (last_used_at IS NULL OR last_used_at < :last_used_at);

-- name: usage_totals
SELECT COALESCE(SUM(requests), 0) AS requests, COALESCE(SUM(credits_used), 0) AS credits_used,
       COALESCE(SUM(elapsed_ms) / NULLIF(SUM(requests), 0), 0) AS avg_ms
FROM usage_hourly WHERE account_id = :account_id AND hour >= :since;

-- name: usage_by_endpoint
SELECT endpoint, SUM(requests) AS requests, SUM(credits_used) AS credits_used
FROM usage_hourly WHERE account_id = :account_id AND hour >= :since
GROUP BY endpoint ORDER BY requests DESC, endpoint;

-- name: usage_by_model
-- Jobs submitted in the period and what they were charged, less the refunds made in the period (the
-- refund trigger's counters, transport 'refund'): net of refunds by the same rule as the other sections.
-- INDEXED BY: with statistics SQLite took jobs_account_model_started for its order by model and read every job the
-- account ever had (and each row), not the period's entries of the covering index.
SELECT model, SUM(requests) AS requests, SUM(credits_used) AS credits_used
FROM (SELECT model, COUNT(*) AS requests, SUM(credits_used) AS credits_used
      FROM jobs INDEXED BY jobs_account_submitted WHERE account_id = :account_id AND created_at >= :since GROUP BY model
      UNION ALL
      SELECT model, 0, SUM(credits_used)
      FROM usage_hourly WHERE account_id = :account_id AND hour >= :since AND transport = 'refund' GROUP BY model)
GROUP BY model ORDER BY requests DESC, model;

-- name: usage_daily
SELECT date(hour, 'unixepoch') AS day, SUM(requests) AS requests, SUM(credits_used) AS credits_used
FROM usage_hourly WHERE account_id = :account_id AND hour >= :since
GROUP BY day ORDER BY day;

-- name: accounts_usage
-- The operator's usage report (`phonos accounts usage`, jobservice/usage_report.py): every account (or :account_id's
-- alone; NULL: all), one row per model it submitted jobs of in [:since, :until) (one row with a NULL model where it
-- submitted none), each carrying the account's requests and credits of the period. Credits are net of the refunds
-- made in the period (the refund trigger's 'refund' counters), as /v1/usage counts them. The jobs are the period's
-- submissions, deleted ones too (a deletion keeps the row), by the status they have now.
-- Reads: each account's hours of the period on usage_hourly's primary key (account_id, hour, ...), its jobs of the
-- period on jobs_account_submitted (account_id, created_at, ...) and each such job's row for its status.
-- Both tables are read in loops over accounts, the one table whose statistics say how many times: with statistics
-- (PRAGMA optimize) SQLite put a Bloom filter on usage_hourly or jobs joined to a CTE (whose size it cannot know),
-- built by reading the whole table (bench/query_scale.py --statistics: one account's month 6 -> 45 ms). The counters
-- in scalar subqueries; the CTEs MATERIALIZED, so each is read once, not once per model row. INDEXED BY, as
-- usage_by_model's: there SQLite took an index on (account_id, model, ...) for the GROUP BY.
WITH used AS MATERIALIZED (
    SELECT a.id, a.username,
           (SELECT COALESCE(SUM(u.requests), 0) FROM usage_hourly u
            WHERE u.account_id = a.id AND u.hour >= :since AND u.hour < :until) AS requests,
           (SELECT COALESCE(SUM(u.credits_used), 0) FROM usage_hourly u
            WHERE u.account_id = a.id AND u.hour >= :since AND u.hour < :until) AS credits_used
    FROM accounts a
    WHERE :account_id IS NULL OR a.id = :account_id),
submitted AS MATERIALIZED (
    SELECT a.id AS account_id, j.model, COUNT(*) AS jobs, SUM(j.status = 'completed') AS completed,
           SUM(j.status = 'failed') AS failed, SUM(j.status = 'cancelled') AS cancelled
    FROM accounts a
    JOIN jobs AS j INDEXED BY jobs_account_submitted
        ON j.account_id = a.id AND j.created_at >= :since AND j.created_at < :until
    WHERE :account_id IS NULL OR a.id = :account_id
    GROUP BY a.id, j.model)
SELECT used.username, used.requests, used.credits_used, s.model, COALESCE(s.jobs, 0) AS jobs,
       COALESCE(s.completed, 0) AS completed, COALESCE(s.failed, 0) AS failed, COALESCE(s.cancelled, 0) AS cancelled
FROM used
LEFT JOIN submitted s ON s.account_id = used.id
ORDER BY used.username, s.model;

-- name: insert_webhook
INSERT INTO webhooks (id, account_id, url, events, secret, created_at)
VALUES (:id, :account_id, :url, :events, :secret, :now);

-- name: list_webhooks
SELECT * FROM webhooks WHERE account_id = :account_id AND deleted_at IS NULL ORDER BY created_at, id;

-- name: webhook_delivery_health
-- Every listed webhook's delivery health in one statement (webhooks.DeliveryHealth): its newest job-event delivery,
-- and when the run of failing job-event deliveries since its newest delivered one began. Test events are left out
-- (see the proto's Webhook.failing_since). Each subquery names one status, so each is a seek into one
-- (webhook_id, status) range of 0078's index: "the newest of any status" is the newest of each, "the run's oldest"
-- the oldest failed and the oldest retried pending after the newest delivered. (On deliveries_of_webhook
-- (webhook_id, id), PostgreSQL walked the primary key back over other webhooks' rows when the table held few.)
-- SQLite's max() and min() of several arguments are NULL when one is: the COALESCEs (0 is no row's id).
SELECT w.id AS webhook_id, d.id, d.event, d.status, d.attempts, d.last_status, d.last_error, d.created_at,
       d.last_attempt_at,
       (SELECT min(COALESCE(MIN(f.created_at), MIN(p.created_at)), COALESCE(MIN(p.created_at), MIN(f.created_at)))
        FROM (SELECT (SELECT s.id FROM webhook_deliveries s
                      WHERE s.webhook_id = w.id AND s.status = 'delivered' AND s.event <> 'webhook.test'
                      ORDER BY s.id DESC LIMIT 1) AS ok) AS newest
        LEFT JOIN webhook_deliveries f ON f.id = (
            SELECT x.id FROM webhook_deliveries x
            WHERE x.webhook_id = w.id AND x.status = 'failed' AND x.event <> 'webhook.test'
              AND x.id > COALESCE(newest.ok, 0)
            ORDER BY x.id LIMIT 1)
        LEFT JOIN webhook_deliveries p ON p.id = (
            SELECT y.id FROM webhook_deliveries y
            WHERE y.webhook_id = w.id AND y.status = 'pending' AND y.attempts > 0 AND y.event <> 'webhook.test'
              AND y.id > COALESCE(newest.ok, 0)
            ORDER BY y.id LIMIT 1)) AS failing_since
FROM webhooks w
LEFT JOIN webhook_deliveries d ON d.id = max(
    COALESCE((SELECT a.id FROM webhook_deliveries a
     WHERE a.webhook_id = w.id AND a.status = 'pending' AND a.event <> 'webhook.test' ORDER BY a.id DESC LIMIT 1), 0),
    COALESCE((SELECT b.id FROM webhook_deliveries b
     WHERE b.webhook_id = w.id AND b.status = 'delivered' AND b.event <> 'webhook.test' ORDER BY b.id DESC LIMIT 1), 0),
    COALESCE((SELECT c.id FROM webhook_deliveries c
     WHERE c.webhook_id = w.id AND c.status = 'failed' AND c.event <> 'webhook.test' ORDER BY c.id DESC LIMIT 1), 0))
WHERE w.account_id = :account_id AND w.deleted_at IS NULL;

-- name: count_webhooks
SELECT COUNT(*) FROM webhooks WHERE account_id = :account_id AND deleted_at IS NULL;

-- name: get_webhook
SELECT * FROM webhooks WHERE id = :id AND account_id = :account_id AND deleted_at IS NULL;

-- name: delete_webhook
-- Its url and events: the activity log's entry says which receiver went (its host), as the creation's does.
UPDATE webhooks SET deleted_at = :now WHERE id = :id AND account_id = :account_id AND deleted_at IS NULL
RETURNING id, url, events;

-- name: delete_account_webhooks
-- `phonos accounts lock`: every webhook of the account, as delete_webhook deletes one.
UPDATE webhooks SET deleted_at = :now WHERE account_id = :account_id AND deleted_at IS NULL
RETURNING id, url, events;

-- name: rotate_webhook_secret
-- A new current secret; the old one stays as previous_secret until :previous_until (deliveries are signed with
-- both meanwhile), or goes at once when :previous_until is NULL. SET reads the row as it was, so previous_secret
-- is the secret being replaced. A secret already in its overlap from an earlier rotation is dropped: only the
-- last two secrets are ever used.
UPDATE webhooks SET previous_secret = CASE WHEN :previous_until IS NULL THEN NULL ELSE secret END,
                    previous_secret_expires_at = :previous_until,
                    secret = :secret
WHERE id = :id AND account_id = :account_id AND deleted_at IS NULL
RETURNING *;

-- name: drop_deliveries_of_webhook
UPDATE webhook_deliveries SET status = 'failed', last_error = 'webhook deleted'
WHERE webhook_id = :webhook_id AND status = 'pending';

-- name: finish_deliveries_of_deleted_webhooks
-- At the sender's start: pending deliveries of deleted webhooks (an attempt on the wire during the delete used
-- to set its row pending again) finished as the delete finishes them; never sent, they only held the backlog.
UPDATE webhook_deliveries SET status = 'failed', last_error = 'webhook deleted'
WHERE status = 'pending' AND webhook_id IN (SELECT id FROM webhooks WHERE deleted_at IS NOT NULL);

-- name: claim_due_deliveries
-- :in_flight and :busy_webhooks are JSON arrays: deliveries being sent, webhooks whose receiver is at
-- its concurrency limit. Leaving them out keeps a slow receiver's backlog from filling the batch.
-- One job service owns this database, so due deliveries need no claim (PostgreSQL claims them: many senders).
SELECT d.id, d.webhook_id, d.event, d.payload, d.attempts, w.url, w.secret, w.previous_secret,
       w.previous_secret_expires_at
FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id
WHERE d.status = 'pending' AND d.next_attempt_at <= :now AND w.deleted_at IS NULL
  AND d.id NOT IN (SELECT value FROM json_each(COALESCE(:in_flight, '[]')))
  AND d.webhook_id NOT IN (SELECT value FROM json_each(COALESCE(:busy_webhooks, '[]')))
ORDER BY d.next_attempt_at, d.id
LIMIT :limit;

-- name: release_deliveries
-- Nothing to release: one sender owns this database and claims nothing (PostgreSQL: many senders).
SELECT :ids, :owner WHERE 0;

-- name: job_status
SELECT status FROM jobs WHERE id = :id;

-- name: next_delivery_time
SELECT MIN(d.next_attempt_at) FROM webhook_deliveries d
  JOIN webhooks w ON w.id = d.webhook_id AND w.deleted_at IS NULL  -- a deleted webhook's are never claimed
WHERE d.status = 'pending'
  AND d.id NOT IN (SELECT value FROM json_each(COALESCE(:in_flight, '[]')))
  AND d.webhook_id NOT IN (SELECT value FROM json_each(COALESCE(:busy_webhooks, '[]')));

-- The delivery log of one webhook (GET /v1/webhooks/{id}/deliveries), newest first; the caller checked the
-- webhook is the account's.
-- name: list_webhook_deliveries
SELECT id, event, payload, status, attempts, last_status, last_error, created_at, last_attempt_at, next_attempt_at
FROM webhook_deliveries
WHERE webhook_id = :webhook_id AND (:status IS NULL OR status = :status)
  AND (:event IS NULL OR event = :event)
ORDER BY id DESC
LIMIT :limit OFFSET :offset;

-- name: list_webhook_deliveries_after
-- A page after a cursor: the deliveries older than it in list_webhook_deliveries's order (id DESC).
SELECT id, event, payload, status, attempts, last_status, last_error, created_at, last_attempt_at, next_attempt_at
FROM webhook_deliveries
WHERE webhook_id = :webhook_id AND id < :after_id AND (:status IS NULL OR status = :status)
  AND (:event IS NULL OR event = :event)
ORDER BY id DESC
LIMIT :limit;

-- name: count_webhook_deliveries
SELECT COUNT(*) FROM webhook_deliveries WHERE webhook_id = :webhook_id AND (:status IS NULL OR status = :status)
  AND (:event IS NULL OR event = :event);

-- name: get_webhook_delivery
SELECT id, event, payload, status, attempts, last_status, last_error, created_at, last_attempt_at, next_attempt_at
FROM webhook_deliveries WHERE id = :id AND webhook_id = :webhook_id;

-- name: insert_test_delivery
-- A test event (POST /v1/webhooks/{id}/test) as the log keeps it, finished when written: it was sent once, by
-- the route, and is never retried. So any client's test shows in the log (the dashboard's "Last test" reads the
-- newest), not only in the answer of the request that sent it.
INSERT INTO webhook_deliveries (webhook_id, event, payload, status, attempts, next_attempt_at, last_status,
                                last_error, created_at, last_attempt_at)
VALUES (:webhook_id, :event, :payload, :status, 1, :now, :last_status, :last_error, :now, :now);

-- name: redeliver_webhook_delivery
-- A new delivery of the same event and body, due now; none once the webhook is deleted (by a delete that
-- committed after the caller's check: its row would be pending for ever, never claimed). The job_id goes along:
-- the copy goes with its job's deletion as the original does.
INSERT INTO webhook_deliveries (webhook_id, event, payload, status, next_attempt_at, created_at, job_id)
SELECT d.webhook_id, d.event, d.payload, 'pending', :now, :now, d.job_id
FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id AND w.deleted_at IS NULL
WHERE d.id = :id
RETURNING id, event, payload, status, attempts, last_status, last_error, created_at, last_attempt_at, next_attempt_at;

-- name: purge_webhook_deliveries
-- Finished deliveries past the log's retention, a batch at a time (a first purge after an upgrade may meet
-- a year of rows: one statement would hold the write lock for seconds); pending ones stay until they finish.
-- Each batch reads the created_at index (deliveries_created), not the whole table: without it the last batch
-- of a run, and every run with nothing to purge, read every row.
DELETE FROM webhook_deliveries WHERE id IN (
    SELECT id FROM webhook_deliveries WHERE status <> 'pending' AND created_at < :before LIMIT :limit);

-- name: mark_delivered
UPDATE webhook_deliveries SET status = 'delivered', attempts = attempts + 1, last_status = :last_status,
                              last_error = NULL, last_attempt_at = :now
WHERE id = :id;

-- name: mark_delivery_retry
-- Only a pending delivery: one its webhook's delete finished (failed) while this attempt was on the wire stays
-- finished, not pending again (no claim picks a deleted webhook's row, so it would be due for ever).
UPDATE webhook_deliveries
SET attempts = attempts + 1, last_status = :last_status, last_error = :last_error, next_attempt_at = :next_attempt_at,
    last_attempt_at = :now,
    status = CASE WHEN attempts + 1 >= :max_attempts THEN 'failed' ELSE 'pending' END
WHERE id = :id AND status = 'pending';

-- name: metrics_active_jobs
SELECT model, status, COUNT(*) AS jobs, MIN(created_at) AS oldest_created
FROM jobs WHERE status IN ('pending', 'running')
GROUP BY model, status;

-- name: metrics_webhook_backlog
SELECT COUNT(*) AS pending, MIN(created_at) AS oldest_created
FROM webhook_deliveries WHERE status = 'pending';
-- API keys of one account (the dashboard's keys page, `phonos keys list`) ----------------------------

-- name: list_api_keys
SELECT k.id, k.prefix, k.name, k.rate_limit, k.created_at, k.revoked_at, k.last_used_at, k.expires_at, k.scope
FROM api_keys k
WHERE k.account_id = :account_id
ORDER BY k.created_at DESC, k.id;

-- name: get_api_key
SELECT k.id, k.prefix, k.name, k.rate_limit, k.created_at, k.revoked_at, k.last_used_at, k.expires_at, k.scope
FROM api_keys k
WHERE k.id = :id AND k.account_id = :account_id;

-- name: api_key_account
SELECT account_id FROM api_keys WHERE id = :id;

-- name: count_active_keys
-- Keys that work: not revoked and not expired at :now.
SELECT COUNT(*) FROM api_keys
WHERE account_id = :account_id AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > :now);

-- name: revoke_api_key
-- key_hash: the revoked key's open watch streams are ended by it (jobservice/stream_guard.py).
UPDATE api_keys SET revoked_at = :now
WHERE id = :id AND account_id = :account_id AND revoked_at IS NULL
RETURNING id, key_hash;

-- name: revoke_account_api_keys
-- `phonos accounts lock`: every key of the account not yet revoked (expired ones too: an update could renew
-- them), in one statement; key_hash for the stream guard, name for the activity log.
UPDATE api_keys SET revoked_at = :now WHERE account_id = :account_id AND revoked_at IS NULL
RETURNING id, key_hash, name;

-- name: update_api_key
-- :rename: the name was given (a blank one clears it: NULL is "Unnamed key").
UPDATE api_keys SET name = CASE WHEN :rename THEN :name ELSE name END, rate_limit = COALESCE(:rate_limit, rate_limit)
WHERE id = :id AND account_id = :account_id AND revoked_at IS NULL
RETURNING id;

-- name: set_api_key_expiry
-- :expires_at NULL: the key never expires. key_hash: the stream guard moves the key's open streams to it.
UPDATE api_keys SET expires_at = :expires_at
WHERE id = :id AND account_id = :account_id AND revoked_at IS NULL
RETURNING id, key_hash;

-- name: account_limits
SELECT id, username, max_rate_limit FROM accounts WHERE id = :account_id;

-- name: account_by_username
SELECT id, username, password_hash FROM accounts WHERE username = :username;

-- name: password_holder
-- `phonos serve`'s sign-in hint: :username when that account has a dashboard password, else any
-- account that has one (none: nobody can sign in yet). Once per start, never per request.
SELECT username FROM accounts WHERE password_hash IS NOT NULL
ORDER BY username <> :username, id LIMIT 1;

-- name: add_credits
UPDATE accounts SET credits = credits + :amount WHERE username = :username RETURNING id, credits;

-- An operator's top-up or take-back, in add_credits's transaction (0066_credit_history.sql: job charges and
-- refunds write theirs in triggers).
-- name: insert_credit_grant
INSERT INTO credit_entries (account_id, created_at, amount, balance_after, kind, note)
VALUES (:account_id, :now, :amount, :balance, 'grant', :note);

-- The credit history, newest first (GET /v1/account/credits, `phonos credits history`); a deleted job's
-- entries stay, said by job_deleted.
-- name: list_credit_entries
SELECT e.id, e.created_at, e.amount, e.balance_after, e.kind, e.job_id, e.note,
       j.deleted_at IS NOT NULL AS job_deleted
FROM credit_entries e LEFT JOIN jobs j ON j.id = e.job_id
WHERE e.account_id = :account_id
ORDER BY e.id DESC
LIMIT :limit OFFSET :offset;

-- name: list_credit_entries_after
-- A page after a cursor: the entries older than it in list_credit_entries's order (id DESC).
SELECT e.id, e.created_at, e.amount, e.balance_after, e.kind, e.job_id, e.note,
       j.deleted_at IS NOT NULL AS job_deleted
FROM credit_entries e LEFT JOIN jobs j ON j.id = e.job_id
WHERE e.account_id = :account_id AND e.id < :after_id
ORDER BY e.id DESC
LIMIT :limit;

-- name: credit_entry_exists
SELECT id FROM credit_entries WHERE id = :id AND account_id = :account_id;

-- name: count_credit_entries
SELECT COUNT(*) FROM credit_entries WHERE account_id = :account_id;

-- Dashboard passwords and sessions ------------------------------------------------------------------

-- name: set_password
UPDATE accounts SET password_hash = :password_hash WHERE id = :account_id;

-- name: replace_password
-- A signed-in person's password change: only over the hash their current password was checked against
-- (:verified), so a change meeting another (or a lock that cleared it) meanwhile sets nothing.
UPDATE accounts SET password_hash = :password_hash WHERE id = :account_id AND password_hash = :verified
RETURNING id;

-- name: clear_password
-- `phonos accounts lock`: nobody signs in any more; a row back when the account had a password.
UPDATE accounts SET password_hash = NULL WHERE id = :account_id AND password_hash IS NOT NULL
RETURNING id;

-- name: insert_session
INSERT INTO sessions (token_hash, account_id, user_agent, client_address, created_at, last_seen_at, expires_at)
VALUES (:token_hash, :account_id, :user_agent, :client_address, :now, :now, :expires_at);

-- name: insert_session_if_password
-- A sign-in's session, only while the account's password hash is still the one the password was checked against
-- (:password_hash): a change of password or `phonos accounts lock` committed during the check (Argon2, outside any
-- transaction) ends only the sessions existing then, so a session started after it with the old password outlived
-- it. No row back: that password no longer signs in (jobservice/sessions.py).
-- One writer holds SQLite (BEGIN IMMEDIATE): the hash compared is the one committed last.
INSERT INTO sessions (token_hash, account_id, user_agent, client_address, created_at, last_seen_at, expires_at)
SELECT :token_hash, id, :user_agent, :client_address, :now, :now, :expires_at
FROM accounts WHERE id = :account_id AND password_hash = :password_hash
RETURNING token_hash;

-- name: get_session
SELECT s.account_id, s.expires_at, s.created_at, s.last_seen_at, a.username
FROM sessions s JOIN accounts a ON a.id = s.account_id
WHERE s.token_hash = :token_hash AND s.revoked_at IS NULL AND s.expires_at > :now;

-- name: live_sessions
-- The dashboard sessions among :token_hashes (a JSON array) still signed in, with their expiry
-- (jobservice/stream_guard.py ends their streams when they expire).
SELECT token_hash, expires_at FROM sessions
WHERE revoked_at IS NULL AND expires_at > :now AND token_hash IN (SELECT value FROM json_each(:token_hashes));

-- name: touch_session
-- The "Signed in" list's last activity and address; jobservice/sessions.py calls it at most once a minute per session.
UPDATE sessions SET last_seen_at = :now, client_address = COALESCE(:client_address, client_address)
WHERE token_hash = :token_hash AND revoked_at IS NULL;

-- name: list_account_sessions
-- The account's live sessions for the "Signed in" list (GET /auth/sessions), most recently used first.
SELECT token_hash, user_agent, client_address, created_at, last_seen_at, expires_at
FROM sessions WHERE account_id = :account_id AND revoked_at IS NULL AND expires_at > :now
ORDER BY COALESCE(last_seen_at, created_at) DESC, created_at DESC;

-- name: revoke_account_session
-- One of the account's own sessions, ended from the "Signed in" list (another account's never matches).
UPDATE sessions SET revoked_at = :now
WHERE token_hash = :token_hash AND account_id = :account_id AND revoked_at IS NULL AND expires_at > :now
RETURNING token_hash;

-- name: revoke_session
UPDATE sessions SET revoked_at = :now WHERE token_hash = :token_hash AND revoked_at IS NULL
RETURNING token_hash;

-- name: revoke_account_sessions
UPDATE sessions SET revoked_at = :now WHERE account_id = :account_id AND revoked_at IS NULL
RETURNING token_hash;

-- name: revoke_other_account_sessions
-- A password change by a signed-in person: every other session of the account ends, the one that changed it stays.
UPDATE sessions SET revoked_at = :now WHERE account_id = :account_id AND token_hash <> :keep AND revoked_at IS NULL
RETURNING token_hash;

-- name: prune_sessions
-- Part of each sign-in's transaction, so at most :limit rows: a backlog (a first sign-in after long) goes over
-- the next sign-ins instead of one long statement holding the writer.
DELETE FROM sessions WHERE rowid IN (
    SELECT rowid FROM sessions WHERE expires_at < :before OR revoked_at < :before LIMIT :limit);

-- Failed sign-ins (jobservice/sign_in_throttle.py) ---------------------------------------------------------------

-- name: sign_in_failures_at_limit
-- For each key asked (:address_key, :username_key; NULL: not asked), the failure that fills its limit: the
-- :address_limit-th (:username_limit-th) newest after :since, NULL while it has fewer. The key's refused until that
-- one leaves the window. Both in one statement, each a range read of the primary key.
SELECT
    (SELECT failed_at FROM sign_in_failures WHERE key_hash = :address_key AND failed_at > :since
     ORDER BY failed_at DESC LIMIT 1 OFFSET :address_limit - 1) AS address_at,
    (SELECT failed_at FROM sign_in_failures WHERE key_hash = :username_key AND failed_at > :since
     ORDER BY failed_at DESC LIMIT 1 OFFSET :username_limit - 1) AS username_at;

-- name: record_sign_in_failure
-- One failure of each key given (:address_key NULL: the username's only, as for a wrong current password). Two
-- job services failing one key at the very same instant count once (the primary key), which a limit can bear.
INSERT INTO sign_in_failures (key_hash, failed_at)
SELECT key_hash, :now FROM (SELECT :username_key AS key_hash UNION ALL SELECT :address_key) WHERE key_hash IS NOT NULL
ON CONFLICT DO NOTHING;

-- name: purge_sign_in_failures
-- Failures that left the window (the throttle never reads them again), :limit at a time: other writers wait for
-- one batch at most.
DELETE FROM sign_in_failures WHERE (key_hash, failed_at) IN (
    SELECT key_hash, failed_at FROM sign_in_failures WHERE failed_at <= :before LIMIT :limit);

-- name: delete_job
-- The owner's deletion of a finished job (jobservice/jobs.py JobStore.delete): what it held goes, the row stays.
UPDATE jobs SET deleted_at = :now, name = NULL, error = NULL, result_json = NULL,
                results_deleted_at = COALESCE(results_deleted_at, :now)
WHERE id = :id AND account_id = :account_id AND deleted_at IS NULL
  AND status IN ('completed', 'failed', 'cancelled')
RETURNING id;

-- name: get_job_input
-- A job's stored request (GET /v1/jobs/{id}/input); a deleted job's went with it.
SELECT j.id, j.model, j.name, i.request_json
FROM jobs j JOIN job_inputs i ON i.job_id = j.id
WHERE j.id = :id AND j.account_id = :account_id AND j.deleted_at IS NULL;

-- name: delete_job_input
DELETE FROM job_inputs WHERE job_id = :id;

-- name: delete_job_deliveries
-- A deleted job's webhook deliveries: their bodies repeat its error, and the delivery log would show them.
-- The sender may be sending one now; recording its outcome then updates no row. By the job_id column and its
-- index (deliveries_of_job), not the payload's data.job_id: reading every body outlived the command timeout.
DELETE FROM webhook_deliveries WHERE job_id = :id;

-- name: results_past_retention
-- Completed jobs whose result files are due for deletion (jobservice/result_retention.py), oldest first. INDEXED BY:
-- left to itself SQLite took the index on status (status = 'completed': every completed job ever) and sorted them,
-- 20-40 ms a sweep at 100,000 jobs, for the few rows the partial index holds in finished_at order.
SELECT id FROM jobs INDEXED BY jobs_results_kept
WHERE status = 'completed' AND results_deleted_at IS NULL AND finished_at < :before
ORDER BY finished_at
LIMIT :limit;

-- name: mark_results_deleted
-- After the files are gone (a sweep that stopped in between deletes again, then marks).
UPDATE jobs SET results_deleted_at = :now WHERE id = :id AND results_deleted_at IS NULL;

-- name: jobs_keeping_results
-- Of :ids (a JSON array of job ids), the jobs whose result files are still theirs: neither the job's deletion nor
-- result retention removed them. The orphan sweep (jobservice/result_retention.py) removes the old files of the rest.
SELECT id FROM jobs WHERE results_deleted_at IS NULL AND id IN (SELECT value FROM json_each(:ids));

-- name: oldest_job_created_at
-- When the first job this database knows was submitted (by seq, its index; job rows are never deleted): result
-- files older than that predate the database (a restore, a wrong database) and the orphan sweep leaves them.
SELECT created_at FROM jobs ORDER BY seq LIMIT 1;

-- name: store_identity
-- The database's id, which its results directory's marker names, and when a job service first marked one
-- (jobservice/result_store_identity.py; migration 0084 / PostgreSQL 0034 made the row).
SELECT database_id, results_marked_at FROM store_identity;

-- name: mark_result_store
-- The marker naming this database is in its results directory: the first time is kept (two services starting at
-- once both record it).
UPDATE store_identity SET results_marked_at = COALESCE(results_marked_at, :now) WHERE database_id = :database_id;

-- name: opaque_id_keys
-- The secrets and cut-offs of opaque event and delivery ids (jobservice/opaque_ids.py).
SELECT kind, secret, legacy_max FROM opaque_ids;

-- name: last_job_event_id
SELECT COALESCE(MAX(id), 0) FROM job_events;

-- name: job_events_after
-- The watch hub's one tail query: every event after its cursor, with the job's current row.
SELECT e.id AS event_id, e.status AS event_status, e.created_at AS event_at, j.*
FROM job_events e JOIN jobs j ON j.id = e.job_id
WHERE e.id > :after
ORDER BY e.id
LIMIT :limit;

-- name: job_with_last_event
SELECT j.*, (SELECT MAX(e.id) FROM job_events e WHERE e.job_id = j.id) AS event_id
FROM jobs j WHERE j.id = :job_id AND j.account_id = :account_id AND j.deleted_at IS NULL;

-- name: job_events_of_job_after
SELECT e.id AS event_id, e.status AS event_status, e.created_at AS event_at, j.*
FROM job_events e JOIN jobs j ON j.id = e.job_id
WHERE e.job_id = :job_id AND j.account_id = :account_id AND e.id > :after AND j.deleted_at IS NULL
ORDER BY e.id
LIMIT :limit;

-- name: job_events_of_account_after
SELECT e.id AS event_id, e.status AS event_status, e.created_at AS event_at, j.*
FROM job_events e JOIN jobs j ON j.id = e.job_id
WHERE e.account_id = :account_id AND e.id > :after AND j.deleted_at IS NULL
ORDER BY e.id
LIMIT :limit;

-- name: active_jobs_with_last_event
-- ORDER BY +seq: its jobs by status from jobs_account_status_live, then sorted; ordering by the index on seq instead
-- walked every job the account ever had to find its few active ones (17-40 ms at 22,000 jobs, not 3-7).
SELECT j.*, (SELECT MAX(e.id) FROM job_events e WHERE e.job_id = j.id) AS event_id
FROM jobs j WHERE j.account_id = :account_id AND j.status IN ('pending', 'running')
ORDER BY +j.seq;

-- name: get_idempotency_key
SELECT method, fingerprint, response FROM idempotency_keys
WHERE account_id = :account_id AND key = :key AND created_at >= :since;

-- name: insert_idempotency_key
-- An expired row of the same key is replaced; a live one is kept (the first response wins).
INSERT INTO idempotency_keys (account_id, key, method, fingerprint, response, created_at)
VALUES (:account_id, :key, :method, :fingerprint, :response, :now)
ON CONFLICT (account_id, key) DO UPDATE
SET method = excluded.method, fingerprint = excluded.fingerprint, response = excluded.response,
    created_at = excluded.created_at
WHERE idempotency_keys.created_at < :since;

-- name: purge_idempotency_keys
-- Records past their TTL, a batch at a time (jobservice/periodic.py purge_in_batches).
DELETE FROM idempotency_keys WHERE rowid IN (
    SELECT rowid FROM idempotency_keys WHERE created_at < :since LIMIT :limit);

-- name: claim_idempotency_key
-- The request that gets a row back runs the key's work; one that gets none waits and tries again. A claim whose
-- owner stopped renewing it (its service died) is taken over once past :stale_before; on SQLite that is every
-- claim, as the caller holds the key's lock in the one process that uses the file.
INSERT INTO idempotency_claims (account_id, key, owner, expires_at)
VALUES (:account_id, :key, :owner, :expires_at)
ON CONFLICT (account_id, key) DO UPDATE
SET owner = excluded.owner, expires_at = excluded.expires_at
WHERE idempotency_claims.expires_at < :stale_before
RETURNING owner;

-- name: renew_idempotency_claim
-- No row back: the claim was taken over (this service stopped renewing it for longer than its lease).
UPDATE idempotency_claims SET expires_at = :expires_at
WHERE account_id = :account_id AND key = :key AND owner = :owner
RETURNING owner;

-- name: release_idempotency_claim
DELETE FROM idempotency_claims WHERE account_id = :account_id AND key = :key AND owner = :owner;

-- name: purge_idempotency_claims
-- Claims of services that died and whose key was never retried, a batch at a time.
DELETE FROM idempotency_claims WHERE rowid IN (
    SELECT rowid FROM idempotency_claims WHERE expires_at < :now LIMIT :limit);

-- Share links of completed jobs (jobservice/shares.py) ---------------------------------------------------

-- name: insert_job_share
-- Only the account's completed job that still has its result files can be shared: no row back otherwise.
INSERT INTO job_shares (id, job_id, token_hash, created_at, expires_at)
SELECT :id, id, :token_hash, :now, :expires_at FROM jobs
WHERE id = :job_id AND account_id = :account_id AND deleted_at IS NULL AND status = 'completed'
  AND results_deleted_at IS NULL
RETURNING id;

-- name: prune_job_shares
-- A job's expired links, dropped when it gets a new one (an expired link answers 404 like a revoked one).
DELETE FROM job_shares WHERE job_id = :job_id AND expires_at <= :now;

-- name: count_job_shares
SELECT COUNT(*) AS shares FROM job_shares WHERE job_id = :job_id AND expires_at > :now;

-- name: list_job_shares
-- A job's working links, newest first. The job's owner is checked before (jobservice/shares.py).
SELECT id, job_id, created_at, expires_at FROM job_shares
WHERE job_id = :job_id AND expires_at > :now
ORDER BY created_at DESC, id;

-- name: revoke_account_job_shares
-- `phonos accounts lock`: the working links of every job of the account (an expired one opens nothing).
DELETE FROM job_shares
WHERE expires_at > :now AND job_id IN (SELECT id FROM jobs WHERE account_id = :account_id)
RETURNING id, job_id;

-- name: delete_job_share
DELETE FROM job_shares WHERE id = :id AND job_id = :job_id RETURNING id;

-- name: shared_job
-- The job a working link names (public: no account). A deleted job has no links (delete_job_shares), and
-- is excluded here too.
SELECT j.*, s.expires_at AS share_expires_at FROM job_shares s JOIN jobs j ON j.id = s.job_id
WHERE s.token_hash = :token_hash AND s.expires_at > :now AND j.deleted_at IS NULL;

-- name: delete_job_shares
-- A deleted job's links (jobservice/jobs.py JobStore.delete): they stop working with it.
DELETE FROM job_shares WHERE job_id = :id;

-- The account activity log (jobservice/activity.py) ---------------------------------------------------------

-- name: insert_activity
-- Written in the transaction of the change it records.
INSERT INTO account_activity (account_id, created_at, action, actor_kind, actor_key_id, actor_key_name,
                              client_address, user_agent, key_id, webhook_id, job_id, share_id, details)
VALUES (:account_id, :now, :action, :actor_kind, :actor_key_id, :actor_key_name, :client_address, :user_agent,
        :key_id, :webhook_id, :job_id, :share_id, :details);

-- name: list_activity
-- Newest first (GET /v1/account/activity, `phonos accounts activity`), optionally one action's.
SELECT * FROM account_activity
WHERE account_id = :account_id AND (CAST(:action AS TEXT) IS NULL OR action = :action)
ORDER BY id DESC
LIMIT :limit OFFSET :offset;

-- name: list_activity_after
-- A page after a cursor: the entries older than it in list_activity's order (id DESC).
SELECT * FROM account_activity
WHERE account_id = :account_id AND (CAST(:action AS TEXT) IS NULL OR action = :action) AND id < :after_id
ORDER BY id DESC
LIMIT :limit;

-- name: count_activity
SELECT COUNT(*) FROM account_activity
WHERE account_id = :account_id AND (CAST(:action AS TEXT) IS NULL OR action = :action);

-- name: activity_entry_exists
SELECT id FROM account_activity WHERE id = :id AND account_id = :account_id;

-- name: purge_activity
-- Entries past the log's retention (PHONOS_ACTIVITY_LOG_DAYS), a batch at a time, as purge_webhook_deliveries.
-- No ORDER BY: SQLite then walked the whole table by id to find the oldest (every run's last batch read every
-- row); the created_at index (account_activity_created) finds them.
DELETE FROM account_activity WHERE id IN (
    SELECT id FROM account_activity WHERE created_at < :before LIMIT :limit);
