"""How `phonos serve` restarts a crashed Triton or job service (PHONOS_RESTART_* variables)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Self

from phonos_config.env import env_float, env_int


@dataclass(frozen=True)
class SupervisorSettings:
    # A child that crashes more than this many times within `restart_window_s` is not restarted again:
    # `phonos serve` stops everything and exits 1, saying so.
    max_restarts: int = 5
    restart_window_s: float = 600.0
    # Wait before restart number n (counted within the window): backoff_s * 2^(n-1), at most backoff_max_s.
    backoff_s: float = 1.0
    backoff_max_s: float = 30.0

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Self:
        settings = cls(
            max_restarts=env_int(env, "PHONOS_RESTART_MAX", cls.max_restarts),
            restart_window_s=env_float(env, "PHONOS_RESTART_WINDOW_S", cls.restart_window_s),
            backoff_s=env_float(env, "PHONOS_RESTART_BACKOFF_S", cls.backoff_s),
            backoff_max_s=env_float(env, "PHONOS_RESTART_BACKOFF_MAX_S", cls.backoff_max_s),
        )
        if settings.max_restarts < 0:
            raise ValueError(f"PHONOS_RESTART_MAX must be 0 or more, got {settings.max_restarts}")
        if settings.restart_window_s <= 0 or settings.backoff_s < 0 or settings.backoff_max_s < settings.backoff_s:
            raise ValueError("PHONOS_RESTART_WINDOW_S must be > 0 and 0 <= PHONOS_RESTART_BACKOFF_S <= "
                             "PHONOS_RESTART_BACKOFF_MAX_S")
        return settings

    def backoff(self, crashes_in_window: int) -> float:
        return min(self.backoff_max_s, self.backoff_s * 2 ** max(0, crashes_in_window - 1))
