"""File downloads (job outputs, share links' files): how many at once, and how long each may take to be taken.

A file response is held whole in memory: the job service reads the file and the gateway writes it to the
socket in one piece (the rpc is unary, its `google.api.HttpBody` one message). The memory is freed only
once the client has taken all but the socket's last buffer. Unbounded, a client that asked for a file and
read nothing held it for ever, about twice the file's size per request (measured: 20 unread downloads of a
100 MB file took the process from 0.1 to 4 GB), and one key at 60 requests a minute or one anonymous
address through a share link at 120 could take the host's memory within minutes.

So each file response takes a slot from when its route is matched and admitted (before the job service reads
the file) to when its last byte is with the client's socket:
- `per_client` slots per client address (the peer, or the client a trusted proxy forwards for; an IPv6 client's
  /64: phonos_common/forwarded.py client_unit, as the failed-auth throttle counts), `total` for every client together; past
  either the request is a 429 `Rate limit exceeded` with `Retry-After`, in the usual JSON shape, before anything
  is read;
- a response not taken within `send_timeout_s` has its connection closed (the memory is freed at once), so a
  client that stops reading gives its slot back.
A response cut short either way (closed here, or by a client that left) is counted in
`phonos_http_request_seconds` as status 499, not as the 200 its status line said (gateway/observe.py).
Other responses are small (bounded pages and documents) and pass through untouched.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterator

from aiohttp import web
from aiohttp.typedefs import Middleware

from gateway import errors
from gateway.app import admit, client_of, matched_plan, transcode_handler
from gateway.errors import HttpError
from gateway.observe import cut_short
from phonos_common.forwarded import client_unit
from phonos_common.ratelog import RateLimitedLog

logger = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
# What a refused download is told to wait: one file taken by a client on a fair link.
RETRY_AFTER_S = 5


class DownloadSlots:
    """File responses in progress, per client address and in all."""

    def __init__(self, *, per_client: int, total: int, send_timeout_s: float,
                 log: RateLimitedLog | None = None) -> None:
        self.per_client = per_client
        self.total = total
        self.send_timeout_s = send_timeout_s
        self._by_client: collections.Counter[str] = collections.Counter()
        self._log = log or RateLimitedLog(logger, per_minute=20)

    @property
    def in_progress(self) -> int:
        return sum(self._by_client.values())

    @contextlib.contextmanager
    def slot(self, client: str) -> Iterator[None]:
        """One slot for `client` while the block runs; HttpError 429 when there is none."""
        if self._by_client[client] >= self.per_client:
            self._log.log(logging.INFO, "gateway.downloads_refused", "refused a download from %s: %d in progress "
                          "from that address", client, self._by_client[client])
            raise HttpError(_refusal(f"Too many downloads in progress from your address ({self.per_client} at "
                                     f"once); wait for one to finish"))
        if self.in_progress >= self.total:
            self._log.log(logging.WARNING, "gateway.downloads_full", "refused a download from %s: %d in progress "
                          "in all (PHONOS_MAX_DOWNLOADS)", client, self.in_progress)
            raise HttpError(_refusal(f"Too many downloads in progress on this server ({self.total} at once); "
                                     f"try again in {RETRY_AFTER_S} s"))
        self._by_client[client] += 1
        try:
            yield
        finally:
            self._by_client[client] -= 1
            if self._by_client[client] <= 0:
                del self._by_client[client]

    def middleware(self) -> Middleware:
        """The innermost middleware: file routes of the transcoded API take a slot (module docstring)."""

        @web.middleware
        async def downloads_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
            if request.match_info.route.handler is not transcode_handler:
                return await handler(request)  # the dashboard's pages, the OpenAPI document
            plan = matched_plan(request)  # its 400/404/405 as the handler would raise them
            if not plan.http_body_response:
                return await handler(request)
            await admit(request, plan)  # a refused key is a 401 as ever, never a 429 for someone else's slots
            with self.slot(client_unit(client_of(request))):
                response = await handler(request)
                await self._send(request, response)
            return response

        return downloads_middleware

    async def _send(self, request: web.Request, response: web.StreamResponse) -> None:
        """Write the whole response now, within `send_timeout_s`; past it, drop the connection (and the buffer)."""
        try:
            async with asyncio.timeout(self.send_timeout_s):
                await response.prepare(request)
                await response.write_eof()
        except TimeoutError:
            cut_short(request)
            self._log.log(logging.INFO, "gateway.download_timeout", "closed a download to %s: not taken within "
                          "%g s (PHONOS_DOWNLOAD_SEND_TIMEOUT_S)", client_of(request), self.send_timeout_s)
            if request.transport is not None:
                request.transport.abort()  # close() would keep the unsent buffer until it is sent
        except ConnectionError:
            # The client left: aiohttp's own write of the (already prepared) response ends the connection.
            cut_short(request)


def _refusal(message: str) -> errors.ErrorResponse:
    return errors.client_error(429, message, {"Retry-After": str(RETRY_AFTER_S)})
