"""The one mapping from a gRPC status to an HTTP status and the seed's error body.

Body: `{"error": "<type>", "message": "<details>"}`. The job service picks the `"error"` string
with trailing metadata `phonos-error-title` ("Rate limit exceeded", "Insufficient credits"), and
disambiguates codes with `phonos-error-reason` where one gRPC code covers two HTTP answers
(`INSUFFICIENT_CREDITS` is FAILED_PRECONDITION or RESOURCE_EXHAUSTED in gRPC, but 402 over HTTP).

A 500 never repeats the status details: they may hold an exception text. The details are logged
with the request id, and the client gets the request id to quote.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from http import HTTPStatus

import grpc

logger = logging.getLogger(__name__)

TITLE_KEY = "phonos-error-title"
REASON_KEY = "phonos-error-reason"

HTTP_STATUS_BY_CODE: Mapping[grpc.StatusCode, int] = {
    grpc.StatusCode.INVALID_ARGUMENT: 400,
    grpc.StatusCode.OUT_OF_RANGE: 400,
    grpc.StatusCode.FAILED_PRECONDITION: 400,
    grpc.StatusCode.UNAUTHENTICATED: 401,
    grpc.StatusCode.PERMISSION_DENIED: 403,
    grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.ALREADY_EXISTS: 409,
    grpc.StatusCode.ABORTED: 409,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 429,
    grpc.StatusCode.CANCELLED: 499,  # nginx's "client closed request"; no standard code exists
    grpc.StatusCode.UNIMPLEMENTED: 501,
    grpc.StatusCode.UNAVAILABLE: 503,
    grpc.StatusCode.DEADLINE_EXCEEDED: 504,
}
# Everything else (UNKNOWN, INTERNAL, DATA_LOSS, and OK on a failure path) is a 500.

# A code that stands for two HTTP answers, told apart by the job service's `phonos-error-reason` (status_map):
# REQUEST_TIMEOUT is DEADLINE_EXCEEDED from the gRPC edge for a request message that did not arrive in time, the
# client's slowness (408, as the gateway's own for a slow body), where a plain DEADLINE_EXCEEDED stays a 504.
HTTP_STATUS_BY_REASON: Mapping[str, int] = {"INSUFFICIENT_CREDITS": 402, "IDEMPOTENCY_KEY_REUSED": 422,
                                             "RESULTS_GONE": 410, "REQUEST_TIMEOUT": 408}

DEFAULT_TITLES: Mapping[int, str] = {
    400: "Invalid request",
    401: "Unauthorized",
    402: "Insufficient credits",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    408: "Request timeout",
    409: "Conflict",
    410: "Gone",
    413: "Request too large",
    414: "URI too long",
    415: "Unsupported media type",
    417: "Expectation failed",
    422: "Idempotency key reused",
    431: "Request header fields too large",
    429: "Rate limit exceeded",
    499: "Request cancelled",
    500: "Internal server error",
    501: "Not implemented",
    503: "Service unavailable",
    504: "Gateway timeout",
}

# Reason phrases for the status line where http.HTTPStatus has none.
_REASONS: Mapping[int, str] = {499: "Client Closed Request"}


@dataclass(frozen=True, slots=True)
class ErrorResponse:
    status: int  # HTTP status
    title: str  # the body's "error"
    message: str  # the body's "message"
    headers: Mapping[str, str] = field(default_factory=dict)  # extra HTTP headers (Allow, Retry-After...)

    @property
    def reason(self) -> str:
        try:
            return _REASONS.get(self.status) or HTTPStatus(self.status).phrase
        except ValueError:
            return "Error"

    def body(self) -> bytes:
        return json.dumps({"error": self.title, "message": self.message}, separators=(",", ":")).encode()


class HttpError(Exception):
    """Raised inside the gateway to answer with an error body; the middleware renders it."""

    def __init__(self, response: ErrorResponse) -> None:
        super().__init__(f"{response.status} {response.title}: {response.message}")
        self.response = response


def http_status(code: grpc.StatusCode, metadata: Mapping[str, str]) -> int:
    reason = metadata.get(REASON_KEY)
    if reason is not None and reason in HTTP_STATUS_BY_REASON:
        return HTTP_STATUS_BY_REASON[reason]
    status = HTTP_STATUS_BY_CODE.get(code, 500)
    if status == 429 and "retry-after" not in metadata:
        # Every limit the job service means as a 429 (a key's rate, the queue cap, failed sign-ins, share links)
        # says when to try again; RESOURCE_EXHAUSTED without it is a message over a size limit (the edge's
        # "Request too large", or grpc's own), which waiting cannot fix: 413, as the SDK reads it over gRPC.
        return 413
    return status


def from_status(
    code: grpc.StatusCode, details: str, metadata: Mapping[str, str], *, request_id: str
) -> ErrorResponse:
    """The HTTP answer for a failed rpc. `metadata`: the rpc's metadata with lower-case keys."""
    status = http_status(code, metadata)
    if status == 500:
        logger.error(
            "rpc failed with %s: %s",
            code.name,
            details,
            extra={"action": "gateway.rpc_internal_error", "request_id": request_id, "grpc_code": code.name},
        )
        return internal_error(request_id)
    title = metadata.get(TITLE_KEY) or DEFAULT_TITLES.get(status) or "Error"
    return ErrorResponse(status, title, details or title)


def internal_error(request_id: str) -> ErrorResponse:
    return ErrorResponse(
        500, DEFAULT_TITLES[500], f"The server failed to handle the request; quote request id {request_id}."
    )


def client_error(status: int, message: str, headers: Mapping[str, str] | None = None) -> ErrorResponse:
    """An error the gateway itself detects (bad route, bad query, body too large...)."""
    return ErrorResponse(status, DEFAULT_TITLES.get(status, "Error"), message, headers or {})
