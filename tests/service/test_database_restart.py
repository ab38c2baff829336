"""PostgreSQL restarted under load, two job services on it: every call is answered 200 or the documented 503 (never
a 500), every job a client was told it submitted completes once, and the balance is exactly the charges of those
jobs. Clients retry a 503 with their Idempotency-Key, as the docs say. Was: a few 500s per restart (a pooled
connection handed out between the server's goodbye and its close; tests/store/test_pg_operations.py pins it).

A PostgreSQL server of this module's own: the session's is shared by other modules and must not stop."""

from __future__ import annotations

import collections
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from jobservice.memory_inference import Slow
from tests.postgres import PostgresServer
from tests.support import InProcessService

pytestmark = pytest.mark.integration

CREDITS = 100_000
CLIENTS = 4


@pytest.fixture(scope="module")
def services(own_postgres: PostgresServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[InProcessService]]:
    env = {"PHONOS_DATABASE_URL": own_postgres.new_store_url("restart"), "PHONOS_JOB_LEASE_S": "2",
           "PHONOS_MAX_INFLIGHT_PER_MODEL": "4"}
    shared: Path = tmp_path_factory.mktemp("restart")  # one results directory, as on a shared volume
    started: list[InProcessService] = []
    try:
        for _ in range(2):
            started.append(InProcessService(shared, env))
        yield started
    finally:
        for service in started:
            service.stop()


def test_a_restart_under_load_is_200s_and_503s_and_every_accepted_job_runs_once(
        own_postgres: PostgresServer, services: list[InProcessService]) -> None:
    for service in services:
        service.inference.script("esmfold", *[Slow(0.05)] * 1000)
    key = services[0].new_key(credits=CREDITS)
    codes: collections.Counter[int] = collections.Counter()
    accepted: list[dict[str, object]] = []
    stop = threading.Event()

    def client_loop(i: int) -> None:
        client = services[i % 2].client(key)
        while not stop.is_set():
            retry = {"Idempotency-Key": str(uuid.uuid4())}
            while True:  # a 503 is retried with the same key until it is answered
                response = client.post("/v1/predict", headers=retry,
                                       json={"model": "esmfold", "sequence": "MKTVRQERLK"})
                codes[response.status_code] += 1
                if response.status_code != 503:
                    break
                time.sleep(0.1)
            if response.status_code == 200:
                accepted.append(response.json())
            codes[client.get("/v1/jobs").status_code] += 1

    threads = [threading.Thread(target=client_loop, args=(i,), daemon=True) for i in range(CLIENTS)]
    for thread in threads:
        thread.start()
    try:
        time.sleep(0.5)
        own_postgres.pause()  # fast shutdown: every connection ended by the server
        time.sleep(1)
    finally:
        own_postgres.resume()
    time.sleep(1)  # calls go on after it is back
    stop.set()
    for thread in threads:
        thread.join(60)

    assert set(codes) <= {200, 503}, codes
    assert codes[503] and len(accepted) > 10, codes
    client = services[1].client(key)
    ids = {str(job["job_id"]) for job in accepted}
    assert len(ids) == len(accepted)
    for job_id in ids:
        assert client.wait_for(job_id, timeout_s=60)["status"] == "completed"
    assert services[0].sql("SELECT count(*) FROM jobs") == [(len(ids),)]  # no job the client was not told of
    assert client.balance() == CREDITS - sum(int(str(job["credits_used"])) for job in accepted)
    health = requests.get(f"{services[0].base_url}/v1/health", timeout=30)
    assert health.status_code == 200
