"""A host of a PostgreSQL deployment without `PHONOS_DATABASE_URL` makes no SQLite database in the shared directory
(jobservice/new_sqlite_guard.py).

A multi-node tester ran `phonos serve --data-dir /shared` on a host that lacked the variable: its job service refused
the results directory (another database's), but only after the launcher had made `phonos.sqlite3`, an admin
account and key (printed, "shown once"), `jobservice.lock` and `triton.log` in the shared directory and started
Triton. Then `phonos accounts list --data-dir /shared` listed the stray admin and `phonos keys create --username
ghost --data-dir /shared` added an account to the stray database without a word. Now both are refused, exit status
2, with the job service's words, before anything is created or printed; a SQLite data directory with its database
(a restart, a restored backup) and a fresh one start as before. Real PostgreSQL, the real `phonos serve` and CLI."""

from __future__ import annotations

import asyncio
import io
import os
import subprocess
import sys
from pathlib import Path

import asyncpg
import pytest

from jobservice.result_store_identity import MARKER_NAME, read_marker
from launcher.cli import main as phonos
from tests.postgres import PostgresServer
from tests.support import REPO, InProcessService

pytestmark = pytest.mark.integration


def _tree(directory: Path) -> dict[str, int]:
    """Every path under `directory` with its size (a file made or grown shows)."""
    return {str(path.relative_to(directory)): path.stat().st_size if path.is_file() else -1
            for path in sorted(directory.rglob("*"))}


def _said(error: str, shared: Path, database_id: str) -> None:
    """`error` is the refusal's one line: which directory, which database, and what to do."""
    assert error.startswith(
        f"error: the results directory {shared / 'results'} belongs to another database: its {MARKER_NAME} names "
        f"database {database_id}, and there is no SQLite database in {shared} (phonos.sqlite3)"), error
    assert "set PHONOS_DATABASE_URL on this host as theirs is" in error, error
    assert f"`SELECT database_id FROM store_identity` is {database_id}" in error, error  # how to tell which
    assert "put it back from a backup" in error and f"move {shared / 'results'} away first" in error, error


def _scrub(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [n for n in os.environ if n.startswith("PHONOS_")]:
        monkeypatch.delenv(name)


@pytest.fixture
def shared(tmp_path: Path, postgres: PostgresServer) -> tuple[Path, str, str]:
    """The shared directory of a PostgreSQL deployment, marked by its first job service: (directory, database URL,
    the database's id)."""
    url = postgres.new_store_url("stray")
    directory = tmp_path / "shared"
    service = InProcessService(directory, {"PHONOS_DATABASE_URL": url})
    service.stop()
    database_id = read_marker(directory / "results")
    assert database_id
    return directory, url, database_id


def test_phonos_serve_without_database_url_on_a_postgresql_store_is_refused_before_it_makes_anything(
        shared: tuple[Path, str, str]) -> None:
    directory, _, database_id = shared
    before = _tree(directory)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PHONOS_")}  # PHONOS_DATABASE_URL forgotten
    try:
        done = subprocess.run([sys.executable, "-m", "launcher.cli", "serve", "--data-dir", str(directory),
                               "--http-port", "0", "--grpc-port", "0", "--metrics-port", "0"],
                              env={**env, "PHONOS_MODELS": "esmfold"}, cwd=REPO, capture_output=True, text=True,
                              timeout=120)
    except subprocess.TimeoutExpired as exc:  # it started (the old launcher did, Triton and all)
        raise AssertionError(f"phonos serve started on another database's directory: {exc.stdout!r}") from exc
    assert done.returncode == 2, (done.stdout, done.stderr)
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    _said(lines[0], directory, database_id)
    assert done.stdout == ""  # no admin key, no "starting Triton"
    assert _tree(directory) == before  # no phonos.sqlite3, jobservice.lock, triton.log


def test_operator_commands_do_not_make_a_database_beside_a_postgresql_store(
        shared: tuple[Path, str, str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    directory, url, database_id = shared
    before = _tree(directory)
    _scrub(monkeypatch)
    monkeypatch.setattr(sys, "stdin", io.StringIO("a new password 1\n"))
    for argv in (["keys", "create", "--username", "ghost"], ["accounts", "list"], ["keys", "list", "--username", "admin"],
                 ["users", "set-password", "--username", "ghost", "--password-stdin"]):
        assert phonos([*argv, "--data-dir", str(directory)]) == 2, argv
        said = capsys.readouterr()
        assert said.out == "", (argv, said.out)
        _said(said.err.strip(), directory, database_id)
        assert _tree(directory) == before, argv
    # The way it works: with the deployment's database.
    monkeypatch.setenv("PHONOS_DATABASE_URL", url)
    assert phonos(["keys", "create", "--username", "ghost", "--data-dir", str(directory)]) == 0
    assert "note:" not in capsys.readouterr().err
    assert _tree(directory) == before

    async def accounts() -> list[str]:
        connection = await asyncpg.connect(url)
        try:
            return [row["username"] for row in await connection.fetch("SELECT username FROM accounts ORDER BY id")]
        finally:
            await connection.close()

    assert asyncio.run(accounts()) == ["ghost"]


def test_sqlite_data_directories_with_their_database_or_no_marker_are_used_as_before(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """A fresh data directory (no marker), a SQLite data directory with its database and marker (a restart) and a
    restored backup (`phonos backup` copies both) are not refused; a marker beside an empty database file (a start
    stopped after the file was made, before SQLite wrote it) is."""
    _scrub(monkeypatch)
    fresh = tmp_path / "fresh"
    assert phonos(["keys", "create", "--username", "ada", "--data-dir", str(fresh)]) == 0
    assert "note: there was no phonos database here" in " ".join(capsys.readouterr().err.split())

    data_dir, backup = tmp_path / "var", tmp_path / "backup"
    InProcessService(data_dir, {}).stop()
    assert read_marker(data_dir / "results")
    assert phonos(["keys", "create", "--username", "ada", "--data-dir", str(data_dir)]) == 0
    assert phonos(["backup", str(backup), "--data-dir", str(data_dir)]) == 0
    assert read_marker(backup / "results") == read_marker(data_dir / "results")
    assert phonos(["keys", "create", "--username", "bob", "--data-dir", str(backup)]) == 0
    assert phonos(["accounts", "list", "--data-dir", str(backup)]) == 0
    capsys.readouterr()

    stopped = tmp_path / "stopped"
    (stopped / "results").mkdir(parents=True)
    (stopped / "results" / MARKER_NAME).write_text("0123456789abcdef0123456789abcdef\n")
    (stopped / "phonos.sqlite3").touch()
    for argv in (["keys", "create", "--username", "ghost"], ["accounts", "list"]):
        assert phonos([*argv, "--data-dir", str(stopped)]) == 2, argv
        _said(capsys.readouterr().err.strip(), stopped, "0123456789abcdef0123456789abcdef")
    assert (stopped / "phonos.sqlite3").stat().st_size == 0


def test_the_job_service_alone_is_refused_before_it_makes_a_database(shared: tuple[Path, str, str]) -> None:
    """`python -m jobservice` (a deployment without `phonos serve`) made `phonos.sqlite3` before its own check
    refused the directory; it is refused first now, the same way."""
    directory, _, database_id = shared
    before = _tree(directory)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PHONOS_")}
    done = subprocess.run([sys.executable, "-m", "jobservice", "--data-dir", str(directory), "--grpc-port", "0"],
                          env={**env, "PHONOS_MODELS": "esmfold"}, cwd=REPO, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 2, (done.stdout, done.stderr)
    _said(done.stderr.strip(), directory, database_id)
    assert _tree(directory) == before
