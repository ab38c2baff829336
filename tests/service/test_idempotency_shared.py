"""Idempotency-Key across job services that share one PostgreSQL (README, Running on more than one machine).

Was: the claim that makes a retry wait for the first call's work was a lock of one process, so a retry that the load
balancer sent to the other service while the first still worked ran the work again (two jobs charged, a webhook
test event sent twice). Now the claim is a row of the store (jobservice/idempotency.py): the retry waits on any
service and replays the first answer, and a claim whose service was killed is taken over once its lease has passed.

Two in-process job services on one database (the inference twin); the first call is held mid-work by what it waits
for (the account's row, locked by the test; a receiver that has not answered yet), and the second is released only
once it has arrived and found nothing stored: it cannot have missed the first's work in flight.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import asyncpg
import pytest
import requests

from jobservice.db import now
from jobservice.idempotency import Claim, Idempotency
from jobservice.pg import PgDatabase
from tests.postgres import PostgresServer
from tests.support import REPO, ApiClient, InProcessService, WebhookReceiver, wait_until

pytestmark = pytest.mark.integration

BODY = {"model": "esmfold", "sequence": "MKTVRQERLKSIVRILERSKEPV"}
LEASE_S = "1"  # the killed service's lease (PHONOS_JOB_LEASE_S): how long its claim outlives it


@pytest.fixture(scope="module")
def services(tmp_path_factory: pytest.TempPathFactory,
             postgres: PostgresServer) -> Iterator[tuple[InProcessService, InProcessService]]:
    """Two job services on one database, as two machines behind a load balancer."""
    # A held test event waits for the test's go, not the 10 s send timeout (a loaded host can take seconds for it).
    database = {"PHONOS_DATABASE_URL": postgres.new_store_url("idem"), "PHONOS_WEBHOOK_TIMEOUT_S": "30"}
    shared = tmp_path_factory.mktemp("shared")  # one results directory for all, as on a shared volume
    first = InProcessService(shared, database)
    try:
        second = InProcessService(shared, database)
    except BaseException:
        first.stop()
        raise
    yield first, second
    second.stop()
    first.stop()


def start_twin(data_dir: Path, database_url: str) -> tuple[subprocess.Popen[str], str]:
    """A job service of its own process on `database_url` (it can be killed or stopped), with a lease of LEASE_S;
    and its base URL."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("PHONOS_", "TWIN_"))}
    twin = subprocess.Popen([sys.executable, "-m", "tests.twin_process", str(data_dir)], cwd=REPO,
                            text=True, stdout=subprocess.PIPE, start_new_session=True,
                            env={**clean, "PHONOS_DATABASE_URL": database_url, "PHONOS_JOB_LEASE_S": LEASE_S,
                                 "PHONOS_WEBHOOK_TIMEOUT_S": "30"})
    assert twin.stdout is not None
    ready = twin.stdout.readline()  # its logs go to stderr
    if not ready.startswith("ready "):
        twin.kill()
        raise AssertionError(f"the twin service exited with {twin.wait()} before it was ready")
    return twin, ready.split()[1]


def end_twin(twin: subprocess.Popen[str]) -> None:
    if twin.poll() is None:
        os.killpg(twin.pid, signal.SIGKILL)
    twin.wait(timeout=30)


@pytest.fixture(scope="module")
def stallable(services: tuple[InProcessService, InProcessService]) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """A third job service on the same database, as a process the tests stop (SIGSTOP) past its lease of LEASE_S
    and let go on (SIGCONT): a long GC pause, or a host that froze, of a service that is still alive."""
    twin, url = start_twin(services[0].settings.data_dir, services[0].settings.database_url or "")
    try:
        yield twin, url
    finally:
        end_twin(twin)


def replays_looked_up(service: InProcessService, monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """What each of `service`'s lookups of a stored response found, as they finish (the real lookup, observed): the
    first is made as the request arrives, before it runs or waits for anything."""
    idempotency = service.running.service.idempotency
    found: list[Any] = []
    real = idempotency.replay

    async def replay(*args: Any) -> Any:
        response = await real(*args)
        found.append(response)
        return response

    monkeypatch.setattr(idempotency, "replay", replay)
    return found


class GatedReceiver(WebhookReceiver):
    """Notes each delivery (with its time.time()) and answers once `gate` is set: the sender's work is in flight."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = threading.Event()

    def routes(self, app: Any) -> None:
        from aiohttp import web

        async def handle(request: web.Request) -> web.Response:
            self.requests.append({"at": time.time(), "body": (await request.read()).decode()})
            await asyncio.to_thread(self.gate.wait, 30)
            return web.Response(text="ok")

        app.router.add_post(self.path, handle)


def one_job_charged_once(answers: list[requests.Response], client: ApiClient) -> None:
    """The first answer ran the submission, the second replayed it, and the account (100 credits) has that one job,
    charged once."""
    assert [a.status_code for a in answers] == [200, 200], [a.text for a in answers]
    assert answers[0].json()["job_id"] == answers[1].json()["job_id"]
    assert "Idempotent-Replayed" not in answers[0].headers and answers[1].headers["Idempotent-Replayed"] == "true"
    assert [j["job_id"] for j in client.get("/v1/jobs").json()["jobs"]] == [answers[0].json()["job_id"]]
    assert client.balance() == 90  # charged once


def test_the_same_predict_sent_to_both_services_at_once_makes_one_job(
        services: tuple[InProcessService, InProcessService], monkeypatch: pytest.MonkeyPatch) -> None:
    first, second = services
    key = first.new_key(credits=100)
    looked_up = replays_looked_up(second, monkeypatch)

    def predict(service: InProcessService) -> requests.Response:
        return service.client(key).post("/v1/predict", json=BODY, headers={"Idempotency-Key": "both"})

    # A transaction of the test's own locks every account row: the first submission claims its key and then waits
    # at its account's row (the queued-jobs count), its work in flight, until the lock goes.
    connection = first.call(asyncpg.connect(first.settings.database_url))
    try:
        locker = first.call(connection.fetchval("SELECT pg_backend_pid()"))
        first.call(connection.execute("BEGIN; SELECT 1 FROM accounts FOR UPDATE"))

        def waiting_on_the_lock() -> int:
            return int(first.call(connection.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE $1 = ANY(pg_blocking_pids(pid))", locker)))

        with ThreadPoolExecutor(2) as pool:
            sent_first = pool.submit(predict, first)
            wait_until(waiting_on_the_lock, 30)
            sent_second = pool.submit(predict, second)
            wait_until(lambda: looked_up, 30)  # the second arrived, and found no response stored yet
            first.call(connection.execute("ROLLBACK"))
            answers = [sent_first.result(60), sent_second.result(60)]
    finally:
        first.call(connection.close())

    one_job_charged_once(answers, second.client(key))


def test_the_same_webhook_test_sent_to_both_services_at_once_sends_one_event(
        services: tuple[InProcessService, InProcessService], monkeypatch: pytest.MonkeyPatch) -> None:
    first, second = services
    key = first.new_key()
    looked_up = replays_looked_up(second, monkeypatch)
    with GatedReceiver() as receiver:
        made = first.client(key).post("/v1/webhooks", json={"url": receiver.url})
        assert made.status_code == 200, made.text
        path = f"/v1/webhooks/{made.json()['webhook']['webhook_id']}/test"

        def test_event(service: InProcessService) -> requests.Response:
            return service.client(key).post(path, headers={"Idempotency-Key": "test-both"})

        with ThreadPoolExecutor(2) as pool:
            sent_first = pool.submit(test_event, first)
            wait_until(lambda: receiver.requests, 30)  # the first's event is out; its answer is held
            sent_second = pool.submit(test_event, second)
            wait_until(lambda: looked_up, 30)
            receiver.gate.set()
            answers = [sent_first.result(60), sent_second.result(60)]
        # The second's answer came after any event it sent had been answered: none can still be on its way.
        assert len(receiver.requests) == 1
    assert [a.status_code for a in answers] == [200, 200], [a.text for a in answers]
    assert answers[0].json() == answers[1].json() and answers[0].json()["success"]
    assert answers[1].headers["Idempotent-Replayed"] == "true"


def test_a_key_whose_service_was_killed_mid_work_is_run_by_the_retry_after_the_lease(
        services: tuple[InProcessService, InProcessService]) -> None:
    """The killed service stored no answer, so the retry runs the work; but not before the claim's lease ended
    (until then the killed service might have been only slow)."""
    _, survivor = services
    key = survivor.new_key()
    doomed, doomed_url = start_twin(survivor.settings.data_dir, survivor.settings.database_url or "")
    try:
        with GatedReceiver() as receiver, ThreadPoolExecutor(1) as pool:
            made = survivor.client(key).post("/v1/webhooks", json={"url": receiver.url})
            path = f"/v1/webhooks/{made.json()['webhook']['webhook_id']}/test"
            headers = {"Idempotency-Key": "test-killed"}
            pool.submit(lambda: requests.post(f"{doomed_url}{path}", headers={
                **headers, "Authorization": f"Bearer {key}"}, timeout=60))  # never answered: its service dies
            wait_until(lambda: receiver.requests, 30)  # mid-work: the event is out, its answer held
            os.killpg(doomed.pid, signal.SIGKILL)
            doomed.wait(timeout=30)
            [(owner, expires_at)] = survivor.sql(
                "SELECT owner, expires_at FROM idempotency_claims WHERE key = ?", "test-killed")
            assert f":{doomed.pid}:" in owner  # the killed service's claim, left behind
            receiver.gate.set()
            retry = survivor.client(key).post(path, headers=headers)
            assert retry.status_code == 200, retry.text
            assert "Idempotent-Replayed" not in retry.headers and retry.json()["success"]  # run again, not replayed
            assert len(receiver.requests) == 2
            assert receiver.requests[1]["at"] > expires_at  # the retry waited out the killed service's lease
        assert survivor.sql("SELECT owner FROM idempotency_claims WHERE key = ?", "test-killed") == []  # released
    finally:
        end_twin(doomed)


def lease_ended(service: InProcessService, key: str) -> bool:
    """The key's claim is past its lease (stopped, its owner renews it no more): another service may take it over."""
    return any(expires_at < time.time() for (expires_at,) in service.sql(
        "SELECT expires_at FROM idempotency_claims WHERE key = ?", key))


# The statements a submission waits at for another's: its claim of the key, and its account's row (lock_account_jobs).
CLAIM_WAIT = "%INSERT INTO idempotency_claims%"
ACCOUNT_WAIT = "%FROM accounts WHERE id = % FOR UPDATE%"


def waiting_at(service: InProcessService, *statements: str) -> bool:
    """A session of the database waits for a lock in one of `statements` (LIKE patterns) now. (Asked on a connection
    of its own each time: pg_stat_activity stays as first read for a transaction's length.)"""
    return bool(service.sql("SELECT 1 FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE ANY(?)",
                            list(statements)))


def test_a_submission_whose_service_stalled_past_its_lease_is_charged_once(
        services: tuple[InProcessService, InProcessService], stallable: tuple[subprocess.Popen[str], str]) -> None:
    """The stalled service is stopped inside its submission's transaction; the other's retry, past the lease, must
    not charge again. Was: it took the key over and submitted, and the stalled one committed its own job too when it
    went on (two jobs, charged twice). Now the stalled transaction checked the claim first and holds it until its
    commit: the retry waits for that, then replays its answer."""
    first, survivor = services
    twin, twin_url = stallable
    key = survivor.new_key(credits=100)
    headers = {"Idempotency-Key": "stalled-predict", "Authorization": f"Bearer {key}"}
    connection = first.call(asyncpg.connect(first.settings.database_url))
    try:
        # The test's own transaction locks every account row: the stalled service's submission claims its key (the
        # claim's foreign key needs only a key-share lock, which this one lets by) and then waits at its account's
        # row (lock_account_jobs, FOR UPDATE, in its submission's transaction) until the lock goes.
        first.call(connection.execute("BEGIN; SELECT 1 FROM accounts FOR NO KEY UPDATE"))
        with ThreadPoolExecutor(2) as pool:
            sent_stalled = pool.submit(requests.post, f"{twin_url}/v1/predict", json=BODY, headers=headers, timeout=60)
            wait_until(lambda: waiting_at(survivor, ACCOUNT_WAIT), 30)
            os.kill(twin.pid, signal.SIGSTOP)
            try:
                first.call(connection.execute("ROLLBACK"))  # the stopped service's transaction takes the lock
                wait_until(lambda: lease_ended(survivor, "stalled-predict"), 30)
                retry = pool.submit(survivor.client(key).post, "/v1/predict", json=BODY,
                                    headers={"Idempotency-Key": "stalled-predict"})
                # The retry waits for the stopped service's transaction: at the claim it holds (was: at the account's
                # row, having taken the key over).
                wait_until(lambda: waiting_at(survivor, CLAIM_WAIT, ACCOUNT_WAIT), 30)
            finally:
                os.kill(twin.pid, signal.SIGCONT)
            answers = [sent_stalled.result(60), retry.result(60)]
    finally:
        first.call(connection.close())
    one_job_charged_once(answers, survivor.client(key))


def test_a_webhook_test_whose_service_stalled_past_its_lease_is_recorded_once_and_answers_the_winners_result(
        services: tuple[InProcessService, InProcessService], stallable: tuple[subprocess.Popen[str], str]) -> None:
    """The stalled service is stopped between its claim and its write (its event out, its answer not back); the
    other's retry, past the lease, takes the key over and runs the test itself. Was: the stalled one, let go on,
    recorded a second delivery and answered its own result; now its write finds the claim gone and rolls back, and
    its caller gets the winner's answer, replayed."""
    _, survivor = services
    twin, twin_url = stallable
    key = survivor.new_key()
    with GatedReceiver() as receiver, ThreadPoolExecutor(1) as pool:
        made = survivor.client(key).post("/v1/webhooks", json={"url": receiver.url})
        assert made.status_code == 200, made.text
        webhook_id = made.json()["webhook"]["webhook_id"]
        path = f"/v1/webhooks/{webhook_id}/test"
        headers = {"Idempotency-Key": "stalled-test"}
        sent_stalled = pool.submit(requests.post, f"{twin_url}{path}", headers={
            **headers, "Authorization": f"Bearer {key}"}, timeout=60)
        wait_until(lambda: receiver.requests, 30)  # mid-work: its event is out, the answer held
        os.kill(twin.pid, signal.SIGSTOP)
        try:
            wait_until(lambda: lease_ended(survivor, "stalled-test"), 30)
            receiver.gate.set()
            retry = survivor.client(key).post(path, headers=headers)
        finally:
            os.kill(twin.pid, signal.SIGCONT)
        stalled = sent_stalled.result(60)
    assert retry.status_code == 200 and "Idempotent-Replayed" not in retry.headers, retry.text  # the winner
    assert len(receiver.requests) == 2  # the stalled one's event had left before it stopped
    assert stalled.status_code == 200, stalled.text
    assert stalled.headers.get("Idempotent-Replayed") == "true" and stalled.json() == retry.json()
    assert survivor.sql("SELECT count(*) FROM webhook_deliveries WHERE webhook_id = ?", webhook_id) == [(1,)]


def test_a_claim_whose_release_met_a_database_restart_is_released_when_the_database_is_back(
        own_postgres: PostgresServer) -> None:
    """The release is tried again until the database answers: the client's retry of a call that met a restart (its
    503) was otherwise kept waiting for the whole lease (30 s by default; an hour here) by a claim nobody held."""
    async def scenario() -> None:
        store = await PgDatabase.open(own_postgres.new_store_url("release"), connect_timeout_s=2, command_timeout_s=5)
        services = [Idempotency(store, 3600, owner=f"service-{n}", lease_s=3600) for n in (1, 2)]
        try:
            account = (await store.write_one("insert_account", {
                "username": "ada", "email": None, "credits": 0, "now": now()}))["id"]
            claim = Claim(account, "restarted", "Predict", "fingerprint", 3600)
            hold = await services[0].hold(claim)
            await asyncio.to_thread(own_postgres.pause)
            async with hold:  # the work ends while the database is away: its release fails
                pass
            await asyncio.to_thread(own_postgres.resume)
            # The other service's request gets the key, long before the hour's lease (a bound against a hang).
            async with await asyncio.wait_for(services[1].hold(claim), timeout=20):
                pass
        finally:
            for service in services:
                await service.stop()
            await store.close()

    asyncio.run(scenario())
