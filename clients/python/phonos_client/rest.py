"""The REST transport (httpx): a `Call` as the HTTP request its rule describes, the answer as its JSON body.

One try per `send`; failures come out typed (`APIConnectionError` for a broken connection or a
timeout, the status's `APIStatusError` for an error answer) and the client's retry policy decides.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any, TypeVar
from urllib.parse import quote

import httpx

from phonos_client import errors
from phonos_client.calls import Call
from phonos_client.models import Download, server_file_name
from phonos_client.sse import SseParser

T = TypeVar("T")
USER_AGENT = "phonos-client/0.1"
WATCH_READ_TIMEOUT_S = 90.0  # the server sends a keep-alive every 15 s; silence this long means a dead link


def _nothing() -> None:
    """A stream's `opened` when its caller has nothing to do then."""


def headers(api_key: str | None) -> dict[str, str]:
    return {"Accept": "application/json", "User-Agent": USER_AGENT,
            **({"Authorization": f"Bearer {api_key}"} if api_key else {})}


def request_args(call: Call[Any], timeout: float, deadline: float | None = None) -> dict[str, Any]:
    """httpx.request's arguments: path variables in the path, the other fields in the JSON body (`body: "*"`
    rules) or the query; a stream asks for Server-Sent Events and reads with a long timeout (keep-alives),
    none of it longer than what is left before `deadline` (monotonic clock)."""
    route = call.route
    in_path = {name: quote(str(call.fields[name]), safe="") for name in route.path_fields}
    others = {k: v for k, v in call.fields.items() if k not in in_path}
    args: dict[str, Any] = {"method": route.http_method, "url": route.path.format(**in_path)}
    if route.body:
        args["json"] = others
    elif others:
        args["params"] = others
    extra = {"Idempotency-Key": call.idempotency_key} if call.idempotency_key else {}
    if route.streaming:
        extra["Accept"] = "text/event-stream"
        left = None if deadline is None else max(deadline - time.monotonic(), 0.001)
        args["timeout"] = httpx.Timeout(_at_most(timeout, left), read=_at_most(WATCH_READ_TIMEOUT_S, left))
    args["headers"] = extra
    return args


def _at_most(seconds: float, left: float | None) -> float:
    return seconds if left is None else min(seconds, left)


def check(response: httpx.Response) -> httpx.Response:
    # A redirect too (not followed: a key must not go where the answer points): the API answers none, so it is
    # another web server, or a proxy, at that address.
    if response.status_code >= 300:
        try:
            body = response.json()
        except ValueError:
            body = None
        raise errors.from_response(response.status_code, body, response.headers)
    return response


def document(call: Call[Any], response: httpx.Response) -> Any:
    """The answer as `Call.read` takes it: the JSON body, or the file of a download."""
    if call.route.is_file:
        disposition = response.headers.get("content-disposition", "")
        name = disposition.split('filename="', 1)[1].rstrip('"') if 'filename="' in disposition else None
        # The server's name, made one plain file name: a path in it ("../x", "/home/you/.bashrc") was written to.
        return Download(response.content, response.headers.get("content-type", ""), server_file_name(name))
    try:
        return response.json()
    except ValueError:  # a success that is no JSON document: not the API's answer (a web page, a proxy's)
        raise errors.APIStatusError(f"HTTP {response.status_code} with a body that is not JSON",
                                    status=response.status_code, request_id=response.headers.get("x-request-id")
                                    ) from None


def connection_error(exc: httpx.TransportError, server: httpx.URL) -> errors.APIConnectionError:
    """The typed error of a failed try, naming the server it was for (a wrong PHONOS_URL is the usual cause)."""
    at = f" at {str(server).rstrip('/')}" if server.host else ""
    if isinstance(exc, httpx.TimeoutException):
        # A read timeout says nothing more (its text is empty): "did not answer in time ()" was the line
        why = f" ({exc})" if str(exc) else ""
        return errors.APITimeoutError(f"the server{at} did not answer in time{why}")
    if isinstance(exc, httpx.RemoteProtocolError) and str(exc).lower().startswith("illegal"):
        # h11 could not read the answer as HTTP/1.1 at all (a server that went away says "disconnected" instead)
        return errors.NotHttpError(f"the server{at} does not answer in HTTP ({exc})")
    if isinstance(exc, httpx.ConnectError) and "wrong_version_number" in str(exc).lower():
        return errors.NotTlsError(f"the server{at} does not answer in TLS ({exc})")
    # ConnectError: no connection was made (refused, a name that does not resolve): the request never left here
    kind = errors.ServerUnreachableError if isinstance(exc, httpx.ConnectError) else errors.APIConnectionError
    # Some of httpx's errors have no text (a server killed mid-answer: ReadError('')): said, not "...: ; trying"
    # h11's sentence ends in a full stop, which "...; trying again" and the final line's clauses went on after (".;")
    why = str(exc).strip().removesuffix(".") or ("no connection could be made" if kind is errors.ServerUnreachableError
                                                 else "the connection broke off")
    return kind(f"could not reach the server{at}: {why}")


class RestTransport:
    def __init__(self, base_url: str, api_key: str | None, timeout: float, http: httpx.Client | None) -> None:
        self.timeout = timeout
        self._http = http or httpx.Client(base_url=base_url, headers=headers(api_key), timeout=timeout)

    def close(self) -> None:
        self._http.close()

    def send(self, call: Call[T]) -> T:
        try:
            response = self._http.request(**request_args(call, self.timeout))
        except httpx.TransportError as exc:
            raise connection_error(exc, self._http.base_url) from exc
        return call.read(document(call, check(response)))

    def stream(self, call: Call[T], deadline: float | None = None, opened: Callable[[], None] = _nothing
               ) -> Iterator[T]:
        """The messages of one connection of a streaming call, until the server ends it (none: 204), or an
        `APITimeoutError` once the monotonic clock passes `deadline` (checked at every line, keep-alives too).
        `opened` is called once the server has answered the stream (the gateway answers once the job service
        has: its status line says the call works), before its first message, which may be long in coming."""
        try:
            with self._http.stream(**request_args(call, self.timeout, deadline)) as response:
                if response.status_code >= 400:
                    response.read()
                    check(response)
                opened()
                parser = SseParser()
                for line in response.iter_lines():
                    if deadline is not None and time.monotonic() >= deadline:
                        raise errors.APITimeoutError("the stream's deadline passed")
                    for payload in parser.feed(line):
                        yield call.read(payload)
        except httpx.TransportError as exc:
            raise connection_error(exc, self._http.base_url) from exc


class AsyncRestTransport:
    def __init__(self, base_url: str, api_key: str | None, timeout: float, http: httpx.AsyncClient | None) -> None:
        self.timeout = timeout
        limits = httpx.Limits(max_connections=None, max_keepalive_connections=20)
        self._http = http or httpx.AsyncClient(base_url=base_url, headers=headers(api_key), timeout=timeout,
                                               limits=limits)

    async def close(self) -> None:
        await self._http.aclose()

    async def send(self, call: Call[T]) -> T:
        try:
            response = await self._http.request(**request_args(call, self.timeout))
        except httpx.TransportError as exc:
            raise connection_error(exc, self._http.base_url) from exc
        return call.read(document(call, check(response)))

    async def stream(self, call: Call[T], opened: Callable[[], None] = _nothing) -> AsyncIterator[T]:
        """See `RestTransport.stream`."""
        try:
            async with self._http.stream(**request_args(call, self.timeout)) as response:
                if response.status_code >= 400:
                    await response.aread()
                    check(response)
                opened()
                parser = SseParser()
                async for line in response.aiter_lines():
                    for payload in parser.feed(line):
                        yield call.read(payload)
        except httpx.TransportError as exc:
            raise connection_error(exc, self._http.base_url) from exc
