"""Server-streaming rpcs as Server-Sent Events (text/event-stream), transcoded like every other route.

Rules (docs/gateway.md, "Streams"):
- the request is built as for a unary rpc; a `Last-Event-ID` header sets the request's `last_event_id`
  field when the message has one and the query did not set it (what EventSource sends on reconnect);
- the call's first message (or its error) is awaited before any byte is sent, for at most
  `keepalive_s`, so an error before the stream (401, 404, 429...) is the usual JSON error with its HTTP
  status; a stream that ends without any message is a 204 No Content (EventSource stops reconnecting on
  204); a keep-alive as the first message opens the stream at once (the job service's account stream sends one
  when it has nothing to open with: no active job, nothing after the cursor); a stream whose first message is
  slower than `keepalive_s` opens then anyway, with keep-alives, rather than leave the client without even a
  status line;
- each message is one event: `data:` its JSON (the rule's `response_body` field, as for unary
  responses), `id:` the JSON's `event_id` when non-empty, `event:` its `type` when non-empty;
- a `: keep-alive` comment is written after `keepalive_s` without an event, so proxies keep the
  connection and a client that left is noticed (its write fails) and the call is stopped;
- the call asks the job service for keep-alive messages (the request's `keep_alive`, which is the gateway's and
  no query parameter), so that a proxy between the two (a separate gateway, a service mesh) keeps a quiet call
  too; one is never an SSE event, nor a comment of its own: the client's comments keep their own clock;
- an error in the middle of a stream is sent as an `event: error` with the usual error body plus its
  HTTP `status` (the response's own status line already said 200, and a client must tell a server that
  went away, 503, which it waits out and resumes, from a refusal), then the stream ends; the gateway
  shutting down ends every stream (clients resume with Last-Event-ID).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from typing import Any

from aiohttp import web
from google.protobuf.message import Message

from gateway import errors
from gateway.errors import ErrorResponse, HttpError
from gateway.invoker import Invoker, ServerStream
from gateway.rpc_failure import failure_response, forwarded_headers
from gateway.transcode import STREAM_KEEP_ALIVE_FIELD, TranscodePlan, dumps, response_document
from phonos_common.rpc import RpcFailure

CONTENT_TYPE = "text/event-stream; charset=utf-8"
RESUME_FIELD = "last_event_id"
RETRY_MS = 3000  # what EventSource waits before reconnecting after the stream ended or broke

# Stop events of the open streams, all set at shutdown.
STREAMS_KEY: web.AppKey[set[asyncio.Event]] = web.AppKey("phonos_sse_streams", set)


def apply_last_event_id(plan: TranscodePlan, message: Message, header: str | None) -> None:
    field = plan.request_class.DESCRIPTOR.fields_by_name.get(RESUME_FIELD)
    if header is None or field is None or message.HasField(RESUME_FIELD):
        return
    if not header.isascii() or not header.isprintable() or len(header) > 200:
        raise HttpError(errors.client_error(400, "malformed Last-Event-ID header"))
    setattr(message, RESUME_FIELD, header)


def ask_for_keepalives(plan: TranscodePlan, message: Message) -> None:
    """Set the request's `keep_alive` where the rpc has one (module docstring)."""
    if STREAM_KEEP_ALIVE_FIELD in plan.request_class.DESCRIPTOR.fields_by_name:
        setattr(message, STREAM_KEEP_ALIVE_FIELD, True)


def is_keepalive(message: Message) -> bool:
    """A stream's keep-alive message (WatchJobResponse's `keep_alive`): nothing for the client."""
    return (STREAM_KEEP_ALIVE_FIELD in message.DESCRIPTOR.fields_by_name
            and message.HasField(STREAM_KEEP_ALIVE_FIELD))


def encode_event(document: Any) -> bytes:
    """One SSE event; `data` is one line of JSON (it never contains a raw newline)."""
    lines = []
    if isinstance(document, dict):
        if document.get("event_id"):
            lines.append(f"id: {document['event_id']}")
        if document.get("type"):
            lines.append(f"event: {document['type']}")
    lines.append("data: " + dumps(document).decode())
    return ("\n".join(lines) + "\n\n").encode()


def error_event(error: ErrorResponse) -> bytes:
    body = {"error": error.title, "message": error.message, "status": error.status}
    return b"event: error\ndata: " + dumps(body) + b"\n\n"


async def respond(request: web.Request, plan: TranscodePlan, message: Message, metadata: Sequence[tuple[str, str]],
                  invoker: Invoker, *, keepalive_s: float, request_id: str) -> web.StreamResponse:
    """Serve one streaming rule."""
    ask_for_keepalives(plan, message)
    stream = invoker.stream(plan.rule.full_method, message, metadata)
    stop = asyncio.Event()
    streams: set[asyncio.Event] = request.app[STREAMS_KEY]
    streams.add(stop)  # from the start: a shutdown also ends a stream still waiting for its first message
    pending: asyncio.Future[Any] = asyncio.ensure_future(stream.next())
    try:
        first = await _first(stream, pending, stop, keepalive_s, request_id)
        headers = forwarded_headers(stream.metadata())
        if first is _ENDED:
            return web.Response(status=204, headers=headers)
        response = web.StreamResponse(headers={**headers, "Content-Type": CONTENT_TYPE, "Cache-Control": "no-store",
                                               "X-Accel-Buffering": "no"})
        await response.prepare(request)
        opening = f"retry: {RETRY_MS}\n\n".encode()
        if first is not _QUIET:
            opening += encode_event(response_document(plan, first))
        if pending.done():  # its message (an event, or a keep-alive) is used
            pending = asyncio.ensure_future(stream.next())
        await response.write(opening)
        await _pump(response, stream, plan, stop, keepalive_s, request_id, pending)
        await response.write_eof()
    except (ConnectionResetError, ConnectionError):
        pass  # the client left: stop the call below
    finally:
        streams.discard(stop)
        await _settle(pending)
        await stream.close()
    return response


_ENDED = object()  # the call ended without a message: 204
_QUIET = object()  # no event within keepalive_s (nothing, or the job service's keep-alive): open without one


async def _first(stream: ServerStream, pending: asyncio.Future[Any], stop: asyncio.Event, keepalive_s: float,
                 request_id: str) -> Any:
    """The call's first message, _ENDED or _QUIET; its error before the stream as an HttpError.

    _QUIET only once the job service has accepted the stream (its initial metadata, which carries the rate-limit
    headers, has arrived): a job service slower than keepalive_s to authenticate (a loaded host) used to get a
    stream opened without them."""
    stopping: asyncio.Future[Any] = asyncio.ensure_future(stop.wait())
    opened: asyncio.Future[Any] = asyncio.ensure_future(stream.opened())
    try:
        await asyncio.wait({pending, stopping}, timeout=keepalive_s, return_when=asyncio.FIRST_COMPLETED)
        if not pending.done() and not stop.is_set():
            await asyncio.wait({pending, stopping, opened}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopping.cancel()
        opened.cancel()
    if not pending.done():
        if stop.is_set():  # the gateway is stopping: a 503, which clients retry (a 204 would end EventSource)
            raise HttpError(errors.client_error(503, "the server is shutting down; reconnect to watch"))
        return _QUIET
    try:
        first = pending.result()
    except RpcFailure as failure:
        raise HttpError(failure_response(failure, request_id)) from None
    if first is None:
        return _ENDED
    return _QUIET if is_keepalive(first) else first


async def _settle(pending: asyncio.Future[Any]) -> None:
    if not pending.done():
        pending.cancel()
    with contextlib.suppress(asyncio.CancelledError, RpcFailure):
        await pending


async def _pump(response: web.StreamResponse, stream: ServerStream, plan: TranscodePlan, stop: asyncio.Event,
                keepalive_s: float, request_id: str, pending: asyncio.Future[Any]) -> None:
    stopping: asyncio.Future[Any] = asyncio.ensure_future(stop.wait())
    loop = asyncio.get_running_loop()
    quiet_until = loop.time() + keepalive_s  # the opening was just written
    try:
        while True:
            done, _ = await asyncio.wait({pending, stopping}, timeout=max(0.0, quiet_until - loop.time()),
                                         return_when=asyncio.FIRST_COMPLETED)
            if stopping in done:
                return
            if pending not in done:
                await response.write(b": keep-alive\n\n")
                quiet_until = loop.time() + keepalive_s
                continue
            try:
                message = pending.result()
            except RpcFailure as failure:
                error = errors.from_status(failure.code, failure.details, failure.metadata, request_id=request_id)
                await response.write(error_event(error))
                return
            if message is None:
                return
            pending = asyncio.ensure_future(stream.next())
            if is_keepalive(message):
                continue  # kept the call to the job service open; the client's comments go by `quiet_until`
            await response.write(encode_event(response_document(plan, message)))
            quiet_until = loop.time() + keepalive_s
    finally:
        stopping.cancel()
        await _settle(pending)


async def end_streams(app: web.Application) -> None:
    """on_shutdown: end every open stream now rather than after the server's shutdown timeout."""
    streams: set[asyncio.Event] = app[STREAMS_KEY]
    for stop in list(streams):
        stop.set()

