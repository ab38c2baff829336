"""Restart policy for the processes `phonos serve` runs: one state machine per child, driven by `tick()`.

A child that fails before it was ever ready is a configuration problem (a broken model, a locked
data directory): that is fatal at once, with the child's reason. A child that dies after it was
ready has crashed: it is cleaned up (`kill`) and started again after a backoff, while the other
children keep running. More than `max_restarts` crashes within `restart_window_s` is fatal too.
Nothing here blocks: `tick()` polls the child and returns what happened, for the caller to print.
"""

from __future__ import annotations

import enum
import signal
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from phonos_config.supervisor import SupervisorSettings


class Child(Protocol):
    name: str

    def spawn(self) -> None:
        """Start the process (returns at once)."""

    def exit_code(self) -> int | None:
        """The return code once the process has exited, else None."""

    def is_ready(self) -> bool:
        """A quick, non-blocking readiness probe."""

    def fatal_reason(self) -> str | None:
        """Why starting it again is pointless (e.g. models that failed to load), else None."""

    def kill(self) -> None:
        """Kill it and everything it left behind (after a crash or a hang)."""

    def stop(self) -> None:
        """Stop it gracefully."""


class State(enum.Enum):
    STARTING = "starting"
    READY = "ready"
    WAITING = "waiting"  # crashed; restarts when the backoff has passed
    GAVE_UP = "gave_up"
    STOPPED = "stopped"


@dataclass(frozen=True)
class Event:
    child: str
    kind: str  # "ready", "ready_again", "crashed", "restarting", "gave_up"
    message: str
    downtime_s: float | None = None  # for "ready_again": from the crash being seen to ready


class Supervised:
    def __init__(self, child: Child, policy: SupervisorSettings, *, ready_timeout_s: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.child = child
        self._policy = policy
        self._ready_timeout_s = ready_timeout_s
        self._clock = clock
        self.state = State.STOPPED
        self._ready_once = False
        self._crashes: deque[float] = deque()
        self._started_at = 0.0
        self._restart_at = 0.0
        self._down_since: float | None = None

    def start(self) -> None:
        self.child.spawn()
        self.state = State.STARTING
        self._started_at = self._clock()

    def stop(self) -> None:
        if self.state in (State.STARTING, State.READY):
            self.child.stop()
        self.state = State.STOPPED

    def tick(self) -> list[Event]:
        now = self._clock()
        name = self.child.name
        if self.state is State.STARTING:
            code = self.child.exit_code()
            if code is not None:
                return self._crashed(now, f"exited with {describe_exit(code)}")
            if self.child.is_ready():
                self.state = State.READY
                if not self._ready_once:
                    self._ready_once = True
                    return [Event(name, "ready", f"{name} is ready")]
                down = now - (self._down_since or now)
                self._down_since = None
                return [Event(name, "ready_again", f"{name} is ready again ({down:.1f} s after it went down)", down)]
            reason = self.child.fatal_reason()
            if reason is not None:
                return self._give_up(reason)
            if now - self._started_at > self._ready_timeout_s:
                return self._crashed(now, f"was not ready within {self._ready_timeout_s:.0f} s")
        elif self.state is State.READY:
            code = self.child.exit_code()
            if code is not None:
                return self._crashed(now, f"exited with {describe_exit(code)}")
        elif self.state is State.WAITING and now >= self._restart_at:
            self.start()
            return [Event(name, "restarting", f"restarting {name}")]
        return []

    def _crashed(self, now: float, why: str) -> list[Event]:
        name = self.child.name
        self.child.kill()
        if not self._ready_once:
            return self._give_up(f"{name} {why} before it was ever ready")
        while self._crashes and self._crashes[0] <= now - self._policy.restart_window_s:
            self._crashes.popleft()
        self._crashes.append(now)
        if self._down_since is None:
            self._down_since = now
        crashes = len(self._crashes)
        if crashes > self._policy.max_restarts:
            return self._give_up(
                f"{name} {why}; it crashed {crashes} times within {self._policy.restart_window_s:.0f} s, "
                f"more than PHONOS_RESTART_MAX={self._policy.max_restarts}: giving up"
            )
        delay = self._policy.backoff(crashes)
        self._restart_at = now + delay
        self.state = State.WAITING
        return [Event(name, "crashed", f"{name} {why}; restarting in {delay:.0f} s "
                                       f"(crash {crashes} of {self._policy.max_restarts} allowed within "
                                       f"{self._policy.restart_window_s:.0f} s)")]

    def _give_up(self, message: str) -> list[Event]:
        self.state = State.GAVE_UP
        return [Event(self.child.name, "gave_up", message)]


def describe_exit(code: int) -> str:
    if code < 0:
        try:
            return f"signal {signal.Signals(-code).name}"
        except ValueError:
            return f"signal {-code}"
    return f"status {code}"
