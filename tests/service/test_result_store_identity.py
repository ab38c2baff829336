"""The result store and the database know each other (jobservice/result_store_identity.py).

A tester put `PHONOS_DATA_DIR` on the shared storage and forgot `PHONOS_DATABASE_URL` on one host: its job service
started on a new SQLite database inside the shared directory and its orphan sweep emptied the PostgreSQL services'
`results/` ("removed 7 result files no job keeps"). A job service whose data directory was not the shared one (an
NFS mount that is not there) started healthy and answered 410 for everyone else's files. Now the results directory
names its database (`results/.phonos-database-id`) and a job service refuses one that names another, or, on
PostgreSQL, none once the database marked its store. Real SQLite files, a real PostgreSQL, real job services."""

from __future__ import annotations

import asyncio
import logging
import os
import sqlite3
import stat
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import asyncpg
import pytest

from jobservice.pg import PgDatabase
from jobservice.result_retention import DAY_S
from jobservice.result_store_identity import (
    MARKER_NAME,
    ResultStoreMismatch,
    claim_result_store,
    publish_marker,
    read_marker,
)
from launcher.cli import main as operator_cli
from tests.postgres import PostgresServer
from tests.support import ALL_STORES, REPO, InProcessService

pytestmark = pytest.mark.integration
STORES = ALL_STORES


def _marker(data_dir: Path) -> str | None:
    return read_marker(data_dir / "results")


def _database_id(service: InProcessService) -> str:
    return str(service.sql("SELECT database_id FROM store_identity")[0][0])


def _marked_at(service: InProcessService) -> float | None:
    return service.sql("SELECT results_marked_at FROM store_identity")[0][0]


def _pg_sql(url: str, query: str) -> list[tuple]:
    async def run() -> list[tuple]:
        conn = await asyncpg.connect(url)
        try:
            return [tuple(row) for row in await conn.fetch(query)]
        finally:
            await conn.close()

    return asyncio.run(run())


def _sqlite_id(data_dir: Path) -> str:
    connection = sqlite3.connect(data_dir / "phonos.sqlite3")
    try:
        return str(connection.execute("SELECT database_id FROM store_identity").fetchone()[0])
    finally:
        connection.close()


def _job_files(data_dir: Path) -> dict[str, bytes]:
    results = data_dir / "results"
    return {str(path.relative_to(results)): path.read_bytes() for path in results.glob("??/*")}


def test_a_fresh_store_is_marked_with_its_databases_id_and_a_restart_goes_on(twin_factory: type,
                                                                              tmp_path: Path) -> None:
    data_dir = tmp_path / "var"
    service = twin_factory.start(data_dir)
    database_id = _database_id(service)
    assert len(database_id) == 32 and int(database_id, 16) >= 0
    marker = data_dir / "results" / MARKER_NAME
    assert marker.read_text() == f"{database_id}\n"
    assert stat.S_IMODE(marker.stat().st_mode) == 0o600
    assert _marked_at(service) is not None
    assert [path.name for path in (data_dir / "results").iterdir() if path.name.endswith(".tmp")] == []
    service.stop()
    again = twin_factory.start(data_dir)
    assert _database_id(again) == database_id and _marker(data_dir) == database_id


def test_a_sqlite_service_on_a_postgresql_stores_directory_is_refused_and_leaves_its_files(
        tmp_path: Path, postgres: PostgresServer) -> None:
    """The tester's scenario: the shared directory of the PostgreSQL services, one host without
    PHONOS_DATABASE_URL. A real `python -m jobservice` is refused, exit status 2, with one line saying why and what to
    fix; the PostgreSQL services' files and marker stay as they were, and they go on serving them."""
    shared = tmp_path / "shared"
    pg = InProcessService(shared, {"PHONOS_DATABASE_URL": postgres.new_store_url("shared")})
    try:
        client = pg.client(pg.new_key())
        jobs = [client.wait_for(client.predict(name=f"j{n}").json()["job_id"]) for n in range(2)]
        days_ago = time.time() - 3 * DAY_S  # well past the orphan age: what the stray's sweep took
        for path in (shared / "results").glob("??/*"):
            os.utime(path, (days_ago, days_ago))
        files = _job_files(shared)
        assert len(files) >= 2 * 3
        pg_id = _marker(shared)

        env = {k: v for k, v in os.environ.items() if not k.startswith("PHONOS_")}  # PHONOS_DATABASE_URL forgotten
        env.update({"PHONOS_METRICS_PORT": "0", "PHONOS_MODELS": "esmfold", "PHONOS_RESULT_ORPHAN_AGE_S": "3600"})
        try:
            stray = subprocess.run([sys.executable, "-m", "jobservice", "--data-dir", str(shared), "--grpc-port", "0",
                                    "--no-http"], env=env, cwd=REPO, capture_output=True, text=True, timeout=60)
        except subprocess.TimeoutExpired as exc:  # it served: the old code did, and swept
            raise AssertionError("the job service on another database's results directory started") from exc
        assert stray.returncode == 2, stray.stderr
        lines = [line for line in stray.stderr.splitlines() if line.startswith("error: ")]
        # Refused before its SQLite store is opened (jobservice/new_sqlite_guard.py): no stray database is made.
        assert len(lines) == 1 and lines[0].startswith(
            f"error: the results directory {shared / 'results'} belongs to another database: its {MARKER_NAME} names "
            f"database {pg_id}, and there is no SQLite database in {shared} (phonos.sqlite3)"), stray.stderr
        assert not (shared / "phonos.sqlite3").exists()
        assert "Traceback" not in stray.stderr
        assert _job_files(shared) == files and _marker(shared) == pg_id
        for job in jobs:
            assert client.get(job["download_url"]).status_code == 200

        # A SQLite data directory with its own database whose results name the PostgreSQL one (a marker copied over):
        # the job service's own check refuses it, naming both databases.
        own = tmp_path / "own"
        InProcessService(own, {}).stop()
        (own / "results" / MARKER_NAME).write_text(f"{pg_id}\n")
        stray = subprocess.run([sys.executable, "-m", "jobservice", "--data-dir", str(own), "--grpc-port", "0",
                                "--no-http"], env=env, cwd=REPO, capture_output=True, text=True, timeout=60)
        assert stray.returncode == 2, stray.stderr
        lines = [line for line in stray.stderr.splitlines() if line.startswith("error: ")]
        assert lines == [
            f"error: the results directory {own / 'results'} belongs to another database: its {MARKER_NAME} names "
            f"database {pg_id}, and this job service's (SQLite in this data directory) is "
            f"{_sqlite_id(own)}. "
            "Two databases must not share one result store: each one's orphan sweep deletes the other's files. Set "
            "PHONOS_DATABASE_URL on this host to the database the store belongs to, or give this database its own "
            "PHONOS_DATA_DIR"], stray.stderr
    finally:
        pg.stop()


def test_a_postgresql_service_on_an_unmounted_directory_is_refused_once_its_database_marked_a_store(
        tmp_path: Path, postgres: PostgresServer) -> None:
    """The shared storage not mounted on one host (an empty directory where the mount should be): refused, naming
    the directory and what to do, instead of serving 410s for every other service's files. The command it gives, for
    a store really restored without its marker, lets it start."""
    url = postgres.new_store_url("mount")
    shared, unmounted = tmp_path / "shared", tmp_path / "mnt-not-there"
    first = InProcessService(shared, {"PHONOS_DATABASE_URL": url})
    try:
        database_id = _database_id(first)
        unmounted.mkdir()
        with pytest.raises(ResultStoreMismatch) as refused:
            InProcessService(unmounted, {"PHONOS_DATABASE_URL": url})
        message = str(refused.value)
        results = unmounted / "results"
        assert message.startswith(f"the results directory {results} is not the result store of this database's job "
                                  f"services: it has no {MARKER_NAME}, and database {database_id} marked its store on ")
        assert f"PHONOS_DATA_DIR ({unmounted})" in message
        command = f"printf '%s\\n' {database_id} > {results / MARKER_NAME}"
        assert message.endswith(f"mark it with `{command}` and start again")
        assert not results.exists()  # nothing written where the mount should be
        assert first.client(first.new_key()).get("/v1/health").status_code == 200  # the others go on

        results.mkdir()
        subprocess.run(["bash", "-c", command], check=True, timeout=30)
        InProcessService(unmounted, {"PHONOS_DATABASE_URL": url}).stop()
    finally:
        first.stop()


def test_two_services_starting_at_once_on_one_database_and_one_directory_agree(
        tmp_path: Path, postgres: PostgresServer) -> None:
    url = postgres.new_store_url("race")
    shared = tmp_path / "shared"
    started: list[InProcessService] = []
    failures: list[BaseException] = []
    gate = threading.Barrier(3)

    def start() -> None:
        gate.wait()
        try:
            started.append(InProcessService(shared, {"PHONOS_DATABASE_URL": url}))
        except BaseException as exc:  # noqa: BLE001 - said below
            failures.append(exc)

    threads = [threading.Thread(target=start) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    try:
        assert failures == [] and len(started) == 3
        database_id = _database_id(started[0])
        assert _marker(shared) == database_id and _marked_at(started[0]) is not None
    finally:
        for service in started:
            service.stop()


def test_racing_claims_agree_and_of_two_databases_one_wins(tmp_path: Path, postgres: PostgresServer) -> None:
    """Many rounds of claims started together (each its own store, as on separate machines): on one database all
    agree on its marker; two databases racing for one empty directory: one marks it, the other is refused."""
    async def round_trip(round_no: int) -> None:
        urls = [postgres.new_store_url("claim"), postgres.new_store_url("claim")]
        stores = [await PgDatabase.open(urls[n % 2]) for n in range(6)]
        try:
            same = tmp_path / f"same{round_no}" / "results"
            ids = await asyncio.gather(*(claim_result_store(store, same) for store in stores[::2]))
            assert len(set(ids)) == 1 and read_marker(same) == ids[0]

            contested = tmp_path / f"contested{round_no}" / "results"
            outcomes = await asyncio.gather(*(claim_result_store(store, contested) for store in stores),
                                            return_exceptions=True)
            winners = {outcome for outcome in outcomes if isinstance(outcome, str)}
            refused = [outcome for outcome in outcomes if isinstance(outcome, BaseException)]
            assert len(winners) == 1 and read_marker(contested) in winners, outcomes
            assert len(refused) == 3 and all(isinstance(exc, ResultStoreMismatch) for exc in refused), outcomes
        finally:
            for store in stores:
                await store.close()

    async def rounds() -> None:
        for round_no in range(5):
            await round_trip(round_no)

    asyncio.run(rounds())


def test_publishing_the_marker_from_many_threads_keeps_the_first(tmp_path: Path) -> None:
    results = tmp_path / "results"
    ids = [uuid.uuid4().hex for _ in range(16)]
    seen: list[str] = []
    gate = threading.Barrier(len(ids))

    def publish(database_id: str) -> None:
        gate.wait()
        seen.append(publish_marker(results, database_id))

    threads = [threading.Thread(target=publish, args=(database_id,)) for database_id in ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(seen) == len(ids) and len(set(seen)) == 1 and seen[0] in ids
    assert read_marker(results) == seen[0]
    assert sorted(path.name for path in results.iterdir()) == [MARKER_NAME]


def test_the_orphan_sweep_removes_nothing_under_another_databases_marker(
        twin_factory: type, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """The directory swapped under a running service (a remount, another database's store): its sweep would take
    every file as an orphan. It removes nothing, with one warning, until the marker names its database again."""
    data_dir = tmp_path / "var"
    service = twin_factory.start(data_dir)
    client = service.client(service.new_key())
    client.wait_for(client.predict().json()["job_id"])  # the database's first job: the orphan is not older
    orphan = str(uuid.uuid4())
    shard = data_dir / "results" / orphan[:2]
    shard.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = shard / f"{orphan}.pdb"
    path.write_bytes(b"ATOM\n")
    marker = data_dir / "results" / MARKER_NAME
    ours = marker.read_text()
    sweep = service.running.service.retention.sweep_orphans
    later = time.time() + 2 * DAY_S

    caplog.set_level(logging.WARNING, logger="jobservice.result_retention")
    marker.write_text(f"{uuid.uuid4().hex}\n")
    assert service.call(sweep(at=later)) == 0 and path.exists()
    marker.unlink()
    assert service.call(sweep(at=later)) == 0 and path.exists()
    warnings = [r.getMessage() for r in caplog.records if getattr(r, "action", "") == "results.orphan_sweep_foreign_store"]
    assert len(warnings) == 1 and warnings[0].startswith("the orphan sweep removes nothing: the results directory ")
    marker.write_text(ours)
    assert service.call(sweep(at=later)) == 1 and not path.exists()


def test_a_store_upgraded_from_before_the_marker_is_marked_at_its_first_start(twin_factory: type, store: str,
                                                                              tmp_path: Path) -> None:
    """A data directory (or database) at SQLite 0083 / PostgreSQL 0033 with jobs and files: the migration gives the
    database its id, the first start marks the results directory, and nothing is refused or lost."""
    data_dir = tmp_path / "var"
    service = twin_factory.start(data_dir)
    key = service.new_key()
    client = service.client(key)
    job = client.wait_for(client.predict().json()["job_id"])
    url = service.settings.database_url
    service.stop()
    files = _job_files(data_dir)
    (data_dir / "results" / MARKER_NAME).unlink()  # as before the upgrade: no marker, no table
    if not url:
        with sqlite3.connect(data_dir / "phonos.sqlite3") as db:
            db.executescript("DROP TABLE store_identity; PRAGMA user_version = 83;")
    else:
        _pg_sql(url, "DROP TABLE store_identity")
        _pg_sql(url, "DELETE FROM schema_migrations WHERE version = 34")

    upgraded = twin_factory.start(data_dir)
    database_id = _database_id(upgraded)
    assert _marker(data_dir) == database_id and _marked_at(upgraded) is not None
    assert upgraded.client(key).get(job["download_url"]).status_code == 200
    upgraded.stop()
    assert _job_files(data_dir) == files
    twin_factory.start(data_dir).stop()  # and again, marked now


@pytest.mark.sqlite_only  # `phonos backup` copies SQLite data directories only
def test_a_restored_sqlite_backup_starts_and_keeps_its_databases_id(twin_factory: type, tmp_path: Path,
                                                                    caplog: pytest.LogCaptureFixture) -> None:
    """`phonos backup` copies the marker with the result files: the restored copy is its database's store as the
    original was, without a word. A backup taken before the marker existed (or results put back by hand without
    it): the copy's SQLite database sits in the directory it guards, so its start marks its results directory again
    (with a warning) instead of refusing."""
    data_dir, backup = tmp_path / "var", tmp_path / "backup"
    service = twin_factory.start(data_dir)
    key = service.new_key()
    client = service.client(key)
    job = client.wait_for(client.predict().json()["job_id"])
    database_id = _database_id(service)
    assert operator_cli(["backup", str(backup), "--data-dir", str(data_dir)]) == 0
    service.stop()
    assert _marker(backup) == database_id  # copied
    caplog.set_level(logging.WARNING, logger="jobservice.result_store_identity")
    restored = twin_factory.start(backup)
    assert _marker(backup) == database_id == _database_id(restored)
    assert restored.client(key).get(job["download_url"]).status_code == 200
    assert not [r for r in caplog.records if getattr(r, "action", "") == "results.store_marked_again"]
    restored.stop()

    (backup / "results" / MARKER_NAME).unlink()  # as a backup from before the marker left it
    again = twin_factory.start(backup)
    assert _marker(backup) == database_id == _database_id(again)
    assert again.client(key).get(job["download_url"]).status_code == 200
    said = [r for r in caplog.records if getattr(r, "action", "") == "results.store_marked_again"]
    assert len(said) == 1 and said[0].getMessage().startswith(f"the results directory {backup / 'results'} had no ")


@pytest.mark.sqlite_only  # the PostgreSQL case is below
def test_operator_commands_open_the_database_without_its_result_store(twin_factory: type, tmp_path: Path,
                                                                      capsys: pytest.CaptureFixture[str]) -> None:
    data_dir = tmp_path / "var"
    twin_factory.start(data_dir).stop()
    (data_dir / "results" / MARKER_NAME).write_text(f"{uuid.uuid4().hex}\n")  # another database's store
    assert operator_cli(["keys", "create", "--username", "ada", "--json", "--data-dir", str(data_dir)]) == 0
    assert operator_cli(["accounts", "list", "--json", "--data-dir", str(data_dir)]) == 0
    capsys.readouterr()


def test_operator_commands_on_postgresql_need_no_result_store(tmp_path: Path, postgres: PostgresServer,
                                                              monkeypatch: pytest.MonkeyPatch,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    url = postgres.new_store_url("ops")
    InProcessService(tmp_path / "shared", {"PHONOS_DATABASE_URL": url}).stop()
    monkeypatch.setenv("PHONOS_DATABASE_URL", url)
    elsewhere = str(tmp_path / "an-operators-laptop")  # not the shared directory: keys are the database's
    assert operator_cli(["keys", "create", "--username", "ada", "--json", "--data-dir", elsewhere]) == 0
    assert operator_cli(["credits", "add", "--username", "ada", "--amount", "5", "--data-dir", elsewhere]) == 0
    capsys.readouterr()
    assert _pg_sql(url, "SELECT count(*) FROM accounts WHERE username = 'ada'") == [(1,)]
