"""Reading a request body under the route's limits: size, time, and content encoding.

aiohttp's own decompression is turned off (`auto_decompress=False` in `server.py`): it inflates
without a bound and turns a body that is not what its `Content-Encoding` says into a 500. Here:

- an encoding other than identity, gzip or deflate is a 415 before anything is read;
- a declared `Content-Length` over the route's limit is a 413 before anything is read;
- the raw body is read up to the limit (413 beyond it) within `timeout_s` (408 after it);
- gzip/deflate is inflated `_INFLATE_CHUNK` bytes at a time and stopped at the first byte past the limit (a 413),
  so a small body that inflates past the limit (a "gzip bomb": 62 KB to an AlphaFold2 route's 64 MB) holds about
  the limit at worst (one `decompress(data, limit + 1)` held the limit and its copy: twice the limit) and a real
  body its size (twice for a moment, as its steps are joined); data that does not inflate (or stops short) is a 400;
- the bytes are counted into the request's upload (`UPLOAD_KEY`, gateway/uploads.py: bytes in flight per client
  address and in all) as they are known: the declared length before anything is read, then what is read past it,
  then the inflated bytes chunk by chunk; one that does not fit is a 429 with nothing more read or inflated.

Work on a big body is done off the event loop (`off_loop`, in `BODY_WORK`'s threads): the gateway has one loop
for every client, and inflating a 54 MB AlphaFold2 submission (~0.1 s), parsing its JSON and building its message
(~0.3 s) froze every other request, SSE stream and download for that long (bench/loop_stall.py). Bodies up to
`INLINE_BYTES` stay on the loop, where a thread hop (~50 µs) would cost more than the work. The upload budget is
the loop's alone: an inflating thread asks the loop to count each step (`_LoopCounter`).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import zlib
from collections.abc import Callable
from typing import Protocol, TypeVar

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from gateway import errors
from gateway.errors import HttpError
from phonos_config.json_text import json_value_text

SUPPORTED_ENCODINGS = ("identity", "gzip", "x-gzip", "deflate")
_CHUNK = 256 * 1024
# Inflated bytes per step: small beside any body worth compressing, large enough that the steps cost nothing.
_INFLATE_CHUNK = 1024 * 1024
# Bodies (raw, or inflated so far) up to this size are worked on the event loop: ~1 ms of JSON parsing at most.
INLINE_BYTES = 256 * 1024
# Threads for big bodies' work: a few, so big submissions queue behind each other, never behind (or in front of)
# what else goes to the default executor; what waits is bounded by the upload budget (its bytes stay counted).
BODY_WORK = concurrent.futures.ThreadPoolExecutor(max_workers=2, thread_name_prefix="gateway-body")
# How often an inflating thread waiting for the loop to count a step looks whether its request is gone.
_WAIT_POLL_S = 0.1

T = TypeVar("T")


class BodyCounter(Protocol):
    def grow(self, size: int) -> None:
        """The body is `size` bytes more than counted so far; HttpError (429) when they do not fit."""
        ...


class _Uncounted:
    def grow(self, size: int) -> None:
        pass


class BodyBudget(Protocol):
    def check(self, client: str, size: int) -> None:
        """HttpError (429) when a body of `size` bytes from `client` would not fit now; nothing is counted."""
        ...


# The request's count of body bytes in flight (gateway/uploads.py sets it); none: not counted.
UPLOAD_KEY: web.RequestKey[BodyCounter] = web.RequestKey("phonos_upload", BodyCounter)
# The budget those counts are taken from, asked before a "100 Continue" (gateway/app.py); none: no budget.
UPLOAD_BUDGET_KEY: web.AppKey[BodyBudget] = web.AppKey("phonos_upload_budget", BodyBudget)


async def read_body(request: web.Request, *, limit: int, timeout_s: float) -> bytes:
    """The decoded body (b"" when there is none), or HttpError with a 400/408/413/415 answer."""
    encoding = content_encoding(request)
    if not request.body_exists:
        return b""
    declared = request.content_length
    if declared is not None and declared > limit:
        raise HttpError(too_large(limit))
    counter = request.get(UPLOAD_KEY) or _Uncounted()
    counter.grow(declared or 0)  # a body that does not fit is refused before any of it is read
    try:
        async with asyncio.timeout(timeout_s):
            raw = await _read_capped(request, limit, counter, declared or 0)
    except TimeoutError:
        raise HttpError(errors.client_error(408, f"the request body did not arrive within {timeout_s:g} s")) from None
    except (HttpProcessingError, web.HTTPException, ConnectionError, ValueError) as exc:
        # Malformed chunked framing, a body shorter than its Content-Length, a dropped connection.
        raise HttpError(errors.client_error(400, f"the request body could not be read: {_first_line(exc)}")) from None
    if encoding == "identity":
        return raw
    return await inflate_body(raw, encoding, limit, counter)  # inflated bytes are held beside the compressed ones


def content_encoding(request: web.Request) -> str:
    """The body's one content coding, lower-cased; HttpError 415 when it is not one we decode."""
    value = request.headers.get("Content-Encoding", "").strip().lower() or "identity"
    if value not in SUPPORTED_ENCODINGS:
        raise HttpError(errors.client_error(
            415, f"Content-Encoding {json_value_text(value)} is not supported; send the body uncompressed, gzip or deflate"
        ))
    return value


async def _read_capped(request: web.Request, limit: int, counter: BodyCounter, counted: int) -> bytes:
    parts: list[bytes] = []
    size = 0
    while True:
        chunk = await request.content.read(_CHUNK)
        if not chunk:
            # One piece; a big body's copy (~20 ms for 50 MB) off the loop.
            return b"".join(parts) if size <= INLINE_BYTES else await off_loop(b"".join, parts)
        size += len(chunk)
        if size > limit:
            raise HttpError(too_large(limit))
        if size > counted:  # chunked, or more than declared: counted as it comes
            counter.grow(size - counted)
            counted = size
        parts.append(chunk)


def inflate(data: bytes, encoding: str, limit: int, counter: BodyCounter | None = None) -> bytes:
    """gzip or deflate (zlib-wrapped or raw, as browsers send both) inflated to at most `limit` bytes, each step
    counted into `counter` (a 429 as soon as they do not fit)."""
    inflater = _Inflater(data, encoding, limit)
    inflater.run(counter or _Uncounted())
    return inflater.result()


async def inflate_body(data: bytes, encoding: str, limit: int, counter: BodyCounter) -> bytes:
    """`inflate`, its first INLINE_BYTES on the loop (most compressed bodies end there) and the rest, if any, in a
    `BODY_WORK` thread, each step counted into `counter` on the loop."""
    inflater = _Inflater(data, encoding, limit)
    if inflater.run(counter, until=INLINE_BYTES):
        return inflater.result()
    on_loop = _LoopCounter(counter, asyncio.get_running_loop())
    try:
        return await off_loop(inflater.finish, on_loop, stop=on_loop.close)
    finally:
        on_loop.close()


class _Inflater:
    """One body's inflation, in steps of at most _INFLATE_CHUNK bytes."""

    def __init__(self, data: bytes, encoding: str, limit: int) -> None:
        if encoding in ("gzip", "x-gzip"):
            wbits = 16 + zlib.MAX_WBITS
        elif data[:1] and data[0] & 0x0F == 8:  # RFC 1950 header: CM = 8 (deflate)
            wbits = zlib.MAX_WBITS
        else:
            wbits = -zlib.MAX_WBITS
        self._encoding = encoding
        self._limit = limit
        self._inflater = zlib.decompressobj(wbits)
        self._pending = data
        self._parts: list[bytes] = []
        self._size = 0
        self._done = False

    def run(self, counter: BodyCounter, until: int | None = None) -> bool:
        """Inflate, each step counted into `counter`, to the stream's end (True) or, with `until`, until at least
        that many bytes are out (False: more to come). HttpError 400/413/429 on a bad, too large or unfitting body."""
        inflater = self._inflater
        while not self._done:
            if until is not None and self._size >= until:
                return False
            # Never more than one byte past the limit: that byte is what tells a body too large.
            step = min(_INFLATE_CHUNK, self._limit + 1 - self._size)
            if until is not None:
                step = min(step, until - self._size)
            try:
                part = inflater.decompress(self._pending, step)
            except zlib.error as exc:
                raise HttpError(errors.client_error(
                    400, f"the request body is not valid {self._encoding} data ({exc}); send it uncompressed or fix "
                    "the encoding")) from None
            self._pending = inflater.unconsumed_tail
            self._size += len(part)
            if self._size > self._limit:
                raise HttpError(too_large(self._limit, inflated=True))
            if part:
                counter.grow(len(part))
                self._parts.append(part)
            # Done at the stream's end, or at a step that inflated nothing: its input is used up and zlib holds no
            # output back (a stream cut short, checked below).
            self._done = inflater.eof or not part
        if not inflater.eof or inflater.unused_data:
            raise HttpError(errors.client_error(
                400, f"the request body is not one complete {self._encoding} stream; send it uncompressed or fix the "
                "encoding"))
        return True

    def finish(self, counter: BodyCounter) -> bytes:
        """`run` to the end, then `result`: the body in one piece (joining 50 MB is ~20 ms of copying)."""
        self.run(counter)
        return self.result()

    def result(self) -> bytes:
        parts = self._parts
        return parts[0] if len(parts) == 1 else b"".join(parts)


class _Stopped(Exception):
    """The request a thread works for is gone (cancelled): its work stops at its next step."""


class _LoopCounter:
    """A `BodyCounter` for a thread: each `grow` runs on the loop (the upload budget is the loop's, not locked) and
    the thread waits for its answer. Once closed (the request answered or cancelled) it counts nothing more."""

    def __init__(self, counter: BodyCounter, loop: asyncio.AbstractEventLoop) -> None:
        self._counter = counter
        self._loop = loop
        self._closed = False

    def close(self) -> None:
        self._closed = True

    def grow(self, size: int) -> None:
        answer: concurrent.futures.Future[None] = concurrent.futures.Future()

        def count() -> None:  # on the loop
            if self._closed:
                answer.set_exception(_Stopped())
                return
            try:
                self._counter.grow(size)
            except BaseException as exc:  # the 429 (HttpError), raised in the thread
                answer.set_exception(exc)
            else:
                answer.set_result(None)

        self._loop.call_soon_threadsafe(count)
        while True:
            try:
                return answer.result(timeout=_WAIT_POLL_S)
            except TimeoutError:
                if self._closed or self._loop.is_closed():  # a loop stopped meanwhile never answers
                    raise _Stopped() from None


async def off_loop(work: Callable[..., T], *args: object, stop: Callable[[], None] | None = None) -> T:
    """`work(*args)` in a `BODY_WORK` thread; its exception (an HttpError, a TranscodeError) is raised here.
    Cancelled (the client gone, the server stopping), it returns only once the work has ended (`stop` asks it to
    end early): until then it holds the body, whose bytes stay counted in the upload budget."""
    running = BODY_WORK.submit(work, *args)
    try:
        return await asyncio.wrap_future(running)
    except asyncio.CancelledError:
        if stop is not None:
            stop()
        if not running.cancel():  # started: wait for it to end
            with contextlib.suppress(BaseException):
                await asyncio.wrap_future(running)
        raise


def too_large(limit: int, *, inflated: bool = False) -> errors.ErrorResponse:
    what = "inflated request body" if inflated else "request body"
    return errors.client_error(413, f"the {what} is larger than this route accepts ({limit} bytes)")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else type(exc).__name__
