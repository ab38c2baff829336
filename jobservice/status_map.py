"""The one table from domain errors to gRPC status codes (and the metadata the gateway reads).

The gateway maps gRPC codes to HTTP in its own single table; where a code is
ambiguous in HTTP (402 has no gRPC twin; DEADLINE_EXCEEDED is the caller's own deadline, 504, or
the edge's wait for a message too slow to arrive, 408) the `phonos-error-reason` trailer says which
HTTP status the error means. The gRPC edge (jobservice/edge.py) refuses through this table too.
"""

from __future__ import annotations

import grpc

from jobservice import errors
from jobservice.idempotency import IdempotencyKeyReused
from phonos_common.bearer import CHALLENGE_KEY, bearer_challenge

TITLE_KEY = "phonos-error-title"
REASON_KEY = "phonos-error-reason"
# The account's cap on waiting jobs and its jobs waiting now, on the submissions that cap refuses (HTTP headers
# X-Phonos-Queue-Limit and X-Phonos-Queue-Waiting: the error body keeps the documented two fields).
QUEUE_LIMIT_KEY = "x-phonos-queue-limit"
QUEUE_WAITING_KEY = "x-phonos-queue-waiting"

_CODES: dict[type[errors.PhonosError], grpc.StatusCode] = {
    errors.InvalidArgument: grpc.StatusCode.INVALID_ARGUMENT,
    errors.RequestTimeout: grpc.StatusCode.DEADLINE_EXCEEDED,
    errors.CallerGone: grpc.StatusCode.DEADLINE_EXCEEDED,
    errors.RequestTooLarge: grpc.StatusCode.RESOURCE_EXHAUSTED,
    errors.Unauthenticated: grpc.StatusCode.UNAUTHENTICATED,
    errors.Forbidden: grpc.StatusCode.PERMISSION_DENIED,
    errors.InsufficientCredits: grpc.StatusCode.FAILED_PRECONDITION,
    errors.NotFound: grpc.StatusCode.NOT_FOUND,
    errors.ResultsGone: grpc.StatusCode.NOT_FOUND,
    errors.Conflict: grpc.StatusCode.FAILED_PRECONDITION,
    errors.LimitReached: grpc.StatusCode.FAILED_PRECONDITION,
    errors.RateLimited: grpc.StatusCode.RESOURCE_EXHAUSTED,
    errors.TooManyJobs: grpc.StatusCode.RESOURCE_EXHAUSTED,
    errors.TooManyStreams: grpc.StatusCode.RESOURCE_EXHAUSTED,
    errors.TooManyInProgress: grpc.StatusCode.RESOURCE_EXHAUSTED,
    errors.InvalidTransition: grpc.StatusCode.FAILED_PRECONDITION,
    errors.ServiceUnavailable: grpc.StatusCode.UNAVAILABLE,
    IdempotencyKeyReused: grpc.StatusCode.FAILED_PRECONDITION,
}

_REASONS: dict[type[errors.PhonosError], str] = {
    errors.InsufficientCredits: "INSUFFICIENT_CREDITS",
    IdempotencyKeyReused: "IDEMPOTENCY_KEY_REUSED",
    errors.ResultsGone: "RESULTS_GONE",
    errors.RequestTimeout: "REQUEST_TIMEOUT",
}


def grpc_status(error: errors.PhonosError) -> tuple[grpc.StatusCode, list[tuple[str, str]]]:
    """The status code and trailing metadata for a domain error."""
    kind = type(error)
    code = next((c for cls, c in _CODES.items() if issubclass(kind, cls)), grpc.StatusCode.INTERNAL)
    metadata = [(TITLE_KEY, error.title)]
    reason = next((r for cls, r in _REASONS.items() if issubclass(kind, cls)), None)
    if reason:
        metadata.append((REASON_KEY, reason))
    if isinstance(error, errors.Unauthenticated):  # RFC 6750's challenge: HTTP clients learn the scheme from it
        metadata.append((CHALLENGE_KEY, bearer_challenge(error.bearer_error)))
    if isinstance(error, errors.RateLimited):
        metadata.append(("retry-after", str(error.retry_after_s)))
        metadata.append(("x-ratelimit-limit", str(error.limit)))
        metadata.append(("x-ratelimit-remaining", "0"))
        metadata.append(("x-ratelimit-reset", str(error.reset_epoch_s)))
    if isinstance(error, errors.TooManyJobs):
        metadata.append(("retry-after", str(error.retry_after_s)))
        metadata.append((QUEUE_WAITING_KEY, str(error.waiting)))
    if isinstance(error, (errors.TooManyStreams, errors.TooManyInProgress)):  # a 429, not a message too large (413)
        metadata.append(("retry-after", str(error.retry_after_s)))
    if isinstance(error, errors.ServiceUnavailable):
        metadata.append(("retry-after", str(error.retry_after_s)))
    if isinstance(error, (errors.TooManyJobs, errors.BatchOverQueueLimit)):
        metadata.append((QUEUE_LIMIT_KEY, str(error.limit)))
    return code, metadata
