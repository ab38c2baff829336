"""Settings of the public edge (REST gateway and gRPC server): timeouts, failed-auth throttling, logging.

Defaults are sized for one machine facing untrusted clients: a slow or hostile client may hold a
socket for seconds, never indefinitely, and a flood of bad requests costs a log line a second, not one
per request.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Self

from phonos_config.env import env_float, env_int


@dataclass(frozen=True)
class EdgeSettings:
    # A new connection must deliver its first request's headers within this many seconds.
    header_timeout_s: float = 10.0
    # An idle keep-alive connection (or one trickling the next request's headers) is closed after this.
    keepalive_timeout_s: float = 30.0
    # The whole request body (REST) or request message (gRPC) must arrive within this many seconds.
    # 120 s carries the largest accepted input (an AlphaFold2 A3M, ~64 MB) at ~0.5 MB/s.
    body_timeout_s: float = 120.0
    # Failed authentications one client address may make per rolling minute before it is refused
    # (HTTP 429 / RESOURCE_EXHAUSTED) without the key being looked up. Keys that worked stay usable.
    auth_failures_per_minute: int = 30
    # Requests to share links (/shared/<token>: the page, its JSON, its downloads) one client address may make per
    # rolling minute (429 after). A page view takes about 4; a lab behind one NAT address shares the budget.
    shared_requests_per_minute: int = 120
    # Client-error log lines (bad HTTP, undecodable messages, ...) per minute and kind; the rest are counted.
    client_error_logs_per_minute: int = 20

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Self:
        settings = cls(
            header_timeout_s=env_float(env, "PHONOS_HTTP_HEADER_TIMEOUT_S", cls.header_timeout_s),
            keepalive_timeout_s=env_float(env, "PHONOS_HTTP_KEEPALIVE_TIMEOUT_S", cls.keepalive_timeout_s),
            body_timeout_s=env_float(env, "PHONOS_BODY_TIMEOUT_S", cls.body_timeout_s),
            auth_failures_per_minute=env_int(env, "PHONOS_AUTH_FAILURES_PER_MINUTE", cls.auth_failures_per_minute),
            shared_requests_per_minute=env_int(env, "PHONOS_SHARED_REQUESTS_PER_MINUTE",
                                               cls.shared_requests_per_minute),
            client_error_logs_per_minute=env_int(
                env, "PHONOS_CLIENT_ERROR_LOGS_PER_MINUTE", cls.client_error_logs_per_minute
            ),
        )
        settings.check()
        return settings

    def check(self) -> None:
        for name, value in (("PHONOS_HTTP_HEADER_TIMEOUT_S", self.header_timeout_s),
                            ("PHONOS_HTTP_KEEPALIVE_TIMEOUT_S", self.keepalive_timeout_s),
                            ("PHONOS_BODY_TIMEOUT_S", self.body_timeout_s)):
            if not value > 0:
                raise ValueError(f"{name} must be more than 0, got {value}")
        if self.auth_failures_per_minute < 1:
            raise ValueError(f"PHONOS_AUTH_FAILURES_PER_MINUTE must be at least 1, got {self.auth_failures_per_minute}")
        if self.shared_requests_per_minute < 1:
            raise ValueError(
                f"PHONOS_SHARED_REQUESTS_PER_MINUTE must be at least 1, got {self.shared_requests_per_minute}")
        if self.client_error_logs_per_minute < 0:
            raise ValueError("PHONOS_CLIENT_ERROR_LOGS_PER_MINUTE must be 0 or more")
