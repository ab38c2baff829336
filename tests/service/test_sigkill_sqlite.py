"""`kill -9` of the job service on SQLite (one process, the lab's usual setup) while jobs are queued and running
and webhook deliveries wait for a retry; restarted on the same data directory, every accepted job ends exactly
once, the credits are the ledger's sum with one charge a job, and the deliveries resume. The twin stands in for
Triton so this runs without one (tests/e2e/test_faults_with_triton.py kills one with a real tritonserver,
tests/e2e/test_chaos.py two services on PostgreSQL)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from jobservice import admin
from phonos_config.service import ServiceSettings
from tests.support import REPO, ApiClient, WebhookReceiver, wait_until

pytestmark = pytest.mark.integration

CREDITS = 1000


@contextmanager
def twin_process(data_dir: Path, **env: str) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """tests/twin_process.py in a session of its own: (the process, its REST base URL); killed at the end."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("PHONOS_", "TWIN_"))}
    child = subprocess.Popen([sys.executable, "-m", "tests.twin_process", str(data_dir)], cwd=REPO, text=True,
                             stdout=subprocess.PIPE, env={**clean, **env}, start_new_session=True)
    try:
        assert child.stdout is not None
        for line in child.stdout:  # its startup logs go to stderr
            if line.startswith("ready "):
                yield child, line.split()[1]
                break
        else:
            raise AssertionError(f"the twin service exited with {child.wait()} before it was ready")
    finally:
        if child.poll() is None:
            os.killpg(child.pid, signal.SIGKILL)
        child.wait(timeout=30)


def terminal_events(receiver: WebhookReceiver) -> dict[str, str]:
    """Each job whose event the receiver has been sent (answered 500 or 200), with the status the event says."""
    bodies = [json.loads(r["body"]) for r in receiver.requests]
    return {body["data"]["job_id"]: body["data"]["status"] for body in bodies}


def undelivered(data_dir: Path) -> int:
    with sqlite3.connect(data_dir / "phonos.sqlite3") as db:
        return int(db.execute("SELECT count(*) FROM webhook_deliveries WHERE status != 'delivered'").fetchone()[0])


@pytest.mark.parametrize("max_attempts", [3, 1])
def test_a_killed_service_restarted_ends_every_job_once_and_resumes_its_deliveries(tmp_path: Path,
                                                                                  max_attempts: int) -> None:
    """PHONOS_MAX_ATTEMPTS=3 (the default): the two jobs the kill interrupted run again and complete; =1: the kill
    used their one run, so they fail refunded (README's policy), the rest completing as before."""
    data_dir = tmp_path / "var"
    settings = ServiceSettings.from_env({}).with_overrides(data_dir=data_dir)
    key = asyncio.run(admin.create_key(settings, username="ada", email=None, credits=CREDITS,
                                       rate_limit=100_000)).api_key
    env = {"PHONOS_MAX_INFLIGHT_PER_MODEL": "2", "PHONOS_WEBHOOK_BACKOFF_BASE_S": "0.5",
           "PHONOS_MAX_ATTEMPTS": str(max_attempts)}
    with WebhookReceiver(statuses=[500] * 10_000) as receiver:
        # Two jobs done (their events failing at the receiver, so waiting for a retry), two computing for ten
        # minutes, three queued behind them: then SIGKILL, nothing of the service's own shutdown running.
        with twin_process(data_dir, **env, TWIN_SLOW_S="0,0,600,600") as (first, base_url):
            client = ApiClient(base_url, key)
            assert client.post("/v1/webhooks", json={"url": receiver.url,
                                                     "events": ["job.completed", "job.failed"]}).status_code == 200
            done = [client.predict(name=f"done {n}").json()["job_id"] for n in range(2)]
            for job_id in done:
                client.wait_for(job_id)
            running = [client.predict(name=f"running {n}").json()["job_id"] for n in range(2)]
            queued = [client.predict(name=f"queued {n}").json()["job_id"] for n in range(3)]
            wait_until(lambda: all(client.get(f"/v1/jobs/{j}").json()["status"] == "running" for j in running), 30)
            assert {client.get(f"/v1/jobs/{j}").json()["status"] for j in queued} == {"pending"}
            wait_until(lambda: len(receiver.requests) >= 3, 30)  # each event tried, one retried: still pending
            charged_before = CREDITS - client.balance()
            os.killpg(first.pid, signal.SIGKILL)
            assert first.wait(timeout=30) == -signal.SIGKILL
        jobs = done + running + queued
        with sqlite3.connect(data_dir / "phonos.sqlite3") as db:
            assert db.execute("SELECT count(*) FROM webhook_deliveries WHERE status = 'pending'").fetchone()[0] == 2

        receiver._statuses.clear()  # the receiver is back: everything from now on is answered 200
        with twin_process(data_dir, **env) as (_, base_url):
            client = ApiClient(base_url, key)
            rerun = max_attempts > 1
            ended = {j: "completed" for j in jobs} | {j: "completed" if rerun else "failed" for j in running}
            final = {j: client.wait_for(j, timeout_s=60) for j in jobs}
            assert {j: job["status"] for j, job in final.items()} == ended
            completed = [j for j in jobs if ended[j] == "completed"]
            assert all(client.get(f"/v1/jobs/{j}/download").status_code == 200 for j in completed)
            balance = client.balance()
            # Each job's event reaches the receiver, the two that waited at the kill included.
            wait_until(lambda: terminal_events(receiver) == ended, 30)
            # ...and the service has recorded each answer: the receiver logs a request before it answers, and
            # leaving this block kills the service (CI: a delivery answered 200 still 'pending' in the file).
            wait_until(lambda: not undelivered(data_dir), 30)

    cost = charged_before // len(jobs)
    assert charged_before == cost * len(jobs) and cost > 0  # each charged at acceptance
    refunded = [] if rerun else running
    assert balance == CREDITS - cost * (len(jobs) - len(refunded))
    assert sum(job["credits_used"] for job in final.values()) == CREDITS - balance
    with sqlite3.connect(data_dir / "phonos.sqlite3") as db:
        ledger = db.execute("SELECT job_id, kind, amount FROM credit_entries ORDER BY id").fetchall()
        assert sum(amount for _, _, amount in ledger) == balance
        assert sorted(j for j, kind, _ in ledger if kind == "charge") == sorted(jobs)
        assert sorted(j for j, kind, _ in ledger if kind == "refund") == sorted(refunded)  # once each
        terminal = db.execute("SELECT job_id, status, count(*) FROM job_events WHERE status IN ('completed', 'failed') "
                              "GROUP BY job_id, status")
        assert {(j, status): n for j, status, n in terminal} == {(j, status): 1 for j, status in ended.items()}
        attempts = dict(db.execute("SELECT id, attempts FROM jobs").fetchall())
        assert [attempts[j] for j in running] == [2 if rerun else 1] * 2
        assert all(attempts[j] == 1 for j in done + queued)
        deliveries = db.execute("SELECT job_id, status FROM webhook_deliveries").fetchall()
        assert sorted(deliveries) == sorted((j, "delivered") for j in jobs)  # one a job, none left pending


def test_a_restart_removes_what_a_killed_writer_left_half_written(twin_factory: type, tmp_path: Path) -> None:
    """A kill between a result file's temporary and its rename (a few milliseconds a job, too short to hit on
    purpose) left the temporary for ever; the job ran again under new names. The SQLite service, the data
    directory's one writer, removes them at start; the result files beside them stay."""
    shard = tmp_path / "var" / "results" / "2f"
    shard.mkdir(parents=True)
    leftover = shard / ".2f1c0a9b-0000-4000-8000-000000000001.pdb.0badc0de.tmp"
    kept = shard / "2f1c0a9b-0000-4000-8000-000000000001.pdb"
    leftover.write_bytes(b"ATO")
    kept.write_bytes(b"ATOM\n")
    twin_factory.start(tmp_path / "var")
    assert sorted(p.name for p in shard.iterdir()) == [kept.name]
