"""What the job service logs about a webhook whose receiver fails: one line as it starts failing, a summary every
`repeat_s` while it keeps failing, one line when it answers again.

A line per failed attempt buried the console: five webhooks pointed at a host that does not resolve printed ~30
warnings before `phonos serve`'s banner and more every few seconds (a tester's finding), because each queued
delivery is retried on its own schedule. The owner sees every attempt in the delivery log (`GET
/v1/webhooks/{id}/deliveries`); the operator needs to know which receivers are failing, not each attempt.
A flood over many webhooks is still capped by the per-minute budget below.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from phonos_common.ratelog import RateLimitedLog

REPEAT_S = 600.0  # a receiver still failing is said again this often, with how many attempts failed meanwhile
LINES_PER_MINUTE = 30  # over every webhook: many receivers failing at once still cannot fill the log
MAX_WEBHOOKS = 10_000  # failing webhooks remembered; the oldest is forgotten (its next failure is said again)


@dataclass
class _Streak:
    said_at: float  # when its last line was written
    unsaid: int  # failed attempts since that line
    last_error: str


class WebhookFailureLog:
    def __init__(self, logger: logging.Logger, *, repeat_s: float = REPEAT_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._logger = logger
        self._lines = RateLimitedLog(logger, LINES_PER_MINUTE, clock)
        self._repeat_s = repeat_s
        self._clock = clock
        self._streaks: OrderedDict[str, _Streak] = OrderedDict()  # webhook id -> its failures since it last worked

    def failed(self, webhook: str, delivery: str, host: str, error: str, extra: Mapping[str, Any]) -> None:
        """A delivery attempt of `webhook` failed: said when the webhook starts failing, then every `repeat_s`."""
        now = self._clock()
        streak = self._streaks.get(webhook)
        if streak is None:
            self._remember(webhook, _Streak(now, 0, error))
            self._lines.log(logging.WARNING, "webhook.retry", "webhook %s delivery %s to %s failed: %s "
                            "(said again every %d min while it keeps failing)", webhook, delivery, host,
                            error, int(self._repeat_s // 60), extra=extra)
            return
        streak.last_error = error
        if now - streak.said_at < self._repeat_s:
            streak.unsaid += 1
            return
        failed, streak.said_at, streak.unsaid = streak.unsaid + 1, now, 0
        self._lines.log(logging.WARNING, "webhook.retry", "webhook %s to %s is still failing: %d delivery attempts "
                        "failed in the last %d min, the latest: %s", webhook, host, failed,
                        int(self._repeat_s // 60), error, extra={**extra, "failed_attempts": failed})

    def delivered(self, webhook: str, host: str) -> None:
        """A delivery of `webhook` went through: its failing is over (said, when it had been failing)."""
        streak = self._streaks.pop(webhook, None)
        if streak is not None:
            self._lines.log(logging.INFO, "webhook.recovered", "webhook %s to %s delivers again", webhook, host,
                            extra={"webhook": webhook, "host": host})

    def _remember(self, webhook: str, streak: _Streak) -> None:
        self._streaks[webhook] = streak
        if len(self._streaks) > MAX_WEBHOOKS:
            self._streaks.popitem(last=False)
