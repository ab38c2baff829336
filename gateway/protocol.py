"""The HTTP/1.1 connection handling under the app: header timeout and JSON answers to parser errors.

aiohttp answers what its parser rejects (a bad request line, an oversized header, broken chunked
framing) itself, in `text/plain`, with a traceback in the log for each one, and it waits for a first
request's headers forever. `EdgeRequestHandler` changes three things:

- a connection must complete its first request's headers within `header_timeout_s` (later requests
  on a kept-alive connection are bounded by aiohttp's keep-alive timeout); else it gets a 408 and
  is closed;
- parser errors and aiohttp's own 500s are answered with the seed's JSON error body;
- they are logged in one rate-limited line (`phonos_common.ratelog`), without a traceback for client errors;
- a connection past `ConnectionCap` (open connections per client address, IPv6 per /64, and in all) is closed
  as soon as it is accepted, before a byte is read.

`EdgeAppRunner` is `web.AppRunner` serving with that handler.
"""

from __future__ import annotations

import asyncio
import logging
import re
from dataclasses import dataclass, field
from email.utils import formatdate
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import LineTooLong
from aiohttp.web_protocol import RequestHandler
from aiohttp.web_request import BaseRequest

from gateway import errors
from gateway.app import REQUEST_ID_HEADER, error_response, request_id_of
from gateway.response_headers import API_SECURITY_HEADERS, SERVER
from phonos_common.forwarded import client_unit, peer_ip, trusted_peer
from phonos_common.ratelog import RateLimitedLog
from phonos_config.edge import Network
from phonos_config.request_ids import request_id

logger = logging.getLogger(__name__)

# What a client gets to push after its request was refused (at 1 MiB, 60 clients flooding 8 MiB bodies
# took valid requests to p99 0.25 s on 2 cores; at 256 KiB, 0.03 s: bench/edge_pressure.py).
DISCARD_BYTES = 256 * 1024

# The unit of a connection counted only in the total: a trusted proxy's (its peer is every client behind it) or
# one whose peer has no IP address.
ALL_ONLY = ""


@dataclass
class ConnectionCap:
    """Open connections per client unit (`phonos_common.forwarded.client_unit`: an IPv4 address, an IPv6 /64) and in
    all. Each open connection holds a file descriptor from before its first byte; without a cap one client's idle
    connections (2,000 accepted in 0.9 s) could use up the process's descriptors, and accept() and the job
    service's file writes would fail for everyone.

    A trusted proxy's connections (PHONOS_TRUSTED_PROXIES) count only in the total: its peer address stands for
    every client behind it, so counted per peer the cap would lock them all out at once. Behind it one client's
    connections are bounded only where the proxy is told to: a default nginx does not (its `limit_conn_zone` and
    `limit_conn` do; docs/gateway.md "Connections" has the lines)."""

    per_client: int
    total: int
    trusted_proxies: tuple[Network, ...] = ()
    open: dict[str, int] = field(default_factory=dict)  # unit -> open connections; a unit at 0 is dropped
    count: int = 0  # open connections in all

    def take(self, peer: str | None) -> str | None:
        """The unit a new connection from `peer` counts against (give it back to `release` when it closes), or
        None when it is over a cap and must be closed."""
        if self.count >= self.total:
            return None
        unit = ALL_ONLY
        if peer_ip(peer) is not None and not trusted_peer(peer, self.trusted_proxies):
            unit = client_unit(peer or "")
            if self.open.get(unit, 0) >= self.per_client:
                return None
            self.open[unit] = self.open.get(unit, 0) + 1
        self.count += 1
        return unit

    def release(self, unit: str) -> None:
        self.count -= 1
        if unit != ALL_ONLY:
            left = self.open.pop(unit) - 1
            if left:
                self.open[unit] = left


class EdgeRequestHandler(RequestHandler):
    def __init__(self, manager: web.Server, *, header_timeout_s: float, error_log: RateLimitedLog,
                 connections: ConnectionCap, **kwargs: Any) -> None:
        super().__init__(manager, **kwargs)
        self._header_timeout_s = header_timeout_s
        self._connection_cap = connections
        self._counted_as: str | None = None  # the ConnectionCap unit this connection holds, until it closes
        self._header_timer: asyncio.TimerHandle | None = None
        self._error_log = error_log
        # The first bytes of the request being received, and of the last one the parser finished
        # (or failed on): a HEAD the parser refused must still get an answer without a body.
        self._head_start = b""
        self._last_head_start = b""
        # Bytes of an answered request's unread body still read (and dropped) before the connection is
        # closed; None while no such body is pending. See finish_response.
        self._discard_budget: int | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        peer = _peer(self.peername)
        self._counted_as = self._connection_cap.take(peer)
        if self._counted_as is None:
            # Closed before any request: no HTTP answer can be sent without reading the client's bytes, and a
            # client opening hundreds of idle connections reads none (a browser keeps ~6 per host; see
            # PHONOS_CONNECTIONS_PER_CLIENT). A FIN costs nothing and a well-behaved client retries later.
            self._error_log.log(logging.WARNING, "gateway.connection_cap", "closed a connection from %s: over the "
                                "cap of %d open connections per client address or %d in all", peer,
                                self._connection_cap.per_client, self._connection_cap.total)
            self.force_close()
            return
        self._header_timer = self._loop.call_later(self._header_timeout_s, self._headers_timed_out)

    def connection_lost(self, exc: BaseException | None) -> None:
        self._cancel_header_timer()
        if self._counted_as is not None:
            self._connection_cap.release(self._counted_as)
            self._counted_as = None
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._discard_budget is not None:
            self._discard_budget -= len(data)
            if self._discard_budget < 0:  # a refused upload that keeps coming: stop reading it
                self.force_close()
                return
        if len(self._head_start) < 5:
            self._head_start = (self._head_start + data)[:5]
        before = self._request_count
        super().data_received(data)
        if self._request_count != before:
            self._cancel_header_timer()  # a first request (or a parser error) is complete
            self._last_head_start, self._head_start = self._head_start, b""

    def _cancel_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_timed_out(self) -> None:
        self._header_timer = None
        if self._request_count or self.transport is None:
            return
        self._error_log.log(logging.INFO, "gateway.header_timeout", "closed a connection from %s: no complete "
                            "request headers within %g s", _peer(self.peername), self._header_timeout_s)
        error = errors.client_error(408, f"no complete request headers within {self._header_timeout_s:g} s")
        body = error.body()
        # The headers every other answer carries (README: every answer has a request id), written by hand: no
        # request was parsed, so there is no response object for aiohttp to write.
        headers = {"Content-Type": "application/json", "Content-Length": str(len(body)), "Connection": "close",
                   "Date": formatdate(usegmt=True), "Server": SERVER, REQUEST_ID_HEADER: request_id(None),
                   **API_SECURITY_HEADERS}
        head = "HTTP/1.1 408 Request Timeout\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
        self.transport.write(head.encode("latin-1") + body)
        self.force_close()

    async def finish_response(self, request: BaseRequest, resp: web.StreamResponse,
                              start_time: float | None) -> tuple[web.StreamResponse, bool]:
        """An aiohttp HTTPException raised outside the middlewares (e.g. its default `Expect` handler on a
        request no route matched) leaves in the seed's JSON shape like every other error."""
        if isinstance(resp, web.HTTPException) and resp.status >= 400:
            error = errors.client_error(resp.status, (resp.text or resp.reason or "").removeprefix(f"{resp.status}: "))
            json_resp = error_response(error)
            json_resp.headers[REQUEST_ID_HEADER] = request_id_of(request)  # type: ignore[arg-type]
            json_resp.force_close()
            resp = json_resp
        finished = await super().finish_response(request, resp, start_time)
        if not request.content.is_eof():
            # Answered without reading the body (a refused key, 413, ...). aiohttp now reads and drops
            # what follows for up to its lingering time, so that a client still sending sees the answer
            # rather than a reset; a client that keeps pushing past DISCARD_BYTES is cut off instead of
            # costing the server a full read of every refused upload.
            self._discard_budget = DISCARD_BYTES
        return finished

    def handle_error(self, request: BaseRequest, status: int = 500, exc: BaseException | None = None,
                     message: str | None = None) -> web.StreamResponse:
        """The seed's JSON error for what aiohttp itself rejects; one rate-limited log line."""
        if request.writer.output_size > 0:
            raise ConnectionError("Response is sent already, cannot send another response with the error message")
        request_id = request_id_of(request)  # type: ignore[arg-type]  # reads only .headers
        if status >= 500:
            self._error_log.log(logging.ERROR, "gateway.http_server_error", "HTTP server error %d (request id %s)",
                                status, request_id, exc_info=exc, extra={"request_id": request_id})
            error = (errors.internal_error(request_id) if status == 500
                     else errors.client_error(status, errors.DEFAULT_TITLES.get(status, "server error")))
        elif isinstance(exc, LineTooLong):
            error = _too_long(exc)
            self._error_log.log(logging.INFO, "gateway.bad_http", "bad HTTP request from %s: %s",
                                _peer(self.peername), error.message)
        else:
            detail = _first_line(message or (str(exc) if exc else "") or "malformed HTTP request")
            self._error_log.log(logging.INFO, "gateway.bad_http", "bad HTTP request from %s: %s",
                                _peer(self.peername), detail)
            error = errors.client_error(status, f"malformed HTTP request: {detail}")
        response = error_response(error)
        if self._last_head_start == b"HEAD ":  # the parser's stand-in request is a GET; the client's was not
            response = web.Response(status=error.status, reason=error.reason, headers=response.headers)
        response.headers[REQUEST_ID_HEADER] = request_id
        # No application, so no on_response_prepare hook: its headers here (and no aiohttp version in Server).
        response.headers.update({**API_SECURITY_HEADERS, "Server": SERVER})
        response.force_close()
        return response


_REQUEST_LINE = re.compile(rb"^(?:[A-Z]+ +)?(?:/|\*|https?://)", re.I)


def _too_long(exc: LineTooLong) -> errors.ErrorResponse:
    """414 for a request line past the parser's limit, 431 for a header: aiohttp says both as a 400 with the line's
    first 100 bytes as Python writes bytes ("bytearray(b'GET /v1/jobs?name=xxx...')"). The line is the URL (C
    parser) or the whole request line (Python parser) for the first, a header's name or value for the second."""
    line, limit = (exc.args + (b"", "?"))[:2]
    head = line.encode("latin-1", "replace") if isinstance(line, str) else bytes(line)
    if _REQUEST_LINE.match(head):
        return errors.client_error(414, f"the request line (method and URL) is longer than {limit} bytes")
    return errors.client_error(431, f"a request header is longer than {limit} bytes")


class EdgeServer(web.Server):
    """`web.Server` whose connections are `EdgeRequestHandler`s."""

    def __init__(self, *args: Any, header_timeout_s: float, error_log: RateLimitedLog, connections: ConnectionCap,
                 **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._header_timeout_s = header_timeout_s
        self._error_log = error_log
        self._connection_cap = connections

    def __call__(self) -> RequestHandler:
        return EdgeRequestHandler(self, loop=self._loop, header_timeout_s=self._header_timeout_s,
                                  error_log=self._error_log, connections=self._connection_cap, **self._kwargs)


class EdgeAppRunner(web.AppRunner):
    def __init__(self, app: web.Application, *, header_timeout_s: float, error_log: RateLimitedLog,
                 connections: ConnectionCap, **kwargs: Any) -> None:
        super().__init__(app, **kwargs)
        self._header_timeout_s = header_timeout_s
        self._error_log = error_log
        self.connections = connections

    async def _make_server(self) -> web.Server:
        base = await super()._make_server()  # starts the app up and freezes it
        # aiohttp 3.14 (pinned): Server keeps its handler kwargs in `_kwargs`, its loop in `_loop`.
        return EdgeServer(base.request_handler, request_factory=base.request_factory,
                          handler_cancellation=base.handler_cancellation, loop=base._loop,
                          header_timeout_s=self._header_timeout_s, error_log=self._error_log,
                          connections=self.connections, **base._kwargs)


def _first_line(text: str) -> str:
    lines = text.strip().splitlines()
    return lines[0][:200] if lines else ""


def _peer(peername: object) -> str:
    if isinstance(peername, tuple) and peername:
        return str(peername[0])
    return "unknown"
