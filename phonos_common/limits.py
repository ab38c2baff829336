"""The largest request each rpc accepts, as one value: the job service sizes them (jobservice/message_limits.py),
the REST gateway reads bodies under them (gateway/body.py)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

DEFAULT_MAX_BODY_BYTES = 8 * 1024 * 1024  # for services that do not size their routes


@dataclass(frozen=True, slots=True)
class BodyLimits:
    """The largest body (after inflating) each rpc accepts; `default` for the ones not listed."""

    default: int = DEFAULT_MAX_BODY_BYTES
    per_method: Mapping[str, int] = field(default_factory=dict)  # "/pkg.Service/Method" -> bytes

    def for_method(self, full_method: str) -> int:
        return self.per_method.get(full_method, self.default)

    @property
    def largest(self) -> int:
        return max([self.default, *self.per_method.values()])
