"""The gRPC edge: admit the caller from its metadata, then read, size-check and parse the message.

grpc.aio receives a unary rpc's whole request message before its handler runs, so a key checked in
the handler comes after the server has buffered (up to its receive limit) and parsed whatever an
anonymous client sent. `EdgeInterceptor` serves every unary-unary method as a *stream-unary* one
instead (identical on the wire): its behaviour runs as soon as the call's metadata is in, so it can
refuse a bad key (or a throttled address) before a single message byte is read; grpc then resets
the stream and the client's data is dropped unbuffered. Admitted calls read their one message raw,
within `body_timeout_s`, refuse it when it is over the method's limit (`message_limits`), and parse
it here, so an undecodable message is INVALID_ARGUMENT with a plain message (grpc's own answer is
UNKNOWN with the exception's class name and a traceback in the log).

PhonosService's server-streaming methods (WatchJob, WatchJobs) get the same guard, served as
stream-stream: admit, read and parse the one request message, then relay the handler's stream.
Other streaming methods (server reflection, health Watch) pass through; the server's receive limit
bounds them.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc

from gateway.ratelog import RateLimitedLog
from jobservice.admission import KeyAdmission, repeated_metadata
from jobservice.message_limits import request_limit
from jobservice.status_map import TITLE_KEY

log = logging.getLogger(__name__)

Behaviour = Callable[[Any, grpc.aio.ServicerContext], Awaitable[Any]]
GUARDED_STREAMS_PREFIX = "/phonos.v1.PhonosService/"


class EdgeInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[misc]
    def __init__(self, admission: KeyAdmission, *, body_timeout_s: float, error_log: RateLimitedLog) -> None:
        self._admission = admission
        self._body_timeout_s = body_timeout_s
        self._error_log = error_log

    async def intercept_service(
        self, continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(details)
        if handler is None or handler.request_streaming:
            return handler
        if handler.response_streaming:
            if not details.method.startswith(GUARDED_STREAMS_PREFIX):
                return handler
            watched = self._guard_stream(details.method, details, handler)
            return grpc.stream_stream_rpc_method_handler(
                watched, request_deserializer=None, response_serializer=handler.response_serializer
            )
        guarded = self._guard(details.method, details, handler)
        return grpc.stream_unary_rpc_method_handler(
            guarded, request_deserializer=None, response_serializer=handler.response_serializer
        )

    async def _admit(self, method: str, details: grpc.HandlerCallDetails, context: grpc.aio.ServicerContext) -> None:
        """Refuse the call from its metadata alone, before its message is read."""
        failure = repeated_metadata(details.invocation_metadata or ()) or await self._admission.admit(
            method, _text_metadata(details.invocation_metadata), context.peer())
        if failure is not None:
            await context.abort(failure.code, failure.details, trailing_metadata=tuple(failure.metadata.items()))

    def _guard(self, method: str, details: grpc.HandlerCallDetails, handler: grpc.RpcMethodHandler) -> Behaviour:
        async def behaviour(requests: Any, context: grpc.aio.ServicerContext) -> Any:
            await self._admit(method, details, context)
            raw = await self._read(method, context)
            request = await self._parse(method, raw, handler, context)
            return await handler.unary_unary(request, context)

        return behaviour

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
                                method, self._body_timeout_s, context.peer())
            await _abort(context, grpc.StatusCode.DEADLINE_EXCEEDED,
                         f"the request message did not arrive within {self._body_timeout_s:g} s", "Request timeout")
        if raw is grpc.aio.EOF:
            await _abort(context, grpc.StatusCode.INVALID_ARGUMENT, "the call carried no request message",
                         "Invalid request")
        limit = request_limit(method)
        if len(raw) > limit:
            await _abort(context, grpc.StatusCode.RESOURCE_EXHAUSTED,
                         f"the request message is {len(raw)} bytes; {method.rpartition('/')[2]} accepts at most "
                         f"{limit}", "Request too large")
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
                                method, name, context.peer(), type(exc).__name__)
            await _abort(context, grpc.StatusCode.INVALID_ARGUMENT,
                         f"the request is not a valid {name} message", "Invalid request")


async def _abort(context: grpc.aio.ServicerContext, code: grpc.StatusCode, details: str, title: str) -> None:
    await context.abort(code, details, trailing_metadata=((TITLE_KEY, title),))


def _text_metadata(metadata: Any) -> dict[str, str]:
    return {str(k).lower(): v for k, v in (metadata or ()) if isinstance(v, str)}


def _message_name(deserialize: Callable[[bytes], Any]) -> str:
    owner = getattr(deserialize, "__self__", None)
    descriptor = getattr(owner, "DESCRIPTOR", None)
    return str(getattr(descriptor, "full_name", "request"))
