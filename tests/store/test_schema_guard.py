"""A job service older than its database's schema refuses to start, on both stores, with one line naming the
versions. Was: it started and read and wrote tables of a shape it does not know (a rolling upgrade of several job
services on one PostgreSQL runs old ones beside the one that migrated; a downgraded machine opens a newer file)."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import subprocess
import sys
from pathlib import Path

import asyncpg
import pytest
import requests

from jobservice.db import Database, connect, migrations
from jobservice.pg import PgDatabase, pg_migrations
from jobservice.schema_guard import SchemaTooNew
from tests.postgres import PostgresServer
from tests.store.conftest import postgres_before
from tests.support import InProcessService

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]


def test_a_sqlite_file_migrated_by_a_newer_phonos_is_refused(tmp_path: Path) -> None:
    known = max(version for version, _ in migrations())
    data_dir = tmp_path / "var"
    data_dir.mkdir()
    path = data_dir / "phonos.sqlite3"
    asyncio.run(_open_and_close_sqlite(path))
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {known + 1}")
    conn.close()
    with pytest.raises(SchemaTooNew) as refused:
        asyncio.run(_open_and_close_sqlite(path))
    assert (refused.value.found, refused.value.known) == (known + 1, known)

    # as the operator meets it: one line, exit status 2, no traceback
    started = subprocess.run([sys.executable, "-m", "jobservice", "--no-http", "--grpc-port", "0"], cwd=REPO,
                             env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO), "PHONOS_DATA_DIR": str(data_dir),
                                  "PHONOS_METRICS_ENABLED": "false"},
                             capture_output=True, text=True, timeout=60)
    assert started.returncode == 2, started.stderr
    said = started.stderr.splitlines()[-1]  # after the start's own log lines
    assert "Traceback" not in started.stderr, started.stderr
    assert said.startswith(f"error: cannot use the data directory {data_dir}: its schema is at version {known + 1}, "
                           f"newer than this job service knows ({known})"), said


def test_a_newer_sqlite_file_is_refused_without_being_changed(tmp_path: Path) -> None:
    """A backup's copy (a rollback-journal file, as `phonos backup` leaves one) of a newer phonos: refused, and left
    as it was. The writer's connection switched it to write-ahead logging before the check, and `phonos backup`
    then refused the directory as one a job service had run from."""
    known = max(version for version, _ in migrations())
    path = tmp_path / "phonos.sqlite3"
    asyncio.run(_open_and_close_sqlite(path))
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode = DELETE")
    conn.execute(f"PRAGMA user_version = {known + 1}")
    conn.close()
    before = path.read_bytes()
    assert before[18:20] == b"\x01\x01"  # rollback journal: SQLite's header, its write and read versions
    with pytest.raises(SchemaTooNew):
        asyncio.run(_open_and_close_sqlite(path))
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["phonos.sqlite3"]  # no -wal, no -shm


def test_a_postgresql_database_migrated_by_a_newer_phonos_is_refused(postgres: PostgresServer) -> None:
    url = postgres.new_store_url("newer")
    known = max(version for version, _ in pg_migrations())

    async def scenario() -> None:
        await (await PgDatabase.open(url)).close()
        conn = await asyncpg.connect(url)
        try:
            await conn.execute("INSERT INTO schema_migrations (version) VALUES ($1)", known + 1)
        finally:
            await conn.close()
        with pytest.raises(SchemaTooNew) as refused:
            await PgDatabase.open(url)
        assert (refused.value.found, refused.value.known) == (known + 1, known)

    asyncio.run(scenario())


async def _open_and_close_sqlite(path: Path) -> None:
    await (await Database.open(path)).close()


def test_a_running_job_service_whose_schema_a_newer_one_migrates_says_so_and_stops_reading_healthy(
        postgres: PostgresServer, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """An upgrade that starts the new version before the old ones stopped: the old service, already running, was
    `operational` on a schema it does not know (only its start checked). Now its health reads the schema's
    version: degraded while the schema is newer (readiness NOT_SERVING, `phonos status` exit 1), the reason in its
    log; back to operational when the schema is one it knows (the newer version rolled back from a backup)."""
    url = postgres.new_store_url("moved")
    known = max(version for version, _ in pg_migrations())
    service = InProcessService(tmp_path / "var", {"PHONOS_DATABASE_URL": url})
    try:
        health = requests.get(service.base_url + "/v1/health", timeout=10)
        assert health.status_code == 200 and health.json()["components"]["database"] == "ready"
        schema = url.rsplit("search_path=", 1)[1]
        postgres.psql(f'INSERT INTO "{schema}".schema_migrations (version) VALUES ({known + 1})')
        with caplog.at_level(logging.ERROR, logger="jobservice.pg"):
            health = requests.get(service.base_url + "/v1/health", timeout=10)
        assert health.status_code == 503 and health.json()["components"]["database"] != "ready", health.text
        said = [r.getMessage() for r in caplog.records if getattr(r, "action", "") == "pg.schema_too_new"]
        assert said and said[0].startswith(f"the database is no longer one this job service can use; stop it: its "
                                           f"schema is at version {known + 1}, newer than this job service knows ({known})"), said
        postgres.psql(f'DELETE FROM "{schema}".schema_migrations WHERE version = {known + 1}')
        assert requests.get(service.base_url + "/v1/health", timeout=10).status_code == 200
    finally:
        service.stop()


def test_a_job_service_about_to_migrate_names_older_ones_still_connected(postgres: PostgresServer,
                                                                         caplog: pytest.LogCaptureFixture) -> None:
    """The upgrade that starts the new version before stopping the old: the one that migrates now says which older
    phonos processes are connected, and from where (every connection says the schema it knows in
    application_name); none when only processes that know this schema are there."""
    url = postgres.new_store_url("older")
    known = max(version for version, _ in pg_migrations())

    async def scenario() -> None:
        await postgres_before(url, known, [])
        old = await asyncpg.connect(url, server_settings={"application_name": f"phonos schema {known - 1}"})
        peer = await asyncpg.connect(url, server_settings={"application_name": f"phonos schema {known}"})
        try:
            with caplog.at_level(logging.WARNING, logger="jobservice.pg"):
                database = await PgDatabase.open(url)
            names = {row["application_name"] for row in await peer.fetch(
                "SELECT application_name FROM pg_stat_activity WHERE pid <> pg_backend_pid()")}
            await database.close()
        finally:
            await old.close()
            await peer.close()
        assert f"phonos schema {known}" in names  # the pool's own connections say it too
        said = [r.getMessage() for r in caplog.records if getattr(r, "action", "") == "pg.older_services_connected"]
        assert said == [f"older phonos processes are still connected to the database (schema {known - 1} from "
                        f"127.0.0.1): this one migrates its schema to version {known} now, which they are not "
                        "guaranteed to read or write correctly; stop them (README, Upgrades)"], said

        caplog.clear()  # nothing to migrate, or nobody older: no warning
        url_again = postgres.new_store_url("older")
        await postgres_before(url_again, known, [])
        peer = await asyncpg.connect(url_again, server_settings={"application_name": f"phonos schema {known}"})
        try:
            with caplog.at_level(logging.WARNING, logger="jobservice.pg"):
                await (await PgDatabase.open(url_again)).close()
        finally:
            await peer.close()
        assert not [r for r in caplog.records if getattr(r, "action", "") == "pg.older_services_connected"]

    asyncio.run(scenario())


def test_a_start_that_moves_the_schema_says_so_in_one_line_and_a_start_that_does_not_says_nothing(
        tmp_path: Path, postgres: PostgresServer, caplog: pytest.LogCaptureFixture) -> None:
    """SQLite's migrations logged nothing (an upgrade left no record of when, or from which version); PostgreSQL's
    only each migration's number. Both now say the move: "SQLite schema migrated 0060 -> 0081 (18 migrations, ...)",
    on a new database "SQLite schema created at 0081 (70 migrations, ...)"."""
    newest = max(version for version, _ in migrations())
    url = postgres.new_store_url("said")

    async def open_both() -> None:
        await _open_and_close_sqlite(tmp_path / "phonos.sqlite3")
        await (await PgDatabase.open(url)).close()

    def said() -> list[str]:
        return [r.getMessage() for r in caplog.records if getattr(r, "action", "") == "db.schema_migrated"]

    with caplog.at_level(logging.INFO, logger="jobservice"):
        asyncio.run(open_both())
    sqlite_line, pg_line = said()
    assert sqlite_line.startswith(f"SQLite schema created at {newest:04d} ({len(migrations())} migrations, ")
    pg_newest = max(version for version, _ in pg_migrations())
    assert pg_line.startswith(f"PostgreSQL schema created at {pg_newest:04d} ({len(pg_migrations())} migrations, ")
    # an upgrade: a file at the version before the newest (every migration but the last, applied here)
    older = tmp_path / "older.sqlite3"
    conn = connect(older, read_only=False)  # with the SQL functions the migrations call (0081: name search)
    for version, sql in migrations()[:-1]:
        conn.executescript(f"BEGIN;\n{sql}\nPRAGMA user_version = {version};\nCOMMIT;")
    conn.close()
    before = migrations()[-2][0]
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="jobservice"):
        asyncio.run(_open_and_close_sqlite(older))
    assert [line.split(" (")[0] for line in said()] == [f"SQLite schema migrated {before:04d} -> {newest:04d}"]
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="jobservice"):
        asyncio.run(open_both())
    assert said() == []
