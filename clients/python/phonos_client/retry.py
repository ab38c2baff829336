"""When a failed call is tried again, and after how long: one policy for both transports.

The transports turn every failure into a typed error first (a broken connection or a timeout is an
`APIConnectionError`, an answer an `APIStatusError` with its HTTP status; gRPC statuses map to the
HTTP status the REST API gives), so the rules are said once, in HTTP terms. A call is repeated only when
that is safe (`Call.retryable`: a read, a delete, or a POST with its idempotency key), and then:

* 429 (rate limited, or a submission past the account's cap of waiting jobs: `QueueFullError`, "Too many jobs",
  which frees as the account's jobs start): the server did nothing with the request and says when to come back
  (`Retry-After`). The two are told apart by the error body's `error`, and said in their own words.
  The call waits that long (at most MAX_RETRY_AFTER_S a time, plus a little jitter so the many calls of a
  bulk download do not all come back in the same instant) and tries again, for as long as its waits add up
  to no more than `max_rate_limit_wait` seconds (DEFAULT_RATE_LIMIT_WAIT_S); a wait that would go past that
  is not started: the `RateLimitError` is raised at once. These tries do not count against `max_retries`:
  a key allowed 60 requests a minute downloading 200 files is slow, not failing. Each wait is logged (INFO,
  logger "phonos_client"), so a program, or the `phonos` command, can say why nothing happens for a while.
* connection errors, timeouts and 502/503/504: `max_retries` more tries, exponential backoff with jitter. A
  503 or 502 that says when to come back (`Retry-After`: the gateway's answer while the job service restarts
  behind it, 5 s) is tried again no sooner than that (at most MAX_RETRY_AFTER_S), still within `max_retries`:
  the backoff alone (about 0.5 s, then 1 s) would spend every try before the service is back.
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass
from typing import Any

from phonos_client import errors
from phonos_client.calls import Call

RETRY_STATUSES = frozenset({429, 502, 503, 504})
MAX_BACKOFF_S = 8.0
MAX_RETRY_AFTER_S = 60.0  # the server's rate-limit window: a longer Retry-After is not the rate limit's
DEFAULT_RATE_LIMIT_WAIT_S = 120.0  # two windows of a per-minute limit: room for a bulk job's share of turns
RATE_LIMIT_JITTER_S = 0.5
MIN_WATCH_RECONNECTS = 5  # a watch survives a server restart even with max_retries=0

Failure = errors.APIConnectionError | errors.APIStatusError
log = logging.getLogger("phonos_client")


def transient(error: Failure) -> bool:
    return isinstance(error, errors.APIConnectionError) or error.status in RETRY_STATUSES


@dataclass
class Tries:
    """One call's retries so far (a watch's since its last good connection)."""

    failures: int = 0  # transient failures other than 429, counted against max_retries
    limited: int = 0  # 429s
    limited_s: float = 0.0  # seconds spent waiting them out, counted against max_rate_limit_wait
    answer_lost: bool = False  # a try broke off after the server may have done the work


@dataclass(frozen=True)
class RetryPolicy:
    max_retries: int
    max_rate_limit_wait: float = DEFAULT_RATE_LIMIT_WAIT_S

    def delay(self, call: Call[Any], error: Failure, tries: Tries) -> float:
        """The pause before trying `call` again after `error` (counted in `tries`); raises `error` when the
        call is not retried (not safe to repeat, a status retrying cannot change, tries or time spent)."""
        if not (transient(error) and call.retryable):
            raise error
        tries.answer_lost = tries.answer_lost or isinstance(error, errors.APIConnectionError)
        if isinstance(error, errors.RateLimitError):
            return self._rate_limited(error, tries)
        if tries.failures >= self.max_retries:
            raise error
        tries.failures += 1
        return max(self.backoff(tries.failures - 1), self._said(error))

    @staticmethod
    def _said(error: Failure) -> float:
        """The wait a non-429 answer's Retry-After asks for (0 without one), logged as the rate limit's is."""
        after = error.retry_after if isinstance(error, errors.APIStatusError) else None
        if not after:
            return 0.0
        wait = min(after, MAX_RETRY_AFTER_S) + random.random() * RATE_LIMIT_JITTER_S
        log.info("server unavailable (%s): trying again in %.0f s", error.message, wait)
        return wait

    def _rate_limited(self, error: errors.RateLimitError, tries: Tries) -> float:
        after = error.retry_after
        wait = min(after, MAX_RETRY_AFTER_S) if after else self.backoff(tries.limited)
        wait += random.random() * RATE_LIMIT_JITTER_S
        if tries.limited_s + wait > self.max_rate_limit_wait:
            raise error
        tries.limited += 1
        tries.limited_s += wait
        if isinstance(error, errors.QueueFullError):  # not the request rate: the account's jobs waiting to run
            log.info("job queue full (%s): trying again in %.0f s", error.message, wait)
        else:
            log.info("rate limited (%s): trying again in %.0f s", error.message, wait)
        return wait

    @staticmethod
    def done_before(call: Call[Any], error: Failure, tries: Tries) -> bool:
        """A delete repeated after its answer was lost (a broken connection: the first try may have
        done it) that finds nothing to delete did its work on the first try."""
        return tries.answer_lost and call.route.http_method == "DELETE" and isinstance(error, errors.NotFoundError)

    @staticmethod
    def lost_answer(call: Call[Any]) -> dict[str, Any]:
        """The answer of a delete that `done_before` found done: the server's first answer was lost on the way,
        so this is the one its DeleteJob/DeleteWebhook sends (success, the id, a message), said from the call."""
        return {"success": True, **call.fields, "message": "Already deleted (the first try's answer was lost)"}

    @staticmethod
    def backoff(attempt: int) -> float:
        return min(MAX_BACKOFF_S, 0.5 * 2**attempt) * (0.5 + random.random() / 2)

    def watch_pause(self, error: Failure, tries: Tries) -> float:
        """The pause before a watch connects again after `error`; raises once it is not transient, reconnections
        are spent, or (429) the rate limit has kept it waiting longer than `max_rate_limit_wait`."""
        if isinstance(error, errors.RateLimitError):
            return self._rate_limited(error, tries)
        if not transient(error) or tries.failures + 1 > max(self.max_retries, MIN_WATCH_RECONNECTS):
            raise error
        tries.failures += 1
        return self.backoff(tries.failures - 1)
