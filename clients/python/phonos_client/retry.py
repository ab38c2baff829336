"""When a failed call is tried again, and after how long: one policy for both transports.

The transports turn every failure into a typed error first (a broken connection or a timeout is an
`APIConnectionError`, an answer an `APIStatusError` with its HTTP status; gRPC statuses map to the
HTTP status the REST API gives), so the rules are said once, in HTTP terms: connection errors,
timeouts, 429 (waiting `Retry-After`) and 502/503/504 are transient; a call is repeated only when that
is safe (`Call.retryable`); exponential backoff with jitter otherwise.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from phonos_client import errors
from phonos_client.calls import Call

RETRY_STATUSES = frozenset({429, 502, 503, 504})
MAX_BACKOFF_S = 8.0
MAX_RETRY_AFTER_S = 60.0
MIN_WATCH_RECONNECTS = 5  # a watch survives a server restart even with max_retries=0

Failure = errors.APIConnectionError | errors.APIStatusError


def transient(error: Failure) -> bool:
    return isinstance(error, errors.APIConnectionError) or error.status in RETRY_STATUSES


@dataclass(frozen=True)
class RetryPolicy:
    max_retries: int

    def delay(self, call: Call[Any], error: Failure, attempt: int) -> float:
        """The pause before trying `call` again after `error` on try `attempt` (0-based); raises `error`
        when the call is not retried (not safe to repeat, a status retrying cannot change, tries spent)."""
        if not (transient(error) and call.retryable and attempt < self.max_retries):
            raise error
        return self.backoff(attempt, error)

    @staticmethod
    def done_before(call: Call[Any], error: Failure, answer_lost: bool) -> bool:
        """A delete repeated after its answer was lost (a broken connection: the first try may have
        done it) that finds nothing to delete did its work on the first try."""
        return answer_lost and call.route.http_method == "DELETE" and isinstance(error, errors.NotFoundError)

    @staticmethod
    def backoff(attempt: int, error: errors.PhonosError | None) -> float:
        if isinstance(error, errors.RateLimitError) and error.retry_after is not None:
            return min(error.retry_after, MAX_RETRY_AFTER_S)
        return min(MAX_BACKOFF_S, 0.5 * 2**attempt) * (0.5 + random.random() / 2)

    def watch_failed(self, error: Failure, failures: int) -> int:
        """Counts one failed watch connection; raises once it is not transient or reconnections are spent."""
        if not transient(error) or failures + 1 > max(self.max_retries, MIN_WATCH_RECONNECTS):
            raise error
        return failures + 1
