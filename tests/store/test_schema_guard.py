"""A job service older than its database's schema refuses to start, on both stores, with one line naming the
versions. Was: it started and read and wrote tables of a shape it does not know (a rolling upgrade of several job
services on one PostgreSQL runs old ones beside the one that migrated; a downgraded machine opens a newer file)."""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import sys
from pathlib import Path

import asyncpg
import pytest

from jobservice.db import Database, migrations
from jobservice.pg import PgDatabase, pg_migrations
from jobservice.schema_guard import SchemaTooNew
from tests.postgres import PostgresServer

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
