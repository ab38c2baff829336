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
* connection errors, timeouts and 502/503/504: tried again with exponential backoff and jitter (about 0.4 s,
  0.8 s, then 1-2 s a time) for as long as the pauses add up to no more than `max_retry_wait` seconds
  (DEFAULT_RETRY_WAIT_S, 8) and the tries to no more than `max_retries` (DEFAULT_MAX_RETRIES, 10): a restart of
  the job service under `phonos serve` refuses connections (or the gateway answers 502/503) for about 3 s, and
  the default rides out 5 s of that with room to spare (the old default, 2 tries in about 1.5 s, did not). The
  last pause is cut to what is left of the budget, so the final try comes at its end. A 503 or 502 that says
  when to come back (`Retry-After`: the gateway's answer while the job service restarts behind it, 5 s) is
  tried again no sooner than that (at most MAX_RETRY_AFTER_S) while any budget is left: the server asked, so
  its wait is not cut. A timeout is tried again at most TIMEOUT_RETRIES times (each try took the client's
  `timeout`, which the pauses do not count). The first such failure of a call is logged (INFO), so the command can say why it pauses.
"""

from __future__ import annotations

import logging
import random
import time
from dataclasses import dataclass
from typing import Any

from phonos_client import errors
from phonos_client.calls import Call

RETRY_STATUSES = frozenset({429, 502, 503, 504})
MAX_BACKOFF_S = 2.0  # a pause between tries at most: a service back after 3 s is found within about 2 s
DEFAULT_MAX_RETRIES = 10  # with DEFAULT_RETRY_WAIT_S: the pauses, not the count, end a dead server's tries
TIMEOUT_RETRIES = 2  # a timed-out try took the whole timeout (30 s): tried again this often at most
DEFAULT_RETRY_WAIT_S = 8.0  # `phonos serve` restarting its job service: ~3 s refused; 5 s ridden out with room
MAX_RETRY_AFTER_S = 60.0  # the server's rate-limit window: a longer Retry-After is not the rate limit's
DEFAULT_RATE_LIMIT_WAIT_S = 120.0  # two windows of a per-minute limit: room for a bulk job's share of turns
RATE_LIMIT_JITTER_S = 0.5
# A watch whose connection was lost reconnects for max_retry_wait seconds (wall clock, the tries' own time counted),
# never less than this: it survives `phonos serve` restarting its job service (~3 s refused) even with
# max_retry_wait=0. It always tries once more: after a silent stream (the read timeout) a fresh connection is
# the one test left of a server that may be only slow; a second silence as long as the first ends the watch.
MIN_WATCH_RECONNECT_S = 5.0

Failure = errors.APIConnectionError | errors.APIStatusError


def seconds_text(seconds: float) -> str:
    """A wait as a person reads it: whole seconds from 10 s, tenths below (a 0.4 s wait said "0 s" before)."""
    return f"{seconds:.0f}" if seconds >= 9.95 else f"{seconds:.1f}".removesuffix(".0")


log = logging.getLogger("phonos_client")


def transient(error: Failure) -> bool:
    if isinstance(error, errors.WrongProtocolError):
        return False
    return isinstance(error, errors.APIConnectionError) or error.status in RETRY_STATUSES


@dataclass
class Tries:
    """One call's retries so far (a watch's since its last good connection)."""

    failures: int = 0  # transient failures other than 429, counted against max_retries
    waited_s: float = 0.0  # seconds paused after them, counted against max_retry_wait
    timeouts: int = 0  # of those, tries that ran out of time (each took the client's timeout)
    limited: int = 0  # 429s
    limited_s: float = 0.0  # seconds spent waiting them out, counted against max_rate_limit_wait
    lost_at: float | None = None  # a watch: when its connection was lost (monotonic), reconnecting since
    loss_said: bool = False  # a watch: its loss was logged, and its coming back not yet
    answer_lost: bool = False  # a try broke off after the server may have done the work


@dataclass(frozen=True)
class RetryPolicy:
    max_retries: int = DEFAULT_MAX_RETRIES
    max_rate_limit_wait: float = DEFAULT_RATE_LIMIT_WAIT_S
    max_retry_wait: float = DEFAULT_RETRY_WAIT_S

    def delay(self, call: Call[Any], error: Failure, tries: Tries) -> float:
        """The pause before trying `call` again after `error` (counted in `tries`); raises `error` when the
        call is not retried (not safe to repeat, a status retrying cannot change, tries or time spent)."""
        if not (transient(error) and call.retryable):
            raise error
        tries.answer_lost = tries.answer_lost or isinstance(error, errors.APIConnectionError)
        if isinstance(error, errors.RateLimitError):
            return self._rate_limited(error, tries)
        left = self.max_retry_wait - tries.waited_s
        if tries.failures >= self.max_retries or left <= 0:
            raise error
        if isinstance(error, errors.APITimeoutError):  # each try took `timeout` seconds: a few are enough
            if tries.timeouts >= min(self.max_retries, TIMEOUT_RETRIES):
                raise error
            tries.timeouts += 1
        said = self._said(error)
        if not said and tries.failures == 0:
            what = error.message if isinstance(error, errors.APIConnectionError) else f"server unavailable ({error.message})"
            # PHONOS_MAX_RETRY_WAIT=0.5 (a script's short wait) said "up to 0 s" and then tried again
            log.info("%s; trying again for up to %s s", what, f"{self.max_retry_wait:.2f}".rstrip("0").rstrip("."))
        tries.failures += 1
        wait = max(min(self.backoff(tries.failures - 1), left), said)
        tries.waited_s += wait
        return wait

    @staticmethod
    def _said(error: Failure) -> float:
        """The wait a non-429 answer's Retry-After asks for (0 without one), logged as the rate limit's is."""
        after = error.retry_after if isinstance(error, errors.APIStatusError) else None
        if not after:
            return 0.0
        wait = min(after, MAX_RETRY_AFTER_S) + random.random() * RATE_LIMIT_JITTER_S
        log.info("server unavailable (%s): trying again in %s s", error.message, seconds_text(wait))
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
            log.info("job queue full (%s): trying again in %s s", error.message, seconds_text(wait))
        else:
            log.info("rate limited (%s): trying again in %s s", error.message, seconds_text(wait))
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

    def watch_pause(self, error: Failure, tries: Tries, url: str = "the server") -> float:
        """The pause before a watch connects again after `error`; raises once it is not transient, the time
        to reconnect (watch_budget, from the first failure) is spent after at least one more try, or (429) the
        rate limit has kept it waiting longer than `max_rate_limit_wait`. The first failure is logged (INFO:
        `phonos` says it while the watch retries, so a lost server is not a silent pause)."""
        if isinstance(error, errors.RateLimitError):
            return self._rate_limited(error, tries)
        if not transient(error):
            raise error
        now = time.monotonic()
        budget = self.watch_budget
        if tries.lost_at is None:
            tries.lost_at = now
        if not tries.loss_said:
            tries.loss_said = True
            # The reason (refused, reset, silent) is the final error's if the retries fail: not said twice.
            log.info("lost the connection to %s; retrying...", url,  # for budget s, or one silence more
                     extra={"action": "watch_lost"})
        left = tries.lost_at + budget - now
        if tries.failures > 0 and left <= 0:
            raise error
        tries.failures += 1
        return max(min(self.backoff(tries.failures - 1), left), 0.0)

    @staticmethod
    def watch_opened(tries: Tries, url: str = "the server") -> None:
        """A watch's stream opened (the server answered it): where its loss was said, its coming back is, once
        (INFO, action `watch_reconnected`), so the "retrying..." line does not stand after the stream resumed
        (a quiet job may send no event for a long while). The time to reconnect is not reset here: a stream that
        opens and breaks at once, again and again, is still given up after the budget (an event resets it)."""
        if tries.loss_said:
            tries.loss_said = False
            log.info("reconnected to %s", url, extra={"action": "watch_reconnected"})

    @property
    def watch_budget(self) -> float:
        return max(self.max_retry_wait, MIN_WATCH_RECONNECT_S)
