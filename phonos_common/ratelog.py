"""Rate-limited logging for what clients can trigger at will (bad HTTP, bad messages, failed keys).

A log line per bad request lets anyone fill the disk and bury real errors. Each `action` may log
`per_minute` lines per rolling minute; later ones are only counted, and the next line that gets
through says how many were dropped. Client errors are logged in one line, without a traceback.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any

WINDOW_S = 60.0


class RateLimitedLog:
    def __init__(
        self, logger: logging.Logger, per_minute: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._logger = logger
        self._per_minute = per_minute
        self._clock = clock
        # action -> [window start, lines logged in the window, lines dropped since the last logged one]
        self._windows: dict[str, list[float]] = {}

    def log(self, level: int, action: str, message: str, *args: object,
            extra: Mapping[str, Any] | None = None, exc_info: BaseException | None = None) -> bool:
        """Log unless `action` used up its minute; True when the line was written."""
        now = self._clock()
        window = self._windows.get(action)
        if window is None or now - window[0] >= WINDOW_S:
            dropped = 0 if window is None else int(window[2])
            window = [now, 0.0, float(dropped)]
            self._windows[action] = window
            if len(self._windows) > 1024:  # actions are code constants; this only guards against misuse
                self._windows = {action: window}
        if window[1] >= self._per_minute:
            window[2] += 1
            return False
        window[1] += 1
        fields = {"action": action, **(extra or {})}
        if window[2]:
            fields["suppressed"] = int(window[2])
            message += " (%d similar lines suppressed)"
            args = (*args, int(window[2]))
            window[2] = 0
        self._logger.log(level, message, *args, extra=fields, exc_info=exc_info)
        return True


class OncePerSubject:
    """At most one line a minute per subject (a client address, an API key), and `per_minute` lines in all for
    the action: an operator learns that an address is throttled or a key meets its limit without a line per refused
    call, and a flood from many subjects cannot fill the log either."""

    def __init__(self, logger: logging.Logger, per_minute: int, *, max_subjects: int = 4096,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._all = RateLimitedLog(logger, per_minute, clock)
        self._clock = clock
        self._max_subjects = max_subjects
        self._said: OrderedDict[str, float] = OrderedDict()  # subject -> when its last line was written

    def log(self, subject: str, level: int, action: str, message: str, *args: object,
            extra: Mapping[str, Any] | None = None) -> bool:
        """Log unless `subject` had a line in the last minute; True when the line was written."""
        now = self._clock()
        said = self._said.get(subject)
        if said is not None and now - said < WINDOW_S:
            return False
        self._said[subject] = now
        self._said.move_to_end(subject)
        if len(self._said) > self._max_subjects:
            self._said.popitem(last=False)
        return self._all.log(level, action, message, *args, extra=extra)
