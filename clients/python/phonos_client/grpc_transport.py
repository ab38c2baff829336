"""The gRPC transport: the same `Call`s as rpcs of phonos.v1.PhonosService on the job service's gRPC port.

Imported only when a client asks for gRPC (client.py), so the REST-only install never needs grpcio.
The request message is built from the call's fields (proto3 JSON, what the gateway builds from a REST
request) and the answer read from the response in proto3 JSON (grpc_schema.py), so results are those of
REST; failures become the same typed errors (`errors.from_grpc_status`). The key travels as
`authorization: Bearer ...` metadata and an idempotency key as `idempotency-key` metadata, what the job
service reads (jobservice/auth.py, jobservice/idempotency.py). One try per `send`, as over REST.

Watch streams ask for keep-alive messages where the server knows them (its schema has `keep_alive`), never
surface them, and end with `APITimeoutError` after WATCH_SILENCE_S without any message, as REST's read timeout
does: a frozen server or a link dead without a reset was noticed only by HTTP/2 pings (every 6 minutes), and an L7
proxy's idle timeout no longer cuts a stream on a job that waits quietly.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any, TypeVar

import grpc
from google.protobuf import json_format
from google.protobuf.message import Message

from phonos_client import errors, grpc_schema
from phonos_client.calls import GRPC_SCHEME, Call
from phonos_client.deadlines import Expired, within
from phonos_client.grpc_schema import Rpc
from phonos_client.models import Download, server_file_name
from phonos_client.rest import USER_AGENT, WATCH_READ_TIMEOUT_S

T = TypeVar("T")
MIB = 1024 * 1024
CHANNEL_OPTIONS: list[tuple[str, Any]] = [
    ("grpc.primary_user_agent", USER_AGENT),
    ("grpc.max_receive_message_length", 256 * MIB),  # what the job service sends at most (MAX_RESPONSE_BYTES)
    # A dead link under a quiet watch stream is noticed by pings (REST has keep-alive events). Not more
    # often than every 5 minutes: a gRPC server's default policy closes connections that ping more
    # often while no data flows.
    ("grpc.keepalive_time_ms", 6 * 60 * 1000),
    ("grpc.keepalive_timeout_ms", 20 * 1000),
    ("grpc.http2.max_pings_without_data", 0),
]
WATCH_SILENCE_S = WATCH_READ_TIMEOUT_S  # the server sends a keep-alive every 15 s (PHONOS_SSE_KEEPALIVE_S)
KEEP_ALIVE_FIELD = "keep_alive"  # in a watch request: ask for them; in its response's `kind`: one of them
HTTP_CODE_METADATA = "x-http-code"  # the service's HTTP status for a successful rpc (an unready health: 503)


def target_of(url: str) -> str:
    """"grpc://host:port" -> "host:port"."""
    return url.removeprefix(GRPC_SCHEME).rstrip("/")


def _nothing() -> None:
    """A stream's `opened` when its caller has nothing to do then."""


class _GrpcCalls:
    """What both gRPC transports do alike: metadata, request and answer messages, failures."""

    def __init__(self, url: str, api_key: str | None, timeout: float) -> None:
        self.target = target_of(url)
        self.timeout = timeout
        self._auth = [("authorization", f"Bearer {api_key}")] if api_key else []

    def metadata(self, call: Call[Any]) -> list[tuple[str, str]]:
        return self._auth + ([("idempotency-key", call.idempotency_key)] if call.idempotency_key else [])

    @staticmethod
    def request(rpc: Rpc, call: Call[Any]) -> Message:
        try:
            message = json_format.ParseDict(call.fields, rpc.request())
        except json_format.ParseError as exc:  # an unknown field or a wrong type: what REST answers 400 for
            raise errors.BadRequestError(str(exc), status=400, error="Invalid request") from exc
        if call.route.streaming and _keeps_alive(rpc):
            setattr(message, KEEP_ALIVE_FIELD, True)
        return message

    def silence_s(self, rpc: Rpc) -> float | None:
        """How long a stream may stay silent before it is taken for dead: only where the server sends keep-alives
        (an older server's quiet stream is alive)."""
        return WATCH_SILENCE_S if _keeps_alive(rpc) else None

    def silent(self) -> errors.APITimeoutError:
        return errors.APITimeoutError(f"the server at {GRPC_SCHEME}{self.target} sent nothing for "
                                      f"{WATCH_SILENCE_S:.0f} s, not even a keep-alive")

    @staticmethod
    def document(call: Call[Any], message: Message) -> Any:
        if call.route.is_file:
            body = message.file  # type: ignore[attr-defined]
            # As over REST (server_file_name): one plain file name, never a path the server chose.
            name = server_file_name(message.file_name)  # type: ignore[attr-defined]
            return Download(bytes(body.data), body.content_type, name)
        document = grpc_schema.to_document(message)
        return document[call.route.response_body] if call.route.response_body else document

    def answer(self, call: Call[T], message: Message, trailing: Any) -> T:
        metadata = dict(trailing or ())
        document = self.document(call, message)
        status = int(metadata.get(HTTP_CODE_METADATA, 200))
        if status >= 400:  # as REST answers it (GetHealth when not ready: 503 with the same body)
            raise errors.from_response(status, document, metadata)
        return call.read(document)

    def failure(self, exc: grpc.RpcError) -> errors.PhonosError:
        metadata = {k.lower(): v for k, v in (exc.trailing_metadata() or ()) if isinstance(v, str)}
        return errors.from_grpc_status(exc.code().name, exc.details() or "", metadata, GRPC_SCHEME + self.target)


class GrpcTransport(_GrpcCalls):
    def __init__(self, url: str, api_key: str | None, timeout: float) -> None:
        super().__init__(url, api_key, timeout)
        self._channel = grpc.insecure_channel(self.target, options=CHANNEL_OPTIONS)
        self._rpcs: dict[str, Rpc] | None = None
        self._lock = threading.Lock()

    def close(self) -> None:
        self._channel.close()

    def _rpc(self, name: str) -> Rpc:
        with self._lock:
            if self._rpcs is None:
                self._rpcs = grpc_schema.load(self._channel, self.target, self.timeout)
        return self._rpcs[name]

    def send(self, call: Call[T]) -> T:
        try:
            rpc = self._rpc(call.route.rpc)
            unary = self._channel.unary_unary(rpc.path, request_serializer=rpc.request.SerializeToString,
                                              response_deserializer=rpc.response.FromString)
            response, state = unary.with_call(self.request(rpc, call), metadata=self.metadata(call),
                                              timeout=self.timeout)
        except grpc.RpcError as exc:
            raise self.failure(exc) from exc
        return self.answer(call, response, state.trailing_metadata())

    def stream(self, call: Call[T], deadline: float | None = None, opened: Callable[[], None] = _nothing
               ) -> Iterator[T]:
        """The messages of one streaming call until the server ends it (cancelled when the caller stops), or
        until the monotonic clock passes `deadline` (the rpc's own deadline: DEADLINE_EXCEEDED). `opened` is
        called at the first message, a keep-alive too: the job service answered the call."""
        watchdog: _Watchdog | None = None
        try:
            rpc = self._rpc(call.route.rpc)
            streaming = self._channel.unary_stream(rpc.path, request_serializer=rpc.request.SerializeToString,
                                                   response_deserializer=rpc.response.FromString)
            left = None if deadline is None else max(deadline - time.monotonic(), 0.001)
            responses = streaming(self.request(rpc, call), metadata=self.metadata(call), timeout=left)
            watchdog = _Watchdog(self.silence_s(rpc), responses.cancel)
            first = True
            try:
                for message in responses:
                    if first:
                        first = False
                        opened()
                    if not _is_keep_alive(message):
                        watchdog.pause()  # the caller's time with an event (a download) is not the server's silence
                        yield call.read(self.document(call, message))
                    watchdog.heard()
            finally:
                watchdog.stop()
                responses.cancel()
        except grpc.RpcError as exc:
            if watchdog is not None and watchdog.barked:
                raise self.silent() from exc
            raise self.failure(exc) from exc


class AsyncGrpcTransport(_GrpcCalls):
    """grpc.aio; the channel opens on first use, inside the caller's event loop."""

    def __init__(self, url: str, api_key: str | None, timeout: float) -> None:
        super().__init__(url, api_key, timeout)
        self._channel: grpc.aio.Channel | None = None
        self._rpcs: dict[str, Rpc] | None = None
        self._lock = asyncio.Lock()

    async def close(self) -> None:
        if self._channel is not None:
            await self._channel.close()

    async def _rpc(self, name: str) -> tuple[grpc.aio.Channel, Rpc]:
        async with self._lock:
            if self._channel is None:
                self._channel = grpc.aio.insecure_channel(self.target, options=CHANNEL_OPTIONS)
            if self._rpcs is None:
                self._rpcs = await asyncio.to_thread(grpc_schema.load_from, self.target, CHANNEL_OPTIONS, self.timeout)
        return self._channel, self._rpcs[name]

    async def send(self, call: Call[T]) -> T:
        try:
            channel, rpc = await self._rpc(call.route.rpc)
            unary = channel.unary_unary(rpc.path, request_serializer=rpc.request.SerializeToString,
                                        response_deserializer=rpc.response.FromString)
            state = unary(self.request(rpc, call), metadata=self.metadata(call), timeout=self.timeout)
            response = await state
            trailing = await state.trailing_metadata()
        except grpc.RpcError as exc:
            raise self.failure(exc) from exc
        return self.answer(call, response, trailing)

    async def stream(self, call: Call[T], opened: Callable[[], None] = _nothing) -> AsyncIterator[T]:
        """See `GrpcTransport.stream`."""
        try:
            channel, rpc = await self._rpc(call.route.rpc)
            streaming = channel.unary_stream(rpc.path, request_serializer=rpc.request.SerializeToString,
                                             response_deserializer=rpc.response.FromString)
            responses = streaming(self.request(rpc, call), metadata=self.metadata(call))
            silence_s = self.silence_s(rpc)
            messages = responses.__aiter__()
            first = True
            try:
                while True:
                    try:
                        message = await within(_next(messages), silence_s)
                    except StopAsyncIteration:
                        return
                    except Expired:
                        raise self.silent() from None
                    if first:
                        first = False
                        opened()
                    if not _is_keep_alive(message):
                        yield call.read(self.document(call, message))
            finally:
                responses.cancel()
        except grpc.RpcError as exc:
            raise self.failure(exc) from exc


async def _next(messages: AsyncIterator[Message]) -> Message:
    return await messages.__anext__()


def _keeps_alive(rpc: Rpc) -> bool:
    return KEEP_ALIVE_FIELD in rpc.request.DESCRIPTOR.fields_by_name


def _is_keep_alive(message: Message) -> bool:
    kind = message.DESCRIPTOR.oneofs_by_name.get("kind")
    return kind is not None and message.WhichOneof("kind") == KEEP_ALIVE_FIELD


class _Watchdog:
    """Calls `bark` (cancelling the stream) once `limit_s` pass without `heard`; None: never."""

    def __init__(self, limit_s: float | None, bark: Callable[[], object]) -> None:
        self._limit_s = limit_s
        self._bark = bark
        self._timer: threading.Timer | None = None
        self._lock = threading.Lock()
        self._stopped = False
        self.barked = False
        self.heard()

    def heard(self) -> None:
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
            if self._limit_s is None or self._stopped:
                return
            self._timer = threading.Timer(self._limit_s, self._fire)
            self._timer.daemon = True
            self._timer.start()

    def pause(self) -> None:
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()

    def stop(self) -> None:
        with self._lock:
            self._stopped = True
            if self._timer is not None:
                self._timer.cancel()

    def _fire(self) -> None:
        with self._lock:
            if self._stopped:
                return
            self.barked = True
        self._bark()
