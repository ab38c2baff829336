"""`phonos backup`: a copy of a running service's SQLite data directory that a service starts from as it was."""

from __future__ import annotations

import json
import os
import re
import shutil
import sqlite3
import stat
import subprocess
import threading
import uuid
from pathlib import Path

import pytest

from jobservice.datadir_lock import DataDirLock
from jobservice.memory_inference import Slow
from launcher.backup import PG_DUMP_NAME
from launcher.cli import main as phonos
from tests.postgres import PostgresServer, pg_bin_dir
from tests.support import InProcessService, wait_until

pytestmark = pytest.mark.integration


def _backup(data_dir: Path, destination: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, dict, str]:
    code = phonos(["backup", str(destination), "--data-dir", str(data_dir), "--json"])
    captured = capsys.readouterr()
    return code, (json.loads(captured.out) if captured.out else {}), captured.err


def assert_restores_consistently(twin_factory: type, data_dir: Path, key: str) -> None:
    """A service started from a backup: every job it holds ends completed once (those pending or running in the
    snapshot run again there), one charge a job and no refund, the balance the sum of the ledger, every completed
    job's files downloadable."""
    with sqlite3.connect(data_dir / "phonos.sqlite3") as copy:
        snapshot = dict(copy.execute("SELECT id, status FROM jobs WHERE deleted_at IS NULL").fetchall())
        deleted = [row[0] for row in copy.execute("SELECT id FROM jobs WHERE deleted_at IS NOT NULL")]
    assert set(snapshot.values()) <= {"pending", "running", "completed"}
    restored = twin_factory.start(data_dir)
    client = restored.client(key)
    final = {job_id: client.wait_for(job_id) for job_id in snapshot}
    assert {job["status"] for job in final.values()} == {"completed"}
    for job in final.values():
        assert client.get(job["download_url"]).status_code == 200
    balance = client.balance()
    restored.stop()
    with sqlite3.connect(data_dir / "phonos.sqlite3") as copy:
        ledger = copy.execute("SELECT kind, job_id, amount FROM credit_entries").fetchall()
    assert sum(amount for _, _, amount in ledger) == balance
    assert sorted(job_id for kind, job_id, _ in ledger if kind == "charge") == sorted([*snapshot, *deleted])
    assert [job_id for kind, job_id, _ in ledger if kind == "refund"] == []


def test_a_backup_taken_while_jobs_run_restores_every_job_and_file(twin_factory: type, tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    data_dir, destination = tmp_path / "var", tmp_path / "backup"
    service = twin_factory.start(data_dir)
    key = service.new_key(credits=10_000)
    client = service.client(key)
    before = [client.wait_for(client.predict(name=f"before {n}").json()["job_id"]) for n in range(3)]
    assert all(job["status"] == "completed" for job in before)
    # A deleted job leaves its row for the credit history: no job of the backup's count (was: counted, found by a
    # tester, one more than `accounts list`).
    gone = client.wait_for(client.predict(name="deleted").json()["job_id"])["job_id"]
    assert client.delete(f"/v1/jobs/{gone}").status_code == 200
    later_gone = client.wait_for(client.predict(name="deleted between backups").json()["job_id"])["job_id"]

    # Jobs keep arriving and completing while the backup runs: the copy must still be one consistent state.
    writer_client, stop, submitted = service.client(key), threading.Event(), []

    def keep_submitting() -> None:
        while not stop.is_set() and len(submitted) < 40:
            submitted.append(writer_client.predict(name="during").json()["job_id"])

    writer = threading.Thread(target=keep_submitting)
    writer.start()
    try:
        code, report, errors = _backup(data_dir, destination, capsys)
    finally:
        stop.set()
        writer.join()
    assert code == 0 and errors == "", errors
    assert report["missing_files"] == [] and report["files_copied"] >= 3 and report["files_already_there"] == 0
    assert report["files_removed"] == 0
    assert not (destination / "jobservice.lock").exists()  # it was left holding the backup's pid
    later_gone_files = sorted((destination / "results" / later_gone[:2]).glob(f"{later_gone}*"))
    assert later_gone_files

    # The results directory's marker naming its database travels with it (a restore is that database's store; it
    # was left out, and the restored service marked its directory again with a warning).
    marker = destination / "results" / ".phonos-database-id"
    assert marker.read_text() == (data_dir / "results" / ".phonos-database-id").read_text()
    assert marker.stat().st_mode & 0o777 == 0o600
    copy = sqlite3.connect(destination / "phonos.sqlite3")
    assert copy.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert copy.execute("SELECT count(*) FROM jobs WHERE deleted_at IS NULL").fetchone()[0] == report["jobs"] >= 4
    assert copy.execute("SELECT count(*) FROM jobs WHERE id = ?", (gone,)).fetchone()[0] == 1  # the row is there
    completed = copy.execute("SELECT result_json FROM jobs WHERE status = 'completed' AND deleted_at IS NULL").fetchall()
    copy.close()
    # Every completed job of the snapshot has every file its index names, whole.
    for (result_json,) in completed:
        for artifact in json.loads(result_json)["artifacts"]:
            name = artifact["file"]
            assert (destination / "results" / name[:2] / name).read_bytes() == \
                   (data_dir / "results" / name[:2] / name).read_bytes()

    # The copy taken mid-load, started as it is (as a restore after losing the machine would): its balance is its
    # ledger's sum, and the jobs it holds unfinished run to the end there, each charged once, never refunded.
    mid_load = tmp_path / "mid-load"
    shutil.copytree(destination, mid_load)
    assert_restores_consistently(twin_factory, mid_load, key)

    # A second backup into the first copies only what is new since.
    # A job deleted since: its files go from the backup too (they stayed in every later backup, and came back as
    # orphans on a restore: an SRE tester's find).
    for job_id in submitted:
        client.wait_for(job_id)
    assert client.delete(f"/v1/jobs/{later_gone}").status_code == 200
    code, again, _ = _backup(data_dir, destination, capsys)
    assert code == 0 and again["files_copied"] > 0
    assert again["files_already_there"] == report["files_copied"] - len(later_gone_files)
    assert again["files_removed"] == len(later_gone_files) and not any(p.exists() for p in later_gone_files)
    assert (destination / "results" / ".phonos-database-id").exists()  # not a result file: kept
    assert again["jobs"] == 3 + len(submitted)
    assert not (destination / "jobservice.lock").exists()

    # A service started from the backup has the jobs, their files and the key, as they were.
    restored = twin_factory.start(destination)
    restored_client = restored.client(key)
    for job in before:
        assert restored_client.get(f"/v1/jobs/{job['job_id']}").json()["status"] == "completed"
        assert restored_client.get(job["download_url"]).content == client.get(job["download_url"]).content
    assert restored_client.get("/v1/jobs", params={"limit": 100}).json()["pagination"]["total"] == again["jobs"]


def test_a_backup_refuses_unsafe_destinations_and_says_what_is_missing(twin_factory: type, tmp_path: Path,
                                                                       capsys: pytest.CaptureFixture[str]) -> None:
    data_dir = tmp_path / "var"
    service = twin_factory.start(data_dir)
    client = service.client(service.new_key())
    job = client.wait_for(client.predict().json()["job_id"])

    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    foreign = tmp_path / "photos"
    (foreign / "holiday").mkdir(parents=True)
    for destination, reason in ((a_file, "is not a directory"), (foreign, "neither empty nor an earlier phonos backup"),
                                (data_dir / "backup", "inside the data directory"), (data_dir, "inside the data directory")):
        code, _, errors = _backup(data_dir, destination, capsys)
        assert code == 2 and reason in errors, errors
    assert list(foreign.iterdir()) == [foreign / "holiday"]  # untouched

    assert _backup(tmp_path / "nothing-here", tmp_path / "b1", capsys)[2].startswith("error: no phonos database in")

    # A job service running from an earlier backup would have its database replaced under it.
    served = tmp_path / "served-backup"
    assert _backup(data_dir, served, capsys)[0] == 0
    lock = DataDirLock(served)
    lock.acquire()
    try:
        code, _, errors = _backup(data_dir, served, capsys)
        assert code == 2 and "another job service" in errors and "stop it" in errors
    finally:
        lock.release()

    # A result file gone from the data directory is named, and the backup says it is incomplete (exit 1).
    name = json.loads(sqlite3.connect(data_dir / "phonos.sqlite3").execute(
        "SELECT result_json FROM jobs WHERE id = ?", (job["job_id"],)).fetchone()[0])["artifacts"][0]["file"]
    (data_dir / "results" / name[:2] / name).unlink()
    code, report, errors = _backup(data_dir, tmp_path / "b2", capsys)
    assert code == 1 and report["missing_files"] == [name] and f"result file {name} is named" in errors


def test_a_backup_cut_short_keeps_the_earlier_backup_whole_and_the_next_one_finishes(
        twin_factory: type, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    import launcher.backup

    data_dir, destination, first = tmp_path / "var", tmp_path / "backup", tmp_path / "first"
    service = twin_factory.start(data_dir)
    client = service.client(service.new_key(credits=10_000))
    for n in range(2):
        client.wait_for(client.predict(name=f"old {n}").json()["job_id"])
    assert _backup(data_dir, destination, capsys)[0] == 0
    for n in range(2):
        client.wait_for(client.predict(name=f"new {n}").json()["job_id"])

    # The disk fills while the second backup copies the new jobs' result files (one file gets through).
    real_copy, copies = launcher.backup.shutil.copyfile, []

    def copy_until_the_disk_is_full(origin: Path, copy: Path) -> object:
        if copies:
            raise OSError(28, "No space left on device")
        copies.append(origin)
        return real_copy(origin, copy)

    monkeypatch.setattr(launcher.backup.shutil, "copyfile", copy_until_the_disk_is_full)
    code, _, errors = _backup(data_dir, destination, capsys)
    assert code == 2 and "No space left on device" in errors, errors
    # The first backup's database is still the one there (its 2 jobs), with every file it names, and no partial
    # database is left: a service started from it now has what it had before.
    copy = sqlite3.connect(destination / "phonos.sqlite3")
    assert copy.execute("SELECT count(*) FROM jobs").fetchone()[0] == 2
    for (result_json,) in copy.execute("SELECT result_json FROM jobs WHERE status = 'completed'").fetchall():
        for artifact in json.loads(result_json)["artifacts"]:
            assert (destination / "results" / artifact["file"][:2] / artifact["file"]).is_file()
    copy.close()
    assert not list(destination.glob(".*.partial"))

    # A first backup cut short (no database yet, some files) is taken up again, not refused as foreign.
    copies.clear()
    code, _, errors = _backup(data_dir, first, capsys)
    assert code == 2 and not (first / "phonos.sqlite3").exists() and any((first / "results").rglob("*"))

    monkeypatch.setattr(launcher.backup.shutil, "copyfile", real_copy)
    for target in (destination, first):
        code, report, errors = _backup(data_dir, target, capsys)
        assert code == 0 and errors == "" and report["jobs"] == 4 and report["missing_files"] == [], errors


def test_on_postgresql_the_refusal_gives_a_line_that_backs_up_and_the_readme_restore_works(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
        postgres: PostgresServer) -> None:
    """It said "dump the database with pg_dump", and the README no more: which format, where, how to restore, and
    a plain `pg_dump -f` leaves password and key hashes readable by every user. The line it prints now is run as
    an operator pastes it, while a job runs; the README's restore loads it into a new database, and a service
    started there has the completed job's file and runs the interrupted one again, charged once."""
    source = f"phonos_bk_{uuid.uuid4().hex[:8]}"
    postgres.psql(f'CREATE DATABASE "{source}"')
    fast = {"PHONOS_JOB_LEASE_S": "1"}  # the restored running job's lease (the dead service's) expires at once
    service = InProcessService(tmp_path / "var", {"PHONOS_DATABASE_URL": postgres.url(source), **fast})
    try:
        key = service.new_key(credits=1000)
        client = service.client(key)
        done = client.wait_for(client.predict().json()["job_id"])
        service.inference.script("esmfold", Slow(60))
        running = client.predict().json()["job_id"]
        wait_until(lambda: client.get(f"/v1/jobs/{running}").json()["status"] == "running", 10)
        destination = tmp_path / "backup dir"  # a space: the line quotes its paths
        monkeypatch.setenv("PHONOS_DATABASE_URL", postgres.url(source))
        assert phonos(["backup", str(destination), "--data-dir", str(tmp_path / "var")]) == 2
        errors = capsys.readouterr().err
        assert not destination.exists() and errors.startswith("error: the state is in PostgreSQL"), errors
        line = re.search(r"`([^`]+)`", errors)
        assert line is not None and "pg_dump" in line.group(1), errors
        shell_env = {**os.environ, "PATH": f"{pg_bin_dir()}:{os.environ['PATH']}"}
        # In an operator's shell (umask 022; this process's service set a private one, which bash would inherit).
        subprocess.run(["bash", "-c", "umask 022; " + line.group(1)], env=shell_env, check=True, timeout=60)
    finally:
        service.stop()
    dump = destination / PG_DUMP_NAME
    assert stat.S_IMODE(dump.stat().st_mode) == 0o600 and stat.S_IMODE(destination.stat().st_mode) == 0o700

    # README "Backups", PostgreSQL: an empty database, pg_restore, the files back in the (new) data directory.
    restored = f"{source}_restored"
    subprocess.run(["createdb", "-h", "127.0.0.1", "-p", str(postgres.port), "-U", "phonos", restored],
                   env=shell_env, check=True, timeout=60)
    subprocess.run(["pg_restore", "--no-owner", f"--dbname={postgres.url(restored)}", str(dump)], env=shell_env,
                   check=True, timeout=60)
    (tmp_path / "new").mkdir()
    subprocess.run(["cp", "-a", f"{destination}/results/.", str(tmp_path / "new" / "results")], check=True)
    again = InProcessService(tmp_path / "new", {"PHONOS_DATABASE_URL": postgres.url(restored), **fast})
    try:
        client = again.client(key)
        assert client.get(done["download_url"]).status_code == 200
        assert client.wait_for(running, timeout_s=30)["status"] == "completed"
        ledger = postgres.psql("SELECT kind || ' ' || job_id FROM credit_entries WHERE job_id IS NOT NULL",
                               restored).split()
        assert sorted(ledger) == sorted(["charge", done["job_id"], "charge", running]), ledger
    finally:
        again.stop()


def test_files_that_retention_swept_after_the_snapshot_are_not_called_missing(tmp_path: Path) -> None:
    from launcher.backup import _not_deleted_since

    live = tmp_path / "phonos.sqlite3"
    connection = sqlite3.connect(live)
    connection.execute("CREATE TABLE jobs (id TEXT PRIMARY KEY, results_deleted_at REAL)")
    connection.executemany("INSERT INTO jobs VALUES (?, ?)", [("swept", 1.0), ("lost", None)])
    connection.commit()
    connection.close()
    assert _not_deleted_since(live, [("swept", "swept.pdb"), ("lost", "lost.pdb"), ("swept", "swept.json")]) == ["lost.pdb"]


def test_a_directory_served_from_is_not_backed_up_into(twin_factory: type, tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    """Restoring is serving from the copy: the next nightly backup into it replaced its database (a tester lost the
    job run there), and swapped arguments put a backup's old state over the live data directory. Both are refused and
    leave the directory as it was; a backup taken again into a backup still works."""
    data_dir, backup = tmp_path / "var", tmp_path / "backup"
    service = twin_factory.start(data_dir)
    client = service.client(service.new_key(credits=1_000))
    client.wait_for(client.predict(name="before").json()["job_id"])
    assert _backup(data_dir, backup, capsys)[0] == 0
    (backup / ".DS_Store").write_bytes(b"\0")  # what a file browser leaves, and a note: still a backup
    (backup / "NOTES.txt").write_text("nightly copy of the lab's phonos\n")
    assert _backup(data_dir, backup, capsys)[0] == 0  # a nightly re-run into its own backup

    def jobs_in(directory: Path) -> list[str]:
        with sqlite3.connect(directory / "phonos.sqlite3") as db:
            return sorted(name for (name,) in db.execute("SELECT name FROM jobs").fetchall())

    service.stop()  # (while it runs, its lock refuses any backup into it)
    live = jobs_in(data_dir)
    code, _, errors = _backup(backup, data_dir, capsys)  # swapped: the data directory as the destination
    assert code == 2 and f"{data_dir} is not a backup as `phonos backup` leaves one" in errors, errors
    assert "back up to a new directory" in errors
    assert jobs_in(data_dir) == live  # untouched

    restored = twin_factory.start(backup)  # the README's restore: serve from the copy
    restored_client = restored.client(restored.new_key(credits=1_000))
    restored_client.wait_for(restored_client.predict(name="after the restore").json()["job_id"])
    restored.stop()
    code, _, errors = _backup(data_dir, backup, capsys)
    assert code == 2 and "write-ahead-log mode" in errors, errors
    assert "after the restore" in jobs_in(backup)  # the work done there is kept


def test_a_destination_open_to_other_users_is_made_private(twin_factory: type, tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    """A destination made beforehand with mode 0777 stayed so (`mkdir(mode=0o700)` leaves an existing directory as
    it is): its files are private, but another user of the machine could put their own database, with their own key
    hash, in place of the backup's before a restore (a security tester's find). It is made private as a new one is,
    and the command says so on stderr (the --json document stays as it was)."""
    data_dir, backup = tmp_path / "var", tmp_path / "backup"
    service = twin_factory.start(data_dir)
    client = service.client(service.new_key(credits=1_000))
    client.wait_for(client.predict(name="one").json()["job_id"])
    backup.mkdir()
    backup.chmod(0o777)
    code, document, errors = _backup(data_dir, backup, capsys)
    assert code == 0 and document["jobs"] == 1
    assert stat.S_IMODE(backup.stat().st_mode) == 0o700
    assert f"{backup} was mode 0777, open to other users: made it private (0700)" in " ".join(errors.split()), errors
    code, _, errors = _backup(data_dir, backup, capsys)  # private now: nothing to say the next night
    assert code == 0 and errors == ""
    service.stop()
