"""Typed errors carrying the API's `{"error", "message"}` body, its HTTP status and request id.

Both transports end here: REST with the HTTP status and body (`from_response`), gRPC with the status
code, details and trailing metadata (`from_grpc_status`), which become the HTTP status and body the
REST API gives for the same failure (the gateway's one mapping, gateway/errors.py), so a caller sees
the same error class, `status`, `error` and `message` whichever transport it chose."""

from __future__ import annotations

import email.utils
import math
import time
from collections.abc import Mapping
from typing import Any


class PhonosError(Exception):
    """Any failure of a call. `status` is the HTTP status (0 when no response came back)."""

    exit_code = 7  # what the `phonos` command exits with (see cli.py)
    server = ""  # the address of the server the call was for, where the client says it (Client._failed)

    def __init__(self, message: str, *, status: int = 0, error: str = "", request_id: str | None = None,
                 body: Any = None) -> None:
        super().__init__(f"{error}: {message}" if error else message)
        self.status = status
        self.error = error
        self.message = message
        self.request_id = request_id
        self.body = body

    def __str__(self) -> str:
        """`error: message`, and the request id where the server gave one: what a log line or a traceback
        shows is then enough to find the call in the server's log (the id is the one to quote)."""
        said = super().__str__()
        return f"{said} (request id {self.request_id})" if self.request_id else said

    @property
    def status_code(self) -> int:
        """`status` under the name requests' and httpx's responses give it (`e.status_code` raised AttributeError)."""
        return self.status


class MissingExtraError(PhonosError, ImportError):
    """An optional part of the client is not installed (the gRPC transport needs `phonos-client[grpc]`)."""

    exit_code = 2


class APIConnectionError(PhonosError):
    """The server could not be reached, or the connection broke."""


class APITimeoutError(APIConnectionError):
    """The server did not answer in time."""


class WrongProtocolError(APIConnectionError):
    """Something answered at the address, but not in the protocol its URL's scheme chose. Not retried: no wait
    makes it speak another."""

    # The URL is wrong (its scheme, for that port), as with another web server's 4xx there or no API under its path:
    # the `phonos` command's usage status, 2, not 7 (a server or connection error, which waiting may mend).
    exit_code = 2


class NotHttpError(WrongProtocolError):
    """Not in HTTP: `http://` given for the job service's gRPC port, whose HTTP/2 frames httpx cannot read
    ("illegal request line")."""


class NotTlsError(WrongProtocolError):
    """Not in TLS: `https://` given for a plain HTTP server (`phonos serve`'s gateway is plain HTTP unless a proxy
    in front of it ends TLS): the handshake got an HTTP answer ("wrong version number")."""


class NotGrpcError(WrongProtocolError):
    """Not in gRPC: `grpc://` given for an HTTP port (the gateway's), which answers gRPC's HTTP/2 with HTTP/1.1."""


class ServerUnreachableError(APIConnectionError):
    """No connection could be made at all: the address refused it, its host name did not resolve, or its network
    is unreachable. The request never reached a server, so nothing was done. A server restarting looks the same
    for a few seconds, which is why it is retried like any connection error; a client made with
    `fail_fast_until_answered=True` raises it at once until its server has answered once (a wrong address is then
    said in a moment, not after `max_retry_wait`), and sets `never_answered`."""

    never_answered = False  # raised before the server had answered this client at all

    @property
    def reason(self) -> str:
        """Why, in a few words: "connection refused", "no such host", or the library's words."""
        text = self.message.lower()
        if "refused" in text:
            return "connection refused"
        if any(words in text for words in ("name or service not known", "nodename nor servname", "dns resolution",
                                           "name resolution", "no address associated", "getaddrinfo failed",
                                           "errors resolving", "domain name not found")):
            return "no such host"
        if "network is unreachable" in text:
            return "network unreachable"
        return self.message.split(": ", 1)[-1]


class APIStatusError(PhonosError):
    """The server answered with an error status."""

    @property
    def from_the_api(self) -> bool:
        """Whether the answer was the API's error document (its `error` title): not so from another web server at
        that address, or a proxy's own error page, whose status says nothing about the call."""
        return bool(self.error)

    @property
    def retry_after(self) -> float | None:
        """Seconds the server asked the caller to wait before trying again (`Retry-After`: a 429, or a 503 while
        the job service restarts behind the gateway); None when it did not say."""
        return None if not isinstance(self.body, dict) else self.body.get("retry_after")


class BadRequestError(APIStatusError):
    exit_code = 8


class AuthenticationError(APIStatusError):
    exit_code = 3


class InsufficientCreditsError(APIStatusError):
    exit_code = 5


class PermissionDeniedError(APIStatusError):
    exit_code = 3


class NotFoundError(APIStatusError):
    exit_code = 4


class ConflictError(APIStatusError):
    exit_code = 8


class GoneError(APIStatusError):
    """The job completed, but its result files are no longer on the server (410: the server keeps results for a
    set time; the job's `results_deleted_at` says when they went)."""

    exit_code = 4


class IdempotencyError(APIStatusError):
    """The Idempotency-Key was used before with a different request (422)."""

    exit_code = 8


class RateLimitError(APIStatusError):
    exit_code = 6


class QueueFullError(RateLimitError):
    """A submission refused because the account has as many jobs waiting to run as the server allows (429, error
    "Too many jobs"): not the key's request rate; it frees as the account's jobs start (or are cancelled)."""

    @property
    def queue_limit(self) -> int | None:
        """The account's cap on waiting jobs (X-Phonos-Queue-Limit), when the server said it."""
        return None if self.body is None else self.body.get("queue_limit")

    @property
    def queue_waiting(self) -> int | None:
        """The account's jobs waiting now (X-Phonos-Queue-Waiting), when the server said it."""
        return None if self.body is None else self.body.get("queue_waiting")


class BatchTooLargeError(BadRequestError):
    """A batch with more jobs than the account may have waiting at all (400 with X-Phonos-Queue-Limit): it can never
    be accepted whole, so it is not retried; submit it in parts of at most `queue_limit` jobs (`phonos fold` does)."""

    @property
    def queue_limit(self) -> int:
        return int(self.body["queue_limit"])


QUEUE_FULL_TITLE = "Too many jobs"  # the body's `error` of that 429 (jobservice/errors.py TooManyJobs.title)
# The numbers the server sends with a submission its cap on waiting jobs refuses (HTTP headers; over gRPC trailing
# metadata of the same names, jobservice/status_map.py), read into the error's `body` under these keys.
QUEUE_HEADERS = {"queue_limit": "x-phonos-queue-limit", "queue_waiting": "x-phonos-queue-waiting"}


class InternalServerError(APIStatusError):
    exit_code = 7


_BY_STATUS: dict[int, type[APIStatusError]] = {
    400: BadRequestError, 401: AuthenticationError, 402: InsufficientCreditsError, 403: PermissionDeniedError,
    404: NotFoundError, 405: BadRequestError, 409: ConflictError, 410: GoneError, 413: BadRequestError,
    422: IdempotencyError, 429: RateLimitError,
}


def from_response(status: int, body: Any, headers: Mapping[str, str]) -> APIStatusError:
    """The typed error of an error response (the body is the API's JSON error when it parses)."""
    error = message = ""
    if isinstance(body, dict):
        error = str(body.get("error", ""))
        message = str(body.get("message", ""))
    if not message:
        message = f"HTTP {status}"
    kind = _BY_STATUS.get(status) or (InternalServerError if status >= 500 else APIStatusError)
    if kind is RateLimitError and error == QUEUE_FULL_TITLE:
        kind = QueueFullError
    extra = dict(body) if isinstance(body, dict) else {}
    retry_after = seconds_to_wait(headers.get("retry-after"))
    if retry_after is not None:
        extra["retry_after"] = retry_after
    for field, header in QUEUE_HEADERS.items():
        value = headers.get(header, "")
        if value.isdigit():
            extra[field] = int(value)
    if kind is BadRequestError and "queue_limit" in extra:
        kind = BatchTooLargeError
    return kind(message, status=status, error=error, request_id=headers.get("x-request-id"), body=extra)


def seconds_to_wait(retry_after: str | None) -> float | None:
    """A `Retry-After` value in seconds: delay-seconds, or an HTTP-date (RFC 9110 allows both; a proxy or load
    balancer in front of the gateway may send a date) counted from now, 0 once it has passed; None when absent
    or unreadable."""
    if retry_after is None:
        return None
    try:
        seconds = float(retry_after)
    except ValueError:
        pass
    else:
        return max(seconds, 0.0) if math.isfinite(seconds) else None
    when = email.utils.parsedate_tz(retry_after)  # an HTTP-date names GMT (one without a zone: local time)
    if when is None:
        return None
    return max(email.utils.mktime_tz(when) - time.time(), 0.0)


# gRPC status code name -> the HTTP status the REST API answers with (the gateway's table,
# gateway/errors.py HTTP_STATUS_BY_CODE; tests/unit/test_sdk_calls.py keeps them equal). Everything
# else (UNKNOWN, INTERNAL, DATA_LOSS) is a 500.
HTTP_STATUS_BY_GRPC_CODE: dict[str, int] = {
    "INVALID_ARGUMENT": 400, "OUT_OF_RANGE": 400, "FAILED_PRECONDITION": 400, "UNAUTHENTICATED": 401,
    "PERMISSION_DENIED": 403, "NOT_FOUND": 404, "ALREADY_EXISTS": 409, "ABORTED": 409, "RESOURCE_EXHAUSTED": 429,
    "CANCELLED": 499, "UNIMPLEMENTED": 501, "UNAVAILABLE": 503, "DEADLINE_EXCEEDED": 504,
}
# `phonos-error-reason` metadata: where one gRPC code stands for two HTTP answers (gateway/errors.py).
# REQUEST_TIMEOUT: the request message did not arrive in time (the caller was slow: 408, not retried, as REST's).
HTTP_STATUS_BY_REASON: dict[str, int] = {"INSUFFICIENT_CREDITS": 402, "IDEMPOTENCY_KEY_REUSED": 422,
                                         "RESULTS_GONE": 410, "REQUEST_TIMEOUT": 408}
TITLE_METADATA = "phonos-error-title"
# The body's `error` the gateway writes for a status when the rpc named none (gateway/errors.py
# DEFAULT_TITLES; tests/unit/test_sdk_calls.py keeps them equal).
DEFAULT_TITLES: dict[int, str] = {
    400: "Invalid request", 401: "Unauthorized", 402: "Insufficient credits", 403: "Forbidden", 404: "Not found",
    405: "Method not allowed", 408: "Request timeout", 409: "Conflict", 410: "Gone", 413: "Request too large",
    414: "URI too long", 415: "Unsupported media type", 417: "Expectation failed", 422: "Idempotency key reused",
    431: "Request header fields too large", 429: "Rate limit exceeded", 499: "Request cancelled",
    500: "Internal server error", 501: "Not implemented", 503: "Service unavailable", 504: "Gateway timeout",
}
REASON_METADATA = "phonos-error-reason"
# gRPC core's words for an UNAVAILABLE that never had a connection (refused, a name that does not resolve), as
# opposed to one that broke (a server going away mid-call): only these are `ServerUnreachableError`s.
_NEVER_CONNECTED = ("failed to connect to all addresses", "DNS resolution failed", "errors resolving",
                    "Connection refused")


def from_grpc_status(code: str, details: str, metadata: Mapping[str, str], server: str = "") -> PhonosError:
    """The typed error of a failed rpc: `code` is the status code's name ("NOT_FOUND"), `metadata` the
    trailing metadata (lower-case keys: `phonos-error-title`, `retry-after`, `x-request-id`...).

    The service names every error it answers with a `phonos-error-title`. Without one the status came
    from the gRPC library itself: UNAVAILABLE and DEADLINE_EXCEEDED mean the server was not reached or
    did not answer in time (connection errors, retried like REST's, naming `server`), and RESOURCE_EXHAUSTED without a
    `retry-after` is a message over the size limit, which retrying cannot fix (413, not 429)."""
    title = metadata.get(TITLE_METADATA, "")
    at = f" at {server}" if server else ""  # named as REST names it: a wrong PHONOS_URL is the usual cause
    if not title and code == "UNAVAILABLE" and "http1.x server" in details:  # gRPC core's words for an HTTP/1.1 answer
        return NotGrpcError(f"the server{at} does not answer in gRPC ({details})")
    if not title and code == "UNAVAILABLE":
        never_connected = any(words in details for words in _NEVER_CONNECTED)
        kind = ServerUnreachableError if never_connected else APIConnectionError
        return kind(f"could not reach the server{at}: {details}")
    if not title and code == "DEADLINE_EXCEEDED":
        return APITimeoutError(f"the server{at} did not answer in time ({details})")
    status = HTTP_STATUS_BY_REASON.get(metadata.get(REASON_METADATA, "")) or HTTP_STATUS_BY_GRPC_CODE.get(code, 500)
    if status == 429 and "retry-after" not in metadata:
        status = 413
    return from_response(status, {"error": title or DEFAULT_TITLES.get(status, "Error"), "message": details}, metadata)
