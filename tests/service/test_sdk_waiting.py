"""`wait()` in both SDK clients against a loopback event stream: a time limit holds while the job stays quiet
(only keep-alives), and a caller's cancel is never lost, even when it lands as the job finishes, on the
Python 3.11+ path (asyncio.timeout) and on the fallback kept for Python 3.10."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from aiohttp import web
from phonos_client import APITimeoutError, AsyncClient, Client, deadlines

pytestmark = pytest.mark.integration

JOB = {"job_id": "j1", "status": "completed", "model": "esmfold", "created_at": "2026-01-01T00:00:00Z"}
QUIET_FOR_S = 5.0  # a quiet job's stream sends only keep-alives for this long, then ends


async def events(request: web.Request) -> web.StreamResponse:
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
    await response.prepare(request)
    if request.match_info["job_id"] == "done":
        state = {"type": "state", "job_id": "done", "event_id": "1", "job": JOB | {"job_id": "done"}}
        await response.write(f"id: 1\nevent: state\ndata: {json.dumps(state)}\n\n".encode())
        return response
    ends = time.monotonic() + QUIET_FOR_S
    while time.monotonic() < ends:
        await response.write(b": keep-alive\n\n")
        await asyncio.sleep(0.1)
    return response


@pytest.fixture(scope="module")
def url() -> Iterator[str]:
    """A loopback server with the job event stream (GET /v1/jobs/{id} is a 404: a waiter must not need it)."""
    loop = asyncio.new_event_loop()
    app = web.Application()
    app.router.add_get("/v1/jobs/{job_id}/events", events)
    runner = web.AppRunner(app)
    loop.run_until_complete(runner.setup())
    site = web.TCPSite(runner, "127.0.0.1", 0)
    loop.run_until_complete(site.start())
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(10)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)
    loop.close()


@pytest.fixture(params=[True, False], ids=["asyncio.timeout", "python3.10-fallback"])
def timeout_scope(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(deadlines, "HAS_TIMEOUT_SCOPE", request.param)


def test_a_time_limit_holds_while_the_job_is_quiet(url: str, timeout_scope: None) -> None:
    started = time.monotonic()
    with Client(url, "pk_x") as phonos, pytest.raises(APITimeoutError, match="still not finished after 0.5 s"):
        phonos.wait("quiet", timeout=0.5)
    assert time.monotonic() - started < 2.5  # not at the stream's end (5 s) nor at a keep-alive read timeout

    async def run() -> None:
        async with AsyncClient(url, "pk_x") as phonos:
            await phonos.wait("quiet", timeout=0.5)

    started = time.monotonic()
    with pytest.raises(APITimeoutError, match="still not finished after 0.5 s"):
        asyncio.run(run())
    assert time.monotonic() - started < 2.5


class CancelsWithTheLastEvent(httpx.AsyncBaseTransport):
    """httpx's own transport, except that the chunk carrying the job's terminal event is handed to the
    client just after `victim` was cancelled: the caller's cancel lands in the very loop iteration in which
    the wait has its answer."""

    def __init__(self) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.victim: asyncio.Task[object] | None = None

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        return httpx.Response(response.status_code, headers=response.headers, stream=self._chunks(response),
                              extensions=response.extensions)

    class _Stream(httpx.AsyncByteStream):
        def __init__(self, chunks: AsyncIterator[bytes], response: httpx.Response) -> None:
            self.chunks, self.response = chunks, response

        def __aiter__(self) -> AsyncIterator[bytes]:
            return self.chunks

        async def aclose(self) -> None:
            await self.response.aclose()

    def _chunks(self, response: httpx.Response) -> httpx.AsyncByteStream:
        async def chunks() -> AsyncIterator[bytes]:
            async for chunk in response.aiter_raw():
                if b'"completed"' in chunk and self.victim is not None:
                    self.victim.cancel()
                yield chunk

        return self._Stream(chunks(), response)

    async def aclose(self) -> None:
        await self.inner.aclose()


def test_a_cancel_that_lands_as_the_job_finishes_is_not_lost(url: str, timeout_scope: None) -> None:
    async def run() -> None:
        transport = CancelsWithTheLastEvent()
        async with AsyncClient(url, "pk_x", http=httpx.AsyncClient(base_url=url, transport=transport)) as phonos:
            waiting = asyncio.create_task(phonos.wait("done", timeout=30))
            transport.victim = waiting
            with pytest.raises(asyncio.CancelledError):
                await waiting  # asyncio.wait_for returned the job here on Python 3.11
            assert waiting.cancelled()

    asyncio.run(run())
