-- Named queries for PostgreSQL, loaded once by jobservice.pg. The same names and `:name` parameters as
-- jobservice/sql/queries.sql (SQLite), with the same meaning; jobservice.pg turns parameters into $n.

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
WHERE revoked_at IS NULL AND key_hash IN (SELECT json_array_elements_text(CAST(:key_hashes AS JSON)));

-- name: account_by_username_any_case
-- An account whose username differs from :username only in letter case (every letter, as PostgreSQL lower() folds).
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
-- Submissions of one account one at a time, across job services: the queued-jobs limit counts, then inserts,
-- and the count (a later statement, a fresh snapshot) sees every submission committed before the lock.
SELECT id FROM accounts WHERE id = :account_id FOR UPDATE;

-- name: lock_account
-- An account's limited creates one at a time (at most 20 active keys, 20 links per job, the webhooks per
-- account): each counts, then inserts, in one transaction that first takes this.
-- Under READ COMMITTED two creates both counted 19 and both inserted; the lock makes them take turns, and the
-- count (a later statement, a fresh snapshot) sees every create committed before it. `phonos accounts lock` takes
-- it first too: a create either commits before the lock's statements run (and they end what it made), or checks
-- its caller's key or session after the lock's commit, and finds it ended (jobservice/account_lock.py).
SELECT id FROM accounts WHERE id = :account_id FOR UPDATE;

-- name: count_queued_jobs
SELECT COUNT(*) FROM jobs WHERE account_id = :account_id AND status = 'pending';

-- name: insert_job
INSERT INTO jobs (id, account_id, model, name, status, credits_used, endpoint, created_at, updated_at)
VALUES (:id, :account_id, :model, :name, 'pending', :credits_used, :endpoint, :now, :now);

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
    SELECT id, account_id, model, seq FROM jobs WHERE status = 'pending' AND id IN (SELECT json_array_elements_text(CAST(:ids AS JSON)))),
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
SELECT * FROM jobs
WHERE account_id = :account_id AND deleted_at IS NULL
  AND (CAST(:status AS TEXT) IS NULL OR status = :status)
  AND (CAST(:model AS TEXT) IS NULL OR model = :model)
  AND (CAST(:name AS TEXT) IS NULL OR strpos(lower(name), lower(CAST(:name AS TEXT))) > 0)
ORDER BY seq DESC
LIMIT :limit OFFSET :offset;

-- name: list_jobs_after
-- A page after a cursor (starting_after): the jobs older than it in list_jobs's order (seq DESC), same filters;
-- a keyset on jobs_account_created, however deep the reader is.
SELECT * FROM jobs
WHERE account_id = :account_id AND deleted_at IS NULL AND seq < :after_seq
  AND (CAST(:status AS TEXT) IS NULL OR status = :status)
  AND (CAST(:model AS TEXT) IS NULL OR model = :model)
  AND (CAST(:name AS TEXT) IS NULL OR strpos(lower(name), lower(CAST(:name AS TEXT))) > 0)
ORDER BY seq DESC
LIMIT :limit;

-- name: list_jobs_named
-- list_jobs for a name of 3 or more characters (jobservice/jobs.py picks): the LIKE is what the trigram index of
-- lowered names (0031, jobs_name_trgm, where pg_trgm could be installed) answers, the needle's ! % _ escaped with
-- ESCAPE '!' (not a backslash: a server with standard_conforming_strings off reads '\' as an open string) so it
-- means the same as the strpos() check, which stays: the answer is the old query's, the index only narrows the rows.
-- Without the index (no pg_trgm) the same query scans the account's jobs, as before.
-- Planned with each call's needle (jobservice/pg.py `call`): a generic plan, which PostgreSQL may keep for a prepared
-- statement after 5 runs, cannot tell a rare name (the index's few candidates) from a common one (the account's
-- jobs newest first, until the page is full) and read the index for both.
-- plan: per call
SELECT * FROM jobs
WHERE account_id = :account_id AND deleted_at IS NULL
  AND (CAST(:status AS TEXT) IS NULL OR status = :status)
  AND (CAST(:model AS TEXT) IS NULL OR model = :model)
  AND lower(name) LIKE '%' || replace(replace(replace(lower(CAST(:name AS TEXT)), '!', '!!'), '%', '!%'), '_', '!_') || '%' ESCAPE '!'
  AND strpos(lower(name), lower(CAST(:name AS TEXT))) > 0
ORDER BY seq DESC
LIMIT :limit OFFSET :offset;

-- name: list_jobs_after_named
-- list_jobs_after for a name of 3 or more characters, as list_jobs_named.
-- plan: per call
SELECT * FROM jobs
WHERE account_id = :account_id AND deleted_at IS NULL AND seq < :after_seq
  AND (CAST(:status AS TEXT) IS NULL OR status = :status)
  AND (CAST(:model AS TEXT) IS NULL OR model = :model)
  AND lower(name) LIKE '%' || replace(replace(replace(lower(CAST(:name AS TEXT)), '!', '!!'), '%', '!%'), '_', '!_') || '%' ESCAPE '!'
  AND strpos(lower(name), lower(CAST(:name AS TEXT))) > 0
ORDER BY seq DESC
LIMIT :limit;

-- name: job_seq
-- A cursor's place in the list: any job of the account, a deleted one too (its row and seq stay).
SELECT seq FROM jobs WHERE id = :id AND account_id = :account_id;

-- name: count_jobs
SELECT COUNT(*) FROM jobs
WHERE account_id = :account_id AND deleted_at IS NULL
  AND (CAST(:status AS TEXT) IS NULL OR status = :status)
  AND (CAST(:model AS TEXT) IS NULL OR model = :model)
  AND (CAST(:name AS TEXT) IS NULL OR strpos(lower(name), lower(CAST(:name AS TEXT))) > 0);

-- name: count_jobs_named
-- count_jobs for a name of 3 or more characters, as list_jobs_named.
-- plan: per call
SELECT COUNT(*) FROM jobs
WHERE account_id = :account_id AND deleted_at IS NULL
  AND (CAST(:status AS TEXT) IS NULL OR status = :status)
  AND (CAST(:model AS TEXT) IS NULL OR model = :model)
  AND lower(name) LIKE '%' || replace(replace(replace(lower(CAST(:name AS TEXT)), '!', '!!'), '%', '!%'), '_', '!_') || '%' ESCAPE '!'
  AND strpos(lower(name), lower(CAST(:name AS TEXT))) > 0;

-- name: job_counts
SELECT COUNT(*) AS total,
       COUNT(*) FILTER (WHERE status = 'completed') AS completed,
       COUNT(*) FILTER (WHERE status IN ('pending', 'running')) AS active,
       COUNT(*) FILTER (WHERE status = 'failed') AS failed,
       COUNT(*) FILTER (WHERE status = 'cancelled') AS cancelled
FROM jobs WHERE account_id = :account_id AND deleted_at IS NULL;

-- name: claim_job
-- A claim is the one read of the job's stored request (request_json).
UPDATE jobs SET status = 'running', attempts = attempts + 1, started_at = :now, updated_at = :now
WHERE id = :id AND status = 'pending'
RETURNING *, (SELECT COUNT(*) FROM webhooks w WHERE w.account_id = jobs.account_id AND w.deleted_at IS NULL) AS webhook_count,
          (SELECT i.request_json FROM job_inputs i WHERE i.job_id = jobs.id) AS request_json;

-- name: complete_job
-- A service whose lease was taken over (it stopped renewing) can no longer finish the job: `owner` must hold it.
UPDATE jobs SET status = 'completed', result_json = :result_json, updated_at = :now, finished_at = :now,
                lease_expires = NULL
WHERE id = :id AND status = 'running' AND (CAST(:owner AS TEXT) IS NULL OR lease_owner = :owner)
RETURNING *, (SELECT COUNT(*) FROM webhooks w WHERE w.account_id = jobs.account_id AND w.deleted_at IS NULL) AS webhook_count;

-- name: fail_job
UPDATE jobs SET status = 'failed', error = :error, error_code = :error_code,
                refunded = CASE WHEN :refund THEN credits_used ELSE 0 END, updated_at = :now, finished_at = :now,
                lease_expires = NULL
WHERE id = :id AND status IN ('pending', 'running')
  AND (CAST(:owner AS TEXT) IS NULL OR status = 'pending' OR lease_owner = :owner)
RETURNING *, (SELECT COUNT(*) FROM webhooks w WHERE w.account_id = jobs.account_id AND w.deleted_at IS NULL) AS webhook_count;

-- name: cancel_job
UPDATE jobs SET status = 'cancelled', refunded = CASE WHEN status = 'pending' THEN credits_used ELSE 0 END,
                updated_at = :now, finished_at = :now, lease_expires = NULL
WHERE id = :id AND account_id = :account_id AND status IN ('pending', 'running')
RETURNING *, (SELECT COUNT(*) FROM webhooks w WHERE w.account_id = jobs.account_id AND w.deleted_at IS NULL) AS webhook_count;

-- name: requeue_job
-- Its process died mid-run (the run counts): why, when, and the runs it may have go with it (0026).
UPDATE jobs SET status = 'pending', updated_at = :now, lease_owner = NULL, lease_expires = NULL,
                requeue_reason = :reason, requeued_at = :now,
                max_attempts = COALESCE(CAST(:max_attempts AS INTEGER), max_attempts)
WHERE id = :id AND status = 'running' AND (CAST(:owner AS TEXT) IS NULL OR lease_owner = :owner)
RETURNING *;

-- name: lock_model_claims
-- Claims of one model, one at a time across job services, for the rest of the transaction: the fair order and
-- the per-account cap count running jobs, and the claim that follows (a new statement, a fresh snapshot) must
-- see every claim committed before it. A claim takes milliseconds; the lock ends with its transaction.
SELECT pg_advisory_xact_lock(hashtextextended('phonos claims ' || :model, 0));

-- name: claim_next_job
-- The next job of a model, fairly (jobservice/fairness.py): of the accounts with jobs of the model waiting and
-- fewer than :max_running of them running, the one with the fewest running, then the one served least
-- recently (round-robin), then its oldest job. Run after lock_model_claims, in its transaction; rows another
-- transaction holds (a cancel) are skipped, not waited for. The claim holds for lease_s unless renewed.
-- OFFSET 0 keeps `a` a subquery of its own: each waiting account's running count and last start are read once
-- (50 accounts: 100 index probes), not once per waiting job as the planner did when it pulled `a` into the join
-- (1,200 waiting jobs: 2,400 probes; bench/query_scale.py: 35-40 ms a claim, 5-9 ms with it).
UPDATE jobs SET status = 'running', attempts = attempts + 1, started_at = :now, updated_at = :now,
                lease_owner = :owner, lease_expires = CAST(:now AS DOUBLE PRECISION) + :lease_s
WHERE id = (
    SELECT j.id
    FROM jobs j
    JOIN (SELECT w.account_id,
                 (SELECT COUNT(*) FROM jobs r
                  WHERE r.account_id = w.account_id AND r.status = 'running' AND r.model = :model) AS running,
                 (SELECT MAX(s.started_at) FROM jobs s
                  WHERE s.account_id = w.account_id AND s.model = :model) AS last_started
          FROM (SELECT DISTINCT account_id FROM jobs WHERE status = 'pending' AND model = :model) w
          OFFSET 0) a
      ON a.account_id = j.account_id
    WHERE j.status = 'pending' AND j.model = :model AND a.running < :max_running
    ORDER BY a.running, a.last_started NULLS FIRST, j.seq
    LIMIT 1
    FOR UPDATE OF j SKIP LOCKED)
RETURNING *, (SELECT COUNT(*) FROM webhooks w WHERE w.account_id = jobs.account_id AND w.deleted_at IS NULL) AS webhook_count,
          (SELECT i.request_json FROM job_inputs i WHERE i.job_id = jobs.id) AS request_json;

-- name: renew_leases
-- The owner's heartbeat; the ids that come back are still its own (the others were cancelled or taken over).
UPDATE jobs SET lease_expires = CAST(:now AS DOUBLE PRECISION) + :lease_s
WHERE id = ANY(:ids) AND status = 'running' AND lease_owner = :owner
RETURNING id;

-- name: requeue_expired
-- Jobs whose owner stopped renewing (it died or lost the database) run again elsewhere, saying so...
UPDATE jobs SET status = 'pending', updated_at = :now, lease_owner = NULL, lease_expires = NULL,
                requeue_reason = 'service_lost', requeued_at = :now, max_attempts = :max_attempts
WHERE status = 'running' AND lease_expires < :now AND attempts < :max_attempts
RETURNING id, model;

-- name: fail_expired
-- ...unless they have had their runs: then they fail, refunded by the trigger.
UPDATE jobs SET status = 'failed', error = :error, error_code = :error_code, refunded = credits_used,
                updated_at = :now, finished_at = :now, lease_expires = NULL
WHERE status = 'running' AND lease_expires < :now AND attempts >= :max_attempts
RETURNING *, (SELECT COUNT(*) FROM webhooks w WHERE w.account_id = jobs.account_id AND w.deleted_at IS NULL) AS webhook_count;

-- name: job_status
SELECT status FROM jobs WHERE id = :id;

-- name: release_job
-- running → pending without counting the run: it was stopped by a graceful shutdown or found the model
-- server unavailable before it could compute (jobservice/dispatch.py). Only by the service holding it.
UPDATE jobs SET status = 'pending', attempts = GREATEST(attempts - 1, 0), updated_at = :now,
                lease_owner = NULL, lease_expires = NULL, requeue_reason = :reason, requeued_at = :now,
                max_attempts = COALESCE(CAST(:max_attempts AS INTEGER), max_attempts)
WHERE id = :id AND status = 'running' AND (CAST(:owner AS TEXT) IS NULL OR lease_owner = :owner)
RETURNING *;

-- name: fail_waiting_jobs
-- The model server was unavailable to this service for the whole window: every job of the model still
-- waiting fails at once, refunded by the trigger, unless another job service is running the model now
-- (a live lease of another owner): it can serve them.
UPDATE jobs SET status = 'failed', error = :error, error_code = :error_code, refunded = credits_used,
                updated_at = :now, finished_at = :now
WHERE status = 'pending' AND model = :model
  AND NOT EXISTS (SELECT 1 FROM jobs r WHERE r.status = 'running' AND r.model = :model
                  AND r.lease_owner <> :owner AND r.lease_expires > :now)
RETURNING *, (SELECT COUNT(*) FROM webhooks w WHERE w.account_id = jobs.account_id AND w.deleted_at IS NULL) AS webhook_count;

-- name: orphaned_jobs
SELECT id, attempts FROM jobs WHERE status = 'running' ORDER BY seq;

-- name: pending_jobs
SELECT id, model, account_id FROM jobs WHERE status = 'pending' ORDER BY seq;

-- name: model_has_pending_job
-- Whether a job of the model waits (jobs_queue's index: one probe). Asked before the first claim of a model whose
-- server this service has not yet found ready (jobservice/dispatch.py _shared_worker).
SELECT EXISTS (SELECT 1 FROM jobs WHERE status = 'pending' AND model = :model) AS waiting;

-- name: add_usage
-- Many job services add to the same hour's counter: the upsert adds, it never overwrites.
INSERT INTO usage_hourly (account_id, hour, endpoint, model, status_code, transport, requests, credits_used,
                          elapsed_ms)
VALUES (:account_id, :hour, :endpoint, :model, :status_code, :transport, :requests, :credits_used, :elapsed_ms)
ON CONFLICT (account_id, hour, endpoint, model, status_code, transport) DO UPDATE SET
    requests = usage_hourly.requests + excluded.requests,
    credits_used = usage_hourly.credits_used + excluded.credits_used,
    elapsed_ms = usage_hourly.elapsed_ms + excluded.elapsed_ms;

-- name: delete_usage_before
-- Hours past the retention, a batch at a time (jobservice/periodic.py purge_in_batches): each statement stays far
-- inside the command timeout. The batch is its rows' ctids (a TID scan; the key has six columns); a row a
-- concurrent write moved in between is left to the next batch.
DELETE FROM usage_hourly WHERE ctid = ANY(ARRAY(
    SELECT ctid FROM usage_hourly WHERE hour < :before LIMIT :limit));

-- name: usage_totals
SELECT CAST(COALESCE(SUM(requests), 0) AS BIGINT) AS requests,
       CAST(COALESCE(SUM(credits_used), 0) AS BIGINT) AS credits_used,
       COALESCE(SUM(elapsed_ms) / NULLIF(SUM(requests), 0), 0) AS avg_ms
FROM usage_hourly WHERE account_id = :account_id AND hour >= CAST(:since AS DOUBLE PRECISION);

-- name: usage_by_endpoint
SELECT endpoint, CAST(SUM(requests) AS BIGINT) AS requests, CAST(SUM(credits_used) AS BIGINT) AS credits_used
FROM usage_hourly WHERE account_id = :account_id AND hour >= CAST(:since AS DOUBLE PRECISION)
GROUP BY endpoint ORDER BY requests DESC, endpoint;

-- name: usage_by_model
-- Jobs submitted in the period and what they were charged, less the refunds made in the period (the
-- refund trigger's counters, transport 'refund'): net of refunds by the same rule as the other sections.
SELECT model, CAST(SUM(requests) AS BIGINT) AS requests, CAST(SUM(credits_used) AS BIGINT) AS credits_used
FROM (SELECT model, COUNT(*) AS requests, SUM(credits_used) AS credits_used
      FROM jobs WHERE account_id = :account_id AND created_at >= :since GROUP BY model
      UNION ALL
      SELECT model, 0, SUM(credits_used)
      FROM usage_hourly WHERE account_id = :account_id AND hour >= CAST(:since AS DOUBLE PRECISION)
        AND transport = 'refund' GROUP BY model) AS charged_and_refunded
GROUP BY model ORDER BY requests DESC, model;

-- name: usage_daily
SELECT to_char(to_timestamp(hour) AT TIME ZONE 'UTC', 'YYYY-MM-DD') AS day, CAST(SUM(requests) AS BIGINT) AS requests,
       CAST(SUM(credits_used) AS BIGINT) AS credits_used
FROM usage_hourly WHERE account_id = :account_id AND hour >= CAST(:since AS DOUBLE PRECISION)
GROUP BY day ORDER BY day;

-- name: accounts_usage
-- The operator's usage report, as SQLite's accounts_usage (jobservice/usage_report.py): every account (or
-- :account_id's alone), one row per model of the jobs it submitted in [:since, :until) (a NULL model where none),
-- each with the account's requests and credits of the period, net of refunds as /v1/usage counts them. :since and
-- :until are whole seconds (UTC midnights), compared as BIGINT with usage_hourly.hour (an index range, not a cast
-- of every row). The jobs LATERAL, per account: left to itself the planner hashed a sequential scan of every job
-- ever submitted, which grows with the years of jobs kept, where each account's range of jobs_account_submitted
-- reads the period's jobs alone (bench/query_scale.py: 21 ms for a month of 50 accounts at 100,000 jobs).
WITH used AS MATERIALIZED (
    SELECT a.id, a.username, CAST(COALESCE(SUM(u.requests), 0) AS BIGINT) AS requests,
           CAST(COALESCE(SUM(u.credits_used), 0) AS BIGINT) AS credits_used
    FROM accounts a
    LEFT JOIN usage_hourly u
        ON u.account_id = a.id AND u.hour >= CAST(:since AS BIGINT) AND u.hour < CAST(:until AS BIGINT)
    WHERE CAST(:account_id AS BIGINT) IS NULL OR a.id = :account_id
    GROUP BY a.id)
SELECT used.username, used.requests, used.credits_used, j.model, COALESCE(j.jobs, 0) AS jobs,
       COALESCE(j.completed, 0) AS completed, COALESCE(j.failed, 0) AS failed, COALESCE(j.cancelled, 0) AS cancelled
FROM used
LEFT JOIN LATERAL (
    SELECT model, COUNT(*) AS jobs, COUNT(*) FILTER (WHERE status = 'completed') AS completed,
           COUNT(*) FILTER (WHERE status = 'failed') AS failed,
           COUNT(*) FILTER (WHERE status = 'cancelled') AS cancelled
    FROM jobs
    WHERE account_id = used.id AND created_at >= CAST(:since AS DOUBLE PRECISION)
      AND created_at < CAST(:until AS DOUBLE PRECISION)
    GROUP BY model) j ON true
ORDER BY used.username, j.model;

-- name: insert_webhook
INSERT INTO webhooks (id, account_id, url, events, secret, created_at)
VALUES (:id, :account_id, :url, :events, :secret, :now);

-- name: list_webhooks
SELECT * FROM webhooks WHERE account_id = :account_id AND deleted_at IS NULL ORDER BY created_at, id;

-- name: webhook_delivery_health
-- Every listed webhook's delivery health in one statement (webhooks.DeliveryHealth): its newest job-event delivery,
-- and when the run of failing job-event deliveries since its newest delivered one began. Test events are left out
-- (see the proto's Webhook.failing_since). Each subquery names one status, so each is a seek into one
-- (webhook_id, status) range of 0028's index: "the newest of any status" is the newest of each, "the run's oldest"
-- the oldest failed and the oldest retried pending after the newest delivered. (On deliveries_of_webhook
-- (webhook_id, id), PostgreSQL walked the primary key back over other webhooks' rows when the table held few.)
SELECT w.id AS webhook_id, d.id, d.event, d.status, d.attempts, d.last_status, d.last_error, d.created_at,
       d.last_attempt_at,
       (SELECT LEAST(MIN(f.created_at), MIN(p.created_at))
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
LEFT JOIN webhook_deliveries d ON d.id = GREATEST(
    (SELECT a.id FROM webhook_deliveries a
     WHERE a.webhook_id = w.id AND a.status = 'pending' AND a.event <> 'webhook.test' ORDER BY a.id DESC LIMIT 1),
    (SELECT b.id FROM webhook_deliveries b
     WHERE b.webhook_id = w.id AND b.status = 'delivered' AND b.event <> 'webhook.test' ORDER BY b.id DESC LIMIT 1),
    (SELECT c.id FROM webhook_deliveries c
     WHERE c.webhook_id = w.id AND c.status = 'failed' AND c.event <> 'webhook.test' ORDER BY c.id DESC LIMIT 1))
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
-- As on SQLite (jobservice/sql/queries.sql): SET reads the row as it was, so previous_secret is the secret
-- being replaced; NULL :previous_until ends it at once.
UPDATE webhooks SET previous_secret = CASE WHEN CAST(:previous_until AS DOUBLE PRECISION) IS NULL THEN NULL
                                           ELSE secret END,
                    previous_secret_expires_at = CAST(:previous_until AS DOUBLE PRECISION),
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
-- Due deliveries, each claimed by one job service for hold_s: sent once however many services look.
-- :in_flight and :busy_webhooks are JSON arrays (this service's deliveries being sent, webhooks whose
-- receiver is at its concurrency limit), left out as on SQLite.
UPDATE webhook_deliveries d SET claimed_by = :owner, claimed_until = CAST(:now AS DOUBLE PRECISION) + :hold_s
FROM webhooks w
WHERE d.id IN (SELECT x.id FROM webhook_deliveries x
               WHERE x.status = 'pending' AND x.next_attempt_at <= :now AND COALESCE(x.claimed_until, 0) < :now
                 AND x.id NOT IN (SELECT CAST(v AS BIGINT) FROM json_array_elements_text(
                                      CAST(COALESCE(:in_flight, '[]') AS JSON)) v)
                 AND x.webhook_id NOT IN (SELECT v FROM json_array_elements_text(
                                              CAST(COALESCE(:busy_webhooks, '[]') AS JSON)) v)
               ORDER BY x.next_attempt_at, x.id LIMIT :limit FOR UPDATE SKIP LOCKED)
  AND w.id = d.webhook_id AND w.deleted_at IS NULL
RETURNING d.id, d.webhook_id, d.event, d.payload, d.attempts, w.url, w.secret, w.previous_secret,
          w.previous_secret_expires_at;

-- name: release_deliveries
-- Claimed deliveries this sender will not start now (their receiver is at its limit): due for anyone.
UPDATE webhook_deliveries SET claimed_by = NULL, claimed_until = NULL
WHERE claimed_by = :owner AND id IN (SELECT CAST(v AS BIGINT) FROM json_array_elements_text(CAST(:ids AS JSON)) v);

-- name: next_delivery_time
-- A delivery another service is sending is not due before its claim ends.
SELECT MIN(GREATEST(d.next_attempt_at, COALESCE(d.claimed_until, 0))) FROM webhook_deliveries d
  JOIN webhooks w ON w.id = d.webhook_id AND w.deleted_at IS NULL  -- a deleted webhook's are never claimed
WHERE d.status = 'pending'
  AND d.id NOT IN (SELECT CAST(v AS BIGINT) FROM json_array_elements_text(CAST(COALESCE(:in_flight, '[]') AS JSON)) v)
  AND d.webhook_id NOT IN (SELECT v FROM json_array_elements_text(CAST(COALESCE(:busy_webhooks, '[]') AS JSON)) v);

-- The delivery log of one webhook (GET /v1/webhooks/{id}/deliveries), newest first; the caller checked the
-- webhook is the account's.
-- name: list_webhook_deliveries
SELECT id, event, payload, status, attempts, last_status, last_error, created_at, last_attempt_at, next_attempt_at
FROM webhook_deliveries
WHERE webhook_id = :webhook_id AND (CAST(:status AS TEXT) IS NULL OR status = :status)
  AND (CAST(:event AS TEXT) IS NULL OR event = :event)
ORDER BY id DESC
LIMIT :limit OFFSET :offset;

-- name: list_webhook_deliveries_after
-- A page after a cursor: the deliveries older than it in list_webhook_deliveries's order (id DESC).
SELECT id, event, payload, status, attempts, last_status, last_error, created_at, last_attempt_at, next_attempt_at
FROM webhook_deliveries
WHERE webhook_id = :webhook_id AND id < :after_id AND (CAST(:status AS TEXT) IS NULL OR status = :status)
  AND (CAST(:event AS TEXT) IS NULL OR event = :event)
ORDER BY id DESC
LIMIT :limit;

-- name: count_webhook_deliveries
SELECT COUNT(*) FROM webhook_deliveries WHERE webhook_id = :webhook_id AND (CAST(:status AS TEXT) IS NULL OR status = :status)
  AND (CAST(:event AS TEXT) IS NULL OR event = :event);

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
                              last_error = NULL, last_attempt_at = :now, claimed_by = NULL, claimed_until = NULL
WHERE id = :id;

-- name: mark_delivery_retry
-- Only a pending delivery: one its webhook's delete finished (failed) while this attempt was on the wire stays
-- finished, not pending again (no claim picks a deleted webhook's row, so it would be due for ever).
UPDATE webhook_deliveries
SET attempts = attempts + 1, last_status = :last_status, last_error = :last_error, next_attempt_at = :next_attempt_at,
    last_attempt_at = :now,
    status = CASE WHEN attempts + 1 >= :max_attempts THEN 'failed' ELSE 'pending' END,
    claimed_by = NULL, claimed_until = NULL
WHERE id = :id AND status = 'pending';

-- name: rate_limit_take
SELECT granted, counted, oldest, now_s FROM rate_limit_take(:key_hash, :limit, :window_s, :wanted);

-- name: prune_rate_limits
DELETE FROM rate_limit_hits WHERE at < extract(epoch FROM clock_timestamp()) - :window_s;

-- name: mark_keys_used
UPDATE api_keys SET last_used_at = :last_used_at
WHERE id = :key_id AND (last_used_at IS NULL OR last_used_at < :last_used_at);

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
UPDATE api_keys SET name = CASE WHEN :rename THEN CAST(:name AS TEXT) ELSE name END, rate_limit = COALESCE(CAST(:rate_limit AS INTEGER), rate_limit)
WHERE id = :id AND account_id = :account_id AND revoked_at IS NULL
RETURNING id;

-- name: set_api_key_expiry
-- :expires_at NULL: the key never expires. key_hash: the stream guard moves the key's open streams to it.
UPDATE api_keys SET expires_at = CAST(:expires_at AS DOUBLE PRECISION)
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
-- PostgreSQL (READ COMMITTED): FOR SHARE waits for a password change or lock that has updated the row, then
-- reads the row as it committed: its sessions-ended statement ran before this session existed, so this one
-- must not start. (Without it the statement read the old hash and its session outlived the change.)
INSERT INTO sessions (token_hash, account_id, user_agent, client_address, created_at, last_seen_at, expires_at)
SELECT CAST(:token_hash AS TEXT), id, CAST(:user_agent AS TEXT), CAST(:client_address AS TEXT),
       CAST(:now AS DOUBLE PRECISION), CAST(:now AS DOUBLE PRECISION), CAST(:expires_at AS DOUBLE PRECISION)
FROM accounts WHERE id = :account_id AND password_hash = :password_hash
FOR SHARE
RETURNING token_hash;

-- name: get_session
SELECT s.account_id, s.expires_at, s.created_at, s.last_seen_at, a.username
FROM sessions s JOIN accounts a ON a.id = s.account_id
WHERE s.token_hash = :token_hash AND s.revoked_at IS NULL AND s.expires_at > :now;

-- name: notify_credentials_ended
-- Keys were revoked or given a new expiry, or sessions ended, in this transaction: every job service listening (jobservice/stream_guard.py)
-- checks its open streams' credentials at once, at our commit (PostgreSQL only: nothing else shares a SQLite store).
SELECT pg_notify('phonos_credentials', '');

-- name: live_sessions
-- The dashboard sessions among :token_hashes (a JSON array) still signed in, with their expiry
-- (jobservice/stream_guard.py ends their streams when they expire).
SELECT token_hash, expires_at FROM sessions
WHERE revoked_at IS NULL AND expires_at > :now
  AND token_hash IN (SELECT json_array_elements_text(CAST(:token_hashes AS JSON)));

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
-- Part of each sign-in's transaction, so at most :limit rows: a backlog goes over the next sign-ins instead of one
-- statement that could outlast the command timeout and fail the sign-in.
DELETE FROM sessions WHERE token_hash IN (
    SELECT token_hash FROM sessions WHERE expires_at < :before OR revoked_at < :before LIMIT :limit);

-- Failed sign-ins (jobservice/sign_in_throttle.py) ---------------------------------------------------------------

-- name: sign_in_failures_at_limit
-- As queries.sql: for each key asked, the failure that fills its limit within the window, NULL while fewer.
SELECT
    (SELECT failed_at FROM sign_in_failures WHERE key_hash = CAST(:address_key AS TEXT) AND failed_at > :since
     ORDER BY failed_at DESC LIMIT 1 OFFSET CAST(:address_limit AS INTEGER) - 1) AS address_at,
    (SELECT failed_at FROM sign_in_failures WHERE key_hash = CAST(:username_key AS TEXT) AND failed_at > :since
     ORDER BY failed_at DESC LIMIT 1 OFFSET CAST(:username_limit AS INTEGER) - 1) AS username_at;

-- name: record_sign_in_failure
-- As queries.sql: one failure of each key given (:address_key NULL: the username's only).
INSERT INTO sign_in_failures (key_hash, failed_at)
SELECT k.key_hash, CAST(:now AS DOUBLE PRECISION)
FROM (SELECT CAST(:username_key AS TEXT) AS key_hash UNION ALL SELECT CAST(:address_key AS TEXT)) AS k
WHERE k.key_hash IS NOT NULL
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
-- Completed jobs whose result files are due for deletion (jobservice/result_retention.py), oldest first.
SELECT id FROM jobs
WHERE status = 'completed' AND results_deleted_at IS NULL AND finished_at < :before
ORDER BY finished_at
LIMIT :limit;

-- name: mark_results_deleted
-- After the files are gone (a sweep that stopped in between deletes again, then marks).
UPDATE jobs SET results_deleted_at = :now WHERE id = :id AND results_deleted_at IS NULL;

-- Job events (the watch streams, jobservice/watch.py) -----------------------------------------------

-- name: jobs_keeping_results
-- Of :ids (a JSON array of job ids), the jobs whose result files are still theirs: neither the job's deletion nor
-- result retention removed them. The orphan sweep (jobservice/result_retention.py) removes the old files of the rest.
SELECT id FROM jobs WHERE results_deleted_at IS NULL AND id IN (SELECT json_array_elements_text(CAST(:ids AS JSON)));

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
-- The watch hub's one tail query: every event after its cursor, with the job's current row. Events of
-- transactions still in flight elsewhere can commit after higher ids: the hub waits for such gaps.
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
SELECT j.*, (SELECT MAX(e.id) FROM job_events e WHERE e.job_id = j.id) AS event_id
FROM jobs j WHERE j.account_id = :account_id AND j.status IN ('pending', 'running')
ORDER BY j.seq;

-- Idempotency keys (jobservice/idempotency.py) -------------------------------------------------------

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
-- Records past their TTL, a batch at a time, as delete_usage_before.
DELETE FROM idempotency_keys WHERE ctid = ANY(ARRAY(
    SELECT ctid FROM idempotency_keys WHERE created_at < :since LIMIT :limit));

-- name: claim_idempotency_key
-- The request that gets a row back runs the key's work; one that gets none waits and tries again. A claim whose
-- owner stopped renewing it (its service died) is taken over once past :stale_before (now). Two services claiming
-- at once: the second waits on the first's row lock and then sees its live claim (no row back).
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
DELETE FROM idempotency_claims WHERE ctid = ANY(ARRAY(
    SELECT ctid FROM idempotency_claims WHERE expires_at < :now LIMIT :limit));

-- Scrape-time state for /metrics (jobservice/metrics_server.py) ---------------------------------------

-- name: metrics_active_jobs
SELECT model, status, COUNT(*) AS jobs, MIN(created_at) AS oldest_created
FROM jobs WHERE status IN ('pending', 'running')
GROUP BY model, status;

-- name: metrics_webhook_backlog
SELECT COUNT(*) AS pending, MIN(created_at) AS oldest_created
FROM webhook_deliveries WHERE status = 'pending';

-- Share links of completed jobs (jobservice/shares.py) ---------------------------------------------------

-- name: insert_job_share
-- Only the account's completed job that still has its result files can be shared: no row back otherwise.
INSERT INTO job_shares (id, job_id, token_hash, created_at, expires_at)
SELECT CAST(:id AS TEXT), id, CAST(:token_hash AS TEXT), CAST(:now AS DOUBLE PRECISION), CAST(:expires_at AS DOUBLE PRECISION) FROM jobs
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
