"""The SDK's page walkers (iter_jobs, iter_credit_history, iter_account_activity, iter_webhook_deliveries; sync
and async) against a scripted list server behind httpx.MockTransport: a walk begun at `starting_after` yields
every entry after it, page after page, each page asked for after the last one's cursor. (Against the real
service over REST and gRPC: tests/service/test_sdk.py.)"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from phonos_client import AsyncClient, Client

pytestmark = pytest.mark.unit


@dataclass
class ListServer:
    """Four newest-first lists of seven entries, paged as the gateway pages them (limit, offset or
    starting_after; next_starting_after on every page with more). `cursorless`: an older server, whose pages
    carry no next_starting_after. `asked`: each request's (path, query)."""

    cursorless: bool = False
    asked: list[tuple[str, dict[str, str]]] = field(default_factory=list)

    LISTS = {"/v1/jobs": "jobs", "/v1/account/credits": "entries", "/v1/account/activity": "entries",
             "/v1/webhooks/w1/deliveries": "deliveries"}

    @staticmethod
    def entries(path: str) -> list[dict[str, Any]]:
        if path == "/v1/jobs":
            return [{"job_id": f"job{n}", "status": "completed"} for n in range(7, 0, -1)]
        if path == "/v1/webhooks/w1/deliveries":
            return [{"delivery_id": f"d{n}", "event": "job.completed", "status": "delivered"} for n in range(7, 0, -1)]
        if path == "/v1/account/credits":
            return [{"id": n, "created_at": "2026-01-01T00:00:00Z", "amount": -1, "balance_after": n,
                     "kind": "charge"} for n in range(7, 0, -1)]
        return [{"id": n, "created_at": "2026-01-01T00:00:00Z", "action": "api_key.created"} for n in range(7, 0, -1)]

    def handle(self, request: httpx.Request) -> httpx.Response:
        path, query = request.url.path, dict(request.url.params)
        self.asked.append((path, query))
        every = self.entries(path)
        ids = [str(e.get("id", e.get("job_id", e.get("delivery_id")))) for e in every]
        limit, offset = int(query.get("limit", 20)), int(query.get("offset", 0))
        start = ids.index(query["starting_after"]) + 1 if query.get("starting_after") else offset
        page = every[start:start + limit]
        more = start + limit < len(every)
        pagination: dict[str, Any] = {"total": len(every), "limit": limit, "offset": offset, "has_more": more}
        if more and not self.cursorless:
            pagination["next_starting_after"] = ids[start + len(page) - 1]
        return httpx.Response(200, json={self.LISTS[path]: page, "pagination": pagination})


def sync_walk(server: ListServer, walker: Callable[[Client], Any]) -> list[str]:
    http = httpx.Client(base_url="http://phonos.test", transport=httpx.MockTransport(server.handle))
    with Client("http://phonos.test", "key", http=http) as client:
        return [identify(item) for item in walker(client)]


def async_walk(server: ListServer, walker: Callable[[AsyncClient], Any]) -> list[str]:
    async def walk() -> list[str]:
        http = httpx.AsyncClient(base_url="http://phonos.test", transport=httpx.MockTransport(server.handle))
        async with AsyncClient("http://phonos.test", "key", http=http) as client:
            return [identify(item) async for item in walker(client)]
    return asyncio.run(walk())


def identify(item: Any) -> str:
    return identify_raw(item.raw)


WALKERS: dict[str, tuple[str, Callable[..., Any], str]] = {  # name: (path, walker(client, **kw), the cursor's id)
    "jobs": ("/v1/jobs", lambda c, **kw: c.iter_jobs(**kw), "job6"),
    "credits": ("/v1/account/credits", lambda c, **kw: c.iter_credit_history(**kw), "6"),
    "activity": ("/v1/account/activity", lambda c, **kw: c.iter_account_activity(**kw), "6"),
    "deliveries": ("/v1/webhooks/w1/deliveries", lambda c, **kw: c.iter_webhook_deliveries("w1", **kw), "d6"),
}


@pytest.mark.parametrize("name", WALKERS)
@pytest.mark.parametrize("walk", [sync_walk, async_walk], ids=["sync", "async"])
def test_a_walk_from_a_cursor_yields_every_entry_after_it_across_pages(name: str, walk: Callable[..., list[str]]) -> None:
    path, walker, cursor = WALKERS[name]
    server = ListServer()
    after = walk(server, lambda c: walker(c, page_size=2, starting_after=cursor))
    every = [identify_raw(e) for e in ListServer.entries(path)]
    assert after == every[2:]  # the five after the second, none twice
    assert [q.get("starting_after") for _, q in server.asked] == [cursor, every[3], every[5]]  # three pages
    assert {q.get("offset", "0") for _, q in server.asked} == {"0"}  # a cursor beside an offset is a 400
    server.asked.clear()
    assert walk(server, lambda c: walker(c, page_size=2, starting_after=None)) == every  # None: from the top
    assert walk(server, lambda c: walker(c, page_size=3, starting_after="")) == every  # "" too, as the API reads it
    assert walk(server, lambda c: walker(c, starting_after=every[-1])) == []  # after the last: nothing


def identify_raw(entry: dict[str, Any]) -> str:
    return str(entry.get("id", entry.get("job_id", entry.get("delivery_id"))))


def test_an_entry_id_may_be_given_as_the_number_it_is() -> None:
    """A credit or activity entry's `id` is a number; its cursor is that number in decimal."""
    server = ListServer()
    walked = sync_walk(server, lambda c: c.iter_credit_history(page_size=4, starting_after=5))
    assert walked == ["4", "3", "2", "1"] and server.asked[0][1]["starting_after"] == "5"


@pytest.mark.parametrize("walk", [sync_walk, async_walk], ids=["sync", "async"])
def test_a_walk_from_a_cursor_stays_on_cursors_when_pages_name_no_next_one(walk: Callable[..., list[str]]) -> None:
    """A page without next_starting_after (a server that never writes it) continues after its last entry's id,
    never at an offset beside the cursor; a walk from the top still pages by offset there."""
    server = ListServer(cursorless=True)
    assert walk(server, lambda c: c.iter_jobs(page_size=2, starting_after="job7")) == [
        f"job{n}" for n in range(6, 0, -1)]
    assert [q.get("starting_after") for _, q in server.asked] == ["job7", "job5", "job3"]
    server.asked.clear()
    assert walk(server, lambda c: c.iter_jobs(page_size=3)) == [f"job{n}" for n in range(7, 0, -1)]
    assert [q.get("offset") for _, q in server.asked] == ["0", "3", "6"]
