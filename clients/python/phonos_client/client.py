"""`Client` and `AsyncClient`: the same methods, over REST (httpx), with retries and live watching.

Each API method is described once (`Call`: HTTP method, path, query, body, how to read the answer);
the two clients only differ in how they send it. Retries: connection errors, timeouts, 429 (waiting
`Retry-After`) and 502/503/504, with exponential backoff and jitter, `max_retries` times. A POST is
retried only with an `Idempotency-Key`, and the clients send one on every POST that takes it (a fresh
one per call, the same one across its retries), so a retried submission is never charged twice.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar
from urllib.parse import quote

import httpx

from phonos_client import errors
from phonos_client.models import (
    Account,
    Batch,
    Cancellation,
    Download,
    Job,
    JobEvent,
    JobPage,
    Submission,
    Webhook,
    WebhookTest,
)
from phonos_client.sse import SseParser

T = TypeVar("T")
DEFAULT_URL = "http://127.0.0.1:8080"
DEFAULT_TIMEOUT_S = 30.0
RETRY_STATUSES = frozenset({429, 502, 503, 504})
MAX_BACKOFF_S = 8.0
WATCH_READ_TIMEOUT_S = 90.0  # the server sends a keep-alive every 15 s; silence this long means a dead link


@dataclass(frozen=True)
class Call(Generic[T]):
    method: str
    path: str
    parse: Callable[[httpx.Response], T]
    params: dict[str, Any] = field(default_factory=dict)
    body: Any = None
    idempotency_key: str | None = None  # set on POSTs that accept one


def _json(kind: Callable[[dict[str, Any]], T]) -> Callable[[httpx.Response], T]:
    return lambda response: kind(response.json())


def _segment(value: str) -> str:
    return quote(value, safe="")


def _key(given: str | None) -> str:
    return given or str(uuid.uuid4())


def _query(**values: Any) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}


class _Calls:
    """Every route of the API as a `Call` (the one description both clients send)."""

    @staticmethod
    def health() -> Call[dict[str, Any]]:
        return Call("GET", "/v1/health", _json(dict))

    @staticmethod
    def models() -> Call[list[dict[str, Any]]]:
        return Call("GET", "/v1/models", lambda r: list(r.json()["models"]))

    @staticmethod
    def predict(model: str, sequence: str, name: str | None, params: dict[str, Any] | None,
                idempotency_key: str | None) -> Call[Submission]:
        body = _query(model=model, sequence=sequence, name=name, params=params)
        return Call("POST", "/v1/predict", _json(Submission.from_dict), body=body, idempotency_key=_key(idempotency_key))

    @staticmethod
    def submit_batch(jobs: list[dict[str, Any]], idempotency_key: str | None) -> Call[Batch]:
        return Call("POST", "/v1/batch", _json(Batch.from_dict), body={"jobs": jobs},
                    idempotency_key=_key(idempotency_key))

    @staticmethod
    def get_job(job_id: str) -> Call[Job]:
        return Call("GET", f"/v1/jobs/{_segment(job_id)}", _json(Job.from_dict))

    @staticmethod
    def list_jobs(status: str | None, model: str | None, limit: int | None, offset: int | None) -> Call[JobPage]:
        return Call("GET", "/v1/jobs", _json(JobPage.from_dict),
                    params=_query(status=status, model=model, limit=limit, offset=offset))

    @staticmethod
    def download(job_id: str, format: str | None) -> Call[Download]:
        def parse(response: httpx.Response) -> Download:
            disposition = response.headers.get("content-disposition", "")
            name = disposition.split('filename="', 1)[1].rstrip('"') if 'filename="' in disposition else None
            return Download(response.content, response.headers.get("content-type", ""), name)
        return Call("GET", f"/v1/jobs/{_segment(job_id)}/download", parse, params=_query(format=format))

    @staticmethod
    def cancel_job(job_id: str, idempotency_key: str | None) -> Call[Cancellation]:
        return Call("POST", f"/v1/jobs/{_segment(job_id)}/cancel", _json(Cancellation.from_dict),
                    idempotency_key=_key(idempotency_key))

    @staticmethod
    def account() -> Call[Account]:
        return Call("GET", "/v1/account", _json(Account.from_dict))

    @staticmethod
    def usage(days: int | None) -> Call[dict[str, Any]]:
        return Call("GET", "/v1/usage", _json(dict), params=_query(days=days))

    @staticmethod
    def list_webhooks() -> Call[list[Webhook]]:
        return Call("GET", "/v1/webhooks", lambda r: [Webhook.from_dict(w) for w in r.json()["webhooks"]])

    @staticmethod
    def create_webhook(url: str, events: list[str] | None, idempotency_key: str | None) -> Call[Webhook]:
        def parse(response: httpx.Response) -> Webhook:
            data = response.json()
            return Webhook.from_dict(data["webhook"], secret=data.get("secret"))
        return Call("POST", "/v1/webhooks", parse, body=_query(url=url, events=events),
                    idempotency_key=_key(idempotency_key))

    @staticmethod
    def delete_webhook(webhook_id: str) -> Call[None]:
        return Call("DELETE", f"/v1/webhooks/{_segment(webhook_id)}", lambda r: None)

    @staticmethod
    def test_webhook(webhook_id: str, idempotency_key: str | None) -> Call[WebhookTest]:
        return Call("POST", f"/v1/webhooks/{_segment(webhook_id)}/test", _json(WebhookTest.from_dict),
                    idempotency_key=_key(idempotency_key))


class _Base:
    def __init__(self, base_url: str | None, api_key: str | None, *, timeout: float, max_retries: int) -> None:
        self.base_url = (base_url or DEFAULT_URL).rstrip("/")
        self.api_key = api_key
        self.timeout = timeout
        self.max_retries = max_retries
        self.headers = {"Accept": "application/json", "User-Agent": "phonos-client/0.1"}
        if api_key:
            self.headers["Authorization"] = f"Bearer {api_key}"

    def _request_headers(self, call: Call[Any]) -> dict[str, str]:
        return {"Idempotency-Key": call.idempotency_key} if call.idempotency_key else {}

    def _retryable(self, call: Call[Any]) -> bool:
        return call.method in ("GET", "DELETE") or call.idempotency_key is not None

    def _request_args(self, call: Call[Any]) -> dict[str, Any]:
        return {"method": call.method, "url": call.path, "params": call.params or None, "json": call.body,
                "headers": self._request_headers(call)}

    def _retry_delay(self, call: Call[Any], exc: httpx.TransportError | errors.APIStatusError, attempt: int) -> float:
        """The pause before trying `call` again after `exc` on try `attempt` (0-based); raises the typed error
        when the call is not retried (not safe to repeat, a status that retrying cannot change, tries spent)."""
        error = _transport_error(exc) if isinstance(exc, httpx.TransportError) else exc
        transient = isinstance(exc, httpx.TransportError) or exc.status in RETRY_STATUSES
        if not (transient and self._retryable(call) and attempt < self.max_retries):
            if isinstance(exc, httpx.TransportError):
                raise error from exc
            raise exc
        return self._delay(attempt, error)

    def _delay(self, attempt: int, error: errors.PhonosError | None) -> float:
        if isinstance(error, errors.RateLimitError) and error.retry_after is not None:
            return min(error.retry_after, 60.0)
        return min(MAX_BACKOFF_S, 0.5 * 2**attempt) * (0.5 + random.random() / 2)

    @staticmethod
    def _check(response: httpx.Response) -> httpx.Response:
        if response.status_code >= 400:
            try:
                body = response.json()
            except ValueError:
                body = None
            raise errors.from_response(response.status_code, body, response.headers)
        return response

    @staticmethod
    def _watch_path(job_id: str | None) -> str:
        return "/v1/events" if job_id is None else f"/v1/jobs/{_segment(job_id)}/events"

    def _watch_request(self, job_id: str | None, cursor: str | None) -> dict[str, Any]:
        """Arguments of one (re)connection of a watch: resumes after `cursor`, reads with a long timeout
        because the server sends keep-alives between events."""
        headers = {"Accept": "text/event-stream", **({"Last-Event-ID": cursor} if cursor else {})}
        return {"method": "GET", "url": self._watch_path(job_id), "headers": headers,
                "timeout": httpx.Timeout(self.timeout, read=WATCH_READ_TIMEOUT_S)}

    def _watch_failed(self, exc: httpx.TransportError | errors.APIStatusError, failures: int) -> int:
        """Counts one failed watch connection; raises once it is not retryable or retries are spent."""
        if isinstance(exc, errors.APIStatusError) and exc.status not in RETRY_STATUSES:
            raise exc
        failures += 1
        if failures > max(self.max_retries, 5):
            if isinstance(exc, httpx.TransportError):
                raise _transport_error(exc) from exc
            raise exc
        return failures


def _transport_error(exc: httpx.TransportError) -> errors.APIConnectionError:
    if isinstance(exc, httpx.TimeoutException):
        return errors.APITimeoutError(f"the server did not answer in time ({exc})")
    return errors.APIConnectionError(f"could not reach the server: {exc}")


class Client(_Base):
    """Synchronous client. Use as a context manager, or call `close()`."""

    def __init__(self, base_url: str | None = None, api_key: str | None = None, *,
                 timeout: float = DEFAULT_TIMEOUT_S, max_retries: int = 2, http: httpx.Client | None = None) -> None:
        super().__init__(base_url, api_key, timeout=timeout, max_retries=max_retries)
        self._http = http or httpx.Client(base_url=self.base_url, headers=self.headers, timeout=timeout)

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def _send(self, call: Call[T]) -> T:
        attempt = 0
        while True:
            try:
                return call.parse(self._check(self._http.request(**self._request_args(call))))
            except (httpx.TransportError, errors.APIStatusError) as exc:
                time.sleep(self._retry_delay(call, exc, attempt))
            attempt += 1

    # -- the API ----------------------------------------------------------------------------------

    def health(self) -> dict[str, Any]:
        return self._send(_Calls.health())

    def models(self) -> list[dict[str, Any]]:
        return self._send(_Calls.models())

    def predict(self, model: str, sequence: str, *, name: str | None = None, params: dict[str, Any] | None = None,
                idempotency_key: str | None = None) -> Submission:
        return self._send(_Calls.predict(model, sequence, name, params, idempotency_key))

    def submit_batch(self, jobs: list[dict[str, Any]], *, idempotency_key: str | None = None) -> Batch:
        return self._send(_Calls.submit_batch(jobs, idempotency_key))

    def get_job(self, job_id: str) -> Job:
        return self._send(_Calls.get_job(job_id))

    def list_jobs(self, *, status: str | None = None, model: str | None = None, limit: int | None = None,
                  offset: int | None = None) -> JobPage:
        return self._send(_Calls.list_jobs(status, model, limit, offset))

    def iter_jobs(self, *, status: str | None = None, model: str | None = None, page_size: int = 100) -> Iterator[Job]:
        """Every job (newest first), page after page."""
        offset = 0
        while True:
            page = self.list_jobs(status=status, model=model, limit=page_size, offset=offset)
            yield from page.jobs
            if not page.has_more or not page.jobs:
                return
            offset += len(page.jobs)

    def download(self, job_id: str, format: str | None = None) -> Download:
        return self._send(_Calls.download(job_id, format))

    def download_to(self, job_id: str, path: str | Path, format: str | None = None) -> Path:
        target = Path(path)
        target.write_bytes(self.download(job_id, format).content)
        return target

    def cancel_job(self, job_id: str, *, idempotency_key: str | None = None) -> Cancellation:
        return self._send(_Calls.cancel_job(job_id, idempotency_key))

    def account(self) -> Account:
        return self._send(_Calls.account())

    def usage(self, days: int | None = None) -> dict[str, Any]:
        return self._send(_Calls.usage(days))

    def list_webhooks(self) -> list[Webhook]:
        return self._send(_Calls.list_webhooks())

    def create_webhook(self, url: str, events: list[str] | None = None, *, idempotency_key: str | None = None) -> Webhook:
        return self._send(_Calls.create_webhook(url, events, idempotency_key))

    def delete_webhook(self, webhook_id: str) -> None:
        self._send(_Calls.delete_webhook(webhook_id))

    def test_webhook(self, webhook_id: str, *, idempotency_key: str | None = None) -> WebhookTest:
        return self._send(_Calls.test_webhook(webhook_id, idempotency_key))

    # -- live -------------------------------------------------------------------------------------

    def watch(self, job_id: str | None = None, *, last_event_id: str | None = None) -> Iterator[JobEvent]:
        """Events of one job until it is terminal (all of the account's jobs when `job_id` is None, until
        the caller stops). A broken connection or a server restart is resumed after the last state event."""
        cursor = last_event_id
        failures = 0
        while True:
            try:
                with self._http.stream(**self._watch_request(job_id, cursor)) as response:
                    if response.status_code == 204:
                        return  # resumed after the last event of a finished job
                    if response.status_code >= 400:
                        response.read()
                        self._check(response)
                    parser = SseParser()
                    for line in response.iter_lines():
                        for event in parser.feed(line):
                            failures = 0
                            if event.event_id:
                                cursor = event.event_id
                            yield event
                            if job_id is not None and event.terminal:
                                return
            except (httpx.TransportError, errors.APIStatusError) as exc:
                failures = self._watch_failed(exc, failures)
            time.sleep(self._delay(max(failures - 1, 0), None))

    def wait(self, job_id: str, timeout: float | None = None) -> Job:
        """The job once it is terminal (completed, failed or cancelled), followed live."""
        deadline = None if timeout is None else time.monotonic() + timeout
        for event in self.watch(job_id):
            if event.terminal:
                return event.job
            if deadline is not None and time.monotonic() > deadline:
                raise errors.APITimeoutError(f"job {job_id} is still {event.job.status} after {timeout} s")
        return self.get_job(job_id)


class AsyncClient(_Base):
    """asyncio client with the same methods as `Client` (awaitable; `watch` is an async iterator)."""

    def __init__(self, base_url: str | None = None, api_key: str | None = None, *,
                 timeout: float = DEFAULT_TIMEOUT_S, max_retries: int = 2,
                 http: httpx.AsyncClient | None = None) -> None:
        super().__init__(base_url, api_key, timeout=timeout, max_retries=max_retries)
        limits = httpx.Limits(max_connections=None, max_keepalive_connections=20)
        self._http = http or httpx.AsyncClient(base_url=self.base_url, headers=self.headers, timeout=timeout,
                                               limits=limits)

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        await self._http.aclose()

    async def _send(self, call: Call[T]) -> T:
        attempt = 0
        while True:
            try:
                return call.parse(self._check(await self._http.request(**self._request_args(call))))
            except (httpx.TransportError, errors.APIStatusError) as exc:
                await asyncio.sleep(self._retry_delay(call, exc, attempt))
            attempt += 1

    async def health(self) -> dict[str, Any]:
        return await self._send(_Calls.health())

    async def models(self) -> list[dict[str, Any]]:
        return await self._send(_Calls.models())

    async def predict(self, model: str, sequence: str, *, name: str | None = None,
                      params: dict[str, Any] | None = None, idempotency_key: str | None = None) -> Submission:
        return await self._send(_Calls.predict(model, sequence, name, params, idempotency_key))

    async def submit_batch(self, jobs: list[dict[str, Any]], *, idempotency_key: str | None = None) -> Batch:
        return await self._send(_Calls.submit_batch(jobs, idempotency_key))

    async def get_job(self, job_id: str) -> Job:
        return await self._send(_Calls.get_job(job_id))

    async def list_jobs(self, *, status: str | None = None, model: str | None = None, limit: int | None = None,
                        offset: int | None = None) -> JobPage:
        return await self._send(_Calls.list_jobs(status, model, limit, offset))

    async def iter_jobs(self, *, status: str | None = None, model: str | None = None,
                        page_size: int = 100) -> AsyncIterator[Job]:
        offset = 0
        while True:
            page = await self.list_jobs(status=status, model=model, limit=page_size, offset=offset)
            for job in page.jobs:
                yield job
            if not page.has_more or not page.jobs:
                return
            offset += len(page.jobs)

    async def download(self, job_id: str, format: str | None = None) -> Download:
        return await self._send(_Calls.download(job_id, format))

    async def download_to(self, job_id: str, path: str | Path, format: str | None = None) -> Path:
        target = Path(path)
        content = (await self.download(job_id, format)).content
        await asyncio.to_thread(target.write_bytes, content)
        return target

    async def cancel_job(self, job_id: str, *, idempotency_key: str | None = None) -> Cancellation:
        return await self._send(_Calls.cancel_job(job_id, idempotency_key))

    async def account(self) -> Account:
        return await self._send(_Calls.account())

    async def usage(self, days: int | None = None) -> dict[str, Any]:
        return await self._send(_Calls.usage(days))

    async def list_webhooks(self) -> list[Webhook]:
        return await self._send(_Calls.list_webhooks())

    async def create_webhook(self, url: str, events: list[str] | None = None, *,
                             idempotency_key: str | None = None) -> Webhook:
        return await self._send(_Calls.create_webhook(url, events, idempotency_key))

    async def delete_webhook(self, webhook_id: str) -> None:
        await self._send(_Calls.delete_webhook(webhook_id))

    async def test_webhook(self, webhook_id: str, *, idempotency_key: str | None = None) -> WebhookTest:
        return await self._send(_Calls.test_webhook(webhook_id, idempotency_key))

    async def watch(self, job_id: str | None = None, *, last_event_id: str | None = None) -> AsyncIterator[JobEvent]:
        """See `Client.watch`."""
        cursor = last_event_id
        failures = 0
        while True:
            try:
                async with self._http.stream(**self._watch_request(job_id, cursor)) as response:
                    if response.status_code == 204:
                        return
                    if response.status_code >= 400:
                        await response.aread()
                        self._check(response)
                    parser = SseParser()
                    async for line in response.aiter_lines():
                        for event in parser.feed(line):
                            failures = 0
                            if event.event_id:
                                cursor = event.event_id
                            yield event
                            if job_id is not None and event.terminal:
                                return
            except (httpx.TransportError, errors.APIStatusError) as exc:
                failures = self._watch_failed(exc, failures)
            await asyncio.sleep(self._delay(max(failures - 1, 0), None))

    async def wait(self, job_id: str, timeout: float | None = None) -> Job:  # noqa: ASYNC109 - Client.wait's signature
        async def follow() -> Job:
            async for event in self.watch(job_id):
                if event.terminal:
                    return event.job
            return await self.get_job(job_id)

        return await asyncio.wait_for(follow(), timeout)
