"""A full disk, for real: the data directory and its results directory are small tmpfs mounts that a test fills
to the last byte (ENOSPC from the kernel, SQLITE_FULL from SQLite), on one in-process job service with the
inference twin (the model is not the point: the job service writes every result file itself).

What an operator expects: a job whose result cannot be stored fails, refunded, with the cause said and nothing
left behind; a submission the database cannot take is a 503 with neither a job nor a charge; reads go on; a job's
outcome is never lost or left `running`; health says the database is unavailable while it is full; and everything
works again once space is freed, without a restart.
"""

from __future__ import annotations

import contextlib
import logging
import os
import pwd
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from jobservice import webhook_sender
from jobservice.db import RECOVERED_FREE_BYTES, StorageState
from jobservice.memory_inference import Slow
from jobservice.result_retention import DAY_S, ResultRetention
from tests.postgres import SERVER_USER, PostgresServer
from tests.support import REPO, ApiClient, InProcessService, WebhookReceiver, wait_until

pytestmark = pytest.mark.integration

DISK_KB = 8192  # the data directory's file system: room for SQLite and a few jobs
RESULTS_KB = 1024  # its results directory, a file system of its own so that case (a) fills it alone
SEQ = "MKTVRQERLKSIVRILERSKEPV"
# Result writes are retried on storage errors this long (60 s by default): short, so a full disk fails them quickly.
QUICK_STORAGE_RETRY = {"PHONOS_STORAGE_RETRY_WINDOW_S": "0.3"}


def _mount_tmpfs(directory: Path, size_kb: int, inodes: int | None = None) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    options = f"size={size_kb}k,mode=0700" + (f",nr_inodes={inodes}" if inodes else "")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(directory)],
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {done.stderr.strip()}")


def _unmount(directory: Path) -> None:
    subprocess.run(["umount", "-l", str(directory)], capture_output=True, check=False)


@contextlib.contextmanager
def filled(directory: Path) -> Iterator[Path]:
    """`directory`'s file system full to the last byte while inside; the filler removed after."""
    filler = directory / f"filler-{uuid.uuid4().hex[:8]}"
    chunk = b"\0" * 65536
    try:
        with open(filler, "wb", buffering=0) as out:
            with contextlib.suppress(OSError):  # ENOSPC: full
                while True:
                    out.write(chunk)
            with contextlib.suppress(OSError):  # the last partial block
                while True:
                    out.write(b"\0" * 512)
        assert os.statvfs(directory).f_bavail == 0
        yield filler
    finally:
        filler.unlink(missing_ok=True)


@pytest.fixture(scope="module")
def disk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The mount of the data directory's file system (the data directory is `var` on it; `var/results` is a
    second, smaller mount)."""
    base = tmp_path_factory.mktemp("disk") / "mnt"
    _mount_tmpfs(base, DISK_KB)
    try:
        _mount_tmpfs(base / "var" / "results", RESULTS_KB)
        yield base
    finally:
        _unmount(base / "var" / "results")
        _unmount(base)


@pytest.fixture(scope="module")
def service(disk: Path) -> Iterator[InProcessService]:
    running = InProcessService(disk / "var", QUICK_STORAGE_RETRY)
    try:
        yield running
    finally:
        running.stop()


@contextlib.contextmanager
def own_service(data_dir: Path) -> Iterator[InProcessService]:
    """A service of the test's own on the small disk (one it stops and starts again), stopped whatever happens."""
    running = InProcessService(data_dir, QUICK_STORAGE_RETRY)
    try:
        yield running
    finally:
        running.stop()


def job_files(service: InProcessService, job_id: str) -> list[str]:
    shard = service.data_dir / "results" / job_id[:2]
    return sorted(p.name for p in shard.glob(f"*{job_id}*")) if shard.exists() else []


def writes_refused(service: InProcessService, store: str) -> float:
    """phonos_storage_full_errors_total{store} as the service's /metrics says it."""
    return service.scrape()[("phonos_storage_full_errors_total", (("store", store),))]


def test_a_result_that_cannot_be_stored_fails_the_job_refunded_and_the_next_one_works(
        service: InProcessService, disk: Path) -> None:
    client = service.client(service.new_key(credits=100))
    before = writes_refused(service, "results")
    with filled(disk / "var" / "results"):
        response = client.predict()
        assert response.status_code == 200, response.text
        job_id = response.json()["job_id"]
        job = client.wait_for(job_id, timeout_s=30)
        assert job["status"] == "failed"
        assert job["error_code"] == "internal"  # the service's side: refunded, as the contract says
        assert "disk is full" in job["error"] and "refunded" in job["error"], job["error"]
        assert client.balance() == 100
        assert job_files(service, job_id) == []  # no temporary, no part of a file left behind
        assert writes_refused(service, "results") > before  # deploy/alerts.yml PhonosDiskRefusingWrites
    response = client.predict()
    job = client.wait_for(response.json()["job_id"], timeout_s=30)
    assert job["status"] == "completed"
    assert client.get(f"/v1/jobs/{job['job_id']}/download").status_code == 200


def test_a_submission_the_full_database_cannot_take_is_a_503_without_a_job_or_a_charge(
        service: InProcessService, disk: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="jobservice.db")
    client = service.client(service.new_key(credits=100))
    done = client.predict()
    assert client.wait_for(done.json()["job_id"], timeout_s=30)["status"] == "completed"
    before = writes_refused(service, "database")
    with filled(disk):
        retry = {"Idempotency-Key": str(uuid.uuid4())}  # a client retrying a 503 keeps its key
        refused = client.post("/v1/predict", headers=retry, json={"model": "esmfold", "sequence": SEQ})
        assert refused.status_code == 503, refused.text
        assert refused.json() == {"error": "Service unavailable", "message": (
            "The service cannot store anything right now: its disk is full. Try again later.")}
        assert refused.headers.get("Retry-After")
        assert client.balance() == 90  # no charge: the job and its charge are one transaction
        listed = client.get("/v1/jobs")  # reads go on
        assert listed.status_code == 200 and len(listed.json()["jobs"]) == 1
        assert client.get(f"/v1/jobs/{done.json()['job_id']}/download").status_code == 200
        assert client.get("/v1/usage").status_code == 200  # its flush fails; the stored counts are shown
        health = client.get("/v1/health")
        assert health.status_code == 503 and health.json()["components"]["database"] == "unavailable"
        # The operator is told why: a full disk read as a broken database in the log, health and `phonos status`.
        assert "the database's disk is full: free space on it" in health.json()["message"], health.json()
        full = [r for r in caplog.records if getattr(r, "action", "") == "db.disk_full"]
        assert len(full) == 1 and full[0].levelname == "WARNING" and str(disk) in full[0].getMessage(), full
        assert writes_refused(service, "database") > before
    # Space is back: no restart needed.
    wait_until(lambda: client.get("/v1/health").json()["components"]["database"] == "ready", 15)
    assert [r for r in caplog.records if getattr(r, "action", "") == "db.disk_space_back"]
    assert "disk is full" not in client.get("/v1/health").json()["message"]
    # The key the refused call used: nothing of that call was kept, so it is answered now.
    again = client.post("/v1/predict", headers=retry, json={"model": "esmfold", "sequence": SEQ})
    assert again.status_code == 200, again.text
    assert client.wait_for(again.json()["job_id"], timeout_s=30)["status"] == "completed"
    assert client.balance() == 80


class FillingReceiver(WebhookReceiver):
    """A receiver that fills `disk` just before it answers its first POST (200): the delivery was queued with
    room, its answer must be recorded without. The disk stays full until `free()`."""

    def __init__(self, disk: Path) -> None:
        super().__init__()
        self._disk = disk
        self._full = contextlib.ExitStack()

    def routes(self, app: Any) -> None:
        from aiohttp import web

        async def handle(request: web.Request) -> web.Response:
            body = await request.read()
            if not self.requests:
                self._full.enter_context(filled(self._disk))
            self.requests.append({"headers": dict(request.headers), "body": body.decode()})
            return web.Response(status=200, text="ok")

        app.router.add_post(self.path, handle)

    def free(self) -> None:
        self._full.close()


def test_a_webhook_answered_while_the_database_is_full_is_posted_once_and_recorded_once_space_returns(
        service: InProcessService, disk: Path, caplog: pytest.LogCaptureFixture) -> None:
    client = service.client(service.new_key(credits=100))
    with FillingReceiver(disk) as receiver:
        try:
            hook = client.post("/v1/webhooks", json={"url": receiver.url,
                                                     "events": ["job.completed"]}).json()["webhook"]
            job_id = client.predict().json()["job_id"]
            assert client.wait_for(job_id, timeout_s=30)["status"] == "completed"
            wait_until(lambda: receiver.requests, 30)  # the disk is full from here on
            before = writes_refused(service, "database")
            # Its answer refused a few times more (~1.4 s of backoff): each refusal was one more POST before.
            wait_until(lambda: writes_refused(service, "database") >= before + 3, 30)
            posted = [r["headers"]["X-Phonos-Delivery"] for r in receiver.requests]
            assert len(posted) == 1, posted  # was ~300 a second, the same delivery again and again
        finally:
            receiver.free()
        log_url = f"/v1/webhooks/{hook['webhook_id']}/deliveries?status=delivered"
        delivered = wait_until(lambda: client.get(log_url).json()["deliveries"], 30)  # recorded once space returned
        assert [d["delivery_id"] for d in delivered] == posted
        assert len(receiver.requests) == 1  # recorded, not sent again
        held = [r for r in caplog.records if r.name == "jobservice.webhook_sender"]
        assert len([r for r in held if "was answered HTTP 200 but that cannot be stored" in r.getMessage()]) == 1
        assert not [r for r in held if r.exc_info]  # one warning, not a traceback per try
        assert client.delete(f"/v1/webhooks/{hook['webhook_id']}").status_code in (200, 204)


def test_a_delete_the_full_database_refuses_changes_nothing(service: InProcessService, disk: Path) -> None:
    client = service.client(service.new_key(credits=100))
    job_id = client.predict().json()["job_id"]
    assert client.wait_for(job_id, timeout_s=30)["status"] == "completed"
    files = job_files(service, job_id)
    with filled(disk):
        refused = client.delete(f"/v1/jobs/{job_id}")
        assert refused.status_code == 503, refused.text
        assert refused.json()["message"] == (
            "The service cannot store anything right now: its disk is full. Try again later.")
        assert [j["job_id"] for j in client.get("/v1/jobs").json()["jobs"]] == [job_id]
        assert client.get(f"/v1/jobs/{job_id}/download").status_code == 200  # was 410: its files were gone
        assert job_files(service, job_id) == files
    deleted = client.delete(f"/v1/jobs/{job_id}")
    assert deleted.status_code == 200, deleted.text
    assert job_files(service, job_id) == [] and client.get("/v1/jobs").json()["jobs"] == []


def test_the_results_volume_of_its_own_has_its_free_bytes_exported(service: InProcessService, disk: Path) -> None:
    with filled(disk / "var" / "results"):
        scraped = service.scrape()
        assert scraped[("phonos_results_dir_free_bytes", ())] == 0  # deploy/alerts.yml PhonosResultsDirFull
        assert scraped[("phonos_results_dir_size_bytes", ())] == RESULTS_KB * 1024
        assert scraped[("phonos_data_dir_free_bytes", ())] > 0  # the data directory's: it did not see this
    assert service.scrape()[("phonos_results_dir_free_bytes", ())] > 0


def outcome_retried(caplog: pytest.LogCaptureFixture) -> bool:
    """The dispatcher met the full database writing a job's outcome, and retries it."""
    return any(r.getMessage().startswith("a job's outcome could not be stored") for r in caplog.records)


def running_job(service: InProcessService, key: str | None = None) -> tuple[ApiClient, str]:
    """A job of a new account (or `key`'s), running on the twin for a moment (long enough to fill a disk)."""
    client = service.client(key or service.new_key(credits=100))
    service.settle()
    service.inference.script("esmfold", Slow(1.5))
    job_id = client.predict().json()["job_id"]
    client.wait_for(job_id, ("running",), timeout_s=30)
    return client, job_id


def test_a_job_finishing_while_the_database_is_full_completes_once_space_returns(
        service: InProcessService, disk: Path, caplog: pytest.LogCaptureFixture) -> None:
    client, job_id = running_job(service)
    with filled(disk):  # the results file system has room: the files are written, the completion is not
        wait_until(lambda: outcome_retried(caplog), 30)
        assert len(job_files(service, job_id)) > 1
        assert client.get(f"/v1/jobs/{job_id}").json()["status"] == "running"
    job = client.wait_for(job_id, timeout_s=30)  # it was left running for good before
    assert job["status"] == "completed"
    assert client.get(f"/v1/jobs/{job_id}/download").status_code == 200


def test_a_job_failing_while_both_disks_are_full_is_failed_refunded_once_space_returns(
        service: InProcessService, disk: Path, caplog: pytest.LogCaptureFixture) -> None:
    client, job_id = running_job(service)
    with filled(disk), filled(disk / "var" / "results"):
        # The result cannot be written, nor then the failure: the job waits, running, for space.
        wait_until(lambda: outcome_retried(caplog), 30)
        assert client.get(f"/v1/jobs/{job_id}").json()["status"] == "running"
    job = client.wait_for(job_id, timeout_s=30)  # it was left running for good before
    assert job["status"] == "failed" and job["error_code"] == "internal"
    assert "disk is full" in job["error"]
    assert client.balance() == 100
    assert job_files(service, job_id) == []


def test_retention_that_removed_files_while_the_database_is_full_records_it_once_space_returns(
        service: InProcessService, disk: Path, caplog: pytest.LogCaptureFixture) -> None:
    client = service.client(service.new_key(credits=100))
    job_id = client.wait_for(client.predict().json()["job_id"], timeout_s=30)["job_id"]
    running = service.running.service
    retention = ResultRetention(running.db, running.results, retention_days=1)
    with ThreadPoolExecutor(1) as pool:
        with filled(disk):  # the results volume has room: the files go, not their record
            sweep = pool.submit(service.call, retention.sweep(at=time.time() + 2 * DAY_S))
            wait_until(lambda: sweep.done() or any(
                r.getMessage().startswith("result retention removed") for r in caplog.records), 30)
            assert job_files(service, job_id) == []
        assert sweep.result(timeout=30) >= 1  # it raised before: the record waited for the next sweep, an hour later
    gone = client.get(f"/v1/jobs/{job_id}/download")
    assert gone.status_code == 410 and "were deleted on" in gone.json()["message"], gone.text  # not "missing"


def test_a_job_service_started_on_a_full_disk_says_so_and_exits(disk: Path, tmp_path: Path) -> None:
    data_dir = disk / "second"  # not the running service's (its lock): a second service's, on the same disk
    data_dir.mkdir()
    # A database that exists: SQLite then fails with "disk I/O error" (its shared-memory file cannot grow).
    with contextlib.closing(sqlite3.connect(data_dir / "phonos.sqlite3")) as conn:
        conn.execute("PRAGMA journal_mode=WAL")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PHONOS_")}
    with filled(disk):
        done = subprocess.run(
            [sys.executable, "-m", "jobservice", "--data-dir", str(data_dir), "--grpc-port", "0", "--http-port", "0",
             "--triton-url", "127.0.0.1:1"], capture_output=True, text=True, timeout=60, cwd=REPO,
            env={**env, "PHONOS_MODELS": "esmfold", "PHONOS_METRICS_PORT": "0"}, check=False)
    assert done.returncode != 0
    assert f"cannot use the data directory {data_dir}" in done.stderr, done.stderr
    assert "its disk is full: free space on that file system and start again" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr


def test_a_service_stopped_while_an_outcome_waits_for_space_stops_and_runs_the_job_again(
        disk: Path, caplog: pytest.LogCaptureFixture) -> None:
    data_dir = disk / "third"  # its own service: this one is stopped and started again
    with own_service(data_dir) as first:
        key = first.new_key(credits=100)
        _, job_id = running_job(first, key)
        with filled(disk):
            wait_until(lambda: outcome_retried(caplog), 30)
            first.stop()  # within its 60 s, though the outcome cannot be stored: the retries end at a stop
    with own_service(data_dir) as second:
        client = second.client(key)
        job = client.wait_for(job_id, timeout_s=30)  # left running by the stop: run again at the start
        assert job["status"] == "completed"
        assert client.balance() == 90


@pytest.fixture
def pg_full_space(own_postgres: PostgresServer) -> Iterator[Path]:
    """A small tmpfs that is own_postgres' default tablespace: every table a new store makes lives on it."""
    parent = Path(tempfile.mkdtemp(prefix="phonos-disk-"))  # not under pytest's 0700 dirs: the server user reads it
    parent.chmod(0o755)
    space = parent / "tablespace"
    _mount_tmpfs(space, DISK_KB // 2)
    try:
        server_user = pwd.getpwnam(SERVER_USER)
        os.chown(space, server_user.pw_uid, server_user.pw_gid)
        own_postgres.psql(f"CREATE TABLESPACE small_disk LOCATION '{space}'")
        own_postgres.psql("ALTER DATABASE postgres SET default_tablespace = 'small_disk'")
        yield space
    finally:
        _unmount(space)
        shutil.rmtree(parent, ignore_errors=True)


def test_postgresql_out_of_disk_answers_503_without_a_job_or_a_charge_and_recovers(
        own_postgres: PostgresServer, pg_full_space: Path, tmp_path: Path) -> None:
    service = InProcessService(tmp_path / "var", {"PHONOS_DATABASE_URL": own_postgres.new_store_url("disk"),
                                                  **QUICK_STORAGE_RETRY})
    try:
        client = service.client(service.new_key(credits=10_000))
        limited = service.client(service.new_key(rate_limit=2))
        done = client.wait_for(client.predict().json()["job_id"], timeout_s=30)["job_id"]
        with filled(pg_full_space):
            # Rows fill the pages the tables have; the first that needs a new page meets the full disk.
            for _ in range(200):
                refused = client.predict(sequence=SEQ * 40)
                if refused.status_code != 200:
                    break
            assert refused.status_code == 503, refused.text  # was a 500 (asyncpg's DiskFullError)
            assert refused.json()["message"] == (
                "The service cannot store anything right now: its disk is full. Try again later.")
            # Reads go on, as on SQLite: each counts against the key's rate limit, in memory while the shared
            # count cannot be written (was a 503 once the count's table needed a page more).
            for _ in range(40):
                for path in (f"/v1/jobs/{done}", "/v1/jobs", f"/v1/jobs/{done}/download"):
                    read = client.get(path)
                    assert read.status_code == 200, read.text
            assert [limited.get("/v1/jobs").status_code for _ in range(3)] == [200, 200, 429]  # limits still hold
        again = client.predict()
        assert again.status_code == 200, again.text
        jobs = client.get("/v1/jobs", params={"limit": 100}).json()["jobs"]
        for job in jobs:  # outcomes that waited for space are stored now
            client.wait_for(job["job_id"], timeout_s=30)
        assert client.balance() == 10_000 - 10 * len(jobs)  # every charge has its job, every job its charge
    finally:
        service.stop()


def test_a_stop_while_a_webhook_answer_waits_for_space_says_so_and_the_restart_sends_it_again(
        disk: Path, caplog: pytest.LogCaptureFixture) -> None:
    data_dir = disk / "fourth"  # its own service: this one is stopped and started again
    first = InProcessService(data_dir, QUICK_STORAGE_RETRY)
    try:
        client = first.client(first.new_key(credits=100))
        with FillingReceiver(disk) as receiver:
            try:
                client.post("/v1/webhooks", json={"url": receiver.url, "events": ["job.completed"]})
                assert client.wait_for(client.predict().json()["job_id"], timeout_s=30)["status"] == "completed"
                wait_until(lambda: any("but that cannot be stored" in r.getMessage() for r in caplog.records), 30)
                first.stop()  # the answer is held in memory: the stop tries it once more, and says it could not
            finally:
                receiver.free()
            said = [r.getMessage() for r in caplog.records if getattr(r, "action", "") == "webhook.unrecorded_at_stop"]
            assert said == ["stopping with 1 of 1 webhook deliveries' answers unrecorded (the database refused "
                            "them); they are sent again after the restart, under the same delivery id"]
            second = InProcessService(data_dir, QUICK_STORAGE_RETRY)
            try:  # at least once: sent again under its id (receivers deduplicate by it), and recorded this time
                wait_until(lambda: len(receiver.requests) == 2, 30)
                ids = [r["headers"]["X-Phonos-Delivery"] for r in receiver.requests]
                assert ids[0] == ids[1]
            finally:
                second.stop()
    finally:
        first.stop()


def test_finishing_deleted_webhooks_deliveries_on_a_full_disk_is_one_warning_and_done_later(
        service: InProcessService, disk: Path, caplog: pytest.LogCaptureFixture,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(webhook_sender, "HOUSEKEEPING_RETRY_S", 0.2)
    client = service.client(service.new_key(credits=100))
    hook = client.post("/v1/webhooks", json={"url": "http://127.0.0.1:9/hook",  # discard: refused, retried
                                             "events": ["job.completed"]}).json()["webhook"]
    assert client.wait_for(client.predict().json()["job_id"], timeout_s=30)["status"] == "completed"
    assert client.delete(f"/v1/webhooks/{hook['webhook_id']}").status_code in (200, 204)
    database = service.data_dir / "phonos.sqlite3"

    def statuses() -> list[str]:
        with contextlib.closing(sqlite3.connect(database, timeout=30)) as conn:
            return [row[0] for row in conn.execute(
                "SELECT status FROM webhook_deliveries WHERE webhook_id = ?", (hook["webhook_id"],))]

    wait_until(lambda: statuses() and "pending" not in statuses(), 30)
    # An attempt on the wire during the delete set its row pending again (what the housekeeping is for).
    with contextlib.closing(sqlite3.connect(database, timeout=30)) as conn, conn:
        conn.execute("UPDATE webhook_deliveries SET status = 'pending', last_error = NULL WHERE webhook_id = ?",
                     (hook["webhook_id"],))
    running = service.running.service
    sender = webhook_sender.WebhookSender(running.db, timeout_s=1.0, max_attempts=1, backoff_base_s=3600.0)

    async def start() -> None:
        sender.start()

    with filled(disk):
        service.call(start())
        wait_until(lambda: any(getattr(r, "action", "") == "webhook.housekeeping_unavailable"
                               for r in caplog.records), 30)
    try:
        wait_until(lambda: statuses() == ["failed"], 30)  # tried again once space returned
    finally:
        service.call(sender.stop())
    records = [r for r in caplog.records if r.name == "jobservice.webhook_sender"]
    assert not [r for r in records if r.exc_info]  # a warning, never a traceback for an outage


def test_usage_counted_while_the_disk_is_full_is_written_once_when_space_returns_during_the_stop(
        disk: Path, caplog: pytest.LogCaptureFixture) -> None:
    data_dir = disk / "fifth"  # its own service: this one is stopped and started again
    with own_service(data_dir) as first, contextlib.ExitStack() as full, ThreadPoolExecutor(1) as pool:
        key = first.new_key(credits=100)
        client = first.client(key)
        full.enter_context(filled(disk))
        for _ in range(5):  # reads go on; their counts wait in memory for the database
            assert client.get("/v1/jobs").status_code == 200
        wait_until(lambda: any(getattr(r, "action", "") == "usage.flush_failed" for r in caplog.records), 30)
        stopping = pool.submit(first.stop)
        # The stop's last flush is refused; space comes back within its grace.
        wait_until(lambda: any(getattr(r, "action", "") == "usage.flush_retry_at_stop" for r in caplog.records), 30)
        full.close()
        stopping.result(timeout=60)
    assert not [r for r in caplog.records if getattr(r, "action", "") == "usage.flush_lost"]
    with own_service(data_dir) as second:
        usage = second.client(key).get("/v1/usage").json()
        assert usage["totals"]["requests"] == 5, usage  # all lost at the stop before; counted once, not twice


def test_health_stays_unavailable_while_the_disk_is_out_of_inodes_though_bytes_are_free(tmp_path: Path) -> None:
    mount = tmp_path / "inodes"
    _mount_tmpfs(mount, 4096, inodes=64)  # bytes to spare, few files
    try:
        state = StorageState(mount / "phonos.sqlite3")
        state.full = True  # as a write that met the full disk (SQLITE_FULL) leaves it
        made = []
        with contextlib.suppress(OSError):  # ENOSPC: no inode left
            while True:
                path = mount / f"f{len(made)}"
                path.touch()
                made.append(path)
        stat = os.statvfs(mount)
        assert stat.f_favail == 0 and stat.f_bavail * stat.f_frsize >= RECOVERED_FREE_BYTES
        assert not state.writable()  # was ready: bytes free, yet no new file can be made
        for path in made[:32]:
            path.unlink()
        assert state.writable()
    finally:
        _unmount(mount)
