"""How the gateway reaches the job service: over a gRPC channel, or by calling the servicer in-process.

Both honour one small protocol, so the app and its tests do not care which is used. The in-process
invoker saves the loopback hop (~1 ms of CPU per request on this hardware, see
shared/notes/triton-on-cpu.md) when gateway and job service share a process; the channel invoker is
for a gateway running in its own process.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import grpc
from google.protobuf import descriptor_pool, message_factory
from google.protobuf.message import Message

from gateway.errors import TITLE_KEY
from gateway.local_context import LocalServicerContext
from phonos_common.rpc import RpcFailure

logger = logging.getLogger(__name__)

MAX_MESSAGE_BYTES = 256 * 1024 * 1024  # AF2 outputs with full PAE matrices run to tens of MiB
CHANNEL_OPTIONS: tuple[tuple[str, int | str], ...] = (
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
    # A target that resolves to many job services (a headless Kubernetes Service, a Compose service with
    # replicas: `dns:///jobservice:50051`) gets calls spread over all of them, not pinned to the first.
    ("grpc.lb_policy_name", "round_robin"),
)
DEFAULT_TIMEOUT_S = 30.0  # job submission and polling are fast; the long work runs asynchronously


@dataclass(frozen=True, slots=True)
class Reply:
    message: Message
    metadata: Mapping[str, str] = field(default_factory=dict)  # initial + trailing, lower-case keys


class ServerStream(Protocol):
    """One server-streaming call: messages one at a time, then None; RpcFailure on a non-OK status."""

    async def next(self) -> Message | None: ...

    async def opened(self) -> None:
        """Returns once the call's initial metadata arrived (or the call ended), while a `next` is pending: the
        job service sends it when it has accepted the stream, which may be long before the first message."""
        ...

    def metadata(self) -> Mapping[str, str]:
        """Initial metadata (lower-case keys), known once `opened` or `next` returned."""
        ...

    async def close(self) -> None:
        """Stop the call (the client left); idempotent."""
        ...


class Invoker(Protocol):
    async def unary(self, full_method: str, request: Message, metadata: Sequence[tuple[str, str]]) -> Reply:
        """Call `full_method` ("/pkg.Service/Method"); raise RpcFailure on a non-OK status."""
        ...

    def stream(self, full_method: str, request: Message, metadata: Sequence[tuple[str, str]]) -> ServerStream:
        """Start a server-streaming call; nothing is sent before the first `next`."""
        ...


def merge_metadata(*parts: Iterable[tuple[str, str | bytes]] | None) -> dict[str, str]:
    """Later parts win; binary (`-bin`) values are dropped: no HTTP header is made from them."""
    merged: dict[str, str] = {}
    for part in parts:
        for key, value in part or ():
            if isinstance(value, str):
                merged[key.lower()] = value
    return merged


# ---------------------------------------------------------------------------------------------------


def open_channel(target: str) -> grpc.aio.Channel:
    """An insecure channel with the message size limits the gateway expects (256 MiB)."""
    return grpc.aio.insecure_channel(target, options=CHANNEL_OPTIONS)


def _serialize(message: Message) -> bytes:
    return message.SerializeToString()


# What a client is told when the channel itself fails (the job service is down, restarting, or unreachable
# from this gateway). The job service answers UNAVAILABLE itself only with its error title trailer (its
# database away: jobservice.errors.ServiceUnavailable), so an UNAVAILABLE without one is the channel's; its
# own details are gRPC's ("connections to all backends failing; last error: UNKNOWN:
# ipv4:10.0.0.7:50051: Failed to connect to remote host: Connection refused"), which name the job service's
# address and mean nothing to a client: they go to this process's log instead.
UNREACHABLE_MESSAGE = "The job service cannot be reached right now; try again in a few seconds."
UNREACHABLE_RETRY_AFTER_S = 5


def channel_failure(exc: grpc.aio.AioRpcError, full_method: str, metadata_sent: Sequence[tuple[str, str]]) -> RpcFailure:
    """The RpcFailure of a call over the channel; a channel that cannot reach the job service is a 503 in the
    client's words with a Retry-After, its gRPC details logged."""
    metadata = merge_metadata(exc.initial_metadata(), exc.trailing_metadata())
    if exc.code() != grpc.StatusCode.UNAVAILABLE or TITLE_KEY in metadata:  # an answer of the job service's
        return RpcFailure(exc.code(), exc.details() or "", metadata)
    logger.warning("job service unreachable for %s: %s", full_method, exc.details(),
                   extra={"action": "gateway.job_service_unreachable",
                          "request_id": dict(metadata_sent).get("x-request-id", "")})
    return RpcFailure(grpc.StatusCode.UNAVAILABLE, UNREACHABLE_MESSAGE,
                      {**metadata, "retry-after": metadata.get("retry-after", str(UNREACHABLE_RETRY_AFTER_S))})


HEALTH_METHOD = "/phonos.v1.PhonosService/GetHealth"


def unreachable_health() -> Reply:
    """GetHealth's answer while the job service cannot be reached: the health body monitors parse (`status`
    "degraded", the component that is not ready), with 503 as a degraded job service answers, not an error body."""
    from phonos.v1 import phonos_pb2 as pb  # after google.api.annotations_pb2, as gateway.app does

    health = pb.GetHealthResponse(status="degraded", version="v1", message=UNREACHABLE_MESSAGE,
                                  components={"job_service": "unavailable"})
    return Reply(health, {"x-http-code": "503", "retry-after": str(UNREACHABLE_RETRY_AFTER_S)})


class ChannelInvoker:
    """Generic unary calls over a grpc.aio channel; response types come from the descriptor pool."""

    def __init__(
        self,
        channel: grpc.aio.Channel,
        *,
        timeout: float = DEFAULT_TIMEOUT_S,
        pool: descriptor_pool.DescriptorPool | None = None,
    ) -> None:
        self._channel = channel
        self._timeout = timeout
        self._pool = pool or descriptor_pool.Default()
        self._callables: dict[str, grpc.aio.UnaryUnaryMultiCallable] = {}
        self._stream_callables: dict[str, grpc.aio.UnaryStreamMultiCallable] = {}

    def _response_parser(self, full_method: str) -> Any:
        service_name, _, method_name = full_method.lstrip("/").rpartition("/")
        method = self._pool.FindServiceByName(service_name).methods_by_name[method_name]
        return message_factory.GetMessageClass(method.output_type).FromString

    def _callable(self, full_method: str) -> grpc.aio.UnaryUnaryMultiCallable:
        callable_ = self._callables.get(full_method)
        if callable_ is None:
            callable_ = self._channel.unary_unary(full_method, request_serializer=_serialize,
                                                  response_deserializer=self._response_parser(full_method))
            self._callables[full_method] = callable_
        return callable_

    def _stream_callable(self, full_method: str) -> grpc.aio.UnaryStreamMultiCallable:
        callable_ = self._stream_callables.get(full_method)
        if callable_ is None:
            callable_ = self._channel.unary_stream(full_method, request_serializer=_serialize,
                                                   response_deserializer=self._response_parser(full_method))
            self._stream_callables[full_method] = callable_
        return callable_

    def stream(self, full_method: str, request: Message, metadata: Sequence[tuple[str, str]]) -> ServerStream:
        """No deadline: a watch stream lasts as long as the job (the server bounds it)."""
        return _ChannelStream(self._stream_callable(full_method)(request, metadata=tuple(metadata)), full_method,
                              tuple(metadata))

    async def unary(self, full_method: str, request: Message, metadata: Sequence[tuple[str, str]]) -> Reply:
        call = self._callable(full_method)(request, timeout=self._timeout, metadata=tuple(metadata))
        try:
            response = await call
        except grpc.aio.AioRpcError as exc:
            failure = channel_failure(exc, full_method, metadata)
            if failure.details == UNREACHABLE_MESSAGE and full_method == HEALTH_METHOD:
                return unreachable_health()
            raise failure from None
        return Reply(response, merge_metadata(await call.initial_metadata(), await call.trailing_metadata()))


class _ChannelStream:
    def __init__(self, call: grpc.aio.UnaryStreamCall, full_method: str,
                 metadata_sent: Sequence[tuple[str, str]]) -> None:
        self._call = call
        self._method = full_method
        self._metadata_sent = metadata_sent
        self._metadata: dict[str, str] = {}

    async def opened(self) -> None:
        if not self._metadata:
            with contextlib.suppress(grpc.aio.AioRpcError):  # a failed call: `next` raises it
                initial = merge_metadata(await self._call.initial_metadata())
                # Merged, not assigned: a concurrent `next` may have read the trailers' copy meanwhile.
                self._metadata = {**self._metadata, **initial}

    async def next(self) -> Message | None:
        try:
            await self.opened()
            message = await self._call.read()
            if message is grpc.aio.EOF:
                # What the initial metadata lacked (grpc.aio may drop it when a call ends at once), the job
                # service repeats in its trailers.
                self._metadata = {**merge_metadata(await self._call.trailing_metadata()), **self._metadata}
                return None
        except grpc.aio.AioRpcError as exc:
            raise channel_failure(exc, self._method, self._metadata_sent) from None
        return message  # type: ignore[no-any-return]

    def metadata(self) -> Mapping[str, str]:
        return self._metadata

    async def close(self) -> None:
        self._call.cancel()


class InProcessInvoker:
    """Calls `servicer.<Method>(request, context)` directly, with a LocalServicerContext."""

    def __init__(self, servicer: object, *, timeout: float | None = DEFAULT_TIMEOUT_S) -> None:
        self._servicer = servicer
        self._timeout = timeout
        self._handlers: dict[str, Callable[[Message, LocalServicerContext], Any]] = {}

    def _handler(self, full_method: str) -> Callable[[Message, LocalServicerContext], Any]:
        handler = self._handlers.get(full_method)
        if handler is None:
            handler = getattr(self._servicer, full_method.rpartition("/")[2], None)
            if handler is None:
                raise RpcFailure(grpc.StatusCode.UNIMPLEMENTED, f"Method not found: {full_method}")
            self._handlers[full_method] = handler
        return handler

    async def unary(self, full_method: str, request: Message, metadata: Sequence[tuple[str, str]]) -> Reply:
        handler = self._handler(full_method)
        loop = asyncio.get_running_loop()
        deadline = None if self._timeout is None else loop.time() + self._timeout
        context = LocalServicerContext(metadata, deadline)
        try:
            response = await self._run(handler, request, context, deadline)
        except asyncio.CancelledError:
            context.finish(cancelled=True)
            raise
        context.finish()
        code = context.code()
        if code is not None and code != grpc.StatusCode.OK:
            raise RpcFailure(code, context.details() or "", context.reply_metadata())
        if response is None:
            raise RpcFailure(grpc.StatusCode.INTERNAL, f"{full_method} returned no response")
        return Reply(response, context.reply_metadata())

    def stream(self, full_method: str, request: Message, metadata: Sequence[tuple[str, str]]) -> ServerStream:
        handler = self._handler(full_method)
        return _LocalStream(handler, request, LocalServicerContext(metadata, None))

    async def _run(
        self,
        handler: Callable[[Message, LocalServicerContext], Any],
        request: Message,
        context: LocalServicerContext,
        deadline: float | None,
    ) -> Message | None:
        timeout_cm = asyncio.timeout_at(deadline)
        try:
            async with timeout_cm:
                result = handler(request, context)
                if inspect.isawaitable(result):
                    result = await result
                return result  # type: ignore[no-any-return]
        except grpc.aio.AbortError:
            return None  # the context holds the code, details and trailing metadata
        except Exception as exc:
            if isinstance(exc, TimeoutError) and timeout_cm.expired():
                context.set_code(grpc.StatusCode.DEADLINE_EXCEEDED)
                context.set_details("Deadline Exceeded")
                return None
            # What grpc.aio does with an unhandled servicer exception: UNKNOWN. The traceback goes to
            # the log (with the request id from the metadata), never to the client.
            request_id = dict(context.invocation_metadata()).get("x-request-id", "")
            logger.exception(
                "servicer raised %s",
                type(exc).__name__,
                extra={"action": "gateway.servicer_exception", "request_id": request_id},
            )
            if context.code() in (None, grpc.StatusCode.OK):
                context.set_code(grpc.StatusCode.UNKNOWN)
                context.set_details("Unexpected error in the servicer")
            # else: a code set before raising stands (the generated base class sets UNIMPLEMENTED)
            return None


class _LocalStream:
    """A servicer's async-generator handler driven in process, with grpc.aio's error semantics."""

    def __init__(self, handler: Callable[[Message, LocalServicerContext], Any], request: Message,
                 context: LocalServicerContext) -> None:
        self._context = context
        self._messages: Any = handler(request, context)
        self._done = False

    async def next(self) -> Message | None:
        if self._done:
            return None
        try:
            return await self._messages.__anext__()  # type: ignore[no-any-return]
        except StopAsyncIteration:
            self._finish()
            code = self._context.code()
            if code is not None and code != grpc.StatusCode.OK:
                raise RpcFailure(code, self._context.details() or "", self._context.reply_metadata()) from None
            return None
        except grpc.aio.AbortError:
            self._finish()
            raise RpcFailure(self._context.code() or grpc.StatusCode.UNKNOWN, self._context.details() or "",
                             self._context.reply_metadata()) from None
        except Exception as exc:
            self._finish()
            request_id = dict(self._context.invocation_metadata()).get("x-request-id", "")
            logger.exception("streaming servicer raised %s", type(exc).__name__,
                             extra={"action": "gateway.servicer_exception", "request_id": request_id})
            raise RpcFailure(grpc.StatusCode.UNKNOWN, "Unexpected error in the servicer") from None

    async def opened(self) -> None:
        await self._context.opened()

    def metadata(self) -> Mapping[str, str]:
        return self._context.reply_metadata()

    async def close(self) -> None:
        if not self._done:
            self._finish(cancelled=True)
            await self._messages.aclose()

    def _finish(self, *, cancelled: bool = False) -> None:
        self._done = True
        self._context.finish(cancelled=cancelled)
