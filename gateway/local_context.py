"""A `grpc.aio.ServicerContext` stand-in for calling a servicer inside the gateway's process.

It implements the subset servicers use, with grpc.aio's semantics: `abort` records the status and
raises `grpc.aio.AbortError` (the exception a real server raises, so servicer code behaves the same),
`set_code`/`set_details` let a handler fail without raising, and metadata set by the handler is
kept for the gateway to turn into HTTP headers.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

import grpc

Metadata = tuple[tuple[str, str], ...]


class LocalServicerContext:
    """The context of one in-process unary call."""

    def __init__(self, invocation_metadata: Sequence[tuple[str, str]], deadline: float | None) -> None:
        self._invocation_metadata: Metadata = tuple(invocation_metadata)
        self._deadline = deadline  # event-loop time (loop.time()), None: no deadline
        self._code: grpc.StatusCode | None = None
        self._details: str | None = None
        self._initial: Metadata = ()
        self._initial_sent = False
        self._trailing: Metadata = ()
        self._cancelled = False
        self._done = False
        self._callbacks: list[Callable[[Any], None]] = []
        self._opened = asyncio.Event()  # initial metadata sent, or the call over: a stream's headers are known

    # --- what the client sent ------------------------------------------------------------------
    def invocation_metadata(self) -> Metadata:
        return self._invocation_metadata

    def peer(self) -> str:
        return "in-process"

    def peer_identities(self) -> None:
        return None

    def peer_identity_key(self) -> None:
        return None

    def auth_context(self) -> dict[str, list[bytes]]:
        return {}

    def time_remaining(self) -> float | None:
        if self._deadline is None:
            return None
        return max(0.0, self._deadline - asyncio.get_running_loop().time())

    # --- the outcome -----------------------------------------------------------------------------
    async def abort(
        self, code: grpc.StatusCode, details: str = "", trailing_metadata: Sequence[tuple[str, str]] = ()
    ) -> NoReturn:
        if code == grpc.StatusCode.OK:
            # grpc.aio logs and turns this into UNKNOWN too: an abort must carry an error.
            code = grpc.StatusCode.UNKNOWN
        self._code = code
        self._details = details
        if trailing_metadata:
            self._trailing = tuple(trailing_metadata)
        raise grpc.aio.AbortError()

    def set_code(self, code: grpc.StatusCode) -> None:
        self._code = code

    def set_details(self, details: str) -> None:
        self._details = details

    def code(self) -> grpc.StatusCode | None:
        return self._code

    def details(self) -> str | None:
        return self._details

    def set_trailing_metadata(self, trailing_metadata: Sequence[tuple[str, str]]) -> None:
        self._trailing = tuple(trailing_metadata)

    def trailing_metadata(self) -> Metadata:
        return self._trailing

    async def send_initial_metadata(self, initial_metadata: Sequence[tuple[str, str]]) -> None:
        if self._initial_sent:
            raise RuntimeError("initial metadata was already sent")
        self._initial = tuple(initial_metadata)
        self._initial_sent = True
        self._opened.set()

    async def opened(self) -> None:
        """Returns once the handler sent its initial metadata or finished (what a client's
        `call.initial_metadata()` waits for)."""
        await self._opened.wait()

    def reply_metadata(self) -> dict[str, str]:
        """Initial then trailing metadata, lower-case keys, text values only (the Reply's view)."""
        merged: dict[str, str] = {}
        for key, value in (*self._initial, *self._trailing):
            if isinstance(value, str):
                merged[key.lower()] = value
        return merged

    # --- lifecycle -------------------------------------------------------------------------------
    def cancelled(self) -> bool:
        return self._cancelled

    def done(self) -> bool:
        return self._done

    def add_done_callback(self, callback: Callable[[Any], None]) -> None:
        self._callbacks.append(callback)

    def set_compression(self, compression: Any) -> None:
        """No wire, nothing to compress."""

    def disable_next_message_compression(self) -> None:
        """No wire, nothing to compress."""

    def finish(self, *, cancelled: bool = False) -> None:
        """Called by the invoker when the handler has returned, raised or been cancelled."""
        self._cancelled = cancelled
        self._done = True
        self._opened.set()
        for callback in self._callbacks:
            callback(self)
