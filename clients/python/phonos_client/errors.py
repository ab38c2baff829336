"""Typed errors carrying the API's `{"error", "message"}` body, its HTTP status and request id."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class PhonosError(Exception):
    """Any failure of a call. `status` is the HTTP status (0 when no response came back)."""

    exit_code = 7  # what the `phonos` command exits with (see cli.py)

    def __init__(self, message: str, *, status: int = 0, error: str = "", request_id: str | None = None,
                 body: Any = None) -> None:
        super().__init__(f"{error}: {message}" if error else message)
        self.status = status
        self.error = error
        self.message = message
        self.request_id = request_id
        self.body = body


class APIConnectionError(PhonosError):
    """The server could not be reached, or the connection broke."""


class APITimeoutError(APIConnectionError):
    """The server did not answer in time."""


class APIStatusError(PhonosError):
    """The server answered with an error status."""


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


class IdempotencyError(APIStatusError):
    """The Idempotency-Key was used before with a different request (422)."""

    exit_code = 8


class RateLimitError(APIStatusError):
    exit_code = 6

    @property
    def retry_after(self) -> float | None:
        return None if self.body is None else self.body.get("retry_after")


class InternalServerError(APIStatusError):
    exit_code = 7


_BY_STATUS: dict[int, type[APIStatusError]] = {
    400: BadRequestError, 401: AuthenticationError, 402: InsufficientCreditsError, 403: PermissionDeniedError,
    404: NotFoundError, 405: BadRequestError, 409: ConflictError, 413: BadRequestError, 422: IdempotencyError,
    429: RateLimitError,
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
    extra = dict(body) if isinstance(body, dict) else {}
    retry_after = headers.get("retry-after")
    if retry_after is not None:
        try:
            extra["retry_after"] = float(retry_after)
        except ValueError:
            pass
    return kind(message, status=status, error=error, request_id=headers.get("x-request-id"), body=extra)
