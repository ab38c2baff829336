"""The hot queries keep their indexes on SQLite: each named query the job service runs per request, per dispatch step,
per watch tick or per sweep is planned as a seek into an index, never a scan of a big table, and the ones that read
an index alone (a list's total, the dashboard's counts) or in the order asked (lists, the retention sweep) still
do. A dropped index or a rewrite that makes a query scan fails here; bench/query_scale.py measures what each costs at
a lab's scale (100,000 jobs), e.g. a list page's total read every row of a busy account, 22 ms instead of 2.

Both with planner statistics and without: the job service runs `PRAGMA optimize` every few hours and at close
(jobservice/db.py), so a store is planned by SQLite's built-in guesses until its first round (an empty store migrated
to the newest schema is planned exactly as a lab's full one is then), and by sqlite_stat1 after. The statistics are a
lab's (bench/query_scale.py's 100,000 jobs; data/lab_statistics.json: "optimize" as the service's round wrote them,
`--statistics --save-statistics FILE`; "analyze" and "analyze-400" a whole ANALYZE without and with analysis_limit
400), written into the empty store's sqlite_stat1 as SQLite documents it for planning as on a production database.
With them, three plans had gone bad: the start's pending and running jobs walked every job in seq order, and usage by
model read every job of the account.

`test_optimize_writes_statistics_that_both_connections_plan_by` checks the service's own round on a real store."""

from __future__ import annotations

import asyncio
import json
import re
import sqlite3
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import pytest

from jobservice.db import Database, connect, queries

pytestmark = pytest.mark.integration

# Tables that grow with a lab's use (jobs and all that hangs off them); accounts, webhooks and keys stay small.
BIG_TABLES = {"jobs", "job_events", "job_inputs", "credit_entries", "usage_hourly", "account_activity",
              "webhook_deliveries", "idempotency_keys", "job_shares", "api_keys"}

# The queries on a request's, a dispatch step's, a watch tick's or a sweep's path.
HOT = [
    "get_key", "live_keys", "get_session", "live_sessions", "touch_session", "get_job", "get_job_input", "job_seq",
    "queue_places", "list_jobs", "list_jobs_after", "count_jobs", "list_jobs_named", "list_jobs_after_named",
    "count_jobs_named", "job_counts", "count_queued_jobs", "insert_job",
    "claim_job", "complete_job", "fail_job", "cancel_job", "requeue_job", "release_job", "delete_job",
    "fail_waiting_jobs", "pending_jobs", "model_has_pending_job", "orphaned_jobs", "metrics_active_jobs", "metrics_webhook_backlog",
    "list_credit_entries", "list_credit_entries_after", "count_credit_entries", "credit_entry_exists",
    "list_activity", "list_activity_after", "count_activity", "activity_entry_exists", "purge_activity",
    "usage_totals", "usage_by_endpoint", "usage_by_model", "usage_daily", "delete_usage_before",
    "list_webhooks", "webhook_delivery_health", "claim_due_deliveries", "next_delivery_time",
    "list_webhook_deliveries", "list_webhook_deliveries_after", "count_webhook_deliveries", "get_webhook_delivery",
    "purge_webhook_deliveries", "delete_job_deliveries", "drop_deliveries_of_webhook",
    "get_idempotency_key", "purge_idempotency_keys", "shared_job", "list_job_shares", "count_job_shares",
    "prune_job_shares", "list_account_sessions", "list_api_keys", "count_active_keys",
    "results_past_retention", "jobs_keeping_results", "oldest_job_created_at",
    "job_events_after", "job_with_last_event", "job_events_of_job_after", "job_events_of_account_after",
    "active_jobs_with_last_event", "last_job_event_id", "sign_in_failures_at_limit",
]

# Scans that never read a whole table: the first row of an index (LIMIT 1); and, in a job's insert, SQLite's check of
# credit_entries.job_id -> jobs(id), which it runs only while the statement has a foreign key violation outstanding
# (never: the job's charge is written after the job, by its trigger).
BOUNDED_SCANS = {"oldest_job_created_at": {"SCAN jobs USING INDEX sqlite_autoindex_jobs_2"},
                 "insert_job": {"SCAN credit_entries"}}

# What each query must keep: an index it reads (COVERING: that index alone), and whether it may sort.
EXPECTED: dict[str, tuple[str, ...]] = {
    "count_jobs": ("USING COVERING INDEX jobs_account_status_live",),
    "job_counts": ("USING COVERING INDEX jobs_account_status_live",),
    "count_queued_jobs": ("USING COVERING INDEX jobs_account_status_live (account_id=? AND status=?)",),
    "usage_by_model": ("USING COVERING INDEX jobs_account_submitted (account_id=? AND created_at>?)",),
    "results_past_retention": ("USING INDEX jobs_results_kept (finished_at<?)",),
    "active_jobs_with_last_event": ("USING INDEX jobs_account_status_live (account_id=? AND status=?)",),
    "list_jobs": ("USING INDEX jobs_account_created (account_id=?)",),
    "list_jobs_after": ("USING INDEX jobs_account_created (account_id=? AND seq<?)",),
    # A name of 3+ characters: the trigram index's candidates first (newest first), then each one's row by seq.
    "list_jobs_named": ("SCAN f VIRTUAL TABLE INDEX", "SEARCH j USING INDEX"),
    "list_jobs_after_named": ("SCAN f VIRTUAL TABLE INDEX", "SEARCH j USING INDEX"),
    "count_jobs_named": ("SCAN f VIRTUAL TABLE INDEX", "SEARCH j USING INDEX"),
    "list_credit_entries": ("USING INDEX credit_entries_account (account_id=?)",),
    "list_activity": ("USING INDEX account_activity_account (account_id=?)",),
    "job_events_after": ("USING INTEGER PRIMARY KEY (rowid>?)",),
    "purge_webhook_deliveries": ("USING INDEX deliveries_created (created_at<?)",),
    "purge_activity": ("INDEX account_activity_created (created_at<?)",),
    "purge_idempotency_keys": ("USING COVERING INDEX idempotency_keys_created (created_at<?)",),
    "delete_usage_before": ("USING COVERING INDEX usage_hourly_hour (hour<?)",),
    "claim_due_deliveries": ("USING INDEX deliveries_due (status=? AND next_attempt_at<?)",),
}
# Lists that page in an index's order: a sort would read the whole of the account's rows first.
IN_INDEX_ORDER = {"list_jobs", "list_jobs_after", "list_jobs_named", "list_jobs_after_named", "list_credit_entries", "list_credit_entries_after",
                  "list_activity", "list_activity_after", "list_webhook_deliveries", "list_webhook_deliveries_after",
                  "job_events_after", "job_events_of_account_after", "results_past_retention", "claim_due_deliveries"}


LAB_STATISTICS: dict[str, list[list[str]]] = json.loads(
    (Path(__file__).parent / "data" / "lab_statistics.json").read_text())


@pytest.fixture(scope="module", params=["no-statistics", *LAB_STATISTICS])
def conn(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Iterator[sqlite3.Connection]:
    path: Path = tmp_path_factory.mktemp("plans") / "phonos.sqlite3"

    async def migrate() -> None:
        await (await Database.open(path)).close()

    asyncio.run(migrate())
    writer = connect(path, read_only=False)
    writer.execute("ANALYZE")  # makes sqlite_stat1 (the tables are empty but for a row or so the migrations seed)
    writer.execute("DELETE FROM sqlite_stat1")
    if request.param in LAB_STATISTICS:
        writer.executemany("INSERT INTO sqlite_stat1 (tbl, idx, stat) VALUES (?, ?, ?)", LAB_STATISTICS[request.param])
    writer.close()
    db = connect(path, read_only=True)  # reads sqlite_stat1 with the schema
    yield db
    db.close()


def plan(conn: sqlite3.Connection, name: str) -> list[str]:
    sql = queries()[name]
    params = {p: None for p in re.findall(r"(?<![:\w]):(\w+)", sql)}
    return [row[3] for row in conn.execute("EXPLAIN QUERY PLAN " + sql, params)]


def test_every_hot_query_is_known() -> None:
    assert not set(HOT) - set(queries()), "a hot query was renamed or removed: update HOT"
    assert not (set(EXPECTED) | IN_INDEX_ORDER) - set(HOT)


@pytest.mark.parametrize("name", HOT)
def test_no_hot_query_scans_a_big_table(conn: sqlite3.Connection, name: str) -> None:
    scans = [line for line in plan(conn, name)
             if (m := re.match(r"SCAN (\w+)", line)) and m.group(1) in BIG_TABLES and line not in BOUNDED_SCANS.get(name, set())]
    assert not scans, f"{name} scans a table that grows with the lab: {scans}"


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_hot_queries_keep_their_indexes(conn: sqlite3.Connection, name: str) -> None:
    lines = plan(conn, name)
    for expected in EXPECTED[name]:
        assert any(expected in line for line in lines), f"{name} no longer reads {expected!r}: {lines}"


@pytest.mark.parametrize("name", sorted(IN_INDEX_ORDER))
def test_pages_come_in_index_order(conn: sqlite3.Connection, name: str) -> None:
    sorts = [line for line in plan(conn, name) if "TEMP B-TREE FOR ORDER BY" in line]
    assert not sorts, f"{name} sorts what it pages through: {plan(conn, name)}"


def test_rewritten_queries_answer_as_before(tmp_path: Path) -> None:
    """count_jobs (its name filter a list of rowids) counts what list_jobs lists, for every filter; and the watch's
    active jobs (sorted, no longer read in seq order) still come oldest first."""
    from jobservice.accounts import Accounts
    from jobservice.jobs import JobStore, NewJob
    from jobservice.modelspecs.base import ValidatedJob

    async def scenario() -> None:
        db = await Database.open(tmp_path / "phonos.sqlite3")
        try:
            jobs = JobStore(db)
            accounts = Accounts(db)
            ada = (await accounts.create("ada", email=None, credits=1000, rate_limit=60)).account_id
            bob = (await accounts.create("bob", email=None, credits=1000, rate_limit=60)).account_id
            request = ValidatedJob(sequence="MKV", params={})
            names = ["Insulin A", "insulin b", "lysozyme", None, "INSULIN c", "α-syn"]
            ids = await jobs.submit(ada, [NewJob(model="esmfold" if i % 2 else "diffdock", name=name, request=request,
                                                 cost=1) for i, name in enumerate(names)])
            await jobs.submit(bob, [NewJob(model="esmfold", name="insulin", request=request, cost=1)])
            for job_id in ids[:3]:  # two finished (one deleted after), one running
                assert await jobs.claim(job_id) is not None
            await jobs.complete(ids[0], {"metrics": {}})
            await jobs.complete(ids[1], {"metrics": {}})
            assert await jobs.delete(ada, ids[1])
            for status in (None, "pending", "running", "completed"):
                for model in (None, "esmfold", "diffdock"):
                    for name in (None, "insulin", "Α-SYN", "nothing"):
                        rows, total = await jobs.page(ada, status=status, model=model, name=name, limit=100,
                                                      offset=0)
                        assert total == len(rows), (status, model, name)
            assert (await jobs.page(ada, status=None, model=None, name="insulin", limit=100, offset=0))[1] == 2
            active = await db.read.fetch_all("active_jobs_with_last_event", {"account_id": ada})
            assert [r["id"] for r in active] == [ids[2], ids[3], ids[4], ids[5]]
        finally:
            await db.close()

    asyncio.run(scenario())


def _plan_of(sql: str, conn: sqlite3.Connection) -> list[str]:
    return [row[3] for row in conn.execute(sql)]


def test_optimize_writes_statistics_that_both_connections_plan_by(tmp_path: Path) -> None:
    """The service's round (`Database.optimize`: PRAGMA optimize on the writer and the reader, each for the tables
    its own queries used) writes statistics for a store that has jobs, and both connections plan by them at once,
    also those the other one wrote (SQLite loads them with the schema: a connection that analyzed nothing itself
    planned by guesses until a restart); the round at close writes them too. The job service never ran one."""
    from jobservice.accounts import Accounts
    from jobservice.jobs import JobStore, NewJob
    from jobservice.modelspecs.base import ValidatedJob

    request = ValidatedJob(sequence="MKV", params={})
    skewed = "EXPLAIN QUERY PLAN SELECT * FROM scratch WHERE b = 1 AND c = 1"

    def make_scratch(conn: sqlite3.Connection) -> None:
        """A table only the writer's queries use, whose plan statistics change: without them SQLite guesses
        `c = ?` the better index (2 values of c against 1,000 of b). ANALYZE of it empty makes sqlite_stat1 now, a
        schema change every connection sees, so the statistics written into it later are no schema change."""
        conn.executescript("CREATE TABLE scratch (b, c); CREATE INDEX scratch_b ON scratch (b);"
                           "CREATE INDEX scratch_c ON scratch (c); ANALYZE scratch;")
        conn.executemany("INSERT INTO scratch VALUES (?, ?)", [(i % 1000, i % 2) for i in range(5000)])
        conn.execute(skewed.removeprefix("EXPLAIN QUERY PLAN ")).fetchall()

    async def filled(path: Path) -> Database:
        db = await Database.open(path, optimize_every_s=0)
        ada = (await Accounts(db).create("ada", email=None, credits=10_000, rate_limit=60)).account_id
        await JobStore(db).submit(ada, [NewJob(model="esmfold", name=None, request=request, cost=1)] * 200)
        await JobStore(db).page(ada, status=None, model=None, name=None, limit=10, offset=0)  # the reader's queries
        await db.read.fetch_all("pending_jobs")
        return db

    def statistics_of_jobs(path: Path) -> int:
        conn = connect(path, read_only=True)
        try:
            return int(conn.execute("SELECT COUNT(*) FROM sqlite_stat1 WHERE tbl = 'jobs'").fetchone()[0])
        finally:
            conn.close()

    async def scenario() -> None:
        db = await filled(tmp_path / "optimized.sqlite3")
        try:
            await db.optimize()
            assert statistics_of_jobs(tmp_path / "optimized.sqlite3") > 0
            fresh = connect(tmp_path / "optimized.sqlite3", read_only=True)
            try:
                for name in HOT:  # the reader plans as a connection that loaded the statistics
                    assert await db._reader_conn.run(plan, name) == plan(fresh, name), name
            finally:
                fresh.close()
        finally:
            await db.close()

        path = tmp_path / "scratch.sqlite3"
        db = await Database.open(path, optimize_every_s=0)
        try:
            await db._writer_conn.run(make_scratch)
            guessing = connect(path, read_only=True)
            assert "scratch_c" in _plan_of(skewed, guessing)[0]
            guessing.close()
            await db._reader_conn.run(lambda conn: conn.execute("SELECT COUNT(*) FROM sqlite_schema").fetchall())
            await db.optimize()
            fresh = connect(path, read_only=True)
            try:
                assert "scratch_b" in _plan_of(skewed, fresh)[0]
                assert await db._reader_conn.run(partial(_plan_of, skewed)) == _plan_of(skewed, fresh)
            finally:
                fresh.close()
        finally:
            await db.close()

        closed = await filled(tmp_path / "closed.sqlite3")
        await closed.close()
        assert statistics_of_jobs(tmp_path / "closed.sqlite3") > 0

    asyncio.run(scenario())


def test_a_later_round_analyzes_each_table_once(tmp_path: Path) -> None:
    """Once statistics exist, a table both connections' queries used and that grew is analyzed by the writer, not
    again by the reader (which planned by the older statistics and asks for it too): was twice, under the writer
    lock, each round."""
    from jobservice.accounts import Accounts
    from jobservice.jobs import JobStore, NewJob
    from jobservice.modelspecs.base import ValidatedJob

    job = NewJob(model="esmfold", name=None, request=ValidatedJob(sequence="MKV", params={}), cost=1)

    async def scenario() -> list[str]:
        db = await Database.open(tmp_path / "rounds.sqlite3", optimize_every_s=0)
        try:
            ada = (await Accounts(db).create("ada", email=None, credits=100_000, rate_limit=60)).account_id

            async def used_by_both() -> None:
                await JobStore(db).page(ada, status=None, model=None, name=None, limit=10, offset=0)
                await db._writer_conn.run(
                    lambda conn: conn.execute("SELECT id FROM jobs WHERE account_id = ?", (ada,)).fetchall())

            await JobStore(db).submit(ada, [job] * 20)
            await used_by_both()
            await db.optimize()
            for _ in range(30):  # 25x the rows the first round saw: worth analyzing again
                await JobStore(db).submit(ada, [job] * 100)
            await used_by_both()
            return await db.optimize()
        finally:
            await db.close()

    second = asyncio.run(scenario())
    assert 'ANALYZE "main"."jobs"' in second
    assert len(second) == len(set(second)), second
