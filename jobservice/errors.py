"""The domain error hierarchy of the job service.

Expected failures are typed errors; `jobservice.status_map` turns each into a
gRPC status (one table), and the gateway turns that into HTTP (one table).
Anything else is a bug and surfaces as INTERNAL with a request id.
"""

from __future__ import annotations

# Re-exported: the job service words caller values through here, as the science code does.
from phonos_config.json_text import MAX_ECHOED as MAX_ECHOED
from phonos_config.json_text import json_value_text as json_value_text


class PhonosError(Exception):
    """Base of every expected, user-facing error. `message` tells what to fix."""

    title = "Internal server error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidArgument(PhonosError):
    """Bad parameters: unknown model, bad letters, out-of-range values (HTTP 400)."""

    title = "Invalid request"


class RequestTimeout(PhonosError):
    """The caller opened the call but its request message did not arrive within PHONOS_BODY_TIMEOUT_S (HTTP 408:
    the client was too slow, which is not a 504; DEADLINE_EXCEEDED over gRPC, with reason REQUEST_TIMEOUT)."""

    title = "Request timeout"


class CallerGone(PhonosError):
    """The caller's deadline passed (or it cancelled) before a submission was committed: nothing was created or
    charged (DEADLINE_EXCEEDED, HTTP 504). Checked just before the commit; a deadline passing after it cannot undo
    the job, which is what an Idempotency-Key on the retry is for."""

    title = "Gateway timeout"


CALLER_GONE_MESSAGE = ("The call's deadline passed before the submission was committed: no job was created or "
                       "charged. Send it again with a longer deadline.")


class RequestTooLarge(PhonosError):
    """A request message over its rpc's size limit (HTTP 413): RESOURCE_EXHAUSTED over gRPC without `retry-after`,
    since waiting cannot make it fit (every limit that waiting lifts is a 429 and says when)."""

    title = "Request too large"


class Unauthenticated(PhonosError):
    """Missing or unknown API key (HTTP 401)."""

    title = "Unauthorized"

    def __init__(self, message: str, bearer_error: str | None = None) -> None:
        super().__init__(message)
        # RFC 6750's error code in the `WWW-Authenticate: Bearer` challenge (jobservice/status_map.py): "invalid_token"
        # for a key given and not accepted, "invalid_request" for a malformed header; none when no key was given.
        self.bearer_error = bearer_error


class Forbidden(PhonosError):
    """Authenticated, but the request may not do this: e.g. a cookie request without its CSRF token (HTTP 403)."""

    title = "Forbidden"


class InsufficientCredits(PhonosError):
    """The balance cannot pay for the submission (HTTP 402)."""

    title = "Insufficient credits"


class NotFound(PhonosError):
    """No such resource for this account (HTTP 404)."""

    title = "Not found"


class ResultsGone(PhonosError):
    """The job completed, but its result files are no longer on the server (HTTP 410; NOT_FOUND over gRPC)."""

    title = "Gone"


def echoed_id(value: str) -> str:
    """A caller's id as an error message repeats it: whole when id-sized, else its start and its length
    (a 5,000-character path segment need not come back in full)."""
    if len(value) <= MAX_ECHOED:
        return value
    return f"{value[:MAX_ECHOED]}... ({len(value)} characters)"


class Conflict(PhonosError):
    """The resource is in a state that forbids the action, e.g. cancelling a completed job (HTTP 400).

    Titled "Invalid request": the README's error table and the OpenAPI document list a wrong job state
    under 400 `Invalid request`, the one 400 title clients match on."""

    title = "Invalid request"


class LimitReached(PhonosError):
    """A per-account quota such as 5 webhooks (HTTP 400)."""

    title = "Limit reached"


class RateLimited(PhonosError):
    """Too many requests for this key in the current window (HTTP 429)."""

    title = "Rate limit exceeded"

    def __init__(self, message: str, *, limit: int, retry_after_s: int, reset_epoch_s: int) -> None:
        super().__init__(message)
        self.limit = limit
        self.retry_after_s = retry_after_s
        self.reset_epoch_s = reset_epoch_s


class TooManyJobs(PhonosError):
    """The account has as many jobs waiting as it may (PHONOS_MAX_QUEUED_PER_ACCOUNT): HTTP 429. Waiting helps:
    the jobs start at the models' pace. `limit`: the cap; `waiting`: the account's jobs waiting now."""

    title = "Too many jobs"
    retry_after_s = 30  # jobs start at the models' pace: a retry after this long may find room

    def __init__(self, message: str, *, limit: int, waiting: int) -> None:
        super().__init__(message)
        self.limit = limit
        self.waiting = waiting


class TooManyStreams(PhonosError):
    """The account holds as many open watch streams (SSE, WatchJob, WatchJobs) on this job service as it may
    (PHONOS_WATCH_MAX_STREAMS_PER_ACCOUNT): HTTP 429 with Retry-After. A stream opened costs one request of the
    rate limit but then stays open for up to an hour, so without a cap one key at 60 a minute held 3,600
    connections (and their file descriptors) an hour, and a few accounts could take the whole service down."""

    title = "Rate limit exceeded"
    retry_after_s = 30  # streams end as their watchers close them (a finished job, a closed tab)

    def __init__(self, message: str, *, limit: int) -> None:
        super().__init__(message)
        self.limit = limit


class TooManyInProgress(PhonosError):
    """A client (or every client together) has as many downloads, or as many request bytes, in progress on the gRPC
    port as it may (PHONOS_GRPC_DOWNLOADS_PER_CLIENT, PHONOS_GRPC_MAX_DOWNLOADS, PHONOS_GRPC_UPLOAD_BYTES_PER_CLIENT,
    PHONOS_GRPC_MAX_UPLOAD_BYTES; jobservice/grpc_in_flight.py): RESOURCE_EXHAUSTED with `retry-after`, HTTP 429
    `Rate limit exceeded` as the REST edge answers its own (gateway/downloads.py, gateway/uploads.py)."""

    title = "Rate limit exceeded"
    retry_after_s = 5  # what the REST edge tells a refused download or upload: another of the client's to finish


class BatchOverQueueLimit(InvalidArgument):
    """A submission of more jobs than the account may have waiting at all (PHONOS_MAX_QUEUED_PER_ACCOUNT): it
    can never be accepted whole, however long the caller waits, so it is a 400, not TooManyJobs' 429.
    `limit`: the cap (split the batch into parts of at most this many)."""

    def __init__(self, message: str, *, limit: int) -> None:
        super().__init__(message)
        self.limit = limit


class ServiceUnavailable(PhonosError):
    """Something the service needs is away for now, not the request's fault: retrying soon will do (HTTP 503,
    UNAVAILABLE over gRPC, with Retry-After)."""

    title = "Service unavailable"
    retry_after_s = 5


class DatabaseUnavailable(ServiceUnavailable):
    """The service's database cannot be reached (PostgreSQL stopped, restarting, or cut off from this job
    service). The message names no host, port or URL: the URL may hold a password."""

    def __init__(self, message: str = "The service's database cannot be reached right now; try again in a few "
                                      "seconds.") -> None:
        super().__init__(message)


class InvalidTransition(PhonosError):
    """A job state change that the state machine forbids (a compare-and-set found no row): HTTP 400, like Conflict."""

    title = "Invalid request"

