"""A PostgreSQL server that drops packets silently (a firewall, a host gone from the network) answers 503 with
Retry-After within PHONOS_DATABASE_CONNECT_TIMEOUT_S, as a refused connection does. Was: each call waited out
asyncpg's 60 s connect timeout, long enough for a client or a gateway's deadline (504) to give up first.
The same cut while the pool's connections stay open (no reset reaches either side: mid-statement) answers 503
within PHONOS_DATABASE_COMMAND_TIMEOUT_S. Was: no command timeout, so each call waited for ever on its
connection (the gateway's 504 after 30 s) and so did the background loops that met it.

The job service reaches the session's PostgreSQL through a loopback TCP relay of this test's: forwarding, then
cut (every relayed connection closed, as a server restart would) with new connections accepted and never answered,
then forwarding again."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.pg_relays import Relay, shut
from tests.postgres import PostgresServer
from tests.support import InProcessService, wait_until

pytestmark = pytest.mark.integration

CONNECT_TIMEOUT_S = 1.0
COMMAND_TIMEOUT_S = 2.0


class SilentRelay(Relay):
    """Relays loopback connections to `upstream` until `go_silent`: then every relayed connection is closed and
    new ones are accepted and held without a byte read or written (a server behind a dropping firewall)."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.silent = False
        super().__init__(upstream, "silent-relay")

    def _hold(self, client: socket.socket) -> bool:
        held = self.silent
        if held:
            self._keep(client)  # accepted, never answered: the startup message waits for ever
        return held

    def _ended(self, source: socket.socket, sink: socket.socket, from_client: bool) -> None:
        shut(source)
        shut(sink)

    def _close_all(self) -> None:
        with self._lock:
            socks, self._sockets = self._sockets, []
        for sock in socks:
            shut(sock)
            sock.close()

    def go_silent(self) -> None:
        self.silent = True
        self._close_all()

    def go_dark(self) -> None:
        """Every byte of the open connections dropped, both ways, nothing closed; new connections held unanswered."""
        self.silent = self.dark = True

    def forward(self) -> None:
        self.silent = self.dark = False
        self._close_all()  # the held connections too: their connect has long timed out

    def close(self) -> None:
        super().close()
        self._close_all()


@pytest.fixture(scope="module")
def relay(postgres: PostgresServer) -> Iterator[SilentRelay]:
    relaying = SilentRelay(("127.0.0.1", postgres.port))
    yield relaying
    relaying.close()


@pytest.fixture(scope="module")
def service(postgres: PostgresServer, relay: SilentRelay,
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[InProcessService]:
    via_relay = relay.url(postgres.new_store_url("blackhole"), postgres.port)
    running = InProcessService(tmp_path_factory.mktemp("blackhole"), {
        "PHONOS_DATABASE_URL": via_relay, "PHONOS_DATABASE_CONNECT_TIMEOUT_S": str(CONNECT_TIMEOUT_S),
        "PHONOS_DATABASE_COMMAND_TIMEOUT_S": str(COMMAND_TIMEOUT_S)})
    yield running
    relay.forward()  # let the service's shutdown reach the database
    running.stop()


def test_a_database_that_never_answers_is_a_503_with_retry_after_within_the_connect_timeout(
        relay: SilentRelay, service: InProcessService, tmp_path: Path) -> None:
    key = service.new_key(username="blackhole")
    bearer = {"Authorization": f"Bearer {key}"}
    assert requests.get(f"{service.base_url}/v1/jobs", headers=bearer, timeout=30).status_code == 200

    relay.go_silent()
    try:
        for attempt in range(2):  # the pool reconnects at each call: each meets the timeout, none hangs
            started = time.monotonic()
            response = requests.get(f"{service.base_url}/v1/jobs", headers=bearer, timeout=30)
            elapsed = time.monotonic() - started
            assert response.status_code == 503, (attempt, response.status_code, response.text)
            body = response.json()
            assert body["error"] == "Service unavailable" and "database" in body["message"]
            assert int(response.headers["Retry-After"]) > 0
            # A key check and the call's own statements may each need a connection: a few timeouts at most.
            assert elapsed < 10 * CONNECT_TIMEOUT_S, elapsed
    finally:
        relay.forward()

    wait_until(lambda: requests.get(f"{service.base_url}/v1/jobs", headers=bearer, timeout=30).status_code == 200,
               30, 0.2)


def test_a_connection_gone_dark_mid_statement_is_a_503_within_the_command_timeout_and_nothing_is_charged_twice(
        relay: SilentRelay, service: InProcessService) -> None:
    key = service.new_key(username="dark", credits=1000)
    client = service.client(key)
    for _ in range(3):  # a few pooled connections open and idle: the ones the calls below meet
        assert client.get("/v1/jobs").status_code == 200
    retry = {"Idempotency-Key": "dark-1"}

    relay.go_dark()
    try:
        for attempt, call in enumerate((lambda: client.get("/v1/jobs"),
                                        lambda: client.post("/v1/predict", headers=retry,
                                                            json={"model": "esmfold", "sequence": "MKTVRQERLK"}))):
            started = time.monotonic()
            response = call()
            elapsed = time.monotonic() - started
            assert response.status_code == 503, (attempt, response.status_code, response.text)
            body = response.json()
            assert set(body) == {"error", "message"} and body["error"] == "Service unavailable"
            assert "database" in body["message"] and int(response.headers["Retry-After"]) > 0
            # At most a few statements or connections, each bounded; far from the gateway's 30 s deadline.
            assert elapsed < 4 * COMMAND_TIMEOUT_S, (attempt, elapsed)
        health = requests.get(f"{service.base_url}/v1/health", timeout=30)
        assert health.status_code == 503 and health.json()["components"]["database"] == "unavailable"
    finally:
        relay.forward()

    # Back on its own: the dark connections were dropped, new ones are made.
    wait_until(lambda: client.get("/v1/jobs").status_code == 200, 30, 0.2)
    job = client.post("/v1/predict", headers=retry, json={"model": "esmfold", "sequence": "MKTVRQERLK"})
    assert job.status_code == 200, job.text
    again = client.post("/v1/predict", headers=retry, json={"model": "esmfold", "sequence": "MKTVRQERLK"})
    assert again.json()["job_id"] == job.json()["job_id"]  # the retry is the same job
    assert client.wait_for(job.json()["job_id"], timeout_s=30)["status"] == "completed"
    jobs = client.get("/v1/jobs").json()["jobs"]
    assert [j["job_id"] for j in jobs] == [job.json()["job_id"]]
    assert client.balance() == 1000 - job.json()["credits_used"]  # charged once
