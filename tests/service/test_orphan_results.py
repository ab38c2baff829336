"""Orphaned result files (jobservice/result_retention.py, sweep_orphans): files no job keeps (its deletion stopped
between the database and the files, a row never committed, a killed writer's temporary) go once a day old, with a
summary line and a counter; files a job keeps, young files and files older than the database's first job stay."""

from __future__ import annotations

import logging
import os
import shutil
import sqlite3
import time
import uuid
from pathlib import Path

import pytest
from prometheus_client import REGISTRY

from jobservice.result_retention import DAY_S, ResultRetention
from tests.support import ALL_STORES, InProcessService, wait_until

pytestmark = pytest.mark.integration
STORES = ALL_STORES  # the sweep's two queries run on SQLite and on PostgreSQL


def _removed(kind: str) -> float:
    return REGISTRY.get_sample_value("phonos_result_orphan_files_removed_total", {"kind": kind}) or 0.0


def _shard(service: InProcessService, job_id: str) -> Path:
    shard = service.settings.data_dir / "results" / job_id[:2]
    shard.mkdir(mode=0o700, parents=True, exist_ok=True)
    return shard


def _files(service: InProcessService, job_id: str) -> list[str]:
    return sorted(path.name for path in _shard(service, job_id).glob(f"*{job_id}*"))


def test_files_no_job_keeps_go_once_a_day_old_and_a_kept_job_loses_nothing(
        twin_service: InProcessService, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="jobservice.result_retention")
    client = twin_service.client(twin_service.new_key())
    kept = client.wait_for(client.predict(name="kept").json()["job_id"])["job_id"]
    deleted = client.wait_for(client.predict(name="deleted").json()["job_id"])["job_id"]
    kept_files = _files(twin_service, kept)
    # The service died after the job's row was deleted and before its files went: they are back, as it left them.
    aside = tmp_path / "aside"
    shutil.copytree(_shard(twin_service, deleted), aside)
    assert client.delete(f"/v1/jobs/{deleted}").status_code == 200
    for path in aside.glob(f"{deleted}.*"):
        shutil.copy2(path, _shard(twin_service, deleted) / path.name)
    # A result written for a job whose row was never committed, and a writer's temporary killed before its rename.
    never = str(uuid.uuid4())
    (_shard(twin_service, never) / f"{never}.pdb").write_bytes(b"ATOM\n")
    temporary = _shard(twin_service, kept) / f".{kept}.pdb.0123abcd.tmp"
    temporary.write_bytes(b"ATOM")
    foreign = _shard(twin_service, kept) / "README.operator"  # not a job's file: never ours to remove
    foreign.write_text("mine")
    assert _files(twin_service, deleted) and _files(twin_service, never)

    sweep = twin_service.running.service.retention.sweep_orphans
    assert twin_service.call(sweep()) == 0  # all of them are younger than a day: a write may be going on
    assert _files(twin_service, deleted) and _files(twin_service, never) and temporary.exists()

    files_before, temporaries_before = _removed("file"), _removed("temporary")
    orphans = len(_files(twin_service, deleted)) + 1
    assert twin_service.call(sweep(at=time.time() + 2 * DAY_S)) == orphans + 1
    assert _files(twin_service, deleted) == [] and _files(twin_service, never) == []
    assert not temporary.exists() and foreign.exists()
    assert _files(twin_service, kept) == kept_files  # the job keeps them: its download works
    assert client.get(f"/v1/jobs/{kept}/download").status_code == 200
    assert _removed("file") == files_before + orphans and _removed("temporary") == temporaries_before + 1
    summary = [r.getMessage() for r in caplog.records if getattr(r, "action", "") == "results.orphans_removed"]
    assert summary == [f"removed {orphans} result files no job keeps and 1 temporaries, all over 1 days old"]
    assert twin_service.call(sweep(at=time.time() + 2 * DAY_S)) == 0  # nothing twice


def test_files_older_than_the_databases_first_job_are_left_alone(
        twin_service: InProcessService, caplog: pytest.LogCaptureFixture) -> None:
    client = twin_service.client(twin_service.new_key())
    client.wait_for(client.predict().json()["job_id"])  # the database has a first job
    # A restored backup's results, or PHONOS_DATABASE_URL naming another database: not this database's orphans.
    stranger = str(uuid.uuid4())
    path = _shard(twin_service, stranger) / f"{stranger}.pdb"
    path.write_bytes(b"ATOM\n")
    years_ago = time.time() - 3650 * DAY_S
    os.utime(path, (years_ago, years_ago))
    assert twin_service.call(twin_service.running.service.retention.sweep_orphans(at=time.time() + 2 * DAY_S)) == 0
    assert path.exists()
    assert any(getattr(r, "action", "") == "results.orphans_predate_database" for r in caplog.records)


def test_the_orphan_age_is_the_operators_and_0_never_sweeps(twin_service: InProcessService) -> None:
    client = twin_service.client(twin_service.new_key())
    client.wait_for(client.predict().json()["job_id"])  # the database has a first job: the file is not older
    never = str(uuid.uuid4())  # a result whose job's row was never committed, two days old
    path = _shard(twin_service, never) / f"{never}.pdb"
    path.write_bytes(b"ATOM\n")
    running = twin_service.running.service

    def sweep(age_s: float) -> int:
        retention = ResultRetention(running.db, running.results, retention_days=0, orphan_age_s=age_s)
        return twin_service.call(retention.sweep_orphans(at=time.time() + 2 * DAY_S))

    assert sweep(0) == 0 and path.exists()  # PHONOS_RESULT_ORPHAN_AGE_S=0: never swept
    assert sweep(3 * DAY_S) == 0 and path.exists()  # slow shared storage: three days, not one
    assert sweep(DAY_S) == 1 and not path.exists()


@pytest.mark.sqlite_only  # the start, not the store, is the point: one store is enough
def test_every_service_sweeps_orphans_at_start_with_retention_off(twin_factory: type, tmp_path: Path) -> None:
    data_dir = tmp_path / "var"
    first = twin_factory.start(data_dir)  # PHONOS_RESULT_RETENTION_DAYS unset: retention off
    client = first.client(first.new_key())
    client.wait_for(client.predict().json()["job_id"])
    first.stop()
    # The database three days old (its first job then), an orphan two days old: past PHONOS_RESULT_ORPHAN_AGE_S's
    # default day, and not older than the database (such files the sweep leaves alone). The setting's value, as
    # the service reads it, is the one used: a constant the service did not pass on was used before.
    with sqlite3.connect(data_dir / "phonos.sqlite3") as db:
        db.execute("UPDATE jobs SET created_at = created_at - ?", (3 * DAY_S,))
    orphan = str(uuid.uuid4())
    shard = data_dir / "results" / orphan[:2]
    shard.mkdir(mode=0o700, parents=True, exist_ok=True)
    (shard / f"{orphan}.pdb").write_bytes(b"ATOM\n")
    two_days_ago = time.time() - 2 * DAY_S
    os.utime(shard / f"{orphan}.pdb", (two_days_ago, two_days_ago))
    kept = twin_factory.start(data_dir, PHONOS_RESULT_ORPHAN_AGE_S=str(3 * DAY_S))
    assert kept.running.service.retention.orphan_age_s == 3 * DAY_S
    kept.stop()
    assert (shard / f"{orphan}.pdb").exists()  # three days: not yet
    twin_factory.start(data_dir)
    wait_until(lambda: not (shard / f"{orphan}.pdb").exists(), timeout_s=30)
