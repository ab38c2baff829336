"""Job-name search through the trigram indexes (SQLite 0081 jobs_name_search, PostgreSQL 0031 jobs_name_trgm) gives
the answers the old account-wide scan gave: the same rows in the same order, the same totals, the same cursor pages,
for non-ASCII case, LIKE's and FTS5's special characters, short needles, other accounts' and deleted jobs, and jobs
that existed before the migration. The old queries (list_jobs, list_jobs_after, count_jobs: a name of 1-2
characters still takes them) are the reference, run side by side on the same store; on SQLite also Python's own
`needle.lower() in name.lower()`."""

from __future__ import annotations

import asyncio
import json
import logging
import random
import sqlite3
import unicodedata
import uuid
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import asyncpg
import pytest

from jobservice.db import MATCH_TRIGRAMS, Database, name_search_match
from jobservice.errors import DatabaseUnavailable
from jobservice.jobs import JobStore, NewJob
from jobservice.modelspecs.base import ValidatedJob
from jobservice.pg import PgDatabase, PgQueries, pg_queries
from jobservice.store import Store
from tests.postgres import DB_USER, PostgresServer
from tests.store.conftest import Scenario, account, postgres_before, sqlite_before

pytestmark = pytest.mark.integration

REQUEST = ValidatedJob(sequence="MKV", params={})
NAMES = [
    "ÄRGER im Labor", "ärger", "Straße 5", "STRASSE", "Α-SYN fold", "α-syn", "ΟΔΟΣ", "οδος", "İstanbul run",
    "istanbul", "ISTANBUL", "ıslak", "100% done", "100 percent", "under_score", "underXscore", "back\\slash",
    'say "hi"', "it's", "emoji 🧬 run", "Insulin A", "insulin b", "INSULIN c", "lysozyme", "ab", "a", "",
    "x%y_z\\w", "CamelCase Kinase", "kinase-2",
]
NEEDLES = [
    "ärger", "ÄRGER", "Ä", "äR", "straße", "STRASSE", "ss", "α-syn", "Α-SYN", "οδος", "ΟΔΟΣ", "ος", "İstanbul",
    "istanbul", "ISTANBUL", "ıs", "ıslak", "ISLAK", "100%", "%", "0% d", "_", "r_s", "under_", "\\", "k\\s", '"',
    '"hi"', "'", "it's", "🧬", "🧬 r", "insulin", "INSULIN", "in", "i", "lysozyme", "absent name", "zq", "x%y_z\\w",
    "kinase", " ", "a", "ab", "abc",
]


def job(name: str | None, model: str = "esmfold") -> NewJob:
    return NewJob(model=model, name=name, request=REQUEST, cost=0)


async def old_page(store: Store, account_id: int, name: str, *, status: str | None = None,
                   model: str | None = None, limit: int = 100, offset: int = 0,
                   after_seq: int | None = None) -> tuple[list[str], int]:
    """The answer of the queries from before the indexes (an account-wide scan with the exact check)."""
    params = {"account_id": account_id, "status": status, "model": model, "name": name, "limit": limit,
              "offset": offset, "after_seq": after_seq}
    rows = await store.read.fetch_all("list_jobs" if after_seq is None else "list_jobs_after", params)
    return [str(r["id"]) for r in rows], int(await store.read.scalar("count_jobs", params))


async def new_page(store: Store, account_id: int, name: str, *, status: str | None = None,
                   model: str | None = None, limit: int = 100, offset: int = 0,
                   after_seq: int | None = None) -> tuple[list[str], int]:
    rows, total = await JobStore(store).page(account_id, status=status, model=model, name=name, limit=limit,
                                             offset=offset, after_seq=after_seq)
    return [r.id for r in rows], total


def test_the_indexed_search_answers_as_the_scan_did(run: Callable[[Scenario], None]) -> None:
    """Every needle, with and without status and model filters, a small page at an offset and pages after a cursor,
    across two accounts, a deleted job and jobs without a name."""

    async def scenario(store: Store) -> None:
        jobs = JobStore(store)
        ada, bob = await account(store, credits=0, name="ada"), await account(store, credits=0, name="bob")
        ids = await jobs.submit(ada, [job(n, "esmfold" if i % 3 else "diffdock") for i, n in enumerate(NAMES)])
        await jobs.submit(ada, [job(None)])
        await jobs.submit(bob, [job(n) for n in NAMES[::2]])  # other accounts' jobs are never found
        deleted = ids[NAMES.index("insulin b")]
        assert await jobs.claim(deleted) is not None
        await jobs.complete(deleted, {"metrics": {}})
        assert await jobs.delete(ada, deleted)
        seq = {job_id: await jobs.seq_of(ada, job_id) for job_id in ids}
        sqlite = isinstance(store, Database)
        by_id = dict(zip(ids, NAMES, strict=True))
        for needle in NEEDLES:
            for status, model in ((None, None), ("pending", None), (None, "esmfold"), ("completed", "esmfold")):
                assert await new_page(store, ada, needle, status=status, model=model) == \
                    await old_page(store, ada, needle, status=status, model=model), (needle, status, model)
            found, total = await new_page(store, ada, needle)
            if sqlite:  # unicode_lower is Python's str.lower
                expected = [i for i in reversed(ids) if i != deleted and needle.lower() in by_id[i].lower()]
                assert (found, total) == (expected, len(expected)), needle
            assert await new_page(store, ada, needle, limit=2, offset=1) == await old_page(store, ada, needle, limit=2,
                                                                                          offset=1), needle
            for cursor in found[:3]:
                assert await new_page(store, ada, needle, limit=2, after_seq=seq[cursor]) == \
                    await old_page(store, ada, needle, limit=2, after_seq=seq[cursor]), (needle, cursor)
        assert (await new_page(store, ada, "insulin"))[1] == 2  # "insulin b" was deleted
        assert (await new_page(store, ada, "ärger"))[1] == 2 and (await new_page(store, ada, "Α-SYN"))[1] == 2
        assert await new_page(store, ada, "100%") == ([ids[NAMES.index("100% done")]], 1)  # % is no wildcard
        assert await new_page(store, ada, "under_") == ([ids[NAMES.index("under_score")]], 1)  # nor is _
        assert await new_page(store, ada, '"hi"') == ([ids[NAMES.index('say "hi"')]], 1)

    run(scenario)


def test_random_names_and_needles_answer_as_the_scan_did(run: Callable[[Scenario], None]) -> None:
    """Random names over a small alphabet with cased non-ASCII letters and the special characters, random needles
    (substrings of the names in another case, and free ones): new == old, page by page."""
    alphabet = "aAbäÄßσΣςıİi%_\\\"' 🧬"
    rng = random.Random(81)

    async def scenario(store: Store) -> None:
        jobs = JobStore(store)
        ada = await account(store, credits=0)
        names = ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 8))) for _ in range(120)]
        await jobs.submit(ada, [job(n) for n in names])
        needles = ["".join(rng.choice(alphabet) for _ in range(rng.randint(1, 5))) for _ in range(40)]
        for n in rng.sample(names, 40):
            start = rng.randint(0, max(len(n) - 1, 0))
            needles.append(n[start:start + rng.randint(1, 5)].swapcase())
        for needle in needles:
            assert await new_page(store, ada, needle) == await old_page(store, ada, needle), needle
            assert await new_page(store, ada, needle, limit=3, offset=2) == \
                await old_page(store, ada, needle, limit=3, offset=2), needle

    run(scenario)


def test_the_sqlite_index_follows_submissions_and_deletions(tmp_path: Path) -> None:
    """Each named job's lowered name is in jobs_name_search under its seq; a deletion (which clears the name) takes
    it out; a job without a name has no entry."""

    def indexed(conn: sqlite3.Connection) -> list[tuple[Any, ...]]:
        """(lowered name, job id) of each entry, checking it is filed under its job's account."""
        rows = conn.execute("SELECT f.name, j.id, f.account = name_search_account(j.account_id) FROM jobs_name_search f "
                            "JOIN jobs j ON j.seq = f.rowid ORDER BY f.rowid").fetchall()
        assert all(r[2] for r in rows)
        return [tuple(r[:2]) for r in rows]

    async def scenario() -> None:
        db = await Database.open(tmp_path / "phonos.sqlite3")
        try:
            jobs = JobStore(db)
            ada = await account(db, credits=0)
            first, second, _ = await jobs.submit(ada, [job("ÄRGER"), job("Keep Me"), job(None)])
            assert await db._reader_conn.run(indexed) == [("ärger", first), ("keep me", second)]
            bob = await account(db, credits=0, name="bob")
            [bobs] = await JobStore(db).submit(bob, [job("keep me too")])
            assert await new_page(db, ada, "keep me") == ([second], 1) and await new_page(db, bob, "keep") == ([bobs], 1)
            assert (await db._reader_conn.run(indexed))[-1] == ("keep me too", bobs)
            assert await jobs.claim(first) is not None
            await jobs.complete(first, {"metrics": {}})
            assert await jobs.delete(ada, first)
            assert await db._reader_conn.run(indexed) == [("keep me", second), ("keep me too", bobs)]
            assert await new_page(db, ada, "ärger") == ([], 0)
        finally:
            await db.close()

    asyncio.run(scenario())


def test_a_stored_name_with_a_nul_is_found_after_it(tmp_path: Path) -> None:
    """SQLite stored a NUL in a name as sent before the API refused it; FTS5's tokenizer ends a text at a NUL, so the
    index holds it as a space (name_search_text) and the text after it is found, as the old scan found it."""

    async def scenario() -> None:
        db = await Database.open(tmp_path / "phonos.sqlite3")
        try:
            ada = await account(db, credits=0)
            [with_nul] = await JobStore(db).submit(ada, [job("run\x00Kinase Ärger")])
            for needle in ("kinase ärger", "ÄRGER", "run", "un\x00ki", "n\x00k"):
                assert await new_page(db, ada, needle) == await old_page(db, ada, needle) == ([with_nul], 1), needle
        finally:
            await db.close()

    asyncio.run(scenario())


# A store from before the indexes, with named jobs of two accounts (one deleted: its name already cleared).
OLD_ROWS = (
    "INSERT INTO accounts (username, email, credits, created_at) VALUES ('ada', NULL, 100, 1.0)",
    "INSERT INTO accounts (username, email, credits, created_at) VALUES ('lin', NULL, 100, 2.0)",
    *(f"INSERT INTO jobs (id, seq, account_id, model, name, status, credits_used, created_at, updated_at, deleted_at) "
      f"VALUES ('{job_id}', {seq}, {account_id}, 'esmfold', {name}, 'completed', 0, {seq}.0, {seq}.0, {deleted})"
      for job_id, seq, account_id, name, deleted in (
          ("old-1", 1, 1, "'ÄRGER im Labor'", "NULL"), ("old-2", 2, 1, "'Insulin 100%'", "NULL"),
          ("old-3", 3, 2, "'ärger'", "NULL"), ("old-4", 4, 1, "NULL", "9.0"), ("old-5", 5, 1, "'lysozyme'", "NULL"))),
)


async def assert_old_jobs_are_found(store: Store) -> None:
    try:
        assert await new_page(store, 1, "ärger") == (["old-1"], 1)
        assert await new_page(store, 1, "IN 100%") == (["old-2"], 1)
        assert await new_page(store, 2, "ÄRG") == (["old-3"], 1)
        [added] = await JobStore(store).submit(1, [job("Ärger again")])  # and the index follows from then on
        assert await new_page(store, 1, "ärger") == ([added, "old-1"], 2)
        for needle in ("ärger", "lyso", "in", "old", "absent"):
            assert await new_page(store, 1, needle) == await old_page(store, 1, needle), needle
    finally:
        await store.close()


def test_the_sqlite_migration_indexes_existing_jobs(tmp_path: Path) -> None:
    sqlite_before(tmp_path / "old.sqlite3", 81, OLD_ROWS)

    async def upgrade() -> None:
        await assert_old_jobs_are_found(await Database.open(tmp_path / "old.sqlite3"))

    asyncio.run(upgrade())


def test_the_postgres_migration_indexes_existing_jobs(postgres: PostgresServer) -> None:
    url = postgres.new_store_url("names")

    async def upgrade() -> None:
        rows = [r if "INSERT INTO jobs" not in r else _without_seq(r) for r in OLD_ROWS]
        await postgres_before(url, 31, rows)
        await assert_old_jobs_are_found(await PgDatabase.open(url))
        conn = await asyncpg.connect(url)
        try:  # the session's server is a superuser's: pg_trgm is installed and the index built
            assert await conn.fetchval("SELECT indexdef FROM pg_indexes WHERE indexname = 'jobs_name_trgm' "
                                       "AND schemaname = current_schema()") is not None
        finally:
            await conn.close()

    asyncio.run(upgrade())


def _without_seq(insert: str) -> str:
    """The SQLite INSERT for PostgreSQL, where seq is an identity column."""
    columns, values = insert.split(" VALUES ")
    names = columns[columns.index("(") + 1:columns.rindex(")")].split(", ")
    parts = values.strip()[1:-1].split(", ")
    kept = [(n, v) for n, v in zip(names, parts, strict=True) if n != "seq"]
    return (f"{columns[:columns.index('(')]}({', '.join(n for n, _ in kept)}) "
            f"VALUES ({', '.join(v for _, v in kept)})")


def test_without_pg_trgm_the_postgres_search_still_answers(postgres: PostgresServer,
                                                           caplog: pytest.LogCaptureFixture) -> None:
    """A role without CREATE on its database cannot install pg_trgm: the migration goes on without the index, the
    start says so, and the search answers as before (by the scan)."""
    tag = uuid.uuid4().hex[:10]
    database, role = f"names_{tag}", f"plain_{tag}"
    postgres.psql(f'CREATE DATABASE "{database}"')  # a database of its own: pg_trgm not yet installed in it
    postgres.psql(f'CREATE ROLE "{role}" LOGIN')
    postgres.psql(f'CREATE SCHEMA s AUTHORIZATION "{role}"', database=database)
    url = postgres.url(database).replace(f"//{DB_USER}@", f"//{role}@") + "?search_path=s"

    async def scenario() -> None:
        store = await PgDatabase.open(url)
        try:
            ada = await account(store, credits=0)
            ids = await JobStore(store).submit(ada, [job("ÄRGER"), job("insulin 100%"), job("other")])
            assert await new_page(store, ada, "ärger") == ([ids[0]], 1)
            for needle in ("100%", "INSULIN", "absent", "er"):
                assert await new_page(store, ada, needle) == await old_page(store, ada, needle), needle
        finally:
            await store.close()
        conn = await asyncpg.connect(url)
        try:
            assert await conn.fetchval("SELECT to_regclass('jobs_name_trgm')") is None
            assert await conn.fetchval("SELECT COUNT(*) FROM pg_extension WHERE extname = 'pg_trgm'") == 0
        finally:
            await conn.close()

    with caplog.at_level(logging.WARNING, logger="jobservice.pg"):
        asyncio.run(scenario())
    assert any(getattr(r, "action", None) == "pg.no_name_index" for r in caplog.records)


def test_postgres_plans_a_rare_name_through_the_trigram_index(postgres: PostgresServer) -> None:
    """With 20,000 jobs of one account named alike (vacuumed and analyzed), a rare needle's list and total read jobs_name_trgm,
    not the account's every job; a 2-character one (list_jobs) walks the jobs newest first, as before. bench/query_scale.py
    times them at a lab's scale."""
    url = postgres.new_store_url("trgmplan")

    async def scenario() -> None:
        await (await PgDatabase.open(url)).close()  # the migrations
        conn = await asyncpg.connect(url)
        try:
            await conn.execute("INSERT INTO accounts (username, email, credits, created_at) VALUES ('ada', NULL, 0, 1)")
            await conn.execute(
                "INSERT INTO jobs (id, account_id, model, name, status, credits_used, created_at, updated_at) "
                "SELECT 'j' || g, (SELECT id FROM accounts), 'esmfold', CASE WHEN g % 5000 = 0 THEN 'Kinase ' || g "
                "ELSE 'run ' || (g % 977) || ' esmfold' END, 'completed', 0, g, g FROM generate_series(1, 20000) g")
            # As autovacuum leaves it: GIN's pending list of new entries (fastupdate) merged, which the planner
            # costs as read whole on each search until then.
            await conn.execute("VACUUM ANALYZE jobs")
            account_id = await conn.fetchval("SELECT id FROM accounts")
            params = {"account_id": account_id, "status": None, "model": None, "limit": 20, "offset": 0,
                      "after_seq": 10**9}
            for name, needle, indexed in (("list_jobs_named", "KINASE", True), ("list_jobs_after_named", "kinase", True),
                                          ("count_jobs_named", "Kinase", True), ("list_jobs", "ki", False)):
                statement = pg_queries()[name]
                plan = "\n".join(r[0] for r in await conn.fetch(
                    "EXPLAIN " + statement.sql, *statement.args({**params, "name": needle})))
                assert ("jobs_name_trgm" in plan) == indexed and "Seq Scan" not in plan, (name, plan)
        finally:
            await conn.close()

    asyncio.run(scenario())


def test_postgres_plans_each_name_search_with_its_needle(postgres: PostgresServer) -> None:
    """PostgreSQL may keep one generic plan for a prepared statement after 5 runs, and the _named queries' generic
    plan read the trigram index whatever the needle: on a connection that had searched 5 times, a common name's list
    read and sorted its thousands of matches (at 22,000 jobs 9-16 ms, not 0.4). Each search is now planned with its
    own needle: after many searches on one connection, the plan that runs (auto_explain's, as the server ran it) walks
    the account's jobs newest first for a common name and reads the index for a rare one."""
    url = postgres.new_store_url("percall")

    async def scenario() -> None:
        await (await PgDatabase.open(url)).close()  # the migrations
        conn = await asyncpg.connect(url)
        plans: list[str] = []
        try:
            # A lab's shape, where the generic plan won: one busy account (a fifth of the jobs, its rare names among
            # them) and 20 smaller ones.
            await conn.execute("INSERT INTO accounts (username, email, credits, created_at) "
                               "SELECT 'user' || a, NULL, 0, 1 FROM generate_series(1, 21) a")
            await conn.execute(
                "INSERT INTO jobs (id, account_id, model, name, status, credits_used, created_at, updated_at) "
                "SELECT 'j' || g, (SELECT MIN(id) FROM accounts) + CASE WHEN g % 5 = 0 THEN 0 ELSE 1 + g % 20 END, "
                "'esmfold', CASE WHEN g % 5000 = 0 THEN 'Kinase ' || g ELSE 'run ' || (g % 977) || ' esmfold' END, "
                "'completed', 0, g, g FROM generate_series(1, 20000) g")
            await conn.execute("VACUUM ANALYZE jobs")
            ada = int(await conn.fetchval("SELECT MIN(id) FROM accounts"))
            # Each statement's plan as it ran, to this connection as a notice (the test server's role is a superuser's).
            await conn.execute("LOAD 'auto_explain'; SET auto_explain.log_min_duration = 0; "
                               "SET auto_explain.log_level = notice; SET auto_explain.log_format = json")
            conn.add_log_listener(lambda _conn, message: plans.append(str(message.message)))
            # The store's queries on this one connection (PgQueries as inside a transaction; the pool's run alike).
            jobs = JobStore(cast(Store, SimpleNamespace(read=PgQueries(conn))))

            async def plan_of(needle: str, after_seq: int | None = None) -> str:
                """The plan its list ran with (not its total's)."""
                plans.clear()
                rows, total = await jobs.page(ada, status=None, model=None, name=needle, limit=20, offset=0,
                                              after_seq=after_seq)
                await asyncio.sleep(0)  # the notices' callbacks are called soon after they arrive
                assert rows and total
                explained = [json.loads(plan.split("plan:", 1)[1]) for plan in plans]
                lists = [json.dumps(e["Plan"]) for e in explained if "ORDER BY seq DESC" in e["Query Text"]]
                assert len(lists) == 1, plans
                return lists[0]

            for _ in range(8):  # past the 5 runs after which PostgreSQL may keep a generic plan
                common = await plan_of("run 5")  # run 5, run 50-59, run 500-599: 11% of the jobs (440)
                rare = await plan_of("KINASE")
                after = await plan_of("run 5", after_seq=15000)
            for walked in (common, after):  # jobs newest first (an index on seq, backward) until the page is full
                assert "jobs_name_trgm" not in walked and '"Scan Direction": "Backward"' in walked, walked
                assert '"Node Type": "Sort"' not in walked, walked
            assert "jobs_name_trgm" in rare, rare
        finally:
            await conn.close()

    asyncio.run(scenario())


def test_the_pool_runs_name_searches_unprepared_and_the_rest_prepared(postgres: PostgresServer) -> None:
    """The store's own path (a pooled connection, outside a transaction): the _named queries are never left prepared
    on the connection, where PostgreSQL could keep a generic plan for them; every other query still is (one round
    trip a call)."""
    url = postgres.new_store_url("unprepared")

    async def scenario() -> None:
        store = await PgDatabase.open(url, min_size=1, max_size=1)  # every statement on one connection
        try:
            ada = await account(store, credits=0)
            await JobStore(store).submit(ada, [job("insulin a"), job("insulin b"), job("other")])
            for _ in range(7):
                assert (await new_page(store, ada, "INSULIN"))[1] == 2
                await new_page(store, ada, "insulin", after_seq=10**9)
            prepared = {r["statement"] for r in await store._pooled.run(
                "fetch", "SELECT statement FROM pg_prepared_statements")}
            per_call = {name for name, statement in pg_queries().items() if statement.per_call}
            assert per_call == {"list_jobs_named", "list_jobs_after_named", "count_jobs_named"}
            assert not {pg_queries()[name].sql for name in per_call} & prepared
            assert pg_queries()["insert_job"].sql in prepared
        finally:
            await store.close()

    asyncio.run(scenario())


def test_a_per_call_query_has_one_command_timeout_for_its_describe_and_its_run(postgres: PostgresServer) -> None:
    """A per-call query is two round trips (the unnamed statement's describe, then its run). Each had the whole
    command timeout, so a describe held 0.9 s by a lock and a 0.9 s run answered after 1.8 s under a 1 s timeout;
    asyncpg bounds a cached statement's two steps by one budget, and so does `call` now, in the pool and inside a
    transaction."""
    url = postgres.new_store_url("per_call_budget")
    slow = "SELECT pg_sleep(0.9)::text || $1::text FROM (SELECT 1) s LEFT JOIN held ON true"

    async def scenario() -> None:
        store = await PgDatabase.open(url, min_size=1, max_size=2, command_timeout_s=1.0)
        locker = await asyncpg.connect(url)
        try:
            await locker.execute("CREATE TABLE held (x int)")
            for inside_a_transaction in (False, True):
                await locker.execute("BEGIN")
                await locker.execute("LOCK TABLE held IN ACCESS EXCLUSIVE MODE")  # the describe waits for it

                async def release() -> None:
                    await asyncio.sleep(0.9)
                    await locker.execute("COMMIT")

                released = asyncio.ensure_future(release())
                with pytest.raises((TimeoutError, DatabaseUnavailable)):
                    if inside_a_transaction:
                        async with store.transaction() as queries:
                            await queries._run("fetchval", slow, "x", per_call=True)
                    else:
                        await store._pooled.run("fetchval", slow, "x", per_call=True)
                await released
                await store._pooled.settle()
        finally:
            await locker.close()
            await store.close()

    asyncio.run(scenario())


def test_the_index_is_asked_a_few_distinct_trigrams_of_the_needle_never_the_whole_phrase() -> None:
    """A repetitive needle ('QQQ...', a pasted stretch of sequence) searched as one FTS5 phrase had its positions
    checked term by term in every row: 2.3 s for 20,000 jobs named like it, every other reader waiting. Now the
    index is asked for the needle's distinct trigrams, at most MATCH_TRIGRAMS of them, spread over its length."""
    account_part = name_search_match(7, "abc").split(" AND name : ")[0]
    assert name_search_match(7, "Q" * 200) == account_part + ' AND name : ("qqq")'
    needle = "CamelCase Kinase with a much longer tail"
    terms = name_search_match(7, needle).split(" AND name : ")[1].strip("()").split(" AND ")
    lowered = needle.lower()
    grams = [lowered[i:i + 3] for i in range(len(lowered) - 2)]
    assert len(terms) == MATCH_TRIGRAMS == len(set(terms))
    assert terms[0] == f'"{grams[0]}"' and terms[-1] == f'"{grams[-1]}"'
    assert all(term.strip('"') in grams for term in terms)
    assert name_search_match(7, 'say "hi"') == account_part + ' AND name : ("say" AND "ay " AND "y """ AND " ""h" AND """hi" AND "hi""")'


def test_two_stores_of_one_database_under_two_roles_both_start(postgres: PostgresServer,
                                                                 caplog: pytest.LogCaptureFixture) -> None:
    """A hardened database (`public` closed to everyone): role a's migration installed pg_trgm in `public` anyway (a
    trusted extension installs with a superuser's rights) and then could not build its index there; now it installs
    it in its own schema and builds it. Role b, which cannot use a's schema, then failed its migration's CREATE INDEX
    and its job service never started; now b goes on without the index, the migration's reason in the job service's
    log (was: only in the server's), its search answering by the scan."""
    tag = uuid.uuid4().hex[:10]
    database = f"two_{tag}"
    postgres.psql(f'CREATE DATABASE "{database}"')
    postgres.psql("REVOKE ALL ON SCHEMA public FROM PUBLIC", database=database)
    urls = []
    for schema in ("a", "b"):
        role = f"{schema}_{tag}"
        postgres.psql(f'CREATE ROLE "{role}" LOGIN')
        postgres.psql(f'GRANT CREATE ON DATABASE "{database}" TO "{role}"')
        postgres.psql(f'CREATE SCHEMA {schema} AUTHORIZATION "{role}"', database=database)
        urls.append(postgres.url(database).replace(f"//{DB_USER}@", f"//{role}@") + f"?search_path={schema}")

    async def scenario() -> None:
        for url in urls:
            store = await PgDatabase.open(url)
            try:
                ada = await account(store, credits=0)
                ids = await JobStore(store).submit(ada, [job("ÄRGER im Labor"), job("other")])
                assert await new_page(store, ada, "ärger") == ([ids[0]], 1)
                assert await new_page(store, ada, "absent") == await old_page(store, ada, "absent")
            finally:
                await store.close()
        indexed = []
        for url in urls:
            conn = await asyncpg.connect(url)
            try:
                indexed.append(await conn.fetchval("SELECT to_regclass(current_schema() || '.jobs_name_trgm') IS NOT NULL"))
                assert await conn.fetchval("SELECT extnamespace::regnamespace::text FROM pg_extension "
                                           "WHERE extname = 'pg_trgm'") == "a"
            finally:
                await conn.close()
        assert indexed == [True, False]

    with caplog.at_level(logging.WARNING, logger="jobservice.pg"):
        asyncio.run(scenario())
    said = [r.getMessage() for r in caplog.records if getattr(r, "action", "") == "pg.migration_warning"]
    assert len(said) == 1 and "could not be built on pg_trgm in schema a" in said[0], said


@pytest.mark.parametrize("left_by", ["older unicode", "draft without the table"])
def test_the_sqlite_index_is_rebuilt_when_pythons_unicode_changed(tmp_path: Path, caplog: pytest.LogCaptureFixture,
                                                                   left_by: str) -> None:
    """The index holds names as this Python lowers them. One indexed under other Unicode tables (a Python upgrade) may
    hold some letter lowered differently: the job service rebuilds it at its start, and its names are found again.
    A store an unreleased draft of 0081 made has no version table: rebuilt too (was: the start failed)."""
    path = tmp_path / "phonos.sqlite3"

    async def scenario() -> None:
        db = await Database.open(path)
        try:
            ada = await account(db, credits=0)
            [kinase] = await JobStore(db).submit(ada, [job("Kinase ÄRGER")])
        finally:
            await db.close()
        conn = sqlite3.connect(path)  # as an older Python left it: its own lowering, its Unicode version
        conn.execute("UPDATE jobs_name_search SET name = 'kinase ?rger'")
        conn.execute("UPDATE jobs_name_search_unicode SET version = '13.0.0'" if left_by == "older unicode"
                     else "DROP TABLE jobs_name_search_unicode")
        conn.commit()
        conn.close()
        with caplog.at_level(logging.INFO, logger="jobservice.db"):
            db = await Database.open(path)
        try:
            assert await new_page(db, ada, "ärger") == ([kinase], 1)
        finally:
            await db.close()
        conn = sqlite3.connect(path)
        assert conn.execute("SELECT version FROM jobs_name_search_unicode").fetchall() == [(unicodedata.unidata_version,)]
        conn.close()
        assert [r.action for r in caplog.records if getattr(r, "action", "") == "database.name_index_rebuilt"] == [
            "database.name_index_rebuilt"]

    asyncio.run(scenario())


def test_postgres_search_works_with_standard_conforming_strings_off(postgres: PostgresServer) -> None:
    """The LIKE's escape was written with '\\' literals, which a session with standard_conforming_strings off (an old
    application's setting) reads as an unterminated string: every search of 3+ characters was a syntax error."""
    url = postgres.new_store_url("scsoff") + "&standard_conforming_strings=off"

    async def scenario() -> None:
        store = await PgDatabase.open(url)
        try:
            conn = await asyncpg.connect(url)
            try:
                assert await conn.fetchval("SHOW standard_conforming_strings") == "off"
            finally:
                await conn.close()
            ada = await account(store, credits=0)
            ids = await JobStore(store).submit(ada, [job("insulin 100% done"), job("under_score!"), job("other")])
            assert await new_page(store, ada, "INSULIN 100%") == ([ids[0]], 1)
            assert await new_page(store, ada, "r_score!") == ([ids[1]], 1)
            for needle in ("100%", "er_", "e!", "absent"):
                assert await new_page(store, ada, needle) == await old_page(store, ada, needle), needle
        finally:
            await store.close()

    asyncio.run(scenario())
