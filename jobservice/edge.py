"""The gRPC edge: admit the caller from its metadata, then read, size-check and parse the message.

grpc.aio receives a unary rpc's whole request message before its handler runs, so a key checked in
the handler comes after the server has buffered (up to its receive limit) and parsed whatever an
anonymous client sent. `EdgeInterceptor` serves every unary-unary method as a *stream-unary* one
instead (identical on the wire): its behaviour runs as soon as the call's metadata is in, so it can
refuse a bad key (or a throttled address) before a single message byte is read; grpc then resets
the stream and the client's data is dropped unbuffered. Admitted calls read their one message raw,
within `body_timeout_s`, refuse it when it is over the method's limit (`message_limits`), and parse
it here, so an undecodable message is INVALID_ARGUMENT with a plain message (grpc's own answer is
UNKNOWN with the exception's class name and a traceback in the log). Its refusals are domain errors
(jobservice.errors) ended through status_map, the one table from an error to a status: a message too
slow to arrive is DEADLINE_EXCEEDED with reason REQUEST_TIMEOUT, which the gateway and the SDK read as
408 (the client was slow), not the 504 of a caller's own deadline.

PhonosService's server-streaming methods (WatchJob, WatchJobs) get the same guard, served as
stream-stream: admit, read and parse the one request message, then relay the handler's stream.
Other streaming methods (server reflection, health Watch) pass through; the server's receive limit
bounds them.

Every guarded call gets its request id here (the caller's `x-request-id` when sane, else a new one;
phonos_config.request_ids), kept in `CALL_REQUEST_ID` for the servicer: every refusal, the edge's own
included (a bad key is refused here, before the servicer runs), carries it in the `x-request-id`
trailer, and the log lines about the call name the same id. It is the call's default trailer from the
start, so an answer whose handler sets none carries it too (health, reflection, a handler that failed), and a
call to a method this server does not serve (an unknown method or service) is UNIMPLEMENTED here, naming its
request id as well: grpc's own answer to one carried no trailers at all, so a support ticket had no id.

What a client holds in progress is bounded per client unit and in all (jobservice/grpc_in_flight.py): each
unary call's message over 64 KiB is counted from its read until its handler has answered, and a download (DownloadJobOutput,
DownloadSharedJobOutput) takes a slot after admission, before the file is read, given back when grpc has finished
the call (sent the file, or the client left). Past either: RESOURCE_EXHAUSTED with `retry-after`, through status_map.
A download is served as stream-stream (identical on the wire, as unary calls are served as stream-unary), so its
response is serialized here and the message dropped before the send: a file waiting for its client is held twice
(the bytes and grpc core's copy), not three times.

The caller's address, for admission's throttles and the log lines, is the peer; from a trusted proxy
(PHONOS_TRUSTED_PROXIES: a separate gateway process) the client that proxy names in `x-phonos-client-address`
(phonos_common.forwarded.real_client, the rule the REST edge applies to X-Forwarded-For). From anyone else that
metadata is ignored: a direct gRPC client cannot pass for another address. The same goes for the gateway's
`x-phonos-transport: rest`: believed from the in-process gateway or a trusted proxy only (`call_transport`), so a
direct gRPC caller cannot book its calls as REST ones in usage and metrics.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextvars import ContextVar
from typing import Any, NamedTuple, NoReturn

import grpc

from jobservice import metrics
from jobservice.admission import KeyAdmission, repeated_metadata
from jobservice.errors import InvalidArgument, PhonosError, RequestTimeout, RequestTooLarge, TooManyInProgress
from jobservice.grpc_in_flight import NOTHING_HELD, GrpcInFlight, Held
from jobservice.message_limits import SMALL_REQUEST_BYTES, request_limit
from jobservice.status_map import TITLE_KEY, grpc_status
from phonos_common.forwarded import CLIENT_ADDRESS_METADATA, client_unit, real_client, trusted_peer
from phonos_common.ratelog import RateLimitedLog
from phonos_config.edge import Network
from phonos_config.request_ids import request_id

REQUEST_ID_METADATA = "x-request-id"
# The request id of the call being served (set per call by the interceptor; each grpc.aio call is a task).
CALL_REQUEST_ID: ContextVar[str | None] = ContextVar("phonos_call_request_id", default=None)
# The client address of the call being served (the peer, or whom a trusted proxy forwards for), for log lines.
CALL_CLIENT: ContextVar[str | None] = ContextVar("phonos_call_client", default=None)
# Whether the call being served came from a trusted proxy (PHONOS_TRUSTED_PROXIES: a separate gateway), whose
# metadata about the call is believed; False for everyone else, and outside a call the edge admitted.
CALL_FROM_TRUSTED_PROXY: ContextVar[bool] = ContextVar("phonos_call_from_trusted_proxy", default=False)
# The gateway's mark on every call it forwards (gateway.app): the call came in over REST.
TRANSPORT_METADATA = "x-phonos-transport"

log = logging.getLogger(__name__)

Behaviour = Callable[[Any, grpc.aio.ServicerContext], Awaitable[Any]]
GUARDED_STREAMS_PREFIX = "/phonos.v1.PhonosService/"
IN_PROCESS_PEER = "in-process"  # the peer of a call from the gateway in this process (gateway.local_context)
# The rpcs that answer with a whole file: each takes a download slot (jobservice/grpc_in_flight.py).
DOWNLOAD_METHODS = frozenset(f"{GUARDED_STREAMS_PREFIX}{name}"
                             for name in ("DownloadJobOutput", "DownloadSharedJobOutput"))


class EdgeInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[misc]
    def __init__(self, admission: KeyAdmission, *, body_timeout_s: float, error_log: RateLimitedLog,
                 trusted_proxies: tuple[Network, ...] = (), in_flight: GrpcInFlight | None = None) -> None:
        self._admission = admission
        self._body_timeout_s = body_timeout_s
        self._error_log = error_log
        self._trusted_proxies = trusted_proxies
        self._in_flight = in_flight

    async def intercept_service(
        self, continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(details)
        if handler is None:
            return self._unknown(details)
        if handler.request_streaming:
            return _naming_calls(handler, details)
        if handler.response_streaming:
            if not details.method.startswith(GUARDED_STREAMS_PREFIX):
                return _naming_calls(handler, details)
            watched = self._guard_stream(details.method, details, handler)
            return grpc.stream_stream_rpc_method_handler(
                watched, request_deserializer=None, response_serializer=handler.response_serializer
            )
        if details.method in DOWNLOAD_METHODS:
            return grpc.stream_stream_rpc_method_handler(
                self._guard_download(details.method, details, handler), request_deserializer=None
            )
        guarded = self._guard(details.method, details, handler)
        return grpc.stream_unary_rpc_method_handler(
            guarded, request_deserializer=None, response_serializer=handler.response_serializer
        )

    async def _admit(self, method: str, details: grpc.HandlerCallDetails, context: grpc.aio.ServicerContext) -> None:
        """Refuse the call from its metadata alone, before its message is read."""
        metadata = _text_metadata(details.invocation_metadata)
        call_id = _name_call(details, context)
        client = self._client(details, context)
        try:
            failure = repeated_metadata(details.invocation_metadata or ())
            if failure is not None:
                _count_refused(context, failure.code)
            else:  # counts its own refusals
                failure = await self._admission.admit(method, metadata, client,
                                                      transport=call_transport(metadata, context.peer()))
        except Exception:
            _count_refused(context, grpc.StatusCode.INTERNAL)
            await abort_for_bug(context, method, call_id)
        if failure is not None:
            self._error_log.log(logging.INFO, "grpc.refused", "%s: %s from %s (request id %s)", method,
                                failure.code.name, _who(context), call_id, extra=_log_fields(context))
            await context.abort(failure.code, failure.details,
                                trailing_metadata=((REQUEST_ID_METADATA, call_id), *failure.metadata.items()))

    def _unknown(self, details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler:
        """A method no service here has: UNIMPLEMENTED, as grpc answers it, with the request id. Served as
        stream-unary, which answers a call of any kind; its messages are never read."""
        async def behaviour(requests: Any, context: grpc.aio.ServicerContext) -> Any:
            call_id = _name_call(details, context)
            self._client(details, context)
            self._error_log.log(logging.INFO, "grpc.unknown_method", "%s: no such method, from %s (request id %s)",
                                details.method, _who(context), call_id, extra=_log_fields(context))
            await context.abort(grpc.StatusCode.UNIMPLEMENTED, f"Method not found: {details.method}",
                                trailing_metadata=((REQUEST_ID_METADATA, call_id),))

        return grpc.stream_unary_rpc_method_handler(behaviour)

    def _client(self, details: grpc.HandlerCallDetails, context: grpc.aio.ServicerContext) -> str:
        """The call's client address (module docstring), kept in CALL_CLIENT for the call's log lines."""
        # Several entries are one chain, in order, as several X-Forwarded-For lines are.
        forwarded = ",".join(v for k, v in details.invocation_metadata or ()
                             if str(k).lower() == CLIENT_ADDRESS_METADATA and isinstance(v, str))
        client = real_client(context.peer(), forwarded, self._trusted_proxies)
        CALL_CLIENT.set(client)
        CALL_FROM_TRUSTED_PROXY.set(trusted_peer(context.peer(), self._trusted_proxies))
        return client

    def _guard(self, method: str, details: grpc.HandlerCallDetails, handler: grpc.RpcMethodHandler) -> Behaviour:
        async def behaviour(requests: Any, context: grpc.aio.ServicerContext) -> Any:
            return await self._answer(method, details, handler, context)

        return behaviour

    def _guard_download(self, method: str, details: grpc.HandlerCallDetails,
                        handler: grpc.RpcMethodHandler) -> Behaviour:
        """A file's rpc, served as stream-stream (identical on the wire): the response is serialized here and the
        message dropped before the send, which waits for the client to read. grpc.aio's own unary send keeps the
        message, its serialized bytes and core's copy until then (three times the file; two this way)."""
        serialize = handler.response_serializer

        async def behaviour(requests: Any, context: grpc.aio.ServicerContext) -> None:
            response = await self._answer(method, details, handler, context)
            data = serialize(response)
            del response
            await context.write(data)

        return behaviour

    async def _answer(self, method: str, details: grpc.HandlerCallDetails, handler: grpc.RpcMethodHandler,
                      context: grpc.aio.ServicerContext) -> Any:
        """Admit the call, read, count and parse its message, and run the unary handler: its response."""
        await self._admit(method, details, context)
        raw = await self._read(method, context)
        # Counted until the handler has answered: the raw message, the parsed one and the handler's copies. A
        # message no bigger than any rpc may always send (SMALL_REQUEST_BYTES: a poll, a list, a health check) is not
        # counted, as a REST request without a body is not: a client's big upload in progress, or everyone's, must
        # never refuse its GetJob.
        size = len(raw)
        body = NOTHING_HELD if size <= SMALL_REQUEST_BYTES else await self._take(
            context, lambda in_flight, client: in_flight.request_bytes.take(client, size))
        try:
            request = await self._parse(method, raw, handler, context)
            del raw
            if method in DOWNLOAD_METHODS:
                # After admission (a bad key is told so, never 429 for others' downloads), before the file is
                # read; given back when grpc has finished the call, i.e. sent the file (grpc_in_flight).
                slot = await self._take(context, lambda in_flight, client: in_flight.downloads.take(client, 1))
                context.add_done_callback(slot.give_back)
                if context.done():  # already over (the client left): the callback may never come
                    slot.give_back()
            return await handler.unary_unary(request, context)
        finally:
            body.give_back()

    async def _take(self, context: grpc.aio.ServicerContext, take: Callable[[GrpcInFlight, str], Held]) -> Held:
        """`take` from the port's budgets for the call's client unit; the call refused when it does not fit."""
        if self._in_flight is None:
            return NOTHING_HELD
        try:
            return take(self._in_flight, client_unit(CALL_CLIENT.get() or context.peer()))
        except TooManyInProgress as exc:
            await _refuse(context, exc)

    def _guard_stream(self, method: str, details: grpc.HandlerCallDetails,
                      handler: grpc.RpcMethodHandler) -> Callable[[Any, grpc.aio.ServicerContext], AsyncIterator[Any]]:
        async def behaviour(requests: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
            await self._admit(method, details, context)
            raw = await self._read(method, context)
            request = await self._parse(method, raw, handler, context)
            async for response in handler.unary_stream(request, context):
                yield response

        return behaviour

    async def _read(self, method: str, context: grpc.aio.ServicerContext) -> bytes:
        try:
            async with asyncio.timeout(self._body_timeout_s):
                raw = await context.read()
        except TimeoutError:
            self._error_log.log(logging.INFO, "grpc.slow_message", "%s: no request message within %g s from %s",
                                method, self._body_timeout_s, _who(context), extra=_log_fields(context))
            # The client was too slow (HTTP 408), not the service (504): status_map says so with its reason.
            await _refuse(context, RequestTimeout(
                f"the request message did not arrive within {self._body_timeout_s:g} s"))
        if raw is grpc.aio.EOF:
            await _refuse(context, InvalidArgument("the call carried no request message"))
        limit = request_limit(method)
        if len(raw) > limit:
            await _refuse(context, RequestTooLarge(
                f"the request message is {len(raw)} bytes; {method.rpartition('/')[2]} accepts at most {limit}"))
        return bytes(raw)

    async def _parse(self, method: str, raw: bytes, handler: grpc.RpcMethodHandler,
                     context: grpc.aio.ServicerContext) -> Any:
        deserialize = handler.request_deserializer
        if deserialize is None:
            return raw
        try:
            return deserialize(raw)
        except Exception as exc:  # DecodeError, RecursionError on deep nesting, ...: all the input's fault
            name = _message_name(deserialize)
            self._error_log.log(logging.INFO, "grpc.undecodable_message", "%s: undecodable %s from %s (%s)",
                                method, name, _who(context), type(exc).__name__, extra=_log_fields(context))
            await _refuse(context, InvalidArgument(f"the request is not a valid {name} message"))


def _name_call(details: grpc.HandlerCallDetails, context: grpc.aio.ServicerContext) -> str:
    """The call's request id, kept in CALL_REQUEST_ID and set as its default `x-request-id` trailer (a handler's
    own trailers, or an abort's, replace it: the servicer's carry the same id). Its start and rpc, for the
    metrics of a call refused here (`_count_refused`)."""
    call_id = request_id(_text_metadata(details.invocation_metadata).get(REQUEST_ID_METADATA))
    CALL_REQUEST_ID.set(call_id)
    rpc = details.method[len(GUARDED_STREAMS_PREFIX):] if details.method.startswith(GUARDED_STREAMS_PREFIX) else None
    CALL_REFUSAL_COUNT.set(_RefusalCount(rpc, time.perf_counter(), details.invocation_metadata))
    context.set_trailing_metadata(((REQUEST_ID_METADATA, call_id),))
    return call_id


def _naming_calls(handler: grpc.RpcMethodHandler, details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler:
    """`handler` (a service the edge lets through: reflection, health Watch) with a request id named first.
    grpc.aio tells a coroutine handler (it writes with `context.write`) from an async generator by the function:
    the wrapper is of the same kind. A synchronous handler stays as it is."""
    kind = next(k for k in ("unary_unary", "unary_stream", "stream_unary", "stream_stream")
                if getattr(handler, k) is not None)
    behaviour = getattr(handler, kind)
    if inspect.isasyncgenfunction(behaviour):
        async def generator(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
            _name_call(details, context)
            async for response in behaviour(request, context):
                yield response

        return handler._replace(**{kind: generator})
    if inspect.iscoroutinefunction(behaviour):
        async def coroutine(request: Any, context: grpc.aio.ServicerContext) -> Any:
            _name_call(details, context)
            return await behaviour(request, context)

        return handler._replace(**{kind: coroutine})
    return handler


async def abort_for_bug(context: grpc.aio.ServicerContext, method: str, request_id: str) -> NoReturn:
    """End a call whose handler raised something unexpected (from an `except` block) as the servicer's `_answer` ends a
    unary rpc's: INTERNAL naming the request id, the exception logged. grpc's own answer to a handler that raised
    is UNKNOWN with the exception's text, sent to the client."""
    log.exception("unhandled error", extra={"action": "rpc.internal_error", "method": method,
                                           "request_id": request_id})
    await context.abort(grpc.StatusCode.INTERNAL, f"Internal server error (request id {request_id}); the error was logged",
                        trailing_metadata=(("x-request-id", request_id), (TITLE_KEY, "Internal server error")))
    raise AssertionError("abort returned")  # unreachable: abort raises


def call_request_id(metadata: Mapping[str, Any]) -> str:
    """The request id of the call being served: the edge's (gRPC), else the metadata's (the gateway's own,
    in process), else a new one."""
    return CALL_REQUEST_ID.get() or request_id(metadata.get(REQUEST_ID_METADATA))


def call_client(metadata: Mapping[str, Any], peer: str) -> str:
    """The client address of the call being served: the edge's (gRPC, module docstring); in process, the one
    the gateway in this process determined and passed as `x-phonos-client-address` (nothing else can call the
    servicer in process); else the peer."""
    client = CALL_CLIENT.get()
    if client is not None:
        return client
    forwarded = metadata.get(CLIENT_ADDRESS_METADATA)
    if peer == IN_PROCESS_PEER and isinstance(forwarded, str) and forwarded:
        return forwarded
    return real_client(peer, None, ())


def call_transport(metadata: Mapping[str, Any], peer: str) -> str:
    """How the call being served came in, for usage and metrics: "rest" when the gateway forwarded it (its
    `x-phonos-transport: rest`, believed from the gateway in this process or a trusted proxy only), else "grpc".
    Anyone can write that metadata: believed from every caller, a direct gRPC client booked its own calls (and
    its rate-limit refusals) as REST ones, which the operator reads in usage and `phonos_rpc_seconds`."""
    if metadata.get(TRANSPORT_METADATA) != "rest":
        return "grpc"
    return "rest" if peer == IN_PROCESS_PEER or CALL_FROM_TRUSTED_PROXY.get() else "grpc"


class _RefusalCount(NamedTuple):
    rpc: str | None  # a PhonosService rpc's name (the servicer's label); None: health, reflection
    started: float
    metadata: Any  # the call's raw invocation metadata: read (_text_metadata) only for a refusal, off the hot path


# Set per call by `_name_call` (each call runs in a context of its own).
CALL_REFUSAL_COUNT: ContextVar[_RefusalCount | None] = ContextVar("phonos_call_refusal_count", default=None)


def _count_refused(context: grpc.aio.ServicerContext, code: grpc.StatusCode) -> None:
    """`phonos_rpc_seconds` for a PhonosService call refused here, before the servicer, which counts the rest: a
    bad or throttled key (401, 429), the database away (503), a message too slow, too large or unreadable. They
    were missing, so an alert on UNAVAILABLE answers stayed silent through a database outage (every keyed call is
    refused at admission then) and 401s were not in the figures (docs/observability.md: every API call)."""
    # Admission's refusals are counted by KeyAdmission.admit (the in-process gateway's too).
    count = CALL_REFUSAL_COUNT.get()
    if count is None or count.rpc is None:
        return
    metrics.rpc_finished(count.rpc, call_transport(_text_metadata(count.metadata), context.peer()), code.name,
                         time.perf_counter() - count.started)


async def _refuse(context: grpc.aio.ServicerContext, error: PhonosError) -> NoReturn:
    """End the call with `error` as the servicer would (status_map's code, title and reason), with its request id."""
    code, metadata = grpc_status(error)
    _count_refused(context, code)
    await context.abort(code, error.message,
                        trailing_metadata=((REQUEST_ID_METADATA, CALL_REQUEST_ID.get() or ""), *metadata))
    raise AssertionError("abort returned")  # unreachable: abort raises


def _who(context: grpc.aio.ServicerContext) -> str:
    """The client for a log line; with the peer when a proxy forwarded for it."""
    client, peer = CALL_CLIENT.get(), context.peer()
    if client is None:
        return peer
    if client == real_client(peer, None, ()):  # the peer itself
        return client
    return f"{client} via {peer}"


def _log_fields(context: grpc.aio.ServicerContext) -> dict[str, Any]:
    return {"request_id": CALL_REQUEST_ID.get(), "client_address": CALL_CLIENT.get() or context.peer()}


def _text_metadata(metadata: Any) -> dict[str, str]:
    return {str(k).lower(): v for k, v in (metadata or ()) if isinstance(v, str)}


def _message_name(deserialize: Callable[[bytes], Any]) -> str:
    owner = getattr(deserialize, "__self__", None)
    descriptor = getattr(owner, "DESCRIPTOR", None)
    return str(getattr(descriptor, "full_name", "request"))
