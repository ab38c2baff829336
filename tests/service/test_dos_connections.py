"""Connections that cost the service without a request, and what a cancelled job's result left at stop.

Was: the REST port accepted any number of idle connections (2,000 from one client in 0.9 s), each holding a file
descriptor for the 10 s header timeout: with the usual soft limit of 1,024 open files, one anonymous client could
starve accept() and the job service's own file writes. Now each client address (IPv6: its /64) may hold
PHONOS_CONNECTIONS_PER_CLIENT, all clients PHONOS_MAX_CONNECTIONS; a trusted proxy counts only in the total.
The gRPC port held a silent connection (raw, or an HTTP/2 preface and then nothing) for grpc's default 120 s
handshake timeout; now PHONOS_GRPC_HANDSHAKE_TIMEOUT_S. And a result stored for a job cancelled meanwhile raised
InvalidTransition into a task nobody awaited: "Task exception was never retrieved" in the log."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import sqlite3
import time
from collections.abc import Iterator
from typing import Any

import pytest

from jobservice.memory_inference import Slow
from jobservice.results import ResultStore
from tests.support import InProcessService, wait_until

pytestmark = pytest.mark.integration

PER_CLIENT = 4
TOTAL = 10
PROXY = "127.0.0.3"  # trusted: its connections count only in the total
HANDSHAKE_S = 0.5


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InProcessService]:
    service = InProcessService(tmp_path_factory.mktemp("connections"), {
        "PHONOS_CONNECTIONS_PER_CLIENT": str(PER_CLIENT), "PHONOS_MAX_CONNECTIONS": str(TOTAL),
        "PHONOS_TRUSTED_PROXIES": PROXY, "PHONOS_GRPC_HANDSHAKE_TIMEOUT_S": str(HANDSHAKE_S),
    })
    yield service
    service.stop()


def connect(port: int, source: str) -> socket.socket:
    """A TCP connection to the loopback port from `source` (any 127.0.0.0/8 address is this host's)."""
    return socket.create_connection(("127.0.0.1", port), timeout=10, source_address=(source, 0))


def closed_at_once(sock: socket.socket) -> bool:
    """The server closed the connection without an answer (before its header timeout, 10 s)."""
    sock.settimeout(5)
    try:
        return sock.recv(1) == b""
    except (TimeoutError, ConnectionResetError):
        return False


def awaiting(coroutine: Any) -> list[str]:
    """The coroutines a task's coroutine is suspended in, outermost first (Task.get_stack gives only the first)."""
    names: list[str] = []
    while hasattr(coroutine, "cr_code"):
        names.append(coroutine.cr_code.co_name)
        coroutine = coroutine.cr_await
    return names


def no_connections_open(service: InProcessService) -> None:
    """Wait until the REST port counts no open connection (an earlier test's are counted down as their FINs
    arrive)."""
    async def count() -> int:
        return int(service._runner.connections.count)
    wait_until(lambda: service.call(count()) == 0, 15)


def served(sock: socket.socket) -> bool:
    sock.settimeout(10)
    sock.sendall(b"GET /v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    return sock.recv(12).startswith(b"HTTP/1.1 ")


def test_one_address_holds_at_most_its_connections_and_others_are_still_served(service: InProcessService) -> None:
    no_connections_open(service)
    held = [connect(service.http_port, "127.0.0.1") for _ in range(PER_CLIENT)]
    try:
        extra = connect(service.http_port, "127.0.0.1")
        with extra:
            assert closed_at_once(extra)
        with connect(service.http_port, "127.0.0.2") as other:  # another client is not held back
            assert served(other)
        assert served(held[0])  # the connections it holds work
        held.pop().close()  # one closed: its place is free again (counted down when the server sees the FIN)

        def one_more() -> bool:
            with connect(service.http_port, "127.0.0.1") as sock:
                return served(sock)
        wait_until(one_more, 10)
    finally:
        for sock in held:
            sock.close()


def test_a_trusted_proxy_is_not_capped_per_address_but_the_total_holds(service: InProcessService) -> None:
    no_connections_open(service)
    proxy = [connect(service.http_port, PROXY) for _ in range(PER_CLIENT + 2)]
    others: list[socket.socket] = []
    try:
        assert all(served(sock) for sock in proxy)
        others = [connect(service.http_port, "127.0.0.2") for _ in range(TOTAL - len(proxy))]
        assert served(others[-1])
        with connect(service.http_port, "127.0.0.4") as over_total:
            assert closed_at_once(over_total)
    finally:
        for sock in proxy + others:
            sock.close()


@pytest.mark.parametrize("sends", [b"", b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"], ids=["raw", "preface"])
def test_a_silent_grpc_connection_is_closed_after_the_handshake_timeout(service: InProcessService,
                                                                         sends: bytes) -> None:
    with socket.create_connection(("127.0.0.1", service.grpc_port), timeout=10) as sock:
        sock.sendall(sends)
        sock.settimeout(10)  # grpc's default held it 120 s
        started = time.monotonic()
        with contextlib.suppress(ConnectionResetError):
            while sock.recv(4096):  # the server's SETTINGS (after a preface), then its close
                pass
        assert time.monotonic() - started < 9


def test_a_result_for_a_job_cancelled_meanwhile_is_dropped_without_an_error(
        service: InProcessService, caplog: pytest.LogCaptureFixture) -> None:
    """The job is cancelled by another party (a shared store's other service: the row changes, then this one is
    told, cancel_running) while its result is being stored: that write's InvalidTransition went to a task nobody
    awaited any more."""
    service.settle()
    dispatcher = service.running.service.dispatcher
    client = service.client(service.new_key())
    service.inference.script("esmfold", Slow(0.5))
    job_id = client.predict().json()["job_id"]
    client.wait_for(job_id, ("running",))
    database = service.settings.sqlite_path
    assert database is not None
    other = sqlite3.connect(database, isolation_level=None, timeout=10)
    try:
        other.execute("BEGIN IMMEDIATE")  # the service's `complete` write waits for this transaction

        async def storing() -> bool:
            task = dispatcher._running.get(job_id)
            return task is not None and "_persist" in awaiting(task.get_coro())
        wait_until(lambda: service.call(storing()), 10)
        other.execute("UPDATE jobs SET status = 'cancelled' WHERE id = ?", (job_id,))

        async def cancel() -> None:
            task = dispatcher._running[job_id]
            dispatcher.cancel_running(job_id)
            with contextlib.suppress(asyncio.CancelledError):
                await task
        with caplog.at_level(logging.DEBUG):
            service.call(cancel())
            other.execute("COMMIT")
            wait_until(lambda: any(r.getMessage().startswith("a result for a job no longer running")
                                   or "never retrieved" in r.getMessage() for r in caplog.records), 15)
    finally:
        other.close()
    assert not [r for r in caplog.records if "never retrieved" in r.getMessage()]
    assert client.get(f"/v1/jobs/{job_id}").json()["status"] == "cancelled"
    # Its result files go with it (they stayed: the cancelled task never reached the clean-up after the write).
    results = ResultStore(service.settings.results_dir)
    wait_until(lambda: not list(results.shard(job_id).glob(f"{job_id}.*")), 10)
