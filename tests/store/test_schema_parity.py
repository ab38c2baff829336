"""Both engines' migrations mean the same: the same tables, columns, keys, checks, indexes and triggers
(structure), and the same money and event behaviour through the same named queries (meaning).

Differences are allowed only where listed in `POSTGRES_ONLY`, each with its reason.
"""

from __future__ import annotations

import asyncio
import json
import re
import sqlite3
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from jobservice.db import Database, queries
from jobservice.pg import PgDatabase, migrate, pg_migrations, pg_queries, positional
from jobservice.store import ConstraintViolation
from tests.postgres import PostgresServer

pytestmark = pytest.mark.integration
# The sender's exclusions (deliveries it is sending, receivers at their limit): none here.
NOTHING_IN_FLIGHT = {"in_flight": "[]", "busy_webhooks": "[]"}

# (table, column): why only PostgreSQL has it.
POSTGRES_ONLY_COLUMNS = {
    ("jobs", "lease_owner"): "many job services: the owner of a running job (jobservice/lease.py)",
    ("jobs", "lease_expires"): "many job services: when an unrenewed claim may be taken over",
    ("webhook_deliveries", "claimed_by"): "many job services: the one sending a delivery now",
    ("webhook_deliveries", "claimed_until"): "many job services: when an unfinished send may be retried",
}
POSTGRES_ONLY_TABLES = {
    "schema_migrations": "SQLite keeps the version in PRAGMA user_version",
    "rate_limit_hits": "per-key limits shared by every job service (SQLite: one process, in memory)",
}
POSTGRES_ONLY_TRIGGERS = {
    "jobs_announce": "LISTEN/NOTIFY: a job submitted on one service wakes the workers of all",
}
POSTGRES_ONLY_INDEXES = {
    "jobs_running_lease": "the janitor finds expired leases without a scan",
    "rate_limit_hits_key_time": "the shared rate limit counts one key's last minute",
    "jobs_name_trgm": "job-name search: pg_trgm's GIN index on lower(name) (SQLite: jobs_name_search, FTS5)",
}
# Job-name search's trigram index on SQLite (0081): an FTS5 table, its shadow tables and the triggers that keep it
# in step with jobs; PostgreSQL has an index on jobs instead (jobs_name_trgm).
SQLITE_ONLY_TABLES = {"jobs_name_search", "jobs_name_search_config", "jobs_name_search_content",
                      "jobs_name_search_data", "jobs_name_search_idx", "jobs_name_search_unicode"}
SQLITE_ONLY_TRIGGERS = {"jobs_name_search_insert", "jobs_name_search_update", "jobs_name_search_delete"}
# Types by kind: what a value can hold, not how many bytes it takes.
KINDS = {"INTEGER": "integer", "BIGINT": "integer", "REAL": "real", "DOUBLE PRECISION": "real", "TEXT": "text",
         "BLOB": "bytes", "BYTEA": "bytes"}


@dataclass
class Shape:
    columns: dict[str, dict[str, tuple[str, bool, str | None]]]  # table → column → (kind, not null, default)
    primary_keys: dict[str, tuple[str, ...]]
    unique: set[tuple[str, tuple[str, ...]]]
    foreign_keys: set[tuple[str, str, str, str]]  # (table, column, referenced table, referenced column)
    checks: set[tuple[str, str]]  # (table, column) a CHECK constrains
    indexes: dict[str, tuple[str, tuple[str, ...]]]  # name → (table, columns)
    triggers: dict[str, tuple[str, str, str, tuple[str, ...]]]  # name → (table, timing, event, update columns)


def sqlite_shape(path: Path) -> Shape:
    conn = sqlite3.connect(path)
    try:
        tables = [r[0] for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
            if r[0] not in SQLITE_ONLY_TABLES]
        shape = Shape({}, {}, set(), set(), set(), {}, {})
        for table in tables:
            info = conn.execute(f"PRAGMA table_info({table})").fetchall()
            shape.columns[table] = {
                name: (KINDS[kind.upper()], bool(notnull) or pk > 0, None if default is None else str(default))
                for _, name, kind, notnull, default, pk in info}
            shape.primary_keys[table] = tuple(r[1] for r in sorted((r for r in info if r[5]), key=lambda r: r[5]))
            for _, _, ref, column, ref_column, *_ in conn.execute(f"PRAGMA foreign_key_list({table})"):
                shape.foreign_keys.add((table, column, ref, ref_column))
            for _, index, unique, origin, _ in conn.execute(f"PRAGMA index_list({table})"):
                columns = tuple(r[2] for r in conn.execute(f"PRAGMA index_info({index})"))
                if origin == "pk":
                    continue
                if unique:
                    shape.unique.add((table, columns))
                else:
                    shape.indexes[index] = (table, columns)
            sql = conn.execute("SELECT sql FROM sqlite_master WHERE name = ?", (table,)).fetchone()[0]
            for definition in column_definitions(sql):
                if "CHECK (" in definition:
                    shape.checks.add((table, definition.split()[0]))
        for name, sql in conn.execute("SELECT name, sql FROM sqlite_master WHERE type = 'trigger'"):
            if name in SQLITE_ONLY_TRIGGERS:
                continue
            match = re.search(r"(BEFORE|AFTER) (INSERT|UPDATE|DELETE)(?: OF ([\w, ]+?))? ON (\w+)", sql)
            assert match, sql
            columns = tuple(c.strip() for c in (match.group(3) or "").split(",") if c.strip())
            shape.triggers[name] = (match.group(4), match.group(1), match.group(2), columns)
        return shape
    finally:
        conn.close()


def column_definitions(create_table: str) -> list[str]:
    """The comma-separated parts of a CREATE TABLE's column list (ALTER TABLE ADD COLUMN appends to one line)."""
    body = re.sub(r"--[^\n]*", "", create_table)
    body = body[body.index("(") + 1:body.rindex(")")]
    parts, depth, current = [], 0, ""
    for char in body:
        depth += {"(": 1, ")": -1}.get(char, 0)
        if char == "," and depth == 0:
            parts.append(current.strip())
            current = ""
        else:
            current += char
    return [p for p in parts + [current.strip()] if p]


async def postgres_shape(url: str) -> Shape:
    conn = await asyncpg.connect(url)
    try:
        shape = Shape({}, {}, set(), set(), set(), {}, {})
        for r in await conn.fetch("""
                SELECT table_name, column_name, upper(data_type) AS kind, is_nullable, column_default, is_identity
                FROM information_schema.columns WHERE table_schema = current_schema() ORDER BY table_name, ordinal_position"""):
            default = r["column_default"]
            if default is not None:  # '0', or ''::text for a typed literal: the literal is what SQLite shows
                default = re.sub(r"::[a-z ]+$", "", default)
            shape.columns.setdefault(r["table_name"], {})[r["column_name"]] = (
                KINDS.get(r["kind"], r["kind"].lower()), r["is_nullable"] == "NO", default)
        for r in await conn.fetch("""
                SELECT c.conrelid::regclass::text AS tbl, c.contype::text AS contype, c.conname,
                       array(SELECT a.attname FROM unnest(c.conkey) WITH ORDINALITY k(n, i)
                             JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.n ORDER BY k.i) AS cols,
                       c.confrelid::regclass::text AS ref,
                       array(SELECT a.attname FROM unnest(c.confkey) k(n)
                             JOIN pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = k.n) AS ref_cols
                FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace WHERE n.nspname = current_schema()"""):
            table, columns = r["tbl"], tuple(r["cols"])
            if r["contype"] == "p":
                shape.primary_keys[table] = columns
            elif r["contype"] == "u":
                shape.unique.add((table, columns))
            elif r["contype"] == "f":
                shape.foreign_keys.add((table, columns[0], r["ref"], r["ref_cols"][0]))
            elif r["contype"] == "c":
                shape.checks.update((table, column) for column in columns)
        for r in await conn.fetch("""
                SELECT i.relname AS name, t.relname AS tbl, x.indisunique AS is_unique, x.indisprimary AS is_pk,
                       array(SELECT a.attname FROM unnest(x.indkey) WITH ORDINALITY k(n, o)
                             JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.n ORDER BY k.o) AS cols
                FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class t ON t.oid = x.indrelid
                JOIN pg_namespace n ON n.oid = t.relnamespace
                WHERE n.nspname = current_schema()"""):
            if r["is_pk"]:
                continue
            if r["is_unique"]:  # a UNIQUE constraint or a CREATE UNIQUE INDEX: SQLite lists both as unique
                shape.unique.add((r["tbl"], tuple(r["cols"])))
            else:
                shape.indexes[r["name"]] = (r["tbl"], tuple(r["cols"]))
        for r in await conn.fetch("""
                SELECT t.trigger_name, t.event_object_table, t.action_timing, t.event_manipulation,
                       array(SELECT c.event_object_column::text FROM information_schema.triggered_update_columns c
                             WHERE c.trigger_name = t.trigger_name AND c.trigger_schema = t.trigger_schema
                             ORDER BY 1) AS cols
                FROM information_schema.triggers t WHERE t.trigger_schema = current_schema()"""):
            shape.triggers[r["trigger_name"]] = (r["event_object_table"], r["action_timing"], r["event_manipulation"],
                                                 tuple(r["cols"]))
        return shape
    finally:
        await conn.close()


async def migrated_sqlite(path: Path) -> None:
    await (await Database.open(path)).close()


async def migrated_postgres(url: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        await migrate(conn)
    finally:
        await conn.close()


@pytest.fixture(scope="module")
def shapes(postgres: PostgresServer, tmp_path_factory: pytest.TempPathFactory) -> tuple[Shape, Shape]:
    path = tmp_path_factory.mktemp("parity") / "schema.sqlite3"
    url = postgres.new_store_url("parity")
    asyncio.run(migrated_sqlite(path))
    asyncio.run(migrated_postgres(url))
    return sqlite_shape(path), asyncio.run(postgres_shape(url))


def test_the_same_tables_and_columns_with_the_same_kinds_and_nullability(shapes: tuple[Shape, Shape]) -> None:
    lite, pg = shapes
    assert set(pg.columns) - set(lite.columns) == set(POSTGRES_ONLY_TABLES) & set(pg.columns)
    assert set(lite.columns) <= set(pg.columns)
    for table, columns in lite.columns.items():
        pg_columns = {c: v for c, v in pg.columns[table].items() if (table, c) not in POSTGRES_ONLY_COLUMNS}
        assert set(pg_columns) == set(columns), table
        for column, (kind, not_null, default) in columns.items():
            pg_kind, pg_not_null, pg_default = pg_columns[column]
            assert (pg_kind, pg_not_null) == (kind, not_null), (table, column)
            # Literal defaults agree (identities and SQLite's rowid aliases both number rows themselves).
            assert (default or None) == (pg_default if pg_default and "nextval" not in pg_default else None), \
                (table, column)


def test_the_same_keys_checks_and_indexes(shapes: tuple[Shape, Shape]) -> None:
    lite, pg = shapes
    assert {t: k for t, k in pg.primary_keys.items() if t not in POSTGRES_ONLY_TABLES} == lite.primary_keys
    assert pg.unique == lite.unique
    assert pg.foreign_keys == lite.foreign_keys
    assert pg.checks == lite.checks
    assert {n: i for n, i in pg.indexes.items() if n not in POSTGRES_ONLY_INDEXES} == lite.indexes


def test_the_same_triggers_on_the_same_events(shapes: tuple[Shape, Shape]) -> None:
    lite, pg = shapes
    assert {n: t for n, t in pg.triggers.items() if n not in POSTGRES_ONLY_TRIGGERS} == lite.triggers
    assert {"jobs_debit_on_submit", "jobs_refund", "jobs_webhook_events"} <= set(lite.triggers)


def test_the_same_named_queries_and_each_prepares_against_its_schema(postgres: PostgresServer) -> None:
    assert set(queries()) <= set(pg_queries())

    async def prepare_all() -> None:
        url = postgres.new_store_url("queries")
        await migrated_postgres(url)
        conn = await asyncpg.connect(url)
        try:
            for name, statement in pg_queries().items():
                await conn.prepare(statement.sql)  # raises on unknown tables, columns, types or syntax
                assert statement.sql.strip(), name
        finally:
            await conn.close()

    asyncio.run(prepare_all())


def test_parameters_become_positional_outside_literals_and_casts() -> None:
    statement = positional("-- the owner's :x\nSELECT :a, :b::text, ':c', \"x:d\", to_char(t, 'HH24:MI:SS'), :a "
                           "WHERE x = CAST(:b AS int)")
    assert statement.sql == ("-- the owner's :x\nSELECT $1, $2::text, ':c', \"x:d\", to_char(t, 'HH24:MI:SS'), $1 "
                             "WHERE x = CAST($2 AS int)")
    assert statement.names == ("a", "b")
    assert [v for v, _ in pg_migrations()] == sorted({v for v, _ in pg_migrations()})


# -- meaning: the same statements, the same money and events on both engines --------------------------------

Scenario = Callable[[Any], Awaitable[dict[str, Any]]]


async def money_and_events(db: Any) -> dict[str, Any]:
    """Debit on submit, an overdraft refused with its job, one refund however often it is written (and taken
    off usage once, under the job's route and model, in the refund's hour), and one webhook delivery per
    subscribed transition, payload included."""
    observed: dict[str, Any] = {}
    async with db.transaction() as tx:
        account = int(await tx.scalar("insert_account", {"username": "ada", "email": None, "credits": 15, "now": 1.0}))
        await tx.execute("insert_webhook", {"id": "wh_1", "account_id": account, "url": "https://example.org/h",
                                            "events": json.dumps(["job.started", "job.failed"]), "secret": "s",
                                            "now": 1.0})

    def job(job_id: str) -> dict[str, Any]:
        return {"id": job_id, "account_id": account, "model": "esmfold", "name": None, "request_json": "{}",
                "credits_used": 10, "endpoint": "/v1/batch", "now": 2.0}

    async def balance() -> int:
        row = await db.read.fetch_one("get_account", {"account_id": account})
        return int(row["credits"])

    await db.write_one("insert_job", job("j1"))
    observed["after_debit"] = await balance()
    try:
        await db.write_one("insert_job", job("j2"))
        observed["overdraft"] = "accepted"
    except ConstraintViolation as exc:
        observed["overdraft"] = f"refused by a {exc.kind} constraint"
    observed["j2_exists"] = await db.read.fetch_one("get_job", {"id": "j2", "account_id": account}) is not None
    observed["after_overdraft"] = await balance()
    claimed = await db.write_one("claim_job", {"id": "j1", "now": 1_700_000_000.5})
    observed["claimed_webhooks"] = int(claimed["webhook_count"])
    observed["claim_again"] = await db.write_one("claim_job", {"id": "j1", "now": 3.0}) is not None
    failed = {"id": "j1", "error": "boom", "error_code": "model_error", "refund": True, "now": 1_700_000_001.0,
              "owner": None}
    observed["failed"] = (await db.write_one("fail_job", failed))["status"]
    observed["fail_again"] = await db.write_one("fail_job", failed) is not None
    observed["after_refund"] = await balance()
    since = {"account_id": account, "since": 0.0}
    observed["usage_by_endpoint"] = [dict(r) for r in await db.read.fetch_all("usage_by_endpoint", since)]
    observed["usage_by_model"] = [dict(r) for r in await db.read.fetch_all("usage_by_model", since)]
    observed["usage_daily"] = [dict(r) for r in await db.read.fetch_all("usage_daily", since)]
    observed["cancel_terminal"] = await db.write_one("cancel_job", {"id": "j1", "account_id": account,
                                                                     "now": 5.0}) is not None
    async with db.transaction() as tx:
        deliveries = await tx.fetch_all("claim_due_deliveries", {**NOTHING_IN_FLIGHT, "now": 2e9, "limit": 10, "owner": "o", "hold_s": 1.0})
    observed["deliveries"] = [(d["event"], json.loads(d["payload"])) for d in deliveries]
    return observed


def test_money_and_webhook_events_mean_the_same_on_both(postgres: PostgresServer, tmp_path: Path) -> None:
    async def on_sqlite() -> dict[str, Any]:
        db = await Database.open(tmp_path / "meaning.sqlite3")
        try:
            return await money_and_events(db)
        finally:
            await db.close()

    async def on_postgres() -> dict[str, Any]:
        db = await PgDatabase.open(postgres.new_store_url("meaning"))
        try:
            return await money_and_events(db)
        finally:
            await db.close()

    lite, pg = asyncio.run(on_sqlite()), asyncio.run(on_postgres())
    assert lite == pg
    assert lite["after_debit"] == 5 and lite["overdraft"] == "refused by a check constraint" and not lite["j2_exists"]
    assert lite["after_overdraft"] == 5 and lite["after_refund"] == 15
    # The refund is usage's too: under the route that submitted the job, its model and the refund's UTC day,
    # with no request of its own (the job was inserted here without one).
    assert lite["usage_by_endpoint"] == [{"endpoint": "/v1/batch", "requests": 0, "credits_used": -10}]
    assert lite["usage_by_model"] == [{"model": "esmfold", "requests": 1, "credits_used": 0}]
    assert lite["usage_daily"] == [{"day": "2023-11-14", "requests": 0, "credits_used": -10}]
    assert not lite["claim_again"] and not lite["fail_again"] and not lite["cancel_terminal"]
    assert [event for event, _ in lite["deliveries"]] == ["job.started", "job.failed"]
    assert lite["deliveries"][0][1] == {"event": "job.started", "timestamp": "2023-11-14T22:13:20Z",
                                        "data": {"job_id": "j1", "status": "running", "model": "esmfold"}}
