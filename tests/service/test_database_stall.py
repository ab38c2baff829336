"""PostgreSQL's server processes behind the pool stopped mid-run (SIGSTOP: a stalled backend, a host swapping or
frozen) while the server itself still accepts connections: a call that meets one answers the documented 503
within PHONOS_DATABASE_COMMAND_TIMEOUT_S, the service goes on with new connections, and when the stopped
processes go on nothing was lost and nothing charged twice. Was: no command timeout, so each such call, and each
background loop (dispatch, leases, webhooks) that met one, waited for ever.

A PostgreSQL server of this module's own: stopping processes of the session's would stall other modules."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator

import pytest
import requests

from tests.postgres import PostgresServer
from tests.support import InProcessService, wait_until

pytestmark = pytest.mark.integration

COMMAND_TIMEOUT_S = 2.0
SEQUENCE = "MKTVRQERLKSIVRILERSKEPV"


@pytest.fixture(scope="module")
def service(own_postgres: PostgresServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[InProcessService]:
    running = InProcessService(tmp_path_factory.mktemp("stall"), {
        "PHONOS_DATABASE_URL": own_postgres.new_store_url("stall"),
        "PHONOS_DATABASE_COMMAND_TIMEOUT_S": str(COMMAND_TIMEOUT_S)})
    yield running
    running.stop()


def client_backends(server: PostgresServer) -> list[int]:
    """The server processes of every connection but psql's own: the service's pool and its listeners."""
    out = server.psql("SELECT pid FROM pg_stat_activity WHERE backend_type = 'client backend' "
                      "AND pid <> pg_backend_pid()")
    return [int(line) for line in out.split()]


def busy(server: PostgresServer, pids: list[int]) -> int:
    """How many of `pids` are still in a statement or a transaction."""
    listed = ",".join(map(str, pids))
    return int(server.psql(f"SELECT count(*) FROM pg_stat_activity WHERE pid IN ({listed}) AND state <> 'idle'"))


def test_stopped_server_processes_are_a_503_within_the_command_timeout_then_the_service_goes_on(
        own_postgres: PostgresServer, service: InProcessService) -> None:
    key = service.new_key(username="stall", credits=1000)
    client = service.client(key)
    first = client.predict(SEQUENCE)
    assert client.wait_for(first.json()["job_id"], timeout_s=30)["status"] == "completed"
    balance = client.balance()
    retry = {"Idempotency-Key": "stall-1"}

    stopped = client_backends(own_postgres)
    assert stopped
    for pid in stopped:
        os.kill(pid, signal.SIGSTOP)
    try:
        started = time.monotonic()
        response = client.post("/v1/predict", headers=retry, json={"model": "esmfold", "sequence": SEQUENCE})
        elapsed = time.monotonic() - started
        # The pool's idle connections are all stopped: the first statement meets one.
        assert response.status_code == 503, response.text
        body = response.json()
        assert set(body) == {"error", "message"} and body["error"] == "Service unavailable"
        assert "database" in body["message"] and int(response.headers["Retry-After"]) > 0
        assert elapsed < 3 * COMMAND_TIMEOUT_S, elapsed
        # The server accepts new connections: once the stalled ones are dropped, the service answers again,
        # while the stopped processes are still stopped.
        job = wait_until(lambda: (r := client.post("/v1/predict", headers=retry,
                                                   json={"model": "esmfold", "sequence": SEQUENCE})).status_code
                         == 200 and r, 30, 0.2)
        assert client.wait_for(job.json()["job_id"], timeout_s=30)["status"] == "completed"
    finally:
        for pid in stopped:
            os.kill(pid, signal.SIGCONT)

    # The stopped processes went on, each to the cancel or the closed connection waiting for it: nothing doubled.
    wait_until(lambda: busy(own_postgres, stopped) == 0, 30, 0.2)
    again = client.post("/v1/predict", headers=retry, json={"model": "esmfold", "sequence": SEQUENCE})
    assert again.json()["job_id"] == job.json()["job_id"]
    ids = sorted(j["job_id"] for j in client.get("/v1/jobs").json()["jobs"])
    assert ids == sorted([first.json()["job_id"], job.json()["job_id"]])
    assert client.balance() == balance - job.json()["credits_used"]
    health = requests.get(f"{service.base_url}/v1/health", timeout=30)
    assert health.status_code == 200 and health.json()["components"]["database"] == "ready"
    later = client.predict(SEQUENCE)  # the background loops were not left waiting either
    assert client.wait_for(later.json()["job_id"], timeout_s=30)["status"] == "completed"
