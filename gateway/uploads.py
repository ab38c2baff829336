"""Request bodies in progress: how many bytes one client address, and every client together, may have in flight.

A body is held whole while its request runs: read (`gateway/body.py`), parsed, turned into the rpc's message and
validated, about three times its size at the peak (measured: 8 AlphaFold2 submissions of 60 MB at once took the
process from 0.2 to 1.5 GB). The rate limit counts requests, not bytes, and not at once: one key's 60 a minute sent
together were ~10 GB, and nothing bounded what several keys (or one address's several accounts) sent at once.

So each request's body is counted, as it is read, against `per_client` bytes per client address (the peer, or the
client a trusted proxy forwards for; an IPv6 client's /64) and `total` bytes for every client together, until its
request has been answered. A body that does not fit is a 429 `Rate limit exceeded` with `Retry-After`, in the usual JSON shape,
before its bytes are read (its declared Content-Length) or as soon as they go past (chunked). One body alone always
fits, however large within its route's limit: a client (or the server) with nothing else in flight is never refused
(its own body counted in steps, chunked, or twice, compressed and inflated, included), so a limit below the largest
route's size cannot lock that route out. A client that sends `Expect: 100-continue` (curl, for bodies over 1 MiB) is
refused before its "100 Continue" (`check`, from gateway/app.py's expect handler), so it never sends a body that a
429 would cut off.
"""

from __future__ import annotations

import collections
import logging

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from gateway import errors
from gateway.app import client_of
from gateway.body import UPLOAD_KEY
from gateway.errors import HttpError
from phonos_common.forwarded import client_unit
from phonos_common.ratelog import RateLimitedLog

logger = logging.getLogger(__name__)

RETRY_AFTER_S = 5  # what a refused body is told to wait: another upload of its client to finish
MIB = 1024 * 1024


class UploadBudget:
    """Body bytes in flight, per client address and in all."""

    def __init__(self, *, per_client: int, total: int, log: RateLimitedLog | None = None) -> None:
        self.per_client = per_client
        self.total = total
        self._by_client: collections.Counter[str] = collections.Counter()
        self.in_flight = 0
        self._log = log or RateLimitedLog(logger, per_minute=20)

    def check(self, client: str, size: int) -> None:
        """HttpError 429 when a body of `size` bytes from `client` would not fit now; nothing is counted."""
        self._refuse_unless_fits(client_unit(client), size, own=0)

    def take(self, client: str, size: int, *, own: int = 0) -> None:
        """Count `size` more bytes for `client` (a client unit), whose request has `own` bytes counted already;
        HttpError 429 when they do not fit (module docstring)."""
        self._refuse_unless_fits(client, size, own)
        self._by_client[client] += size
        self.in_flight += size

    def _refuse_unless_fits(self, client: str, size: int, own: int) -> None:
        held = self._by_client[client]
        if held > own and held + size > self.per_client:  # others' bytes from the address: one body alone fits
            self._log.log(logging.INFO, "gateway.uploads_refused", "refused a request body from %s: %d bytes in "
                          "flight from that address", client, held)
            raise HttpError(_refusal(f"Too many request bytes in progress from your address (at most "
                                     f"{_mib(self.per_client)} at once); wait for your other uploads to finish"))
        if self.in_flight > own and self.in_flight + size > self.total:
            self._log.log(logging.WARNING, "gateway.uploads_full", "refused a request body from %s: %d bytes in "
                          "flight in all (PHONOS_MAX_UPLOAD_BYTES)", client, self.in_flight)
            raise HttpError(_refusal(f"Too many request bytes in progress on this server (at most "
                                     f"{_mib(self.total)} at once); try again in {RETRY_AFTER_S} s"))

    def give_back(self, client: str, size: int) -> None:
        self.in_flight -= size
        self._by_client[client] -= size
        if self._by_client[client] <= 0:
            del self._by_client[client]

    def middleware(self) -> Middleware:
        """Each request gets an `Upload` that `read_body` counts into; what it counted is given back once the
        request has been answered (its body, message and validation are gone by then)."""

        @web.middleware
        async def uploads_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
            upload = request[UPLOAD_KEY] = Upload(self, client_unit(client_of(request)))
            try:
                return await handler(request)
            finally:
                upload.close()

        return uploads_middleware


class Upload:
    """One request's count in an `UploadBudget`."""

    def __init__(self, budget: UploadBudget, client: str) -> None:
        self._budget = budget
        self._client = client
        self.size = 0

    def grow(self, size: int) -> None:
        """The body is `size` bytes more than counted so far; HttpError 429 when they do not fit."""
        if size > 0:
            self._budget.take(self._client, size, own=self.size)
            self.size += size

    def close(self) -> None:
        if self.size:
            self._budget.give_back(self._client, self.size)
            self.size = 0


def _refusal(message: str) -> errors.ErrorResponse:
    return errors.client_error(429, message, {"Retry-After": str(RETRY_AFTER_S)})


def _mib(size: int) -> str:
    return f"{size / MIB:g} MiB"
