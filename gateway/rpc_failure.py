"""A failed rpc as the HTTP answer: the one place that turns gRPC status + trailing metadata into the
documented JSON error and its headers, for transcoded routes, event streams and the dashboard alike."""

from __future__ import annotations

from collections.abc import Mapping

from gateway import errors
from gateway.errors import ErrorResponse
from phonos_common.bearer import CHALLENGE_KEY
from phonos_common.rpc import RpcFailure

REQUEST_ID_HEADER = "X-Request-Id"

# Response metadata that becomes an HTTP header, with the header's conventional casing.
FORWARDED_RESPONSE_METADATA: Mapping[str, str] = {
    "x-ratelimit-limit": "X-RateLimit-Limit",
    "x-ratelimit-remaining": "X-RateLimit-Remaining",
    "x-ratelimit-reset": "X-RateLimit-Reset",
    "retry-after": "Retry-After",
    CHALLENGE_KEY: "WWW-Authenticate",  # a 401's challenge (RFC 6750), worded by the job service
    "content-disposition": "Content-Disposition",
    "x-request-id": REQUEST_ID_HEADER,
    "idempotent-replayed": "Idempotent-Replayed",
    "x-phonos-queue-limit": "X-Phonos-Queue-Limit",  # a submission past the account's cap on waiting jobs
    "x-phonos-queue-waiting": "X-Phonos-Queue-Waiting",
}


def forwarded_headers(metadata: Mapping[str, str]) -> dict[str, str]:
    return {header: metadata[key] for key, header in FORWARDED_RESPONSE_METADATA.items() if key in metadata}


def failure_response(failure: RpcFailure, request_id: str) -> ErrorResponse:
    error = errors.from_status(failure.code, failure.details, failure.metadata, request_id=request_id)
    headers = {**forwarded_headers(failure.metadata), **error.headers}
    return ErrorResponse(error.status, error.title, error.message, headers)
