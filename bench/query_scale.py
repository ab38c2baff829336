"""Every hot query at a lab's scale: its median time and its plan, with and without this session's indexes, on SQLite
and PostgreSQL.

Builds a store as a busy lab's looks after months (default: 100,000 jobs over 50 accounts and 3 models, most
completed, some failed or cancelled, 2,000 waiting and 8 running; their job events, charges and refunds, usage hours,
activity rows, webhooks and their deliveries, share links, sessions, idempotency keys, sign-in failures), then times
each named query the job service runs per request, per dispatch step, per watch tick and per periodic sweep, and
prints its plan (SQLite: EXPLAIN QUERY PLAN; PostgreSQL: EXPLAIN), flagging a full scan of a big table and a
temporary b-tree (a sort) for ORDER BY / GROUP BY.

"before" is the same database with the indexes of the migrations from --new-from on dropped (SQLite 0080, PostgreSQL
0030: this session's); "after" puts them back. Writes (a submission of 100 jobs, a claim + completion of each) are
timed both ways too: an index is paid for on every insert and status change of its table.

SQLite is measured as a store the service has not yet optimized: no statistics, so the planner goes by its built-in
guesses. --statistics measures it the other way too: each query before and after the service's own `PRAGMA
optimize` (jobservice/db.py), with each changed plan. PostgreSQL's autovacuum analyzes a table that grew, so its
store is ANALYZEd after the fill.

    .venv/bin/python bench/query_scale.py [--jobs 100000] [--accounts 50] [--pending 2000] [--rounds 15]
                                          [--no-postgres] [--no-sqlite] [--plans] [--only NAME,...]
    .venv/bin/python bench/query_scale.py --no-postgres --statistics [--save-statistics FILE]
    .venv/bin/python bench/query_scale.py --only name     # job-name search alone, both engines
    .venv/bin/python bench/query_scale.py --only name --before-sql-from main   # and as main runs it, between

Job-name search (`?name=`) is printed after, on both engines: the old account-wide queries and the ones through the
trigram indexes (SQLite 0081, PostgreSQL 0031) side by side for a rare, an absent, a common and two 2-character
needles (with --before-sql-from, also the trigram queries as that commit had them: PostgreSQL's then kept a generic
plan), with their plans, the time to build the index on the filled store (the migration's backfill) and what it
costs a submission.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import itertools
import json
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from jobservice.db import MIGRATIONS_DIR, Database, connect, queries  # noqa: E402
from jobservice.jobs import JobStore, Lease, NewJob  # noqa: E402
from jobservice.modelspecs.base import ValidatedJob  # noqa: E402
from jobservice.store import Store  # noqa: E402

DAY = 86400.0
MODELS = ("esmfold", "alphafold2", "diffdock")
MODEL_WEIGHTS = (0.6, 0.25, 0.15)
BIG_TABLES = ("jobs", "job_events", "job_inputs", "credit_entries", "usage_hourly", "account_activity",
              "webhook_deliveries", "idempotency_keys", "sessions", "job_shares", "sign_in_failures")
_NAME_LINE = re.compile(r"^-- name: (\w+)\s*$", re.MULTILINE)
_CREATE_INDEX = re.compile(r"CREATE\s+(?:UNIQUE\s+)?INDEX\s+(?:CONCURRENTLY\s+)?(?:IF\s+NOT\s+EXISTS\s+)?(\w+)[^;]*;",
                           re.IGNORECASE)


# The lab -------------------------------------------------------------------------------------------------------------

@dataclass
class Lab:
    """What the fill made, and the values the queries are asked with (the busiest account: the worst case)."""

    now: float
    jobs: int
    pending: int
    running: int
    account_ids: list[int] = field(default_factory=list)
    busiest: int = 0
    writer: int = 2  # the account the write figures submit as: busy, and without webhooks
    key_hash: str = ""
    session_hash: str = ""
    share_hash: str = ""
    webhook_id: str = ""
    pending_ids: list[str] = field(default_factory=list)  # the busiest account's waiting jobs, newest first
    running_ids: list[str] = field(default_factory=list)
    completed_id: str = ""
    deep_seq: int = 0  # a cursor half way down the busiest account's list
    deep_credit_id: int = 0
    deep_activity_id: int = 0
    deep_delivery_id: int = 0
    last_event_id: int = 0
    idempotency_key: str = ""


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def name_of(seq: int, model: str) -> str:
    """A job's name: mostly "run N model" (N < 977, every name shares "run "), one in 2,000 a rare one with non-ASCII
    case ("Kinase-Screen Ä N"), which the name-search figures look for."""
    return f"Kinase-Screen Ä {seq}" if seq % 2000 == 0 else f"run {seq % 977} {model}"


def job_id(seq: int) -> str:
    return f"{seq:08x}-0000-4000-8000-{seq:012x}"


def plan_lab(args: argparse.Namespace) -> tuple[Lab, dict[str, list[dict[str, Any]]]]:
    """Every row of the fill, as dicts with the columns both engines have (same values on both)."""
    rng = random.Random(7)
    now = 1_790_000_000.0
    lab = Lab(now=now, jobs=args.jobs, pending=args.pending, running=args.running)
    n_acc = args.accounts
    lab.account_ids = list(range(1, n_acc + 1))
    # A few accounts run most jobs (Zipf-like): the busiest holds ~1/5 of them.
    weights = [1 / (i + 1) for i in range(n_acc)]
    lab.busiest = 1
    rows: dict[str, list[dict[str, Any]]] = {k: [] for k in (
        "accounts", "api_keys", "jobs", "job_inputs", "usage_hourly", "account_activity", "webhooks", "job_shares",
        "sessions", "idempotency_keys", "idempotency_claims", "sign_in_failures")}
    for a in lab.account_ids:
        rows["accounts"].append({"id": a, "username": f"user{a}", "email": f"user{a}@lab.example",
                                 "credits": 10**12, "created_at": now - 200 * DAY})
        for k in range(3):
            key = f"key-{a}-{k}"
            rows["api_keys"].append({"key_hash": sha(key), "id": f"key_{a:04d}{k:012d}", "account_id": a,
                                     "prefix": key[:8], "name": f"key {k}", "rate_limit": 60,
                                     "created_at": now - (150 - k) * DAY,
                                     "revoked_at": now - DAY if k == 0 else None})
    lab.key_hash = sha(f"key-{lab.busiest}-2")
    # Jobs: seq order is time order over 180 days; the newest `pending` wait, the `running` before them run.
    span = 180 * DAY
    n = args.jobs
    accounts_of = rng.choices(lab.account_ids, weights=weights, k=n)
    models_of = rng.choices(MODELS, weights=MODEL_WEIGHTS, k=n)
    for seq in range(1, n + 1):
        created = now - span + span * seq / n
        rows["jobs"].append({"id": job_id(seq), "seq": seq, "account_id": accounts_of[seq - 1],
                             "model": models_of[seq - 1], "name": name_of(seq, models_of[seq - 1]),
                             "credits_used": 10, "created_at": created})
        rows["job_inputs"].append({"job_id": job_id(seq), "request_json": json.dumps(
            {"sequence": "MKTVRQERLKSIVRILERSKEPVSGAQLAEELSVSRQVIVQDIAYLRSLGYNIVATPRGYVLAGG", "params": {}})})
    # Usage: each account active in a third of the last 90 days' hours, on 3 endpoints.
    endpoints = ("/v1/predict", "/v1/jobs/{job_id}", "/v1/jobs")
    for a in lab.account_ids:
        for h in range(90 * 24):
            if rng.random() < 0.33:
                hour = int((now - h * 3600) // 3600 * 3600)
                for e in endpoints:
                    rows["usage_hourly"].append({"account_id": a, "hour": hour, "endpoint": e,
                                                 "model": "esmfold" if e == "/v1/predict" else "", "status_code": 0,
                                                 "transport": "rest", "requests": 5, "credits_used": 0,
                                                 "elapsed_ms": 40.0})
    actions = ("api_key.created", "session.signed_in", "job.deleted", "webhook.created", "share.created")
    for i in range(args.jobs // 5):
        a = rng.choices(lab.account_ids, weights=weights)[0]
        rows["account_activity"].append({"account_id": a, "created_at": now - 400 * DAY + 400 * DAY * i / (n // 5),
                                         "action": rng.choice(actions), "actor_kind": "session"})
    # Webhooks: a third of the accounts, the busiest among them; every job event of theirs queues a delivery.
    for a in lab.account_ids[::3]:
        rows["webhooks"].append({"id": f"wh_{a:016x}", "account_id": a, "url": f"https://hooks.lab.example/{a}",
                                 "events": '["job.completed", "job.failed"]', "secret": "s" * 32,
                                 "created_at": now - 190 * DAY})
    lab.webhook_id = f"wh_{lab.busiest:016x}"
    for i in range(args.jobs // 50):
        seq = rng.randint(1, n - args.pending - args.running)
        token = f"share-{i}"
        rows["job_shares"].append({"id": f"shr_{i:016x}", "job_id": job_id(seq), "token_hash": sha(token),
                                   "created_at": now - DAY, "expires_at": now + (DAY if i % 2 else -DAY)})
    lab.share_hash = sha("share-1")
    for i in range(args.jobs // 20):
        a = rng.choices(lab.account_ids, weights=weights)[0]
        created = now - 120 * DAY + 120 * DAY * i / (n // 20)
        rows["sessions"].append({"token_hash": sha(f"session-{i}"), "account_id": a, "user_agent": "Firefox",
                                 "created_at": created, "expires_at": created + 7 * DAY,
                                 "revoked_at": created + DAY if i % 3 == 0 else None, "last_seen_at": created})
    rows["sessions"].append({"token_hash": sha("session-live"), "account_id": lab.busiest, "user_agent": "Firefox",
                             "created_at": now - 3600, "expires_at": now + 7 * DAY, "revoked_at": None,
                             "last_seen_at": now - 60})
    lab.session_hash = sha("session-live")
    for i in range(args.jobs // 5):
        a = rng.choices(lab.account_ids, weights=weights)[0]
        rows["idempotency_keys"].append({"account_id": a, "key": f"idem-{i}", "method": "Predict",
                                         "fingerprint": sha(str(i)), "response": b"\x0a\x24" + b"x" * 36,
                                         "created_at": now - 3 * DAY + 3 * DAY * i / (n // 5)})
    lab.idempotency_key = f"idem-{args.jobs // 5 - 1}"
    for i in range(20):
        rows["idempotency_claims"].append({"account_id": 1 + i % n_acc, "key": f"claim-{i}", "owner": "svc",
                                           "expires_at": now - 60 + i * 10})
    for i in range(args.jobs // 50):
        rows["sign_in_failures"].append({"key_hash": sha(f"addr-{i % 300}"), "failed_at": now - 2 * DAY + i})
    return lab, rows


INSERTS = {
    "accounts": "INSERT INTO accounts (id, username, email, credits, created_at) "
                "VALUES (:id, :username, :email, :credits, :created_at)",
    "api_keys": "INSERT INTO api_keys (key_hash, id, account_id, prefix, name, rate_limit, created_at, revoked_at) "
                "VALUES (:key_hash, :id, :account_id, :prefix, :name, :rate_limit, :created_at, :revoked_at)",
    "webhooks": "INSERT INTO webhooks (id, account_id, url, events, secret, created_at) "
                "VALUES (:id, :account_id, :url, :events, :secret, :created_at)",
    "jobs": "INSERT INTO jobs (id, seq, account_id, model, name, status, credits_used, endpoint, created_at, updated_at)"
            " VALUES (:id, :seq, :account_id, :model, :name, 'pending', :credits_used, '/v1/predict', :created_at, "
            ":created_at)",
    "job_inputs": "INSERT INTO job_inputs (job_id, request_json) VALUES (:job_id, :request_json)",
    "usage_hourly": "INSERT INTO usage_hourly (account_id, hour, endpoint, model, status_code, transport, requests, "
                    "credits_used, elapsed_ms) VALUES (:account_id, :hour, :endpoint, :model, :status_code, "
                    ":transport, :requests, :credits_used, :elapsed_ms)",
    "account_activity": "INSERT INTO account_activity (account_id, created_at, action, actor_kind) "
                        "VALUES (:account_id, :created_at, :action, :actor_kind)",
    "job_shares": "INSERT INTO job_shares (id, job_id, token_hash, created_at, expires_at) "
                  "VALUES (:id, :job_id, :token_hash, :created_at, :expires_at)",
    "sessions": "INSERT INTO sessions (token_hash, account_id, user_agent, created_at, expires_at, revoked_at, "
                "last_seen_at) VALUES (:token_hash, :account_id, :user_agent, :created_at, :expires_at, :revoked_at, "
                ":last_seen_at)",
    "idempotency_keys": "INSERT INTO idempotency_keys (account_id, key, method, fingerprint, response, created_at) "
                        "VALUES (:account_id, :key, :method, :fingerprint, :response, :created_at)",
    "idempotency_claims": "INSERT INTO idempotency_claims (account_id, key, owner, expires_at) "
                          "VALUES (:account_id, :key, :owner, :expires_at)",
    "sign_in_failures": "INSERT INTO sign_in_failures (key_hash, failed_at) VALUES (:key_hash, :failed_at)",
}


def lifecycle(lab: Lab) -> list[str]:
    """The jobs' lives, as set-wise updates (the triggers write their events, refunds and deliveries): all but the
    newest `pending` ran (bar the cancelled-while-waiting 1 in 50); all but the `running` before those finished,
    1 in 25 failed; then deliveries mostly went out, some failed, the newest are still due."""
    waiting_from = lab.jobs - lab.pending  # seq > this: waiting
    done_until = waiting_from - lab.running  # seq <= this: finished
    return [
        f"UPDATE jobs SET status = 'running', attempts = 1, started_at = created_at + 30, updated_at = created_at + 30 "
        f"WHERE seq <= {waiting_from} AND seq % 50 <> 1",
        f"UPDATE jobs SET status = CASE WHEN seq % 25 = 0 THEN 'failed' ELSE 'completed' END, "
        f"error = CASE WHEN seq % 25 = 0 THEN 'model server error' END, "
        f"error_code = CASE WHEN seq % 25 = 0 THEN 'internal' END, "
        f"refunded = CASE WHEN seq % 25 = 0 THEN credits_used ELSE 0 END, "
        f"result_json = CASE WHEN seq % 25 = 0 THEN NULL ELSE '{{\"metrics\": {{\"plddt\": 81.5}}, \"artifacts\": []}}' "
        f"END, updated_at = created_at + 300, finished_at = created_at + 300 "
        f"WHERE seq <= {done_until} AND status = 'running'",
        f"UPDATE jobs SET status = 'cancelled', refunded = credits_used, updated_at = created_at + 60, "
        f"finished_at = created_at + 60 WHERE seq <= {done_until} AND status = 'pending'",
        # Result files past 30 days' retention are gone; 1 job in 20 was deleted by its owner.
        f"UPDATE jobs SET results_deleted_at = finished_at + {30 * DAY} "
        f"WHERE status = 'completed' AND finished_at < {lab.now - 30 * DAY}",
        f"UPDATE jobs SET deleted_at = finished_at + 3600, name = NULL, result_json = NULL, "
        f"results_deleted_at = COALESCE(results_deleted_at, finished_at + 3600) WHERE seq <= {done_until} "
        f"AND seq % 20 = 3",
        f"UPDATE webhook_deliveries SET status = CASE WHEN id % 40 = 0 THEN 'failed' ELSE 'delivered' END, "
        f"attempts = CASE WHEN id % 40 = 0 THEN 8 ELSE 1 END, last_status = 200, last_attempt_at = created_at + 1 "
        f"WHERE created_at < {lab.now - DAY}",
        f"UPDATE webhook_deliveries SET attempts = 2, next_attempt_at = {lab.now + 600} "
        f"WHERE status = 'pending' AND id % 3 = 0",
    ]


async def locate(fetch: Callable[[str], Awaitable[list[Any]]], lab: Lab) -> None:
    """The values the queries are asked with, read back from the filled store."""
    b = lab.busiest
    lab.pending_ids = [r[0] for r in await fetch(
        f"SELECT id FROM jobs WHERE account_id = {b} AND status = 'pending' ORDER BY seq DESC LIMIT 100")]
    lab.running_ids = [r[0] for r in await fetch("SELECT id FROM jobs WHERE status = 'running' ORDER BY seq")]
    lab.completed_id = (await fetch(
        f"SELECT id FROM jobs WHERE account_id = {b} AND status = 'completed' AND deleted_at IS NULL "
        "AND results_deleted_at IS NULL ORDER BY seq DESC LIMIT 1"))[0][0]
    count = (await fetch(f"SELECT COUNT(*) FROM jobs WHERE account_id = {b}"))[0][0]
    lab.deep_seq = (await fetch(
        f"SELECT seq FROM jobs WHERE account_id = {b} ORDER BY seq DESC LIMIT 1 OFFSET {count // 2}"))[0][0]
    entries = (await fetch(f"SELECT COUNT(*) FROM credit_entries WHERE account_id = {b}"))[0][0]
    lab.deep_credit_id = (await fetch(
        f"SELECT id FROM credit_entries WHERE account_id = {b} ORDER BY id DESC LIMIT 1 OFFSET {entries // 2}"))[0][0]
    activity = (await fetch(f"SELECT COUNT(*) FROM account_activity WHERE account_id = {b}"))[0][0]
    lab.deep_activity_id = (await fetch(
        f"SELECT id FROM account_activity WHERE account_id = {b} ORDER BY id DESC LIMIT 1 OFFSET {activity // 2}"))[0][0]
    deliveries = (await fetch(f"SELECT COUNT(*) FROM webhook_deliveries WHERE webhook_id = '{lab.webhook_id}'"))[0][0]
    lab.deep_delivery_id = (await fetch(
        f"SELECT id FROM webhook_deliveries WHERE webhook_id = '{lab.webhook_id}' ORDER BY id DESC "
        f"LIMIT 1 OFFSET {deliveries // 2}"))[0][0]
    lab.last_event_id = (await fetch("SELECT MAX(id) FROM job_events"))[0][0]


# The queries ---------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Case:
    label: str  # what the service does with it
    name: str  # the named query (sql/queries.sql, sql/postgres/queries.sql)
    params: dict[str, Any]
    when: str  # per request, per dispatch, per watch tick, per sweep, per start
    writes: bool = False  # run in a transaction that is rolled back


def cases(lab: Lab, engine: str) -> list[Case]:
    b, now = lab.busiest, lab.now
    newest = lab.pending_ids[0]
    page_ids = json.dumps(lab.pending_ids)
    listing = {"account_id": b, "status": None, "model": None, "name": None, "limit": 20, "offset": 0}
    since30 = now - 30 * DAY
    month_to = int(now // DAY + 1) * int(DAY)  # the end of today (UTC), and 30 days back from it
    month_from = month_to - 30 * int(DAY)
    pg = engine == "PostgreSQL"
    out = [
        Case("key lookup (every API call)", "get_key", {"key_hash": lab.key_hash}, "request"),
        Case("session lookup (every page)", "get_session", {"token_hash": lab.session_hash, "now": now}, "request"),
        Case("stream guard: live keys", "live_keys", {"key_hashes": json.dumps([lab.key_hash])}, "request"),
        Case("get job", "get_job", {"id": newest, "account_id": b}, "request"),
        Case("get job input", "get_job_input", {"id": lab.completed_id, "account_id": b}, "request"),
        Case("queue place of one job", "queue_places", {"ids": json.dumps([newest])}, "request"),
        Case("queue places of a page (100)", "queue_places", {"ids": page_ids}, "request"),
        Case("list jobs", "list_jobs", listing, "request"),
        Case("list jobs ?status=pending", "list_jobs", {**listing, "status": "pending"}, "request"),
        Case("list jobs ?status=failed", "list_jobs", {**listing, "status": "failed"}, "request"),
        Case("list jobs ?model=diffdock", "list_jobs", {**listing, "model": "diffdock"}, "request"),
        Case("list jobs ?name=run 5", "list_jobs", {**listing, "name": "run 5 "}, "request"),
        Case("list jobs offset 5000", "list_jobs", {**listing, "offset": 5000}, "request"),
        Case("list jobs after a deep cursor", "list_jobs_after", {**listing, "after_seq": lab.deep_seq}, "request"),
        Case("list jobs after cursor ?status=failed", "list_jobs_after",
             {**listing, "status": "failed", "after_seq": lab.deep_seq}, "request"),
        Case("cursor's seq", "job_seq", {"id": newest, "account_id": b}, "request"),
        Case("count jobs", "count_jobs", listing, "request"),
        Case("count jobs ?status=pending", "count_jobs", {**listing, "status": "pending"}, "request"),
        Case("count jobs ?status=failed", "count_jobs", {**listing, "status": "failed"}, "request"),
        Case("count jobs ?model=diffdock", "count_jobs", {**listing, "model": "diffdock"}, "request"),
        Case("job counts (dashboard)", "job_counts", {"account_id": b}, "request"),
        Case("queued jobs (each submission)", "count_queued_jobs", {"account_id": b}, "request"),
        Case("credit history page", "list_credit_entries", {"account_id": b, "limit": 50, "offset": 0}, "request"),
        Case("credit history after cursor", "list_credit_entries_after",
             {"account_id": b, "limit": 50, "after_id": lab.deep_credit_id}, "request"),
        Case("count credit entries", "count_credit_entries", {"account_id": b}, "request"),
        Case("activity page", "list_activity", {"account_id": b, "action": None, "limit": 50, "offset": 0}, "request"),
        Case("activity page ?action=job.deleted", "list_activity",
             {"account_id": b, "action": "job.deleted", "limit": 50, "offset": 0}, "request"),
        Case("activity after cursor", "list_activity_after",
             {"account_id": b, "action": None, "limit": 50, "after_id": lab.deep_activity_id}, "request"),
        Case("count activity", "count_activity", {"account_id": b, "action": None}, "request"),
        Case("usage totals (30 days)", "usage_totals", {"account_id": b, "since": since30}, "request"),
        Case("usage by endpoint", "usage_by_endpoint", {"account_id": b, "since": since30}, "request"),
        Case("usage by model", "usage_by_model", {"account_id": b, "since": since30}, "request"),
        Case("usage by day", "usage_daily", {"account_id": b, "since": since30}, "request"),
        Case("list webhooks", "list_webhooks", {"account_id": b}, "request"),
        Case("webhook delivery health", "webhook_delivery_health", {"account_id": b}, "request"),
        Case("delivery log page", "list_webhook_deliveries",
             {"webhook_id": lab.webhook_id, "status": None, "event": None, "limit": 50, "offset": 0}, "request"),
        Case("delivery log ?status=failed", "list_webhook_deliveries",
             {"webhook_id": lab.webhook_id, "status": "failed", "event": None, "limit": 50, "offset": 0}, "request"),
        Case("delivery log after cursor", "list_webhook_deliveries_after",
             {"webhook_id": lab.webhook_id, "status": None, "event": None, "limit": 50,
              "after_id": lab.deep_delivery_id}, "request"),
        Case("count deliveries", "count_webhook_deliveries",
             {"webhook_id": lab.webhook_id, "status": None, "event": None}, "request"),
        Case("idempotency lookup", "get_idempotency_key",
             {"account_id": b, "key": lab.idempotency_key, "since": now - DAY}, "request"),
        Case("share link", "shared_job", {"token_hash": lab.share_hash, "now": now}, "request"),
        Case("job's share links", "list_job_shares", {"job_id": lab.completed_id, "now": now}, "request"),
        Case("signed-in sessions", "list_account_sessions", {"account_id": b, "now": now}, "request"),
        Case("api keys", "list_api_keys", {"account_id": b}, "request"),
        Case("sign-in throttle", "sign_in_failures_at_limit",
             {"address_key": sha("addr-7"), "username_key": sha("nobody"), "since": now - 3600,
              "address_limit": 20, "username_limit": 10}, "request"),
        Case("watch: job and last event", "job_with_last_event", {"job_id": newest, "account_id": b}, "request"),
        Case("watch: account's active jobs", "active_jobs_with_last_event", {"account_id": b}, "request"),
        Case("watch tail (hub tick)", "job_events_after", {"after": lab.last_event_id - 50, "limit": 500}, "watch"),
        Case("watch: account's events after", "job_events_of_account_after",
             {"account_id": b, "after": lab.last_event_id - 500, "limit": 500}, "watch"),
        Case("last event id", "last_job_event_id", {}, "watch"),
        Case("claim a job (by id)", "claim_job", {"id": lab.pending_ids[-1], "now": now}, "dispatch", writes=True),
        Case("complete a job", "complete_job", {"id": lab.running_ids[0], "result_json": "{}", "now": now,
                                                "owner": None}, "dispatch", writes=True),
        Case("fail a job", "fail_job", {"id": lab.running_ids[0], "error": "x", "error_code": "internal",
                                        "refund": True, "now": now, "owner": None}, "dispatch", writes=True),
        Case("metrics: active jobs", "metrics_active_jobs", {}, "sweep"),
        Case("metrics: webhook backlog", "metrics_webhook_backlog", {}, "sweep"),
        Case("due deliveries", "claim_due_deliveries",
             {"now": now, "in_flight": "[]", "busy_webhooks": "[]", "limit": 50, "owner": "svc", "hold_s": 60.0},
             "sweep", writes=pg),
        Case("next delivery time", "next_delivery_time", {"in_flight": "[]", "busy_webhooks": "[]", "now": now},
             "sweep"),
        Case("results past retention", "results_past_retention", {"before": now - 30 * DAY, "limit": 100}, "sweep"),
        Case("orphan sweep: jobs keeping results", "jobs_keeping_results",
             {"ids": json.dumps([lab.completed_id, newest])}, "sweep"),
        Case("orphan sweep: oldest job", "oldest_job_created_at", {}, "sweep"),
        Case("purge deliveries (nothing due)", "purge_webhook_deliveries", {"before": now - 400 * DAY, "limit": 500},
             "sweep", writes=True),
        Case("purge activity (nothing due)", "purge_activity", {"before": now - 500 * DAY, "limit": 500}, "sweep",
             writes=True),
        Case("purge usage (nothing due)", "delete_usage_before", {"before": now - 400 * DAY, "limit": 500}, "sweep",
             writes=True),
        Case("purge idempotency keys", "purge_idempotency_keys", {"since": now - DAY, "limit": 500}, "sweep",
             writes=True),
        Case("purge idempotency claims", "purge_idempotency_claims", {"now": now, "limit": 500}, "sweep",
             writes=True),
        Case("prune sessions", "prune_sessions", {"before": now - 30 * DAY, "limit": 100}, "request", writes=True),
        Case("purge sign-in failures", "purge_sign_in_failures", {"before": now - DAY, "limit": 500}, "sweep",
             writes=True),
        Case("finish deleted webhooks' deliveries", "finish_deliveries_of_deleted_webhooks", {}, "start", writes=True),
        Case("pending jobs (start)", "pending_jobs", {}, "start"),
        Case("orphaned jobs (start)", "orphaned_jobs", {}, "start"),
        Case("fail a model's waiting jobs", "fail_waiting_jobs",
             {"model": "diffdock", "error": "x", "error_code": "unavailable", "now": now, "owner": "svc"},
             "dispatch", writes=True),
        Case("operator: accounts list", "account_overview", {"now": now}, "operator"),
        # `phonos accounts usage`: a month of every account, and of the busiest alone (--username); whole UTC days.
        Case("operator: accounts usage (30 days)", "accounts_usage",
             {"since": month_from, "until": month_to, "account_id": None}, "operator"),
        Case("operator: accounts usage of one (30 days)", "accounts_usage",
             {"since": month_from, "until": month_to, "account_id": b}, "operator"),
    ]
    if pg:
        out += [
            Case("fair claim of the next job", "claim_next_job",
                 {"model": "esmfold", "owner": "svc", "now": now, "max_running": 4, "lease_s": 60.0}, "dispatch",
                 writes=True),
            Case("renew leases", "renew_leases", {"ids": lab.running_ids, "owner": "svc", "now": now, "lease_s": 60.0},
                 "dispatch", writes=True),
            Case("requeue expired leases", "requeue_expired", {"now": now, "max_attempts": 3}, "sweep", writes=True),
            Case("fail expired leases", "fail_expired",
                 {"now": now, "max_attempts": 3, "error": "x", "error_code": "internal"}, "sweep", writes=True),
        ]
    return out


# The engines ---------------------------------------------------------------------------------------------------------

class Engine:
    name: str
    sql: dict[str, Any]
    sql_file: str  # the named queries' file, relative to the repository
    name_index_rebuild: str  # the job-name index built anew (its migration's backfill)
    name_index_off: str  # what a submission pays for the job-name index gone, and back
    name_index_on: str

    async def fetch_params(self, sql: Any, params: dict[str, Any]) -> list[Any]:
        raise NotImplementedError

    def parse(self, text: str) -> dict[str, Any]:
        raise NotImplementedError

    async def fetch(self, sql: str) -> list[Any]:
        raise NotImplementedError

    async def run_case(self, case: Case) -> None:
        raise NotImplementedError

    async def plan(self, case: Case) -> list[str]:
        raise NotImplementedError

    async def script(self, sql: str) -> None:
        raise NotImplementedError

    def flags(self, plan: list[str]) -> list[str]:
        raise NotImplementedError


class SqliteEngine(Engine):
    name = "SQLite"
    sql_file = "jobservice/sql/queries.sql"

    def __init__(self, path: Path) -> None:
        self.conn = connect(path, read_only=False)
        self.sql = queries()

    def parse(self, text: str) -> dict[str, Any]:
        parts = _NAME_LINE.split(text)
        return {parts[i]: parts[i + 1].strip() for i in range(1, len(parts), 2) if parts[i + 1].strip()}

    async def fetch(self, sql: str) -> list[Any]:
        return self.conn.execute(sql).fetchall()

    async def fetch_params(self, sql: Any, params: dict[str, Any]) -> list[Any]:
        return self.conn.execute(sql, params).fetchall()

    # The name index's insert trigger off and on again (on: with the names submitted while it was off).
    name_index_off = "DROP TRIGGER IF EXISTS jobs_name_search_insert"
    name_index_on = ("CREATE TRIGGER IF NOT EXISTS jobs_name_search_insert AFTER INSERT ON jobs WHEN NEW.name IS NOT NULL "
                     "BEGIN INSERT INTO jobs_name_search (rowid, account, name) VALUES (NEW.seq, "
                     "name_search_account(NEW.account_id), name_search_text(NEW.name)); END; "
                     "INSERT INTO jobs_name_search (rowid, account, name) SELECT seq, name_search_account(account_id), "
                     "name_search_text(name) FROM jobs "
                     "WHERE name IS NOT NULL AND seq > (SELECT COALESCE(MAX(rowid), 0) FROM jobs_name_search);")
    # 0081's backfill, on a store whose index is already full: emptied first.
    name_index_rebuild = ("BEGIN; DELETE FROM jobs_name_search; INSERT INTO jobs_name_search (rowid, account, name) "
                          "SELECT seq, name_search_account(account_id), name_search_text(name) FROM jobs "
                          "WHERE name IS NOT NULL; COMMIT;")

    async def script(self, sql: str) -> None:
        self.conn.executescript(sql)

    async def run_case(self, case: Case) -> None:
        if case.writes:
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                self.conn.execute(self.sql[case.name], case.params).fetchall()
            finally:
                self.conn.execute("ROLLBACK")
        else:
            self.conn.execute(self.sql[case.name], case.params).fetchall()

    async def plan(self, case: Case) -> list[str]:
        rows = self.conn.execute("EXPLAIN QUERY PLAN " + self.sql[case.name], case.params).fetchall()
        depth: dict[int, int] = {0: -1}
        lines = []
        for node, parent, _, detail in rows:
            depth[node] = depth.get(parent, -1) + 1
            lines.append("  " * depth[node] + detail)
        return lines

    def flags(self, plan: list[str]) -> list[str]:
        found = []
        for line in plan:
            text = line.strip()
            scanned = re.match(r"SCAN (\w+)", text)
            if scanned and scanned.group(1) in BIG_TABLES and "COVERING INDEX" not in text:
                found.append(text)
            elif scanned and scanned.group(1) in BIG_TABLES:
                found.append(text + " (whole index)")
            if "TEMP B-TREE" in text:
                found.append(text)
        return found

    async def close(self) -> None:
        self.conn.close()


class PgEngine(Engine):
    name = "PostgreSQL"
    sql_file = "jobservice/sql/postgres/queries.sql"

    def __init__(self, conn: Any) -> None:
        from jobservice.pg import pg_queries

        self.conn = conn
        self.sql = dict(pg_queries())

    def parse(self, text: str) -> dict[str, Any]:
        from jobservice.pg import positional

        parts = _NAME_LINE.split(text)
        return {parts[i]: positional(parts[i + 1].strip()) for i in range(1, len(parts), 2) if parts[i + 1].strip()}

    async def fetch(self, sql: str) -> list[Any]:
        return list(await self.conn.fetch(sql))

    async def fetch_params(self, sql: Any, params: dict[str, Any]) -> list[Any]:
        return list(await self.conn.fetch(sql.sql, *sql.args(params)))

    name_index_off = "DROP INDEX IF EXISTS jobs_name_trgm"
    # 0031's index, its operator class named with the schema pg_trgm is in (the migration puts it in `public` where
    # it may, which the store's search_path does not name).
    name_index_on = ("DO $$ BEGIN EXECUTE format('CREATE INDEX IF NOT EXISTS jobs_name_trgm ON jobs "
                     "USING gin (lower(name) %I.gin_trgm_ops)', (SELECT n.nspname FROM pg_extension e "
                     "JOIN pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = 'pg_trgm')); END $$")
    name_index_rebuild = "DROP INDEX jobs_name_trgm; " + name_index_on

    async def script(self, sql: str) -> None:
        await self.conn.execute(sql)

    async def run_case(self, case: Case) -> None:
        from jobservice.pg import call

        statement = self.sql[case.name]
        if case.writes:
            async with self.conn.transaction():
                await self.conn.fetch(statement.sql, *statement.args(case.params))
                raise _Rollback
        # As the job service runs it: a `-- plan: per call` query planned with each call's values.
        await call(self.conn, "fetch", statement.sql, statement.args(case.params), statement.per_call)

    async def plan(self, case: Case) -> list[str]:
        statement = self.sql[case.name]
        try:
            async with self.conn.transaction():
                rows = await self.conn.fetch("EXPLAIN " + statement.sql, *statement.args(case.params))
                raise _Rollback(rows)
        except _Rollback as done:
            return [r[0] for r in done.args[0]]

    def flags(self, plan: list[str]) -> list[str]:
        found = []
        for line in plan:
            scanned = re.search(r"Seq Scan on (\w+)", line)
            if scanned and scanned.group(1) in BIG_TABLES:
                found.append(line.strip().split("  (")[0])
            if re.search(r"\bSort\b", line) and "Sort Key" not in line:
                found.append(line.strip().split("  (")[0])
        return found

    async def close(self) -> None:
        await self.conn.close()


class _Rollback(Exception):
    pass


async def run_case(engine: Engine, case: Case) -> None:
    try:
        await engine.run_case(case)
    except _Rollback:
        pass


# Fill, measure, compare ------------------------------------------------------------------------------------------------

_DROP_INDEX = re.compile(r"DROP\s+INDEX\s+(?:CONCURRENTLY\s+)?(?:IF\s+EXISTS\s+)?(\w+)\s*;", re.IGNORECASE)


@dataclass(frozen=True)
class IndexChange:
    """What the migrations from `first` on do to the indexes: "before" is the store without them."""

    created: list[tuple[str, str]]  # (name, CREATE INDEX …) of the new ones
    dropped: list[tuple[str, str]]  # (name, CREATE INDEX …) of older ones they drop

    def undo(self) -> list[str]:
        return [f"DROP INDEX IF EXISTS {name}" for name, _ in self.created] + [_anew(sql) for _, sql in self.dropped]

    def redo(self) -> list[str]:
        return [f"DROP INDEX IF EXISTS {name}" for name, _ in self.dropped] + [_anew(sql) for _, sql in self.created]


def _anew(create: str) -> str:
    """A CREATE INDEX that does nothing where the index is already there."""
    return re.sub(r"^CREATE (UNIQUE )?INDEX (?!IF NOT EXISTS)", r"CREATE \1INDEX IF NOT EXISTS ", create)


def index_change(directory: Path, first: int) -> IndexChange:
    older: dict[str, str] = {}
    created: list[tuple[str, str]] = []
    dropped: list[tuple[str, str]] = []
    for path in sorted(directory.glob("*.sql")):
        text = "\n".join(line.split("--", 1)[0] for line in path.read_text().splitlines())
        # A DO block's CREATE INDEX (PostgreSQL 0031's, built only where pg_trgm could be installed) is no plain
        # statement to replay: the name-search figures measure that index (compare_name_search).
        text = re.sub(r"\bDO\s+\$\$.*?\$\$\s*;", "", text, flags=re.DOTALL)
        made = [(m.group(1), re.sub(r"\s+", " ", m.group(0)).replace(" CONCURRENTLY", "")) for m in
                _CREATE_INDEX.finditer(text)]
        if int(path.name.split("_", 1)[0]) < first:
            older.update(made)
            continue
        dropped += [(m.group(1), older[m.group(1)]) for m in _DROP_INDEX.finditer(text) if m.group(1) in older]
        created += made
    return IndexChange(created, dropped)


async def fill_sqlite(path: Path, lab: Lab, rows: dict[str, list[dict[str, Any]]]) -> None:
    db = await Database.open(path)  # the migrations
    await db.close()
    conn = connect(path, read_only=False)
    conn.execute("BEGIN")
    for table, sql in INSERTS.items():
        conn.executemany(sql, rows[table])
    for statement in lifecycle(lab):
        conn.execute(statement)
    conn.execute("COMMIT")
    conn.close()


async def fill_pg(conn: Any, lab: Lab, rows: dict[str, list[dict[str, Any]]]) -> None:
    """In transactions of a few thousand rows: the triggers update the 50 accounts' rows once per job, and in one
    transaction each of those updates left a dead version behind that the next had to step over."""
    from jobservice.pg import positional

    chunk = 2000
    for table, sql in INSERTS.items():
        statement = positional(sql)
        for start in range(0, len(rows[table]), chunk):
            async with conn.transaction():
                await conn.executemany(statement.sql, [statement.args(r) for r in rows[table][start:start + chunk]])
    await conn.execute("SELECT setval(pg_get_serial_sequence('jobs', 'seq'), (SELECT MAX(seq) FROM jobs))")
    await conn.execute("SELECT setval(pg_get_serial_sequence('accounts', 'id'), (SELECT MAX(id) FROM accounts))")
    for update in lifecycle(lab):
        if not update.startswith("UPDATE jobs"):
            await conn.execute(update)
            continue
        for start in range(0, lab.jobs, chunk):
            await conn.execute(f"{update} AND seq > {start} AND seq <= {start + chunk}")
    await conn.execute("VACUUM ANALYZE")


async def timed_ms(call: Callable[[], Awaitable[object]], rounds: int) -> float:
    await call()  # warm
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        await call()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


async def timed_in_turns(calls: list[Callable[[], Awaitable[object]]], rounds: int) -> list[float]:
    """Each call's median ms, the calls taking turns round after round (each warmed once first), each round in the
    next of their orders: a call right after another that read the same pages is faster (warm caches), and after one
    that read the account's every job slower, so each must follow each other one as often."""
    for call in calls:
        await call()
    orders = list(itertools.permutations(range(len(calls))))
    times: list[list[float]] = [[] for _ in calls]
    for turn in range(rounds):
        for k in orders[turn % len(orders)]:
            started = time.perf_counter()
            await calls[k]()
            times[k].append((time.perf_counter() - started) * 1000)
    return [statistics.median(seen) for seen in times]


async def run_with(engine: Engine, sql: dict[str, Any], case: Case) -> None:
    """`case` with these named queries (another commit's, for a before)."""
    engine.sql = sql
    await run_case(engine, case)


async def measure_reads(engine: Engine, selected: list[Case], rounds: int) -> dict[str, tuple[float, list[str]]]:
    seen = {}
    for case in selected:
        try:
            plan = await engine.plan(case)
            ms = await timed_ms(lambda c=case: run_case(engine, c), rounds)  # type: ignore[misc]
        except Exception as exc:  # a bench's parameters that do not fit: say so, go on
            print(f"    {case.label}: {type(exc).__name__}: {exc}")
            continue
        seen[case.label] = (ms, plan)
    return seen


def server_cpu(postmaster_pid_file: Path) -> Callable[[], float]:
    """This process's CPU seconds plus those of the PostgreSQL server's processes (its backends do the writes)."""
    ticks = os.sysconf("SC_CLK_TCK")

    def cpu() -> float:
        postmaster = postmaster_pid_file.read_text().split()[0]
        total = 0
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue  # gone meanwhile
            if fields[1] == postmaster or stat.parent.name == postmaster:  # ppid, or the postmaster itself
                total += int(fields[11]) + int(fields[12])  # utime, stime
        return time.process_time() + total / ticks

    return cpu


async def measure_writes(store: Store, lab: Lab, batches: int, cpu_clock: Callable[[], float]) -> dict[str, list[float]]:
    """Submission of 100 jobs (one transaction: the service's batch) and each one's claim + completion, in ms of wall
    time and of CPU (`cpu_clock`: this process's, where SQLite runs, plus PostgreSQL's server processes), which load
    from elsewhere on a shared machine hardly moves."""
    jobs = JobStore(store)
    request = ValidatedJob(sequence="MKTVRQERLK", params={})
    seen: dict[str, list[float]] = {}

    def note(key: str, wall: float, cpu: float, per: int = 1) -> None:
        seen.setdefault(f"{key} (ms)", []).append((time.perf_counter() - wall) * 1000 / per)
        seen.setdefault(f"{key} (CPU ms)", []).append((cpu_clock() - cpu) * 1000 / per)

    for _ in range(batches):
        wall, cpu = time.perf_counter(), cpu_clock()
        ids = await jobs.submit(lab.writer, [NewJob(model="esmfold", name="bench", request=request, cost=1)
                                              for _ in range(100)])
        note("submit 100 jobs", wall, cpu)
        wall, cpu = time.perf_counter(), cpu_clock()
        for job in ids:
            if store.shared:
                claimed = await jobs.claim_next("esmfold", Lease("bench", 60.0))
                assert claimed is not None
                await jobs.complete(claimed.record.id, {"metrics": {}}, owner="bench")
            else:
                assert await jobs.claim(job) is not None
                await jobs.complete(job, {"metrics": {}})
        note("claim + complete one job", wall, cpu, per=len(ids))
    return seen


def report(engine: str, before: dict[str, tuple[float, list[str]]], after: dict[str, tuple[float, list[str]]],
           flags: Callable[[list[str]], list[str]], plans: bool, selected: list[Case],
           sides: str = "before (without the new indexes) and after") -> None:
    print(f"\n{engine}: ms of each query (the fastest turn's median), {sides}; "
          "'!' marks a plan that scans a big table or sorts")
    print(f"  {'when':<8} {'query':<42} {'before':>8} {'after':>8} {'ratio':>7}")
    for case in selected:
        if case.label not in before or case.label not in after:
            continue
        b_ms, b_plan = before[case.label]
        a_ms, a_plan = after[case.label]
        mark = ("!" if flags(b_plan) else " ") + ("!" if flags(a_plan) else " ")
        print(f"  {case.when:<8} {case.label:<42} {b_ms:8.3f} {a_ms:8.3f} {b_ms / max(a_ms, 1e-6):6.1f}x {mark}")
    print(f"\n{engine}: plans ({'all' if plans else 'the flagged ones'}; the 'after' side's unless they differ)")
    for case in selected:
        if case.label not in before or case.label not in after:
            continue
        b_plan, a_plan = before[case.label][1], after[case.label][1]
        if not plans and not flags(b_plan) and not flags(a_plan):
            continue
        print(f"  [{case.name}] {case.label}")
        if b_plan != a_plan:
            print("    before:")
            for line in b_plan:
                print("      " + line)
            print("    after:")
        for line in a_plan:
            print("      " + line)
        for flag in flags(a_plan):
            print(f"    ! {flag}")


def sql_at(ref: str, path: str) -> str:
    return subprocess.run(["git", "show", f"{ref}:{path}"], check=True, capture_output=True, text=True,
                          cwd=Path(__file__).resolve().parent.parent).stdout


async def compare(engine: Engine, store_factory: Callable[[], Awaitable[Store]], lab: Lab, change: IndexChange,
                  args: argparse.Namespace, cpu_clock: Callable[[], float] = time.process_time) -> None:
    await locate(engine.fetch, lab)
    selected = [c for c in cases(lab, engine.name) if not args.only or c.name in args.only.split(",")]

    async def apply(statements: list[str]) -> float:
        started = time.perf_counter()
        for sql in statements:
            await engine.script(sql)
        took = (time.perf_counter() - started) * 1000
        # Not billed to the next writes: PostgreSQL's autovacuum would analyze the table (and the rolled-back writes
        # leave no bloat); SQLite's WAL holds the index build's pages, which the next commit would checkpoint.
        await engine.script("VACUUM ANALYZE jobs" if engine.name == "PostgreSQL" else "PRAGMA wal_checkpoint(TRUNCATE)")
        return took

    async def writes() -> dict[str, list[float]]:
        store = await store_factory()
        try:
            return await measure_writes(store, lab, args.write_batches, cpu_clock)
        finally:
            await store.close()

    current = engine.sql
    old_sql = current
    if args.before_sql_from:  # "before" with the queries as that commit wrote them, too
        text = await asyncio.to_thread(sql_at, args.before_sql_from, engine.sql_file)
        old_sql = {**current, **engine.parse(text)}
    # Before and after in turns (--read-cycles): each query's figure is its fastest cycle's median, so a burst of
    # load from elsewhere on the machine during one side's turn is not read as a difference.
    before: dict[str, tuple[float, list[str]]] = {}
    after: dict[str, tuple[float, list[str]]] = {}
    build_ms = 0.0
    for _ in range(args.read_cycles):
        await apply(change.undo())
        engine.sql = old_sql
        for label, (ms, plan) in (await measure_reads(engine, selected, args.rounds)).items():
            before[label] = (min(ms, before.get(label, (ms, plan))[0]), plan)
        engine.sql = current
        build_ms = await apply(change.redo())
        for label, (ms, plan) in (await measure_reads(engine, selected, args.rounds)).items():
            after[label] = (min(ms, after.get(label, (ms, plan))[0]), plan)
    # Writes last (they add jobs, events and deliveries the reads would see), alternating with and without the new
    # indexes, so that drift in the store or load on the machine is not read as their cost.
    writes_with: dict[str, list[float]] = {}
    writes_without: dict[str, list[float]] = {}
    for cycle in range(args.write_cycles):
        for seen in (writes_with, writes_without) if cycle % 2 == 0 else (writes_without, writes_with):
            await apply(change.redo() if seen is writes_with else change.undo())
            for key, times in (await writes()).items():
                seen.setdefault(key, []).extend(times)
    await apply(change.redo())
    report(engine.name, before, after, engine.flags, args.plans, selected)
    print(f"\n{engine.name}: writes, median of {args.write_cycles} x {args.write_batches} batches, alternating: without "
          "the new indexes / with / ratio")
    for key in writes_with:
        without, with_ = statistics.median(writes_without[key]), statistics.median(writes_with[key])
        print(f"  {key:<34} {without:8.3f} {with_:8.3f} {with_ / without:6.2f}x")
    print(f"\n{engine.name}: the migration's index changes on the filled store took {build_ms:.0f} ms: "
          + ", ".join(sql for sql in change.redo()))


# Job-name search: the queries before the trigram indexes (list_jobs / count_jobs, an account-wide scan with the
# exact check) and the ones jobservice/jobs.py JobStore.page picks now (the _named ones for 3+ characters), side by
# side on the same filled store, for the busiest account. (needle, what it is)
NAME_SEARCHES = (("kinase-screen ä", "rare name (1 in 2,000)", False), ("no such name", "absent name", False),
                 ("run 5", "common name", False), ("ru", "2-char, common", False),
                 ("zq", "2-char, absent (worst case)", False), ("run 5", "common name, smallest account", True))


async def compare_name_search(engine: Engine, lab: Lab, args: argparse.Namespace,
                              store_factory: Callable[[], Awaitable[Store]],
                              cpu_clock: Callable[[], float] = time.process_time) -> None:
    from jobservice.jobs import TRIGRAM

    listing = {"account_id": lab.busiest, "status": None, "model": None, "limit": 20, "offset": 0}
    current = engine.sql
    # --before-sql-from: the _named queries as that commit wrote them too (PostgreSQL: also as it ran them, a query
    # without `-- plan: per call` kept prepared), between the old scan's figures and now's.
    ref = args.before_sql_from
    before_sql = engine.parse(await asyncio.to_thread(sql_at, ref, engine.sql_file)) if ref else {}
    ways = ("scan", ref[:8], "now") if ref else ("scan", "now")
    print(f"\n{engine.name}: job-name search for the busiest account (and the smallest), ms (median of {args.rounds}): "
          "scan: the old account-wide queries; " + (f"{ref[:8]}: the query JobStore.page picks as {ref} had it; " if ref
                                                      else "") + "now: as it is now; a page is its list + its count")
    head = " ".join(f"{what + ' ' + way if i == 0 else way:>{10 if i == 0 else 8}}" for what in ("list", "count", "page")
                    for i, way in enumerate(ways))
    print(f"  {'needle':<18} {'what':<28} {'matches':>7} {head}")
    plans: list[tuple[str, list[str]]] = []
    for needle, what, smallest in NAME_SEARCHES:
        suffix = "_named" if len(needle.lower()) >= TRIGRAM else ""
        params = {**listing, "name": needle, **({"account_id": lab.account_ids[-1]} if smallest else {})}
        figures: dict[str, list[float]] = {}
        for kind in ("list_jobs", "count_jobs"):
            calls = []
            for way in ways:
                name = kind if way == "scan" else kind + suffix
                case = Case(needle, name, params, "request")
                calls.append(partial(run_with, engine, {**current, **before_sql} if way == ref[:8] else current, case))
                if way == "now":
                    plans.append((f"[{name}] {needle!r}", await engine.plan(case)))
            # Timed as the service runs it: PostgreSQL plans a prepared statement with its parameters 5 times, then
            # may keep one generic plan, which cannot see how rare the needle is (each way's text is its own
            # statement). In turns, so that a burst of load elsewhere on the machine falls on every way alike.
            for way, ms in zip(ways, await timed_in_turns(calls, args.rounds), strict=True):
                figures.setdefault(way, []).append(ms)
        engine.sql = current
        count = engine.sql["count_jobs"]
        matches = (await engine.fetch_params(count, params))[0][0]
        cells = [figures[way][i] for i in (0, 1) for way in ways] + [sum(figures[way]) for way in ways]
        print(f"  {needle!r:<18} {what:<28} {matches:>7} "
              + " ".join(f"{ms:{10 if i % len(ways) == 0 else 8}.3f}" for i, ms in enumerate(cells)))
    print(f"\n{engine.name}: the name-search plans now (PostgreSQL: EXPLAIN's, planned with the parameters)")
    for label, lines in plans:
        print(f"  {label}")
        for line in lines:
            print("      " + line)
    started = time.perf_counter()
    await engine.script(engine.name_index_rebuild)
    print(f"\n{engine.name}: the name index built anew on the filled store ({lab.jobs} jobs) in "
          f"{(time.perf_counter() - started) * 1000:.0f} ms (what the migration's backfill costs)")
    # What the index costs each submission (SQLite: its insert trigger; PostgreSQL: the GIN index), alternating
    # without and with it as compare's writes do. Last: the writes add jobs.
    with_: dict[str, list[float]] = {}
    without: dict[str, list[float]] = {}
    for cycle in range(args.write_cycles):
        for seen in (with_, without) if cycle % 2 == 0 else (without, with_):
            await engine.script(engine.name_index_on if seen is with_ else engine.name_index_off)
            store = await store_factory()
            try:
                for key, times in (await measure_writes(store, lab, args.write_batches, cpu_clock)).items():
                    seen.setdefault(key, []).extend(times)
            finally:
                await store.close()
    await engine.script(engine.name_index_on)
    print(f"\n{engine.name}: writes, median of {args.write_cycles} x {args.write_batches} batches, alternating: without "
          "the name index / with / ratio")
    for key in with_:
        off, on = statistics.median(without[key]), statistics.median(with_[key])
        print(f"  {key:<34} {off:8.3f} {on:8.3f} {on / off:6.2f}x")


async def compare_statistics(engine: SqliteEngine, lab: Lab, args: argparse.Namespace) -> None:
    """Every hot query without planner statistics (the store as filled) and after the job service's
    `PRAGMA optimize` (jobservice/db.py `_optimize`, on this connection, which has just run every hot query: what
    the service's connections will have run when their periodic round comes)."""
    from jobservice.db import _optimize

    await locate(engine.fetch, lab)
    selected = [c for c in cases(lab, engine.name) if not args.only or c.name in args.only.split(",")]
    before = await measure_reads(engine, selected, args.rounds)
    started = time.perf_counter()
    analyzed = _optimize(engine.conn)
    took_ms = (time.perf_counter() - started) * 1000
    print(f"\nSQLite: PRAGMA optimize took {took_ms:.0f} ms: {'; '.join(analyzed) or 'nothing to analyze'}")
    started = time.perf_counter()
    again = _optimize(engine.conn)
    print(f"SQLite: and again right after, {(time.perf_counter() - started) * 1000:.2f} ms: "
          f"{'; '.join(again) or 'nothing to analyze'}")
    after = await measure_reads(engine, selected, args.rounds)
    stats = [list(row) for row in await engine.fetch("SELECT tbl, idx, stat FROM sqlite_stat1 ORDER BY tbl, idx")]
    if args.save_statistics:
        await asyncio.to_thread(Path(args.save_statistics).write_text, json.dumps(stats, indent=0) + "\n")
    report(engine.name, before, after, engine.flags, args.plans, selected,
           "before (no planner statistics) and after (PRAGMA optimize)")


async def main(args: argparse.Namespace) -> None:
    started = time.perf_counter()
    lab, rows = plan_lab(args)
    print(f"{args.jobs} jobs over {args.accounts} accounts, {args.pending} waiting, {args.running} running; "
          + ", ".join(f"{len(v)} {k}" for k, v in rows.items() if k not in ("jobs", "accounts")))
    if not args.no_sqlite:
        with tempfile.TemporaryDirectory() as scratch:
            path = Path(scratch) / "lab.sqlite3"
            await fill_sqlite(path, lab, rows)
            print(f"SQLite filled in {time.perf_counter() - started:.0f} s ({path.stat().st_size >> 20} MiB)")
            engine = SqliteEngine(path)
            try:
                counts = {t: (await engine.fetch(f"SELECT COUNT(*) FROM {t}"))[0][0] for t in BIG_TABLES}
                print("  " + ", ".join(f"{v} {k}" for k, v in counts.items()))

                async def sqlite_store() -> Store:
                    return await Database.open(path)

                if args.statistics:
                    await compare_statistics(engine, lab, args)
                elif args.only != "name":
                    await compare(engine, sqlite_store, lab, index_change(MIGRATIONS_DIR, args.new_sqlite_from),
                                  args)
                if not args.only or "name" in args.only.split(","):
                    await compare_name_search(engine, lab, args, sqlite_store)
            finally:
                await engine.close()
    if not args.no_postgres:
        import asyncpg

        from jobservice.pg import PG_MIGRATIONS_DIR, PgDatabase
        from tests.postgres import PostgresServer

        with PostgresServer.start() as server:
            url = server.new_store_url("lab")
            await (await PgDatabase.open(url, connect_timeout_s=10, command_timeout_s=600)).close()  # migrations
            conn = await asyncpg.connect(url)
            started = time.perf_counter()
            await fill_pg(conn, lab, rows)
            print(f"\nPostgreSQL filled in {time.perf_counter() - started:.0f} s")
            engine_pg = PgEngine(conn)
            try:
                async def pg_store() -> Store:
                    return await PgDatabase.open(url, connect_timeout_s=10, command_timeout_s=600)

                if args.only != "name":
                    await compare(engine_pg, pg_store, lab, index_change(PG_MIGRATIONS_DIR, args.new_pg_from), args,
                                  server_cpu(server.data_dir / "postmaster.pid"))
                if not args.only or "name" in args.only.split(","):
                    await compare_name_search(engine_pg, lab, args, pg_store, server_cpu(server.data_dir / "postmaster.pid"))
            finally:
                await engine_pg.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=100_000)
    parser.add_argument("--accounts", type=int, default=50)
    parser.add_argument("--pending", type=int, default=2000)
    parser.add_argument("--running", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--read-cycles", type=int, default=2, help="turns of before and after for the reads")
    parser.add_argument("--write-batches", type=int, default=3, help="batches of 100 jobs per write cycle")
    parser.add_argument("--write-cycles", type=int, default=4, help="alternations with and without the indexes")
    parser.add_argument("--new-sqlite-from", type=int, default=80, help="the first SQLite migration measured")
    parser.add_argument("--new-pg-from", type=int, default=30, help="the first PostgreSQL migration measured")
    parser.add_argument("--before-sql-from", default="", metavar="GITREF",
                        help="measure 'before' with the named queries as they were at GITREF (e.g. main)")
    parser.add_argument("--plans", action="store_true", help="print every plan, not only the flagged ones")
    parser.add_argument("--only", default="", help="named queries to measure (comma-separated; 'name': only the "
                                                   "job-name search figures)")
    parser.add_argument("--statistics", action="store_true",
                        help="SQLite only: each query without planner statistics and after PRAGMA optimize, "
                             "instead of without and with the new indexes")
    parser.add_argument("--save-statistics", default="", metavar="FILE",
                        help="with --statistics: write the sqlite_stat1 rows it made to FILE (JSON)")
    parser.add_argument("--no-sqlite", action="store_true")
    parser.add_argument("--no-postgres", action="store_true")
    asyncio.run(main(parser.parse_args()))
