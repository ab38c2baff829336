"""Webhook delivery against real loopback receivers: checked and pinned resolution, no redirects, bounded
reads without decompression, per-receiver concurrency, and a test route that tells only the status.

A local resolver stub (aiohttp's AbstractResolver, the port the connector uses) stands in for DNS so
that names can answer loopback, public or mixed addresses; every connection is a real socket.
"""

from __future__ import annotations

import asyncio
import email.utils
import ipaddress
import json
import socket
import sqlite3
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from aiohttp.abc import AbstractResolver, ResolveResult

from jobservice.db import Database, now
from jobservice.egress import receiver_session
from jobservice.webhook_deliveries import LOOPBACK_REFUSED
from jobservice.webhook_sender import WebhookSender
from jobservice.webhooks import UNREACHABLE_MESSAGE, Webhooks, post_event, retry_after_seconds
from launcher.ports import free_port

pytestmark = pytest.mark.integration


class StubResolver(AbstractResolver):
    """Answers from a table and counts the lookups."""

    def __init__(self, table: dict[str, list[str]]) -> None:
        self.table = table
        self.lookups: list[str] = []

    async def resolve(self, host: str, port: int = 0,
                      family: socket.AddressFamily = socket.AF_INET) -> list[ResolveResult]:
        self.lookups.append(host)
        return [ResolveResult(hostname=host, host=ip, port=port, family=socket.AF_INET6 if ":" in ip else socket.AF_INET,
                              proto=0, flags=0) for ip in self.table.get(host, [])]

    async def close(self) -> None:
        pass


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@asynccontextmanager
async def receiver(handler: Handler) -> AsyncIterator[tuple[int, list[web.Request]]]:
    """A real HTTP server on a loopback port; yields (port, requests seen)."""
    seen: list[web.Request] = []

    async def record(request: web.Request) -> web.StreamResponse:
        seen.append(request)
        await request.read()
        return await handler(request)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", record)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield port, seen
    finally:
        await runner.cleanup()


async def ok(request: web.Request) -> web.Response:
    return web.Response(status=204)


async def send(session: aiohttp.ClientSession, url: str, *, allow_loopback: bool,
               timeout_s: float = 5.0) -> tuple[int, str | None]:
    return await post_event(session, url, "whsec_x", '{"event":"t"}', "t", "1", timeout_s,
                            allow_loopback=allow_loopback)


def test_names_are_resolved_checked_and_the_checked_address_is_used() -> None:
    async def scenario() -> None:
        async with receiver(ok) as (port, seen):
            stub = StubResolver({"hook.example.org": ["127.0.0.1"],
                                 "rebind.example.org": ["93.184.216.34", "127.0.0.1"],
                                 "private.example.org": ["10.0.0.7"]})
            async with receiver_session(allow_loopback=True, resolver=stub) as dev:
                assert await send(dev, f"http://hook.example.org:{port}/hook", allow_loopback=True) == (204, None)
                assert seen[-1].headers["Host"] == f"hook.example.org:{port}"  # the name, at the checked address
                assert stub.lookups == ["hook.example.org"]  # one lookup: nothing re-resolves after the check
                assert await send(dev, f"http://private.example.org:{port}/h", allow_loopback=True) == \
                    (0, "refused address")  # development mode opens loopback only
            async with receiver_session(allow_loopback=False, resolver=stub) as strict:
                before = len(seen)
                assert await send(strict, f"http://hook.example.org:{port}/hook", allow_loopback=False) == \
                    (0, "refused address")
                # One public and one loopback answer: refused as a whole, nothing is contacted.
                assert await send(strict, f"http://rebind.example.org:{port}/h", allow_loopback=False) == \
                    (0, "refused address")
                # A URL that names this machine itself (any spelling) is refused as such: its owner typed it, so
                # saying so tells nothing of where names resolve (the server restarted without the setting)
                for literal in ("127.0.0.1", "0x7f000001", "[::ffff:127.0.0.1]", "2130706433", "127.1"):
                    assert await send(strict, f"http://{literal}:{port}/h", allow_loopback=False) == \
                        (0, LOOPBACK_REFUSED), literal
                assert len(seen) == before
            async with receiver_session(allow_loopback=False) as system:  # the real system resolver
                assert await send(system, f"http://localhost:{port}/h", allow_loopback=False) == \
                    (0, LOOPBACK_REFUSED)
                assert len(seen) == before

    asyncio.run(scenario())


def test_a_unicode_spelling_of_an_address_is_refused_at_delivery() -> None:
    """A URL stored before creation read hosts as aiohttp does: `http://１２７.０.０.１:PORT/` is no IP literal to
    `urlsplit`, but aiohttp connects to 127.0.0.1 itself, past the resolver's check. The delivery is refused and
    the receiver never sees a request."""
    async def scenario() -> None:
        async with receiver(ok) as (port, seen), receiver_session(allow_loopback=False) as strict:
            for host in ("\uff11\uff12\uff17.\uff10.\uff10.\uff11", "\u2460\u2461\u2466.0.0.1"):
                assert await send(strict, f"http://{host}:{port}/h", allow_loopback=False) == \
                    (0, LOOPBACK_REFUSED), host
            assert seen == []

    asyncio.run(scenario())


def test_redirects_are_not_followed() -> None:
    async def scenario() -> None:
        async with receiver(ok) as (target_port, target_seen):
            async def redirect(request: web.Request) -> web.Response:
                return web.Response(status=302, headers={"Location": f"http://127.0.0.1:{target_port}/inside"})

            async with receiver(redirect) as (port, _), receiver_session(allow_loopback=True) as session:
                assert await send(session, f"http://127.0.0.1:{port}/hook", allow_loopback=True) == (302, None)
            assert target_seen == []

    asyncio.run(scenario())


def test_answers_are_read_bounded_and_never_inflated() -> None:
    async def not_gzip(request: web.Request) -> web.Response:
        return web.Response(body=b"this is not gzip at all" * 10, headers={"Content-Encoding": "gzip"})

    async def endless(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Encoding": "gzip"})
        await response.prepare(request)
        for _ in range(10_000):  # ~640 MB if anyone read it all
            await response.write(b"\0" * 65536)
        return response

    async def scenario() -> None:
        async with receiver(not_gzip) as (bad_port, _), receiver(endless) as (endless_port, _), \
                receiver_session(allow_loopback=True) as session:
            assert await send(session, f"http://127.0.0.1:{bad_port}/h", allow_loopback=True) == (200, None)
            started = time.monotonic()
            assert await send(session, f"http://127.0.0.1:{endless_port}/h", allow_loopback=True) == (200, None)
            assert time.monotonic() - started < 3

    asyncio.run(scenario())


async def _database(tmp_path: Path) -> Database:
    db = await Database.open(tmp_path / "hooks.sqlite3")
    async with db.transaction() as tx:
        await tx.execute("insert_account", {"username": "u", "email": None, "credits": 0, "now": now()})
    return db


async def hanging(request: web.Request) -> web.Response:
    await asyncio.sleep(1.5)  # past the sender's 0.5 s (the server's cleanup waits for it: kept short)
    return web.Response(status=204)


def test_the_test_route_reports_only_a_status_a_timeout_or_unreachable(tmp_path: Path) -> None:
    async def scenario() -> None:
        db = await _database(tmp_path)
        hooks = Webhooks(db, max_per_account=5, allow_http_loopback=True, timeout_s=2)
        try:
            async with receiver(ok) as (port, _), receiver_session(allow_loopback=True) as session:
                reachable, _ = await hooks.create(1, f"http://127.0.0.1:{port}/hook", [])
                assert (await hooks.send_test(1, reachable.id, session)).status_code == 204
                closed, _ = await hooks.create(1, f"http://127.0.0.1:{free_port()}/hook", [])
                result = await hooks.send_test(1, closed.id, session)
                assert (result.delivered, result.status_code, result.message) == (False, 0, UNREACHABLE_MESSAGE)
                assert "127.0.0.1" not in result.message and "refused" not in result.message.lower()
            impatient = Webhooks(db, max_per_account=5, allow_http_loopback=True, timeout_s=0.5)
            async with receiver(hanging) as (port, _), receiver_session(allow_loopback=True) as session:
                hung, _ = await impatient.create(1, f"http://127.0.0.1:{port}/hook", [])
                result = await impatient.send_test(1, hung.id, session)  # said as the delivery log says it
                assert (result.delivered, result.status_code, result.message) == (
                    False, 0, "The receiver did not answer within 0.5 s; a test event is not retried (job events are)")
        finally:
            await db.close()

    asyncio.run(scenario())


def test_a_slow_receiver_delays_only_itself(tmp_path: Path) -> None:
    in_flight = {"now": 0, "max": 0}

    async def slow(request: web.Request) -> web.Response:
        in_flight["now"] += 1
        in_flight["max"] = max(in_flight["max"], in_flight["now"])
        try:
            await asyncio.sleep(1.5)
        finally:
            in_flight["now"] -= 1
        return web.Response(status=200)

    async def scenario() -> None:
        db = await _database(tmp_path)
        hooks = Webhooks(db, max_per_account=5, allow_http_loopback=True, timeout_s=5)
        sender = WebhookSender(db, timeout_s=5, max_attempts=3, backoff_base_s=60, allow_loopback=True,
                               per_receiver=2, max_concurrent=32)
        async with receiver(slow) as (slow_port, slow_seen), receiver(ok) as (fast_port, fast_seen):
            slow_hook, _ = await hooks.create(1, f"http://127.0.0.1:{slow_port}/hook", [])
            fast_hook, _ = await hooks.create(1, f"http://127.0.0.1:{fast_port}/hook", [])
            for _ in range(6):
                await _queue(db, slow_hook.id)
            sender.start()
            try:
                await _until(lambda: in_flight["now"] == 2)
                queued_at = time.monotonic()
                await _queue(db, fast_hook.id)
                sender.wake()
                await _until(lambda: len(fast_seen) == 1)
                assert time.monotonic() - queued_at < 1.0  # not behind the slow receiver's 1.5 s answers
                await _until(lambda: len(slow_seen) == 6, timeout_s=15)
                assert in_flight["max"] == 2
                await _until(lambda: _statuses(tmp_path) == {"delivered": 7})
            finally:
                await sender.stop()
                await db.close()

    asyncio.run(scenario())


async def _queue(db: Database, webhook_id: str) -> None:
    """A pending delivery, as the jobs trigger would queue it (written beside the service's connections). In a
    thread: written from the event loop's own thread, it blocked the loop while the sender's transaction, which
    needs the loop to finish, held the write lock, until sqlite3's 5 s wait gave up ("database is locked")."""
    await asyncio.to_thread(_insert_delivery, db.path, webhook_id)


def _insert_delivery(path: Path, webhook_id: str) -> None:
    payload = json.dumps({"event": "job.completed", "timestamp": "2026-01-01T00:00:00Z", "data": {}})
    with sqlite3.connect(path, timeout=30) as conn:
        conn.execute(
            "INSERT INTO webhook_deliveries (webhook_id, event, payload, status, next_attempt_at, created_at) "
            "VALUES (?, 'job.completed', ?, 'pending', ?, ?)", (webhook_id, payload, now(), now()))


def _statuses(tmp_path: Path) -> dict[str, int]:
    with sqlite3.connect(tmp_path / "hooks.sqlite3") as conn:
        return dict(conn.execute("SELECT status, COUNT(*) FROM webhook_deliveries GROUP BY status").fetchall())


async def _until(probe: Callable[[], bool], timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not probe():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met")
        await asyncio.sleep(0.02)


# A site's own network, as PHONOS_WEBHOOK_ALLOWED_NETWORKS names it. Loopback stands in for a lab's 10.20.0.0/16
# (a real socket needs an address this machine has); development's allow_loopback stays off throughout.
LAB = (ipaddress.ip_network("127.0.0.0/8"),)


def test_an_operators_own_networks_are_reachable_and_nothing_else(tmp_path: Path) -> None:
    async def scenario() -> None:
        stub = StubResolver({"lims.lab.internal": ["127.0.0.1"], "half.lab.internal": ["127.0.0.1", "10.99.0.1"],
                             "elsewhere.lab.internal": ["10.99.0.1"]})
        async with receiver(ok) as (port, seen):
            async with receiver_session(allow_loopback=False, resolver=stub, networks=LAB) as lab:
                async def to(url: str) -> tuple[int, str | None]:
                    return await post_event(lab, url, "whsec_x", "{}", "t", "1", 5, allow_loopback=False, networks=LAB)

                assert await to(f"http://lims.lab.internal:{port}/hook") == (204, None)
                assert await to(f"http://127.0.0.1:{port}/hook") == (204, None)
                # an address outside the listed networks, alone or beside one inside, is refused as before
                for url in (f"http://half.lab.internal:{port}/h", f"http://elsewhere.lab.internal:{port}/h",
                            "http://10.99.0.1/h", "http://169.254.169.254/latest/meta-data"):
                    assert await to(url) == (0, "refused address"), url
            assert len(seen) == 2
            # The sender takes the networks to its session and its literal check (off: refused, as before).
            db = await _database(tmp_path)
            hook, _ = await Webhooks(db, max_per_account=5, allow_http_loopback=True, timeout_s=5).create(
                1, f"http://127.0.0.1:{port}/hook", [])
            sender = WebhookSender(db, timeout_s=5, max_attempts=3, backoff_base_s=60, allow_loopback=False,
                                   networks=LAB)
            await _queue(db, hook.id)
            sender.start()
            try:
                await _until(lambda: _statuses(tmp_path) == {"delivered": 1})
            finally:
                await sender.stop()
                await db.close()
            assert len(seen) == 3

    asyncio.run(scenario())


def test_a_receiver_that_says_retry_after_is_not_asked_again_before_then(tmp_path: Path) -> None:
    """A 429 or 503 with Retry-After (seconds or an HTTP date) puts the next attempt no earlier than it says
    (the backoff here would say 0.1 s); it was ignored, so a receiver shedding load was asked again at once."""
    answers = [(503, "120"), (429, "Fri, 31 Dec 1999 23:59:59 GMT")]

    async def busy(request: web.Request) -> web.Response:
        status, wait = answers.pop(0) if answers else (500, "")
        return web.Response(status=status, headers={"Retry-After": wait} if wait else {})

    async def scenario() -> None:
        db = await _database(tmp_path)
        hooks = Webhooks(db, max_per_account=5, allow_http_loopback=True, timeout_s=5)
        sender = WebhookSender(db, timeout_s=5, max_attempts=5, backoff_base_s=0.1, allow_loopback=True,
                               per_receiver=2, max_concurrent=32)
        async with receiver(busy) as (port, seen):
            hook, _ = await hooks.create(1, f"http://127.0.0.1:{port}/hook", [])
            await _queue(db, hook.id)
            sender.start()
            try:
                await _until(lambda: len(seen) == 1)
                await _until(lambda: _next_attempt_in(tmp_path) > 0)
                assert 110 < _next_attempt_in(tmp_path) <= 120
                with sqlite3.connect(tmp_path / "hooks.sqlite3") as conn:  # the wait is over: ask again now
                    conn.execute("UPDATE webhook_deliveries SET next_attempt_at = ?", (now(),))
                sender.wake()
                await _until(lambda: len(seen) == 2)
                await asyncio.sleep(0.3)
                assert _next_attempt_in(tmp_path) < 1  # a date in the past: the backoff's own 0.2 s
            finally:
                await sender.stop()
                await db.close()

    asyncio.run(scenario())


def test_retry_after_is_read_as_seconds_or_an_http_date() -> None:
    assert retry_after_seconds("120") == 120
    assert retry_after_seconds(None) is None and retry_after_seconds("soon") is None
    assert retry_after_seconds("Fri, 31 Dec 1999 23:59:59 GMT") == 0
    ahead = email.utils.formatdate(time.time() + 600, usegmt=True)
    assert 590 < (retry_after_seconds(ahead) or 0) <= 600


def _next_attempt_in(tmp_path: Path) -> float:
    with sqlite3.connect(tmp_path / "hooks.sqlite3") as conn:
        (at,) = conn.execute("SELECT next_attempt_at FROM webhook_deliveries").fetchone()
    return float(at) - now()
