"""The Python SDK (clients/python) against the real service (in process, twin) over both transports: the
same calls over REST (the gateway) and gRPC (the job service's port) give the same typed results and
errors; its REST retry rules against a small scripted HTTP server on a loopback port (gRPC's retries:
tests/service/test_sdk_grpc.py)."""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from phonos_client import (
    APIStatusError,
    AsyncClient,
    AuthenticationError,
    BadRequestError,
    BatchTooLargeError,
    Client,
    InsufficientCreditsError,
    NotFoundError,
    QueueFullError,
    RateLimitError,
)
from phonos_models.common.progress import Progress

from jobservice import admin, ratelimit
from jobservice.memory_inference import Failure, Progressing, Slow
from jobservice.modelspecs.esmfold import build_spec as esmfold_spec
from launcher.ports import free_port
from tests.support import InProcessService, WebhookReceiver, wait_until

pytestmark = pytest.mark.integration

SEQUENCE = "MKTVRQERLKSIVRILERSKEPV"
TRANSPORTS = ("rest", "grpc")


@pytest.fixture(scope="module")
def service(twin_service: InProcessService) -> InProcessService:
    return twin_service


@pytest.fixture(params=TRANSPORTS)
def url(service: InProcessService, request: pytest.FixtureRequest) -> str:
    return service.url_for(request.param)


def test_submit_watch_wait_and_download(service: InProcessService, url: str, tmp_path: Path) -> None:
    steps = tuple(Progress("recycle", i, 3, f"pass {i}") for i in range(1, 4))
    service.settle()
    # 0.3 s apart: the watch opens after the submission, and a watcher that joins late gets only the latest step;
    # it must be open before step 2 (0.05 s apart, a loaded host's watch could open after it and miss step 1).
    service.inference.script("esmfold", Progressing(steps, 0.3))
    with Client(url, service.new_key(credits=100)) as phonos:
        submitted = phonos.predict("esmfold", SEQUENCE, name="sdk", params={"num_recycles": 2})
        assert submitted.status == "pending" and submitted.credits_used == 10
        events = list(phonos.watch(submitted.job_id))
        assert events[-1].terminal and events[-1].job.status == "completed"
        assert [e.progress.step for e in events if e.progress] == [1, 2, 3]
        assert [e.progress.message for e in events if e.progress] == ["pass 1", "pass 2", "pass 3"]
        rows = [service.running.service.ids.events.number(e.event_id) for e in events if e.event_id]  # opaque ids
        assert None not in rows and rows == sorted(rows) and len(set(rows)) == len(rows)
        job = phonos.wait(submitted.job_id)
        assert job.done and job.formats == esmfold_spec({}).formats and job.name == "sdk"
        assert job.metrics == {"twin": 1} and isinstance(job.metrics["twin"], int)  # Struct integers stay integers
        download = phonos.download(submitted.job_id, "json")
        assert download.file_name == f"{submitted.job_id}.json" and download.content
        # download_to a folder: the server's file name in it (was IsADirectoryError), in both clients
        saved = phonos.download_to(submitted.job_id, tmp_path)
        assert saved == tmp_path / f"{submitted.job_id}.pdb" and b"esmfold (pdb)" in saved.read_bytes()
        assert phonos.download_to(submitted.job_id, tmp_path / "named.json", "json").read_bytes() == download.content

        async def to_a_folder() -> Path:
            async with AsyncClient(url, phonos.api_key) as in_async:
                return await in_async.download_to(submitted.job_id, tmp_path / "sub", "json")

        (tmp_path / "sub").mkdir()
        assert asyncio.run(to_a_folder()).read_bytes() == download.content
        assert phonos.account().balance == 90


def test_typed_errors_carry_the_api_error(service: InProcessService, url: str) -> None:
    with Client(url, service.new_key(credits=5)) as phonos:
        with pytest.raises(NotFoundError) as missing:
            phonos.get_job("nope")
        assert (missing.value.status, missing.value.error) == (404, "Not found") and missing.value.request_id
        assert missing.value.message == "Job nope not found"
        # what a log line or a traceback shows carries the id to quote
        assert str(missing.value) == f"Not found: Job nope not found (request id {missing.value.request_id})"
        with pytest.raises(InsufficientCreditsError) as poor:
            phonos.predict("esmfold", SEQUENCE)
        assert (poor.value.status, poor.value.error) == (402, "Insufficient credits")
        assert "balance is 5" in poor.value.message
        with pytest.raises(BadRequestError) as bad:
            phonos.predict("esmfold", "MKV*J1")
        assert (bad.value.status, bad.value.error) == (400, "Invalid request")
        assert "invalid amino-acid" in bad.value.message
    with Client(url, "pk_wrong") as stranger, pytest.raises(AuthenticationError) as unknown:
        stranger.account()
    assert (unknown.value.status, unknown.value.error, unknown.value.exit_code) == (401, "Unauthorized", 3)


def test_rate_limit_errors_say_when_to_retry(service: InProcessService, url: str) -> None:
    with Client(url, service.new_key(rate_limit=2), max_rate_limit_wait=0) as phonos:  # 0: no waiting
        phonos.account()
        phonos.list_jobs()
        with pytest.raises(RateLimitError) as limited:
            phonos.account()
    assert (limited.value.status, limited.value.error) == (429, "Rate limit exceeded")
    assert limited.value.retry_after is not None and 0 < limited.value.retry_after <= 60
    assert "rate limit of 2" in limited.value.message


def test_pages_are_iterated_to_the_end(service: InProcessService, url: str) -> None:
    with Client(url, service.new_key()) as phonos:
        batch = phonos.submit_batch([{"model": "esmfold", "sequence": SEQUENCE, "name": f"j{i}"} for i in range(5)])
        assert [item.success for item in batch.results] == [True] * 5 and batch.total_credits_used == 50
        assert [j.name for j in phonos.iter_jobs(page_size=2)] == ["j4", "j3", "j2", "j1", "j0"]
        page = phonos.list_jobs(limit=2, offset=4)
        assert (page.total, len(page.jobs), page.has_more) == (5, 1, False)
        assert [j.name for j in phonos.iter_jobs(name="J3", page_size=1)] == ["j3"]  # by name, any case
        assert phonos.list_jobs(name="j", limit=2).total == 5
        mixed = phonos.submit_batch([{"model": "esmfold", "sequence": SEQUENCE},
                                     {"model": "esmfold", "sequence": "MKV*J1"}])
        assert [(i.success, i.error) for i in mixed.results] == [(True, None), (False, "Invalid request")]
        assert (mixed.accepted, mixed.refused) == (mixed.results[:1], mixed.results[1:])
        assert mixed.raw["summary"] == {"total": 2, "successful": 1, "failed": 1, "total_credits_used": 10}  # the seed's
        # Finished before the next test scripts the twin's next call (a job still queued here would take it).
        for job_id in [item.job_id for item in (*batch.results, mixed.results[0])]:
            assert job_id and phonos.wait(job_id, timeout=30).status == "completed"


def test_page_walkers_never_yield_an_entry_twice_when_new_ones_arrive_between_pages(
        service: InProcessService, url: str) -> None:
    """Offset pages of a newest-first list: a job submitted (and a credit entry written) after the first page
    pushes the older ones down, so the second page starts with the first page's last one. The walkers skip
    it by id: every entry once, none lost (the new ones are newer than the walk's start, so not in it)."""
    key = service.new_key(credits=1000)
    with Client(url, key) as phonos:
        first = [phonos.predict("esmfold", SEQUENCE, name=f"j{i}").job_id for i in range(4)][::-1]  # newest first
        ledger = [e.id for e in phonos.iter_credit_history()]
        jobs, entries = phonos.iter_jobs(page_size=2), phonos.iter_credit_history(page_size=2)
        seen_jobs = [next(jobs).job_id, next(jobs).job_id]  # the first page
        seen_entries = [next(entries).id, next(entries).id]
        phonos.predict("esmfold", SEQUENCE, name="late")  # a job and a charge arrive at the head of both lists
        assert seen_jobs + [j.job_id for j in jobs] == first
        assert seen_entries + [e.id for e in entries] == ledger

    async def walk() -> tuple[list[str], list[int]]:
        async with AsyncClient(url, key) as phonos:
            jobs, entries = phonos.iter_jobs(page_size=2), phonos.iter_credit_history(page_size=2)
            seen_jobs = [(await anext(jobs)).job_id, (await anext(jobs)).job_id]
            seen_entries = [(await anext(entries)).id, (await anext(entries)).id]
            await phonos.predict("esmfold", SEQUENCE, name="later")
            return (seen_jobs + [j.job_id async for j in jobs], seen_entries + [e.id async for e in entries])

    with Client(url, key) as phonos:
        before = ([j.job_id for j in phonos.iter_jobs()], [e.id for e in phonos.iter_credit_history()])
    assert asyncio.run(walk()) == before
    with Client(url, key) as phonos:  # done before the next test scripts the twin
        for job in phonos.iter_jobs():
            assert phonos.wait(job.job_id, timeout=30).status == "completed"


def test_walkers_begun_at_a_cursor_yield_every_entry_after_it(service: InProcessService, url: str) -> None:
    """iter_jobs / iter_credit_history / iter_account_activity(starting_after=ID), sync and async: every entry
    after ID (older), across pages of 2, as the lists' first pages give them."""
    key = service.new_key(credits=1000)
    with Client(url, key) as phonos:
        batch = phonos.submit_batch([{"model": "esmfold", "sequence": SEQUENCE, "name": f"j{i}"} for i in range(6)])
        for n in range(5):
            phonos.create_api_key(f"walked {n}")
        jobs = [j.job_id for j in phonos.list_jobs(limit=100).jobs]
        credits = [e.id for e in phonos.credit_history(limit=100).entries]
        activity = [e.id for e in phonos.account_activity(limit=100).entries]
        assert len(jobs) == 6 and len(credits) >= 6 and len(activity) >= 5
        assert [j.job_id for j in phonos.iter_jobs(page_size=2, starting_after=jobs[0])] == jobs[1:]
        assert [e.id for e in phonos.iter_credit_history(page_size=2, starting_after=credits[1])] == credits[2:]
        assert [e.id for e in phonos.iter_account_activity(page_size=2, starting_after=activity[0])] == activity[1:]
        assert [j.name for j in phonos.iter_jobs(name="j5", starting_after=jobs[1])] == []  # filters still apply
        assert list(phonos.iter_jobs(starting_after=jobs[-1])) == []

    async def walk() -> tuple[list[str], list[int], list[int]]:
        async with AsyncClient(url, key) as client:
            return ([j.job_id async for j in client.iter_jobs(page_size=2, starting_after=jobs[1])],
                    [e.id async for e in client.iter_credit_history(page_size=2, starting_after=str(credits[0]))],
                    [e.id async for e in client.iter_account_activity(page_size=2, starting_after=activity[1])])
    assert asyncio.run(walk()) == (jobs[2:], credits[1:], activity[2:])
    with Client(url, key) as phonos:  # done before the next test scripts the twin
        for job_id in [item.job_id for item in batch.results]:
            assert job_id and phonos.wait(job_id, timeout=30).status == "completed"


def test_a_webhooks_deliveries_are_walked_page_after_page_each_once(service: InProcessService, url: str) -> None:
    """iter_webhook_deliveries (sync and async) walks the whole delivery log through the shared page walker: a
    redelivery queued after the first page pushes the older ones down, and none is yielded twice."""
    key = service.new_key(credits=100)
    with WebhookReceiver() as receiver, Client(url, key) as phonos:
        hook = phonos.create_webhook(receiver.url, ["job.started", "job.completed"]).webhook_id
        for job_id in [item.job_id for item in phonos.submit_batch([{"model": "esmfold", "sequence": SEQUENCE}] * 2)
                       .results]:
            assert job_id and phonos.wait(job_id, timeout=30).status == "completed"
        wait_until(lambda: len(phonos.webhook_deliveries(hook, status="delivered").deliveries) == 4, 15)
        log = [d.delivery_id for d in phonos.webhook_deliveries(hook, limit=100).deliveries]  # newest first
        walk = phonos.iter_webhook_deliveries(hook, page_size=2)
        first_page = [next(walk).delivery_id, next(walk).delivery_id]
        phonos.redeliver(hook, log[-1])  # a fifth delivery, at the head of the log
        assert first_page + [d.delivery_id for d in walk] == log
        after_first = phonos.iter_webhook_deliveries(hook, page_size=2, starting_after=log[0])  # 2 pages from a cursor
        assert [d.delivery_id for d in after_first] == log[1:]
        assert list(phonos.iter_webhook_deliveries(hook, status="failed")) == []  # the filter reaches the server

        async def walk_async() -> tuple[list[str], list[str]]:
            async with AsyncClient(url, key) as client:
                pages = client.iter_webhook_deliveries(hook, page_size=2)
                seen = [(await anext(pages)).delivery_id, (await anext(pages)).delivery_id]
                await client.redeliver(hook, log[-1])
                every = [d.delivery_id async for d in client.iter_webhook_deliveries(hook, page_size=3)]
                return seen + [d.delivery_id async for d in pages], every

        before = [d.delivery_id for d in phonos.iter_webhook_deliveries(hook, page_size=100)]
        walked, every = asyncio.run(walk_async())
        assert walked == before and len(before) == 5 and len(every) == 6 and every[1:] == before
        wait_until(lambda: len(receiver.requests) == 6, 15)  # both redeliveries sent before the receiver stops


def test_deletes_answer_with_the_apis_answer(service: InProcessService) -> None:
    """delete_job / delete_webhook give the API's answer (`raw`, what `--json` prints), the same over both
    transports."""
    key = service.new_key(credits=100)
    with Client(service.url_for("rest"), key) as rest, Client(service.url_for("grpc"), key) as grpc:
        jobs = [rest.wait(rest.predict("esmfold", SEQUENCE).job_id, timeout=30).job_id for _ in range(2)]
        hooks = [rest.create_webhook("http://127.0.0.1:9/hook").webhook_id for _ in range(2)]
        by_rest, by_grpc = rest.delete_job(jobs[0]), grpc.delete_job(jobs[1])
        assert by_rest.raw == {"success": True, "job_id": jobs[0],
                               "message": "Job deleted: its results and inputs are gone"}
        assert by_grpc.raw == by_rest.raw | {"job_id": jobs[1]} and (by_grpc.id, by_grpc.success) == (jobs[1], True)
        hook_rest, hook_grpc = rest.delete_webhook(hooks[0]), grpc.delete_webhook(hooks[1])
        assert hook_rest.raw == {"success": True, "webhook_id": hooks[0], "message": "Webhook deleted"}
        assert hook_grpc.raw == hook_rest.raw | {"webhook_id": hooks[1]}


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_full_job_queue_is_its_own_error_not_the_rate_limit(twin_factory: type, transport: str) -> None:
    """The account's cap of waiting jobs (PHONOS_MAX_QUEUED_PER_ACCOUNT) refuses with 429 "Too many jobs" once
    that many wait: the SDK raises QueueFullError (a RateLimitError, waited out the same way) with the server's
    Retry-After. A batch larger than the cap could never be accepted: BatchTooLargeError (400), not a wait."""
    service = twin_factory.start(PHONOS_MAX_QUEUED_PER_ACCOUNT="1", PHONOS_MAX_INFLIGHT_PER_MODEL="1")
    service.inference.script("esmfold", Slow(60))
    with Client(service.url_for(transport), service.new_key(), max_rate_limit_wait=0) as phonos:
        with pytest.raises(BatchTooLargeError) as too_large:
            phonos.submit_batch([{"model": "esmfold", "sequence": SEQUENCE}] * 2)
        assert (too_large.value.status, too_large.value.queue_limit) == (400, 1)
        running = phonos.predict("esmfold", SEQUENCE).job_id
        wait_until(lambda: phonos.get_job(running).status == "running", 15)
        phonos.predict("esmfold", SEQUENCE)  # waits: the one this account may have
        with pytest.raises(QueueFullError) as full:
            phonos.submit_batch([{"model": "esmfold", "sequence": SEQUENCE}])
        phonos.cancel_job(running)
    assert (full.value.status, full.value.error, full.value.retry_after) == (429, "Too many jobs", 30)
    assert "may have at most 1" in full.value.message


def test_the_async_client_has_the_same_methods(service: InProcessService, url: str) -> None:
    service.settle()
    service.inference.script("esmfold", Failure.MODEL_ERROR)
    key = service.new_key(credits=100)

    async def run() -> None:
        async with AsyncClient(url, key) as phonos:
            submitted = await phonos.predict("esmfold", SEQUENCE)
            job = await phonos.wait(submitted.job_id, timeout=30)
            assert job.status == "failed" and job.error_code == "model_error" and job.credits_used == 0
            with pytest.raises(BadRequestError, match=r"is failed; it has no output \(only completed jobs"):
                await phonos.download(submitted.job_id)  # not "once it is completed": it never will be
            names = [j.job_id async for j in phonos.iter_jobs()]
            assert names == [submitted.job_id]
            hook = await phonos.create_webhook("http://127.0.0.1:9/hook", ["job.failed"])
            assert hook.secret and hook.events == ("job.failed",)
            assert [h.webhook_id for h in await phonos.list_webhooks()] == [hook.webhook_id]
            tested = await phonos.test_webhook(hook.webhook_id)  # nothing listens on port 9
            assert not tested.success and tested.status_code == 0
            await phonos.delete_webhook(hook.webhook_id)
            assert await phonos.list_webhooks() == []
            with pytest.raises(NotFoundError):
                await phonos.cancel_job("nope")
            service.settle()
            service.inference.script("esmfold", Slow(30))
            running = await phonos.predict("esmfold", SEQUENCE)
            async with contextlib.aclosing(phonos.watch(running.job_id)) as events:
                async for event in events:
                    if event.job.status == "running":
                        break
            cancelled = await phonos.cancel_job(running.job_id)
            assert (cancelled.status, cancelled.credits_refunded) == ("cancelled", 0)  # it ran: not refunded
            assert (await phonos.account()).balance == 90
            history = [e async for e in phonos.iter_credit_history(page_size=2)]  # newest first
            assert [(e.kind, e.amount, e.job_id) for e in history] == [
                ("charge", -10, running.job_id), ("refund", 10, submitted.job_id), ("charge", -10, submitted.job_id),
                ("grant", 100, None)]
            assert list((await phonos.credit_history(limit=1)).entries) == history[:1]
            usage = await phonos.usage(days=1)
            # net of the failed job's refund: what the balance lost
            assert usage["period"]["days"] == 1 and usage["totals"]["credits_used"] == 10

    asyncio.run(run())


def test_results_are_the_same_over_both_transports(service: InProcessService) -> None:
    key = service.new_key(credits=100)
    with Client(service.url_for("rest"), key) as rest, Client(service.url_for("grpc"), key) as grpc:
        job_id = grpc.predict("esmfold", SEQUENCE, name="twice", params={"num_recycles": 2}).job_id
        rest.wait(job_id, timeout=30)
        hook = rest.create_webhook("http://127.0.0.1:9/hook")
        assert rest.get_job(job_id).raw == grpc.get_job(job_id).raw  # every field, as JSON
        assert rest.list_jobs() == grpc.list_jobs() and rest.account() == grpc.account()
        assert rest.list_webhooks() == grpc.list_webhooks() and hook.webhook_id == rest.list_webhooks()[0].webhook_id
        assert rest.download(job_id, "pdb") == grpc.download(job_id, "pdb")
        assert rest.models() == grpc.models() and rest.health() == grpc.health()
        by_rest, by_grpc = rest.usage(), grpc.usage()
        assert by_rest.keys() == by_grpc.keys() and by_rest["period"] == by_grpc["period"]


def test_watching_an_unknown_job_raises_at_once_in_both_clients(service: InProcessService, url: str) -> None:
    key = service.new_key()
    with Client(url, key, max_retries=5) as phonos, pytest.raises(NotFoundError):
        list(phonos.watch("nope"))  # a 404 is not retried like a dropped connection

    async def run() -> list[str]:
        async with AsyncClient(url, key, max_retries=5) as phonos:
            submitted = await phonos.predict("esmfold", SEQUENCE)
            statuses = [e.job.status async for e in phonos.watch(submitted.job_id) if e.type == "state"]
            with pytest.raises(NotFoundError):
                [e async for e in phonos.watch("nope")]
            return statuses

    assert asyncio.run(run())[-1] == "completed"


def test_a_resumed_watch_of_a_finished_job_ends(service: InProcessService, url: str) -> None:
    with Client(url, service.new_key()) as phonos:
        job_id = phonos.predict("esmfold", SEQUENCE).job_id
        last = list(phonos.watch(job_id))[-1]
        assert last.terminal
        assert list(phonos.watch(job_id, last_event_id=last.event_id)) == []  # nothing newer: done at once


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_watch_resumes_across_a_job_service_restart(twin_factory: type, tmp_path: Path, transport: str) -> None:
    ports = {"grpc_port": free_port(), "http_port": free_port()}
    first = twin_factory.start(tmp_path / "var", **ports)
    key = first.new_key()
    first.inference.script("esmfold", Slow(60))
    events: list[Any] = []
    with Client(first.url_for(transport), key, max_retries=5) as phonos:
        job_id = phonos.predict("esmfold", SEQUENCE).job_id
        watching = threading.Thread(target=lambda: events.extend(phonos.watch(job_id)), daemon=True)
        watching.start()
        wait_until(lambda: any(e.job.status == "running" for e in events), 10)
        first.stop()  # the stream breaks; the SDK reconnects to the same address after the last event
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


def test_429s_are_waited_out_within_a_time_budget_then_raised() -> None:
    """A 429's waits count against max_rate_limit_wait (seconds), not max_retries; a wait that would pass the
    budget is not started."""
    with Scripted([(429, {"Retry-After": "1"}, LIMITED)] * 2) as server, \
            Client(f"http://127.0.0.1:{server.port}", "pk_x", max_retries=0, max_rate_limit_wait=1.9) as phonos:
        with pytest.raises(RateLimitError) as limited:
            phonos.account()
        assert limited.value.retry_after == 1 and "rate limit of 1" in limited.value.message
        first, second = (float(seen["at"]) for seen in server.seen)  # a 1-1.5 s wait fits, a second does not
        assert second - first >= 1.0
    with Scripted([(429, {"Retry-After": "30"}, LIMITED)]) as server, \
            Client(f"http://127.0.0.1:{server.port}", "pk_x", max_rate_limit_wait=5) as phonos:
        started = time.monotonic()
        with pytest.raises(RateLimitError):
            phonos.account()
        assert time.monotonic() - started < 5 and len(server.seen) == 1  # 30 s would not fit: raised at once


UNAVAILABLE = {"error": "Service unavailable",
               "message": "The job service cannot be reached right now; try again in a few seconds."}
ACCOUNT = {"account": {"id": 1, "username": "ada", "created_at": "2026-12-01T00:00:00Z"},
           "credits": {"balance": 5, "currency": "credits"},
           "jobs": {"total": 0, "completed": 0, "active": 0, "failed": 0, "cancelled": 0}}


def test_a_503_that_says_when_to_come_back_is_tried_again_no_sooner_in_both_clients() -> None:
    """The gateway answers 503 with Retry-After: 5 while the job service restarts behind it (gateway/invoker.py);
    the backoff alone (~0.5 s, then ~1 s) spent both retries before it was back. An HTTP-date is read too."""
    for retry_after in ("1", "in 1.95 s, as an HTTP-date"):  # the first backoff alone: 0.25-0.5 s
        if retry_after.startswith("in"):  # whole seconds: 0.95-1.95 s from now
            retry_after = email.utils.formatdate(time.time() + 1.95, usegmt=True)
        with Scripted([(503, {"Retry-After": retry_after}, UNAVAILABLE), (200, {}, ACCOUNT)]) as server, \
                Client(f"http://127.0.0.1:{server.port}", "pk_x") as phonos:
            assert phonos.account().balance == 5
            first, second = (float(seen["at"]) for seen in server.seen)
            assert second - first >= 0.9, retry_after

    async def in_async() -> float:
        with Scripted([(503, {"Retry-After": "1"}, UNAVAILABLE), (200, {}, ACCOUNT)]) as server:
            async with AsyncClient(f"http://127.0.0.1:{server.port}", "pk_x") as phonos:
                assert (await phonos.account()).balance == 5
            first, second = (float(seen["at"]) for seen in server.seen)
            return second - first

    assert asyncio.run(in_async()) >= 1.0
    with Scripted([(503, {"Retry-After": "1"}, UNAVAILABLE)] * 2) as server, \
            Client(f"http://127.0.0.1:{server.port}", "pk_x", max_retries=1) as phonos:
        with pytest.raises(APIStatusError) as unavailable:  # still within max_retries
            phonos.account()
        assert (unavailable.value.status, unavailable.value.retry_after, len(server.seen)) == (503, 1, 2)
        assert unavailable.value.error == "Service unavailable" and "cannot be reached" in unavailable.value.message


def test_a_submission_refused_for_the_rate_limit_is_sent_again_and_charged_once(
        service: InProcessService, url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """POST /v1/predict over the limit: the SDK waits the Retry-After and sends it again with the same
    Idempotency-Key (a POST without one is never repeated: tests/unit/test_sdk_calls.py); one job, charged
    once. The window is 1 s instead of 60 so the wait is short."""
    monkeypatch.setattr(ratelimit, "WINDOW_S", 1.0)
    username = f"limited{time.monotonic_ns()}"
    with Client(url, service.new_key(credits=100, rate_limit=1, username=username)) as phonos:
        phonos.account()  # the window's one request
        started = time.monotonic()
        submitted = phonos.predict("esmfold", SEQUENCE)
        assert time.monotonic() - started >= 0.5  # refused, waited, sent again
    # Read back with another key of the account: the limited key would wait out a window for each call.
    _, checker = asyncio.run(admin.add_key(service.settings, username=username, name="checker", rate_limit=None))
    with Client(url, checker.api_key) as phonos:
        assert [job.job_id for job in phonos.iter_jobs()] == [submitted.job_id]
        assert phonos.account().balance == 90
