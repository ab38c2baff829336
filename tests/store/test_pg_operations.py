"""What an operator of PostgreSQL meets, on a real server at the store port: job services that start together
migrate once, a pooled connection whose server process ended (a restart, pg_terminate_backend) is never
a failed call while the server is up, a job service gone mid-transaction does not hold its locks for ever, and
a listening connection gone silent (a NAT that dropped the idle flow) is made again.

The connection's goodbye (FATAL 57P01) and its close arrive apart through a loopback relay of this test's that
holds the close back, as a busy event loop or network sees them. Was: the pool handed out the connection in
between and asyncpg refused the statement (InternalClientError: a 500 for a few calls each time PostgreSQL
restarted under load). The job service gone mid-transaction is one behind a relay that goes dark (every byte
dropped, nothing closed: its host gone from the network). Was: the server waited for it for as long as TCP
lets it (hours) holding its locks, and the other services' statements that needed them timed out meanwhile."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Iterator

import pytest

from jobservice import pg
from jobservice.errors import DatabaseUnavailable
from jobservice.pg import PgDatabase, pg_migrations
from tests.pg_relays import Relay, shut
from tests.postgres import PostgresServer

pytestmark = pytest.mark.integration


class LingeringRelay(Relay):
    """Relays loopback connections to `upstream`; once `linger` is set, when the server closes one the client's
    side stays open (until `close`): the server's last bytes arrive, its close does not."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.linger = False
        self._darkened: set[socket.socket] = set()  # dark (see Relay), for these connections only (see darken)
        super().__init__(upstream, "lingering-relay")

    def _passes(self, source: socket.socket) -> bool:
        return super()._passes(source) and source not in self._darkened

    def _ended(self, source: socket.socket, sink: socket.socket, from_client: bool) -> None:
        if from_client or not self.linger:  # the server leaving is not passed on while lingering
            shut(sink)

    def darken(self) -> None:
        """The connections open now drop every byte from here on, nothing closed; new ones are relayed."""
        with self._lock:
            self._darkened.update(self._sockets)

    def close(self) -> None:
        super().close()
        for sock in self._sockets:
            sock.close()


@pytest.fixture
def relay(postgres: PostgresServer) -> Iterator[LingeringRelay]:
    relaying = LingeringRelay(("127.0.0.1", postgres.port))
    yield relaying
    relaying.close()


def test_a_pooled_connection_whose_server_process_ended_is_replaced_not_a_failed_call(
        postgres: PostgresServer, relay: LingeringRelay) -> None:
    url = relay.url(postgres.new_store_url("ended"), postgres.port)

    async def end_the_backend(db: PgDatabase) -> None:
        pid = await db._pooled.run("fetchval", "SELECT pg_backend_pid()")  # the pool's one connection
        postgres.psql(f"SELECT pg_terminate_backend({int(pid)})")
        await asyncio.sleep(0.3)  # its FATAL has arrived; its close never will

    async def main() -> None:
        db = await PgDatabase.open(url, min_size=1, max_size=1)
        relay.linger = True
        try:
            await end_the_backend(db)
            assert await db.read.fetch_all("metrics_active_jobs") == []  # a single statement
            await end_the_backend(db)
            async with db.transaction() as tx:  # BEGIN meets it
                assert await tx.fetch_all("metrics_active_jobs") == []
        finally:
            relay.linger = False
            await db.close()

    asyncio.run(main())


def test_job_services_starting_together_migrate_once(postgres: PostgresServer) -> None:
    url = postgres.new_store_url("together")

    async def main() -> list[tuple[int, int]]:
        stores = await asyncio.gather(*(PgDatabase.open(url, min_size=1, max_size=2) for _ in range(4)))
        try:
            rows = await stores[0]._pooled.run("fetch", "SELECT version, count(*) FROM schema_migrations "
                                               "GROUP BY version ORDER BY version")
            return [(r[0], r[1]) for r in rows]
        finally:
            for store in stores:
                await store.close()

    applied = asyncio.run(main())
    assert applied == [(version, 1) for version, _ in pg_migrations()]


def test_a_job_service_gone_mid_transaction_does_not_hold_its_locks_for_ever(
        postgres: PostgresServer, relay: LingeringRelay) -> None:
    url = postgres.new_store_url("gone")
    timeout_s = 1.0

    async def main() -> float:
        gone = await PgDatabase.open(relay.url(url, postgres.port), command_timeout_s=timeout_s)
        other = await PgDatabase.open(url, command_timeout_s=timeout_s)
        locked, never = asyncio.Event(), asyncio.Event()

        async def hold_and_vanish() -> None:
            async with gone.transaction() as tx:
                await tx._conn.execute("SELECT pg_advisory_xact_lock(4242)")  # as a claim of a model takes
                relay.dark = True  # its host is gone from the network: no byte more either way
                locked.set()
                await never.wait()

        holder = asyncio.create_task(hold_and_vanish())
        try:
            await locked.wait()
            started = time.monotonic()
            while True:
                try:
                    async with other.transaction() as tx:
                        await tx._conn.execute("SELECT pg_advisory_xact_lock(4242)")
                    return time.monotonic() - started
                except (DatabaseUnavailable, TimeoutError):  # the lock is still held: waited a command timeout
                    if time.monotonic() - started > 20 * timeout_s:
                        raise
        finally:
            holder.cancel()
            relay.dark = False
            relay.close()  # the gone service's connections end here
            await asyncio.gather(holder, return_exceptions=True)
            await other.close()
            await gone.close()

    waited = asyncio.run(main())
    assert waited < 5 * timeout_s, waited


def test_a_listening_connection_gone_silent_is_made_again(postgres: PostgresServer, relay: LingeringRelay,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """Was: it stayed open and silent for ever, and the job service deaf to the others' announcements."""
    monkeypatch.setattr(pg, "LISTEN_PING_S", 0.2)
    url = relay.url(postgres.new_store_url("deaf"), postgres.port)
    channel = f"phonos_test_{id(relay)}"

    async def main() -> list[str]:
        db = await PgDatabase.open(url, command_timeout_s=1.0)
        heard: list[str] = []
        try:
            await db.listen(channel, heard.append)
            relay.darken()  # every connection open now, the listening one too, carries nothing more
            started = time.monotonic()
            while not heard and time.monotonic() - started < 15:
                await asyncio.to_thread(postgres.psql, f"SELECT pg_notify('{channel}', 'after')")
                await asyncio.sleep(0.3)
            return heard
        finally:
            relay.close()  # the darkened connections end here
            await db.close()

    assert "after" in asyncio.run(main())
