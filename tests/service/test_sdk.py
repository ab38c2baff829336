"""The Python SDK (clients/python) against the real service (in process, twin), and its retry rules
against a small scripted HTTP server on a loopback port."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from phonos_client import (
    AsyncClient,
    AuthenticationError,
    Client,
    InsufficientCreditsError,
    NotFoundError,
    RateLimitError,
)
from phonos_models.common.progress import Progress

from jobservice.memory_inference import Failure, Progressing, Slow
from jobservice.modelspecs.esmfold import build_spec as esmfold_spec
from launcher.ports import free_port
from tests.support import InProcessService, wait_until

pytestmark = pytest.mark.integration

SEQUENCE = "MKTVRQERLKSIVRILERSKEPV"


@pytest.fixture(scope="module")
def service(twin_service: InProcessService) -> InProcessService:
    return twin_service


def test_submit_watch_wait_and_download(service: InProcessService) -> None:
    steps = tuple(Progress("recycle", i, 3, f"pass {i}") for i in range(1, 4))
    service.inference.script("esmfold", Progressing(steps, 0.05))
    with Client(service.base_url, service.new_key(credits=100)) as phonos:
        submitted = phonos.predict("esmfold", SEQUENCE, name="sdk", params={"num_recycles": 2})
        assert submitted.status == "pending" and submitted.credits_used == 10
        events = list(phonos.watch(submitted.job_id))
        assert events[-1].terminal and events[-1].job.status == "completed"
        assert [e.progress.step for e in events if e.progress] == [1, 2, 3]
        assert all(int(a.event_id) < int(b.event_id) for a, b in zip(
            [e for e in events if e.event_id], [e for e in events if e.event_id][1:], strict=False))
        job = phonos.wait(submitted.job_id)
        assert job.done and job.formats == esmfold_spec({}).formats and job.name == "sdk"
        download = phonos.download(submitted.job_id, "json")
        assert download.file_name == f"{submitted.job_id}.json" and download.content
        assert phonos.account().balance == 90


def test_typed_errors_carry_the_api_error(service: InProcessService) -> None:
    with Client(service.base_url, service.new_key(credits=5)) as phonos:
        with pytest.raises(NotFoundError) as missing:
            phonos.get_job("nope")
        assert (missing.value.status, missing.value.error) == (404, "Not found") and missing.value.request_id
        with pytest.raises(InsufficientCreditsError) as poor:
            phonos.predict("esmfold", SEQUENCE)
        assert poor.value.status == 402 and "balance is 5" in poor.value.message
    with Client(service.base_url, "pk_wrong") as stranger, pytest.raises(AuthenticationError):
        stranger.account()


def test_pages_are_iterated_to_the_end(service: InProcessService) -> None:
    with Client(service.base_url, service.new_key()) as phonos:
        batch = phonos.submit_batch([{"model": "esmfold", "sequence": SEQUENCE, "name": f"j{i}"} for i in range(5)])
        assert [item.success for item in batch.results] == [True] * 5 and batch.total_credits_used == 50
        assert [j.name for j in phonos.iter_jobs(page_size=2)] == ["j4", "j3", "j2", "j1", "j0"]
        page = phonos.list_jobs(limit=2, offset=4)
        assert (page.total, len(page.jobs), page.has_more) == (5, 1, False)


def test_the_async_client_has_the_same_methods(service: InProcessService) -> None:
    service.inference.script("esmfold", Failure.MODEL_ERROR)
    key = service.new_key(credits=100)

    async def run() -> None:
        async with AsyncClient(service.base_url, key) as phonos:
            submitted = await phonos.predict("esmfold", SEQUENCE)
            job = await phonos.wait(submitted.job_id, timeout=30)
            assert job.status == "failed" and job.error_code == "model_error" and job.credits_used == 0
            names = [j.job_id async for j in phonos.iter_jobs()]
            assert names == [submitted.job_id]
            hook = await phonos.create_webhook("http://127.0.0.1:9/hook", ["job.failed"])
            assert hook.secret and [h.webhook_id for h in await phonos.list_webhooks()] == [hook.webhook_id]
            await phonos.delete_webhook(hook.webhook_id)
            with pytest.raises(NotFoundError):
                await phonos.cancel_job("nope")

    asyncio.run(run())


def test_watching_an_unknown_job_raises_at_once_in_both_clients(service: InProcessService) -> None:
    key = service.new_key()
    with Client(service.base_url, key, max_retries=5) as phonos, pytest.raises(NotFoundError):
        list(phonos.watch("nope"))  # a 404 is not retried like a dropped connection

    async def run() -> list[str]:
        async with AsyncClient(service.base_url, key, max_retries=5) as phonos:
            submitted = await phonos.predict("esmfold", SEQUENCE)
            statuses = [e.job.status async for e in phonos.watch(submitted.job_id) if e.type == "state"]
            with pytest.raises(NotFoundError):
                [e async for e in phonos.watch("nope")]
            return statuses

    assert asyncio.run(run())[-1] == "completed"


def test_watch_resumes_across_a_job_service_restart(twin_factory: type, tmp_path: Path) -> None:
    ports = {"grpc_port": free_port(), "http_port": free_port()}
    first = twin_factory.start(tmp_path / "var", **ports)
    key = first.new_key()
    first.inference.script("esmfold", Slow(60))
    events: list[Any] = []
    with Client(first.base_url, key, max_retries=5) as phonos:
        job_id = phonos.predict("esmfold", SEQUENCE).job_id
        watching = threading.Thread(target=lambda: events.extend(phonos.watch(job_id)), daemon=True)
        watching.start()
        wait_until(lambda: any(e.job.status == "running" for e in events), 10)
        first.stop()  # the stream breaks; the SDK retries the same URL with Last-Event-ID
        second = twin_factory.start(tmp_path / "var", **ports)
        second.inference.script("esmfold", Slow(0.2))
        watching.join(30)
    states = [(e.event_id, e.job.status) for e in events if e.type == "state"]
    assert [s for _, s in states] == ["pending", "running", "pending", "running", "completed"] or \
        [s for _, s in states] == ["running", "pending", "running", "completed"]
    assert len({i for i, _ in states}) == len(states)  # every transition once


# ---------------------------------------------------------------------------------------------- retries


class Scripted:
    """A loopback HTTP server answering each request with the next scripted (status, headers, body)."""

    def __init__(self, answers: list[tuple[int, dict[str, str], Any]]) -> None:
        self.answers = answers
        self.seen: list[dict[str, str]] = []
        self.port = free_port()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    def __enter__(self) -> Scripted:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)
        return self

    async def _start(self) -> None:
        async def handle(request: web.Request) -> web.StreamResponse:
            self.seen.append(dict(request.headers) | {"path": request.path, "at": str(time.monotonic())})
            status, headers, body = self.answers.pop(0)
            if status == 0:  # drop the connection without an answer
                assert request.transport is not None
                request.transport.close()
                return web.Response()
            return web.json_response(body, status=status, headers=headers)

        app = web.Application()
        app.router.add_route("*", "/{path:.*}", handle)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)


ACCEPTED = {"success": True, "job_id": "j1", "model": "esmfold", "status": "pending", "credits_used": 10,
            "message": "Job submitted successfully"}
LIMITED = {"error": "Rate limit exceeded", "message": "You have exceeded the rate limit of 1 requests per minute"}


def test_429_is_retried_after_retry_after_and_a_dropped_post_keeps_its_idempotency_key() -> None:
    with Scripted([(429, {"Retry-After": "1"}, LIMITED), (0, {}, None), (200, {}, ACCEPTED)]) as server, \
            Client(f"http://127.0.0.1:{server.port}", "pk_x", max_retries=3) as phonos:
        started = time.monotonic()
        assert phonos.predict("esmfold", SEQUENCE).job_id == "j1"
        assert time.monotonic() - started >= 1.0  # waited as the 429 said
        keys = {seen["Idempotency-Key"] for seen in server.seen}
        assert len(server.seen) == 3 and len(keys) == 1  # three tries of one request, one key


def test_retries_give_up_with_the_typed_error() -> None:
    with Scripted([(429, {"Retry-After": "0"}, LIMITED)] * 2) as server, \
            Client(f"http://127.0.0.1:{server.port}", "pk_x", max_retries=1) as phonos:
        with pytest.raises(RateLimitError) as limited:
            phonos.account()
        assert limited.value.retry_after == 0 and "rate limit of 1" in limited.value.message
        assert len(server.seen) == 2
