"""One periodic task's database outage, said once as it begins and once as it ends.

An ERROR with a 40-line traceback on every beat made ~1,100 lines per service in a one-minute PostgreSQL stop (the
dispatcher's lease tasks, then the watch hub's tail every 5 s while anyone watched: a multi-node tester's find), beside
health and `pg.unreachable` (once a minute), which say it already.
"""

from __future__ import annotations

import logging
import time

from jobservice.errors import ServiceUnavailable


class DatabaseOutageLog:
    """`began` on each failure while the database is away (said the first time), `ended` on each success (said
    once after an outage)."""

    def __init__(self, what: str, action: str, log: logging.Logger) -> None:
        self._what = what  # the task, as a sentence's subject
        self._action = action  # `area.NAME`: NAME_waiting, then NAME_resumed
        self._log = log  # the task's own module's logger
        self._since: float | None = None

    def began(self, exc: ServiceUnavailable) -> None:
        if self._since is None:
            self._since = time.monotonic()
            self._log.warning("%s waits for the database: %s", self._what, exc.message,
                              extra={"action": f"{self._action}_waiting"})

    def ended(self) -> None:
        if self._since is not None:
            self._log.info("%s goes on: the database is back after %.0f s", self._what,
                           time.monotonic() - self._since, extra={"action": f"{self._action}_resumed"})
            self._since = None
