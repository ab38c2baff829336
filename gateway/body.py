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
"""

from __future__ import annotations

import asyncio
import zlib
from typing import Protocol

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from gateway import errors
from gateway.errors import HttpError
from phonos_config.json_text import json_value_text

SUPPORTED_ENCODINGS = ("identity", "gzip", "x-gzip", "deflate")
_CHUNK = 256 * 1024
# Inflated bytes per step: small beside any body worth compressing, large enough that the steps cost nothing.
_INFLATE_CHUNK = 1024 * 1024


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
    return inflate(raw, encoding, limit, counter)  # inflated bytes are held beside the compressed ones


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
            return b"".join(parts)
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
    if encoding in ("gzip", "x-gzip"):
        wbits = 16 + zlib.MAX_WBITS
    elif data[:1] and data[0] & 0x0F == 8:  # RFC 1950 header: CM = 8 (deflate)
        wbits = zlib.MAX_WBITS
    else:
        wbits = -zlib.MAX_WBITS
    counter = counter or _Uncounted()
    inflater = zlib.decompressobj(wbits)
    parts: list[bytes] = []
    size = 0
    pending = data
    while True:
        try:
            # Never more than one byte past the limit: that byte is what tells a body too large.
            part = inflater.decompress(pending, min(_INFLATE_CHUNK, limit + 1 - size))
        except zlib.error as exc:
            raise HttpError(errors.client_error(
                400, f"the request body is not valid {encoding} data ({exc}); send it uncompressed or fix the encoding"
            )) from None
        pending = inflater.unconsumed_tail
        size += len(part)
        if size > limit:
            raise HttpError(too_large(limit, inflated=True))
        if part:
            counter.grow(len(part))
            parts.append(part)
        # Done at the stream's end, or at a step that inflated nothing: its input is used up and zlib holds no
        # output back (a stream cut short, checked below).
        if inflater.eof or not part:
            break
    if not inflater.eof or inflater.unused_data:
        raise HttpError(errors.client_error(
            400, f"the request body is not one complete {encoding} stream; send it uncompressed or fix the encoding"
        ))
    return parts[0] if len(parts) == 1 else b"".join(parts)


def too_large(limit: int, *, inflated: bool = False) -> errors.ErrorResponse:
    what = "inflated request body" if inflated else "request body"
    return errors.client_error(413, f"the {what} is larger than this route accepts ({limit} bytes)")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else type(exc).__name__
