"""`Client` and `AsyncClient`: the same methods, over REST (httpx, the default) or gRPC, with retries and
live watching.

Each API method is described once as a `Call` (calls.py); a transport sends one try of it and turns any
failure into a typed error (rest.py, grpc_transport.py); the clients retry by one policy (retry.py):
a 429 after the server's `Retry-After`, for up to `max_rate_limit_wait` seconds of waiting per call
(default 120; 0 raises `RateLimitError` at once); connection errors, timeouts and 502/503/504 with
exponential backoff and jitter, for up to `max_retry_wait` seconds of pauses (default 8: a job service
restarting under `phonos serve` is ridden out) and at most `max_retries` tries (default 10);
`fail_fast_until_answered=True` (the `phonos` command's choice for an address that never answered it) raises a
connection that could not be made at all (`ServerUnreachableError`: refused, no such host) at once until the
server has answered once. A POST is retried only with an idempotency key, and the
clients send one on every POST that takes it (a fresh one per call, the same one across its retries), so a
retried submission is never charged twice.

The transport follows the URL: `grpc://host:port` (the job service's gRPC port) speaks gRPC, which needs
`pip install 'phonos-client[grpc]'`; any other URL is the REST API. `transport=` says it explicitly.
"""

from __future__ import annotations

import asyncio
import functools
import json
import os
import time
import unicodedata
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, Literal, Protocol, TypeVar

import httpx

from phonos_client import calls, errors
from phonos_client.calls import GRPC_SCHEME, Call
from phonos_client.deadlines import Expired, within
from phonos_client.models import (
    Account,
    ActivityEntry,
    ActivityPage,
    ApiKey,
    Batch,
    Cancellation,
    CreditEntry,
    CreditPage,
    Deletion,
    DeliveryPage,
    Download,
    Job,
    JobEvent,
    JobPage,
    JobShare,
    SharedJob,
    Submission,
    Webhook,
    WebhookDelivery,
    WebhookTest,
)
from phonos_client.rest import AsyncRestTransport, RestTransport
from phonos_client.retry import (
    DEFAULT_MAX_RETRIES,
    DEFAULT_RATE_LIMIT_WAIT_S,
    DEFAULT_RETRY_WAIT_S,
    RetryPolicy,
    Tries,
)
from phonos_client.saving import write_whole

T = TypeVar("T")
Transport = Literal["rest", "grpc"]
DEFAULT_URL = "http://127.0.0.1:8080"
DEFAULT_GRPC_URL = "grpc://127.0.0.1:50051"
DEFAULT_TIMEOUT_S = 30.0
_FAILURES = (errors.APIConnectionError, errors.APIStatusError)


class SyncTransport(Protocol):
    """One try of a call (rest.RestTransport, grpc_transport.GrpcTransport); failures come out typed."""

    def send(self, call: Call[T]) -> T: ...
    def stream(self, call: Call[T], deadline: float | None = None, opened: Callable[[], None] = ...
               ) -> Iterator[T]: ...
    def close(self) -> None: ...


class AsyncTransport(Protocol):
    async def send(self, call: Call[T]) -> T: ...
    def stream(self, call: Call[T], opened: Callable[[], None] = ...) -> AsyncIterator[T]: ...
    async def close(self) -> None: ...


def choose_transport(base_url: str | None, transport: Transport | None) -> tuple[Transport, str]:
    """The transport and URL a client uses: `transport`, else the URL's scheme (grpc:// is gRPC)."""
    kind: Transport = transport or ("grpc" if (base_url or "").startswith(GRPC_SCHEME) else "rest")
    if kind == "grpc":
        url = base_url or DEFAULT_GRPC_URL
        if url.startswith(("http://", "https://")):
            raise ValueError(f"gRPC goes to the job service's gRPC port: give grpc://host:port "
                             f"(e.g. {DEFAULT_GRPC_URL}), not the REST URL {url}")
        return kind, url if url.startswith(GRPC_SCHEME) else GRPC_SCHEME + url
    if kind != "rest":
        # said in JSON's quotes ("x"), as the `phonos` command and the API say a value back
        raise ValueError(f'transport must be "rest" or "grpc", got {json.dumps(transport, default=repr)}')
    url = (base_url or DEFAULT_URL).rstrip("/")
    if url.startswith(GRPC_SCHEME):
        raise ValueError(f"{url} is a gRPC address: use transport='grpc', or the REST URL (e.g. {DEFAULT_URL})")
    if not url.startswith(("http://", "https://")):
        raise ValueError(f"{json.dumps(url)} is not a server URL: give http(s)://host:port (e.g. {DEFAULT_URL}), "
                         f"or grpc://host:port for gRPC")
    # The API's own prefix is the clients' to add: `phonos serve` prints the REST address as .../v1.
    return kind, url.removesuffix("/v1")


def _configured(options: dict[str, Any]) -> tuple[str, str | None, dict[str, Any]]:
    """`from_config`'s URL, key and options: PHONOS_URL / PHONOS_API_KEY, else the file `phonos login` wrote, and
    PHONOS_MAX_RATE_LIMIT_WAIT and PHONOS_MAX_RETRY_WAIT unless `options` says max_rate_limit_wait or
    max_retry_wait."""
    from phonos_client import config  # it imports this module

    profile = config.load()
    if profile.api_key is None and profile.url_source == "default":
        # Nothing set anywhere: the client aimed at 127.0.0.1:8080 without a key, and the script's first call
        # failed far from the cause ("could not reach", or a 401 from whatever answers there).
        raise config.ConfigError(
            f"no server or key configured: PHONOS_URL and PHONOS_API_KEY are not set and {config.config_path()} "
            "does not exist; run `phonos login`, set them, or pass them: Client(url, api_key)")
    return profile.url, profile.api_key, {**profile.options(), **options}


def _grpc_module() -> Any:
    """grpc_transport, imported on demand: grpcio is the optional `[grpc]` extra."""
    try:
        from phonos_client import grpc_transport
    except ImportError as exc:
        raise errors.MissingExtraError(
            f"the gRPC transport needs the grpc extra: pip install 'phonos-client[grpc]' ({exc})") from exc
    return grpc_transport


class _Page(Protocol):
    @property
    def has_more(self) -> bool: ...

    @property
    def next_starting_after(self) -> str | None: ...


P = TypeVar("P", bound=_Page)


def _every(fetch: Callable[[int, str | None], P], items: Callable[[P], Sequence[T]],
           key: Callable[[T], object], starting_after: str | int | None = None) -> Iterator[T]:
    """Every item of a newest-first list, page after page, until a page says no more follow; `fetch(offset,
    starting_after)` reads one page. `starting_after`: begin after the item with that id (None or "": at the
    top), as a list page's `starting_after` does.

    Each page after the first starts after the last item of the one before (`next_starting_after`), so items
    that arrive or are deleted meanwhile move no page boundary: every item there at the start is seen once.
    A server older than the cursor gives no `next_starting_after`: the walk goes on by offset, and the items
    a newer one pushes down into the next page are skipped by their `key` (the id). (One deleted meanwhile
    pulls them up instead, and offsets cannot tell which one they then miss.)"""
    state = _Walk(starting_after)
    while True:
        page = fetch(state.offset, state.after)
        found = items(page)
        yield from _unseen(found, key, state.seen)
        if not state.advance(page, found, key):
            return


class _Walk:
    """Where a walk reads its next page: after the last item's id, else (an older server) at an offset."""

    def __init__(self, starting_after: str | int | None) -> None:
        self.offset = 0
        # A credit or activity entry's id is a number; the API's cursor is its decimal text ("" means unset there).
        self.after = None if starting_after is None or starting_after == "" else str(starting_after)
        self.seen: set[object] = set()

    def advance(self, page: _Page, found: Sequence[T], key: Callable[[T], object]) -> bool:
        """Move past `page` (`found`: its items); False when it was the last."""
        if not page.has_more or not found:
            return False
        if page.next_starting_after:
            self.offset, self.after = 0, page.next_starting_after
        elif self.after is not None:  # a walk begun at a cursor stays on cursors: one beside an offset is a 400
            self.after = str(key(found[-1]))
        else:
            self.offset += len(found)
        return True


def _unseen(found: Sequence[T], key: Callable[[T], object], seen: set[object]) -> list[T]:
    """The items of a page not yielded before (by `key`), now counted as yielded."""
    fresh = [item for item in found if key(item) not in seen]
    seen.update(key(item) for item in fresh)
    return fresh


async def _every_async(fetch: Callable[[int, str | None], Awaitable[P]], items: Callable[[P], Sequence[T]],
                       key: Callable[[T], object], starting_after: str | int | None = None) -> AsyncIterator[T]:
    """`_every` for the async client."""
    state = _Walk(starting_after)
    while True:
        page = await fetch(state.offset, state.after)
        found = items(page)
        for item in _unseen(found, key, state.seen):
            yield item
        if not state.advance(page, found, key):
            return


def _target(path: str | Path, download: Download, job_id: str) -> Path:
    """Where download_to writes: `path`, or in a folder the server's file name (only its last part: the name
    comes from the server's Content-Disposition and never leads out of the folder)."""
    target = Path(path)
    # A path ending in a separator names a folder, as `phonos jobs download --out DIR/` takes it: made when missing
    # (Path() drops the trailing "/": "new/" was written as a file "new", or failed naming its ".new.part").
    if str(path).endswith(("/", os.sep)) and not target.is_dir():
        target.mkdir(parents=True, exist_ok=True)
    if target.is_dir():
        target = target / (Path(download.file_name or "").name or f"{job_id}.out")
    return target


def _job_id(job: Job) -> str:
    return job.job_id


def _entry_id(entry: CreditEntry) -> int:
    return entry.id


def _activity_id(entry: ActivityEntry) -> int:
    return entry.id


def _delivery_id(delivery: WebhookDelivery) -> str:
    return delivery.delivery_id


BEARER = "bearer "


def bare_key(key: str) -> tuple[str, bool]:
    """The key without a leading `Bearer ` (any case) and the spaces around it, and whether one was there: a key
    copied from an `Authorization: Bearer pk_...` header (a curl line, the docs) was sent as `Bearer Bearer pk_...`
    and refused as an invalid key, with nothing pointing at the prefix. The clients add `Bearer ` themselves."""
    text = key.strip().strip(_INVISIBLE).strip()
    bearer = text[:len(BEARER)].lower() == BEARER
    if bearer:
        text = text[len(BEARER):].strip().strip(_INVISIBLE).strip()
    odd = next((c for c in text if not (c.isascii() and c.isprintable()) or c.isspace()), None)
    if odd is not None:  # was a UnicodeEncodeError traceback as the request's headers were built (exit 1)
        raise ValueError(f"the API key holds {_named_character(odd)}, which no phonos key has: copy the key again "
                         "(keys are pk_ followed by letters, digits, - and _)")
    return text, bearer


# Characters a copy and paste or a Windows file brings along unseen: a byte-order mark, zero-width spaces and joiners.
_INVISIBLE = "\ufeff\u200b\u200c\u200d\u2060"


def _named_character(character: str) -> str:
    name = unicodedata.name(character, "")
    return f"U+{ord(character):04X}" + (f" ({name.lower()})" if name else "")


class _Base:
    def __init__(self, base_url: str | None, api_key: str | None, transport: Transport | None, *, timeout: float,
                 max_retries: int, max_rate_limit_wait: float, max_retry_wait: float, http: object,
                 fail_fast_until_answered: bool) -> None:
        self.transport, self.base_url = choose_transport(base_url, transport)
        if http is not None and self.transport == "grpc":
            raise ValueError("http= is the REST transport's httpx client; gRPC makes its own channel")
        self.api_key = bare_key(api_key)[0] if api_key is not None else None
        self.timeout = timeout
        self.max_retries = max_retries
        if not max_rate_limit_wait >= 0:
            raise ValueError(f"max_rate_limit_wait is seconds, 0 or more; got {max_rate_limit_wait}")
        self.max_rate_limit_wait = max_rate_limit_wait
        if not max_retry_wait >= 0:
            raise ValueError(f"max_retry_wait is seconds, 0 or more; got {max_retry_wait}")
        self.max_retry_wait = max_retry_wait
        self._retry = RetryPolicy(max_retries, max_rate_limit_wait, max_retry_wait)
        self.fail_fast_until_answered = fail_fast_until_answered
        self._answered = False

    @property
    def answered(self) -> bool:
        """Whether the server has answered this client at least once (a result, or the API's error document)."""
        return self._answered

    def _failed(self, exc: errors.PhonosError) -> None:
        """Notes what a failed try says about the server; raises `exc` at once where no retry is wanted: a
        connection never made (`ServerUnreachableError`) while `fail_fast_until_answered` and nothing has answered
        yet. A server that answered before and now refuses is restarting (ridden out); one that never answered is
        more likely a wrong address, and the caller should hear so in a moment, not after `max_retry_wait`."""
        exc.server = exc.server or self.base_url
        if isinstance(exc, errors.APIStatusError) and exc.from_the_api:  # the API, not another server there
            self._answered = True
        elif (isinstance(exc, errors.ServerUnreachableError) and self.fail_fast_until_answered
              and not self._answered):
            exc.never_answered = True
            raise exc


class Client(_Base):
    """Synchronous client. Use as a context manager, or call `close()`."""

    def __init__(self, base_url: str | None = None, api_key: str | None = None, *, transport: Transport | None = None,
                 timeout: float = DEFAULT_TIMEOUT_S, max_retries: int = DEFAULT_MAX_RETRIES,
                 max_rate_limit_wait: float = DEFAULT_RATE_LIMIT_WAIT_S, max_retry_wait: float = DEFAULT_RETRY_WAIT_S,
                 http: httpx.Client | None = None, fail_fast_until_answered: bool = False) -> None:
        super().__init__(base_url, api_key, transport, timeout=timeout, max_retries=max_retries,
                         max_rate_limit_wait=max_rate_limit_wait, max_retry_wait=max_retry_wait, http=http,
                         fail_fast_until_answered=fail_fast_until_answered)
        self._transport: SyncTransport
        if self.transport == "grpc":
            self._transport = _grpc_module().GrpcTransport(self.base_url, self.api_key, timeout)
        else:
            self._transport = RestTransport(self.base_url, self.api_key, timeout, http)

    @classmethod
    def from_config(cls, **options: Any) -> Client:
        """A client for the server and key the `phonos` command uses: PHONOS_URL / PHONOS_API_KEY, else the file
        `phonos login` wrote (and PHONOS_MAX_RATE_LIMIT_WAIT, PHONOS_MAX_RETRY_WAIT); `options` as the constructor takes them. The
        constructor itself reads nothing from the environment, so `Client(url, None)` (a share link's reader)
        stays keyless wherever it runs. A config file that is not one, or nothing configured at all, raises
        `config.ConfigError` (a PhonosError and a ValueError)."""
        url, api_key, options = _configured(options)
        return cls(url, api_key, **options)

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._transport.close()

    def _send(self, call: Call[T]) -> T:
        tries = Tries()
        while True:
            try:
                answer = self._transport.send(call)
            except _FAILURES as exc:
                self._failed(exc)
                if self._retry.done_before(call, exc, tries):
                    return call.read(self._retry.lost_answer(call))
                time.sleep(self._retry.delay(call, exc, tries))
            else:
                self._answered = True
                return answer

    # -- the API ----------------------------------------------------------------------------------

    def health(self) -> dict[str, Any]:
        return self._send(calls.health())

    def models(self) -> list[dict[str, Any]]:
        return self._send(calls.models())

    def predict(self, model: str, sequence: str, *, name: str | None = None, params: dict[str, Any] | None = None,
                idempotency_key: str | None = None) -> Submission:
        return self._send(calls.predict(model, sequence, name, params, idempotency_key))

    def submit_batch(self, jobs: list[dict[str, Any]], *, idempotency_key: str | None = None) -> Batch:
        return self._send(calls.submit_batch(jobs, idempotency_key))

    def get_job(self, job_id: str) -> Job:
        return self._send(calls.get_job(job_id))

    def list_jobs(self, *, status: str | None = None, model: str | None = None, limit: int | None = None,
                  offset: int | None = None, name: str | None = None, starting_after: str | None = None) -> JobPage:
        """One page of jobs, newest first; `name` keeps those whose name contains it, ignoring case;
        `starting_after`: the last job_id of the page before (its `next_starting_after`), instead of an offset."""
        return self._send(calls.list_jobs(status, model, limit, offset, name, starting_after))

    def iter_jobs(self, *, status: str | None = None, model: str | None = None, name: str | None = None,
                  page_size: int = 100, starting_after: str | None = None) -> Iterator[Job]:
        """Every job (newest first), page after page; `starting_after`: every one after that job_id (older)."""
        return _every(lambda offset, after: self.list_jobs(status=status, model=model, name=name, limit=page_size,
                                                           offset=offset, starting_after=after),
                      lambda page: page.jobs, _job_id, starting_after)

    def job_input(self, job_id: str) -> dict[str, Any]:
        """The request a job was accepted with, in `predict`'s shape (model, sequence, params, name): change it
        and submit it again with `predict(**...)`."""
        return self._send(calls.job_input(job_id))

    def download(self, job_id: str, format: str | None = None) -> Download:
        return self._send(calls.download(job_id, format))

    def download_to(self, job_id: str, path: str | Path, format: str | None = None) -> Path:
        """Save a completed job's file at `path`; a folder that exists, or a path ending in "/" (made when missing),
        gets it under the server's file name (`<job_id>.pdb`). The path written."""
        download = self.download(job_id, format)
        target = _target(path, download, job_id)
        write_whole(target, download.content)
        return target

    def cancel_job(self, job_id: str, *, idempotency_key: str | None = None) -> Cancellation:
        return self._send(calls.cancel_job(job_id, idempotency_key))

    # -- share links ------------------------------------------------------------------------------

    def share_job(self, job_id: str, *, expires_in_days: int | None = None) -> JobShare:
        """A read-only link to a completed job's results for people without an account: `url` ("/shared/<token>",
        after the server's address) is returned only here. `expires_in_days`: 1-365 (None: 30)."""
        return self._send(calls.share_job(job_id, expires_in_days))

    def job_shares(self, job_id: str) -> list[JobShare]:
        """The job's working share links, newest first (never their tokens)."""
        return self._send(calls.job_shares(job_id))

    def revoke_share(self, job_id: str, share_id: str) -> dict[str, Any]:
        """Revoke a share link: it answers 404 from the next request on."""
        return self._send(calls.revoke_share(job_id, share_id))

    def shared_job(self, link: str) -> SharedJob:
        """The job a share link names (the link whole, its path or its token); no API key needed."""
        return self._send(calls.shared_job(link))

    def shared_download(self, link: str, format: str | None = None) -> Download:
        """A file of the job a share link names; no API key needed."""
        return self._send(calls.shared_download(link, format))

    def delete_job(self, job_id: str) -> Deletion:
        """Delete a finished job: its results and inputs go (cancel an active one first)."""
        return self._send(calls.delete_job(job_id))

    def account(self) -> Account:
        return self._send(calls.account())

    def credit_history(self, *, limit: int | None = None, offset: int | None = None,
                       starting_after: str | None = None) -> CreditPage:
        """One page of the account's credit history, newest first: every change of the balance and why;
        `starting_after`: the last entry's id of the page before (its `next_starting_after`), instead of an
        offset."""
        return self._send(calls.credit_history(limit, offset, starting_after))

    def iter_credit_history(self, *, page_size: int = 100,
                            starting_after: str | int | None = None) -> Iterator[CreditEntry]:
        """Every entry of the credit history (newest first), page after page; `starting_after`: every one after
        the entry with that id (older)."""
        return _every(lambda offset, after: self.credit_history(limit=page_size, offset=offset, starting_after=after),
                      lambda page: page.entries, _entry_id, starting_after)

    def account_activity(self, *, limit: int | None = None, offset: int | None = None,
                         starting_after: str | None = None, action: str | None = None) -> ActivityPage:
        """One page of the account's activity log, newest first: who created, changed or revoked a key, signed
        in, changed the password, made a webhook or a share link, and from where; `action` keeps one kind
        (e.g. "api_key.created"); `starting_after` as in credit_history."""
        return self._send(calls.account_activity(limit, offset, starting_after, action))

    def iter_account_activity(self, *, page_size: int = 100, action: str | None = None,
                              starting_after: str | int | None = None) -> Iterator[ActivityEntry]:
        """Every entry of the activity log (newest first), page after page; `starting_after`: every one after
        the entry with that id (older)."""
        return _every(lambda offset, after: self.account_activity(limit=page_size, offset=offset, starting_after=after,
                                                                  action=action),
                      lambda page: page.entries, _activity_id, starting_after)

    def usage(self, days: int | None = None) -> dict[str, Any]:
        return self._send(calls.usage(days))

    def list_webhooks(self) -> list[Webhook]:
        return self._send(calls.list_webhooks())

    def create_webhook(self, url: str, events: list[str] | None = None, *, idempotency_key: str | None = None) -> Webhook:
        return self._send(calls.create_webhook(url, events, idempotency_key))

    def delete_webhook(self, webhook_id: str) -> Deletion:
        return self._send(calls.delete_webhook(webhook_id))

    def test_webhook(self, webhook_id: str, *, idempotency_key: str | None = None) -> WebhookTest:
        return self._send(calls.test_webhook(webhook_id, idempotency_key))

    def rotate_webhook_secret(self, webhook_id: str, *, expire_current_after_s: int | None = None,
                              idempotency_key: str | None = None) -> Webhook:
        """Give a webhook a new signing secret (`.secret`, shown only here). The old one keeps signing beside it
        for `expire_current_after_s` seconds (a day when None, 0: at once, at most 7 days), until
        `.previous_secret_expires_at`; `verify_webhook` accepts a delivery signed with either."""
        return self._send(calls.rotate_webhook_secret(webhook_id, expire_current_after_s, idempotency_key))

    def webhook_deliveries(self, webhook_id: str, *, status: str | None = None, limit: int | None = None,
                           offset: int | None = None, starting_after: str | None = None,
                           event: str | None = None) -> DeliveryPage:
        """One page of a webhook's deliveries, newest first: what was sent and what the receiver answered;
        `starting_after`: the last delivery_id of the page before (its `next_starting_after`), instead of an
        offset; `event`: only that event's (e.g. "webhook.test", "job.failed")."""
        return self._send(calls.webhook_deliveries(webhook_id, status, limit, offset, starting_after, event))

    def iter_webhook_deliveries(self, webhook_id: str, *, status: str | None = None, page_size: int = 100,
                                starting_after: str | None = None,
                                event: str | None = None) -> Iterator[WebhookDelivery]:
        """Every delivery of a webhook (newest first; `status`: only pending, delivered or failed ones; `event`:
        only that event's), page after page; `starting_after`: every one after that delivery_id (older)."""
        return _every(lambda offset, after: self.webhook_deliveries(webhook_id, status=status, limit=page_size,
                                                                    offset=offset, starting_after=after,
                                                                    event=event),
                      lambda page: page.deliveries, _delivery_id, starting_after)

    def redeliver(self, webhook_id: str, delivery_id: str, *, idempotency_key: str | None = None) -> WebhookDelivery:
        """Send a delivered or failed delivery's event again, as a new delivery; the new one, pending."""
        return self._send(calls.redeliver(webhook_id, delivery_id, idempotency_key))

    # -- API keys ---------------------------------------------------------------------------------

    def list_api_keys(self) -> list[ApiKey]:
        """The account's keys, newest first, revoked and expired ones included (never the secrets)."""
        return self._send(calls.list_api_keys())

    def create_api_key(self, name: str | None = None, *, rate_limit: int | None = None,
                       expires_in_days: int | None = None, read_only: bool = False) -> ApiKey:
        """A new key; its `secret` is returned only here. `expires_in_days`: 1-3650 (None: never); `read_only`:
        the key may read everything and change nothing (403 on submissions, cancels, deletes...)."""
        return self._send(calls.create_api_key(name, rate_limit, expires_in_days, read_only))

    def update_api_key(self, key_id: str, *, name: str | None = None, rate_limit: int | None = None,
                       expires_in_days: int | None = None) -> ApiKey:
        """Rename, re-limit or re-date a key: `expires_in_days` N days from now, 0 never expires, None unchanged."""
        return self._send(calls.update_api_key(key_id, name, rate_limit, expires_in_days))

    def revoke_api_key(self, key_id: str, *, confirm_last_key: bool = False) -> ApiKey:
        return self._send(calls.revoke_api_key(key_id, confirm_last_key))

    # -- live -------------------------------------------------------------------------------------

    def watch(self, job_id: str | None = None, *, last_event_id: str | None = None) -> Iterator[JobEvent]:
        """Events of one job until it is terminal (all of the account's jobs when `job_id` is None, until
        the caller stops). A broken stream or a server restart is resumed after the last state event."""
        return self._follow(job_id, last_event_id, None)

    def _follow(self, job_id: str | None, cursor: str | None, deadline: float | None) -> Iterator[JobEvent]:
        """`watch`, ending with `Expired` once the monotonic clock passes `deadline`: the streams are opened
        with it, so a quiet job (only keep-alives) cannot hold a waiting caller past it."""
        tries = Tries()
        while True:
            delivered = False
            try:
                opened = functools.partial(self._retry.watch_opened, tries, self.base_url)
                for event in self._transport.stream(calls.watch(job_id, cursor), deadline, opened):
                    delivered, tries, self._answered = True, Tries(), True
                    cursor = event.event_id or cursor
                    yield event
                    if job_id is not None and event.terminal:
                        return
                # A job's stream that ends without an event was resumed after its last one, or cut by
                # a server going down before anything new happened: only the job can tell.
                if job_id is not None and not delivered and self.get_job(job_id).done:
                    return
            except _FAILURES as exc:
                if _passed(deadline):
                    raise Expired from exc
                self._failed(exc)
                pause = self._retry.watch_pause(exc, tries, self.base_url)
            else:  # the server ended the stream: connect again
                self._answered = True
                pause = self._retry.backoff(max(tries.failures - 1, 0))
                tries.lost_at = None  # it was connected: a later loss gets its own time to reconnect
            if deadline is not None:
                pause = min(pause, max(deadline - time.monotonic(), 0.0))
            time.sleep(pause)
            if _passed(deadline):
                raise Expired

    def wait(self, job_id: str, timeout: float | None = None) -> Job:
        """The job once it is terminal (completed, failed or cancelled), followed live; `APITimeoutError`
        when it is not after `timeout` seconds (None: no limit)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        status = "not finished"
        try:
            for event in self._follow(job_id, None, deadline):
                status = event.job.status
                if event.terminal:
                    return event.job
                if _passed(deadline):
                    raise Expired
        except Expired:
            raise _still(job_id, status, timeout) from None
        return self.get_job(job_id)


def _passed(deadline: float | None) -> bool:
    return deadline is not None and time.monotonic() >= deadline


def _still(job_id: str, status: str, timeout: float | None) -> errors.APITimeoutError:
    return errors.APITimeoutError(f"job {job_id} is still {status} after {timeout} s")


class AsyncClient(_Base):
    """asyncio client with the same methods as `Client` (awaitable; `watch` is an async iterator)."""

    def __init__(self, base_url: str | None = None, api_key: str | None = None, *, transport: Transport | None = None,
                 timeout: float = DEFAULT_TIMEOUT_S, max_retries: int = DEFAULT_MAX_RETRIES,
                 max_rate_limit_wait: float = DEFAULT_RATE_LIMIT_WAIT_S, max_retry_wait: float = DEFAULT_RETRY_WAIT_S,
                 http: httpx.AsyncClient | None = None, fail_fast_until_answered: bool = False) -> None:
        super().__init__(base_url, api_key, transport, timeout=timeout, max_retries=max_retries,
                         max_rate_limit_wait=max_rate_limit_wait, max_retry_wait=max_retry_wait, http=http,
                         fail_fast_until_answered=fail_fast_until_answered)
        self._transport: AsyncTransport
        if self.transport == "grpc":
            self._transport = _grpc_module().AsyncGrpcTransport(self.base_url, self.api_key, timeout)
        else:
            self._transport = AsyncRestTransport(self.base_url, self.api_key, timeout, http)

    @classmethod
    def from_config(cls, **options: Any) -> AsyncClient:
        """A client for the server and key the `phonos` command uses: PHONOS_URL / PHONOS_API_KEY, else the file
        `phonos login` wrote (and PHONOS_MAX_RATE_LIMIT_WAIT, PHONOS_MAX_RETRY_WAIT); `options` as the constructor takes them. The
        constructor itself reads nothing from the environment, so `AsyncClient(url, None)` (a share link's reader)
        stays keyless wherever it runs. A config file that is not one, or nothing configured at all, raises
        `config.ConfigError` (a PhonosError and a ValueError)."""
        url, api_key, options = _configured(options)
        return cls(url, api_key, **options)

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        await self._transport.close()

    async def _send(self, call: Call[T]) -> T:
        tries = Tries()
        while True:
            try:
                answer = await self._transport.send(call)
            except _FAILURES as exc:
                self._failed(exc)
                if self._retry.done_before(call, exc, tries):
                    return call.read(self._retry.lost_answer(call))
                await asyncio.sleep(self._retry.delay(call, exc, tries))
            else:
                self._answered = True
                return answer

    async def health(self) -> dict[str, Any]:
        return await self._send(calls.health())

    async def models(self) -> list[dict[str, Any]]:
        return await self._send(calls.models())

    async def predict(self, model: str, sequence: str, *, name: str | None = None,
                      params: dict[str, Any] | None = None, idempotency_key: str | None = None) -> Submission:
        return await self._send(calls.predict(model, sequence, name, params, idempotency_key))

    async def submit_batch(self, jobs: list[dict[str, Any]], *, idempotency_key: str | None = None) -> Batch:
        return await self._send(calls.submit_batch(jobs, idempotency_key))

    async def get_job(self, job_id: str) -> Job:
        return await self._send(calls.get_job(job_id))

    async def list_jobs(self, *, status: str | None = None, model: str | None = None, limit: int | None = None,
                        offset: int | None = None, name: str | None = None,
                        starting_after: str | None = None) -> JobPage:
        return await self._send(calls.list_jobs(status, model, limit, offset, name, starting_after))

    def iter_jobs(self, *, status: str | None = None, model: str | None = None, name: str | None = None,
                  page_size: int = 100, starting_after: str | None = None) -> AsyncIterator[Job]:
        return _every_async(lambda offset, after: self.list_jobs(status=status, model=model, name=name,
                                                                 limit=page_size, offset=offset, starting_after=after),
                            lambda page: page.jobs, _job_id, starting_after)

    async def job_input(self, job_id: str) -> dict[str, Any]:
        return await self._send(calls.job_input(job_id))

    async def download(self, job_id: str, format: str | None = None) -> Download:
        return await self._send(calls.download(job_id, format))

    async def download_to(self, job_id: str, path: str | Path, format: str | None = None) -> Path:
        """Save a completed job's file at `path`; a folder that exists, or a path ending in "/" (made when missing),
        gets it under the server's file name (`<job_id>.pdb`). The path written."""
        download = await self.download(job_id, format)
        target = _target(path, download, job_id)
        await asyncio.to_thread(write_whole, target, download.content)
        return target

    async def cancel_job(self, job_id: str, *, idempotency_key: str | None = None) -> Cancellation:
        return await self._send(calls.cancel_job(job_id, idempotency_key))

    async def share_job(self, job_id: str, *, expires_in_days: int | None = None) -> JobShare:
        """See `Client.share_job`."""
        return await self._send(calls.share_job(job_id, expires_in_days))

    async def job_shares(self, job_id: str) -> list[JobShare]:
        return await self._send(calls.job_shares(job_id))

    async def revoke_share(self, job_id: str, share_id: str) -> dict[str, Any]:
        return await self._send(calls.revoke_share(job_id, share_id))

    async def shared_job(self, link: str) -> SharedJob:
        return await self._send(calls.shared_job(link))

    async def shared_download(self, link: str, format: str | None = None) -> Download:
        return await self._send(calls.shared_download(link, format))

    async def delete_job(self, job_id: str) -> Deletion:
        """Delete a finished job: its results and inputs go (cancel an active one first)."""
        return await self._send(calls.delete_job(job_id))

    async def account(self) -> Account:
        return await self._send(calls.account())

    async def credit_history(self, *, limit: int | None = None, offset: int | None = None,
                             starting_after: str | None = None) -> CreditPage:
        return await self._send(calls.credit_history(limit, offset, starting_after))

    def iter_credit_history(self, *, page_size: int = 100,
                            starting_after: str | int | None = None) -> AsyncIterator[CreditEntry]:
        return _every_async(lambda offset, after: self.credit_history(limit=page_size, offset=offset,
                                                                      starting_after=after),
                            lambda page: page.entries, _entry_id, starting_after)

    async def account_activity(self, *, limit: int | None = None, offset: int | None = None,
                               starting_after: str | None = None, action: str | None = None) -> ActivityPage:
        return await self._send(calls.account_activity(limit, offset, starting_after, action))

    def iter_account_activity(self, *, page_size: int = 100, action: str | None = None,
                              starting_after: str | int | None = None) -> AsyncIterator[ActivityEntry]:
        return _every_async(lambda offset, after: self.account_activity(limit=page_size, offset=offset,
                                                                        starting_after=after, action=action),
                            lambda page: page.entries, _activity_id, starting_after)

    async def usage(self, days: int | None = None) -> dict[str, Any]:
        return await self._send(calls.usage(days))

    async def list_webhooks(self) -> list[Webhook]:
        return await self._send(calls.list_webhooks())

    async def create_webhook(self, url: str, events: list[str] | None = None, *,
                             idempotency_key: str | None = None) -> Webhook:
        return await self._send(calls.create_webhook(url, events, idempotency_key))

    async def delete_webhook(self, webhook_id: str) -> Deletion:
        return await self._send(calls.delete_webhook(webhook_id))

    async def test_webhook(self, webhook_id: str, *, idempotency_key: str | None = None) -> WebhookTest:
        return await self._send(calls.test_webhook(webhook_id, idempotency_key))

    async def webhook_deliveries(self, webhook_id: str, *, status: str | None = None, limit: int | None = None,
                                 offset: int | None = None, starting_after: str | None = None,
                                 event: str | None = None) -> DeliveryPage:
        return await self._send(calls.webhook_deliveries(webhook_id, status, limit, offset, starting_after, event))

    def iter_webhook_deliveries(self, webhook_id: str, *, status: str | None = None, page_size: int = 100,
                                starting_after: str | None = None,
                                event: str | None = None) -> AsyncIterator[WebhookDelivery]:
        return _every_async(lambda offset, after: self.webhook_deliveries(webhook_id, status=status, limit=page_size,
                                                                          offset=offset, starting_after=after,
                                                                          event=event),
                            lambda page: page.deliveries, _delivery_id, starting_after)

    async def rotate_webhook_secret(self, webhook_id: str, *, expire_current_after_s: int | None = None,
                                    idempotency_key: str | None = None) -> Webhook:
        return await self._send(calls.rotate_webhook_secret(webhook_id, expire_current_after_s, idempotency_key))

    async def redeliver(self, webhook_id: str, delivery_id: str, *,
                        idempotency_key: str | None = None) -> WebhookDelivery:
        return await self._send(calls.redeliver(webhook_id, delivery_id, idempotency_key))

    async def list_api_keys(self) -> list[ApiKey]:
        return await self._send(calls.list_api_keys())

    async def create_api_key(self, name: str | None = None, *, rate_limit: int | None = None,
                             expires_in_days: int | None = None, read_only: bool = False) -> ApiKey:
        return await self._send(calls.create_api_key(name, rate_limit, expires_in_days, read_only))

    async def update_api_key(self, key_id: str, *, name: str | None = None, rate_limit: int | None = None,
                             expires_in_days: int | None = None) -> ApiKey:
        return await self._send(calls.update_api_key(key_id, name, rate_limit, expires_in_days))

    async def revoke_api_key(self, key_id: str, *, confirm_last_key: bool = False) -> ApiKey:
        return await self._send(calls.revoke_api_key(key_id, confirm_last_key))

    async def watch(self, job_id: str | None = None, *, last_event_id: str | None = None) -> AsyncIterator[JobEvent]:
        """See `Client.watch`."""
        cursor = last_event_id
        tries = Tries()
        while True:
            delivered = False
            try:
                opened = functools.partial(self._retry.watch_opened, tries, self.base_url)
                async for event in self._transport.stream(calls.watch(job_id, cursor), opened):
                    delivered, tries, self._answered = True, Tries(), True
                    cursor = event.event_id or cursor
                    yield event
                    if job_id is not None and event.terminal:
                        return
                if job_id is not None and not delivered and (await self.get_job(job_id)).done:
                    return
            except _FAILURES as exc:
                self._failed(exc)
                pause = self._retry.watch_pause(exc, tries, self.base_url)
            else:  # the server ended the stream: connect again
                self._answered = True
                pause = self._retry.backoff(max(tries.failures - 1, 0))
                tries.lost_at = None  # it was connected: a later loss gets its own time to reconnect
            await asyncio.sleep(pause)

    async def wait(self, job_id: str, timeout: float | None = None) -> Job:  # noqa: ASYNC109 - Client.wait's signature
        """See `Client.wait`. Cancelling the caller always cancels the wait, even as the job finishes
        (deadlines.within, never asyncio.wait_for)."""
        status = "not finished"

        async def follow() -> Job:
            nonlocal status
            async for event in self.watch(job_id):
                status = event.job.status
                if event.terminal:
                    return event.job
            return await self.get_job(job_id)

        try:
            return await within(follow(), timeout)
        except Expired:
            raise _still(job_id, status, timeout) from None
